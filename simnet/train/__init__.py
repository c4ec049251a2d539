"""Training: the loop, one step, checkpoints."""

from simnet.train.loop import train

__all__ = ["train"]
