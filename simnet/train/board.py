"""TensorBoard logs of a run (``RUN/tensorboard/``): the loss of every step, and each
epoch's metrics row (losses, curriculum level, mined pairs, learning rate, speed).

``train.tensorboard``: ``auto`` writes them when TensorBoard is installed (the
``[tensorboard]`` extra), ``on`` requires it, ``off`` never writes. ``metrics.csv`` is
written either way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from simnet.extras import installed, require

FOLDER = "tensorboard"

# metrics.csv column -> TensorBoard tag
TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "lambda": "mining/lambda",
    "positives": "mining/positive_pairs",
    "negatives": "mining/negative_pairs",
    "lr": "optimizer/learning_rate",
    "images_per_second": "speed/images_per_second",
}


class Board:
    """Writes a run's TensorBoard events, or nothing when it is off."""

    def __init__(self, run_dir: Path, setting: str, write: bool = True):
        """``write``: False in every process but the first under torchrun."""
        if setting == "on":
            require("tensorboard", "train.tensorboard=on")
        self.folder = run_dir / FOLDER
        self.on = write and (setting == "on" or (setting == "auto" and installed("tensorboard")))
        self.writer: Any = None  # opened at the first value: a run that fails first has none

    def _writer(self) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.folder))
        return self.writer

    def step(self, step: int, loss: float) -> None:
        if self.on:
            self._writer().add_scalar("loss/step", loss, step)

    def epoch(self, row: dict[str, Any]) -> None:
        """One metrics row, at its epoch."""
        if not self.on:
            return
        writer = self._writer()
        for column, tag in TAGS.items():
            value = row.get(column, "")
            if value != "" and math.isfinite(float(value)):
                writer.add_scalar(tag, float(value), row["epoch"])
        writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
