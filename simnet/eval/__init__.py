"""Evaluation: metrics (numbers only) and the evaluate entry point."""

from simnet.eval.evaluate import evaluate

__all__ = ["evaluate"]
