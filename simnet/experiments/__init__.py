"""Experiments that reproduce the paper's tables on any data set: ``simnet experiment``."""

from simnet.experiments.table1 import TABLE1_ROWS, run_table1
from simnet.experiments.table2 import TABLE2_ROWS, run_table2

__all__ = ["TABLE1_ROWS", "TABLE2_ROWS", "run_table1", "run_table2"]
