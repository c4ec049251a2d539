"""Experiments that reproduce the paper's tables on any data set: ``simnet experiment``."""

from simnet.experiments.table2 import TABLE2_ROWS, run_table2

__all__ = ["TABLE2_ROWS", "run_table2"]
