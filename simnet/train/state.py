"""Typed training state: where an epoch stands, early stopping, and a checkpoint's contents.

A checkpoint file (``checkpoint.pt``, see :mod:`simnet.train.checkpoint`) holds
:meth:`Checkpoint.to_dict`: plain tensors, numbers, lists and dicts, loadable with
``weights_only=True``. :meth:`Checkpoint.from_dict` also reads the files written before
these classes existed (the miner's random state under ``miner_rng``; no ``best`` or
``within`` in the oldest), and refuses a file of another structure in one line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from simnet.errors import SimNetError


@dataclass
class EpochState:
    """The running figures of one epoch; within an epoch, enough to resume it exactly."""

    step: int = 0  # steps taken
    seconds: float = 0.0  # time spent training (before a resume, too)
    losses: list[float] = field(default_factory=list)  # one per step
    positives: int = 0  # pairs mined
    negatives: int = 0
    cross: int = 0  # mined pairs joining images embedded by different processes
    augment_rng: torch.Tensor | None = None  # the augmentation RNG after the last step's batch

    def add(self, loss: float, stats: dict[str, int]) -> None:
        """Counts one step's loss and the miner's counts."""
        self.step += 1
        self.losses.append(loss)
        self.positives += stats.get("positives", 0)
        self.negatives += stats.get("negatives", 0)
        self.cross += stats.get("cross_shard", 0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochState:
        """Also reads the layout written before this class (``step``, ``seconds``,
        ``losses``, ``positives``, ``negatives``, ``cross``, ``augment_rng``)."""
        return cls(
            step=int(data["step"]),
            seconds=float(data["seconds"]),
            losses=[float(x) for x in data["losses"]],
            positives=int(data["positives"]),
            negatives=int(data["negatives"]),
            cross=int(data.get("cross", 0)),
            augment_rng=data.get("augment_rng"),
        )


@dataclass
class EarlyStopping:
    """The best validation loss so far and whether the run has stopped early."""

    val_loss: float = math.inf
    epoch: int = 0  # the epoch (1-based) whose model is kept
    stopped: bool = False

    def update(self, val_loss: float, epoch: int, patience: int) -> bool:
        """Records epoch ``epoch``'s validation loss; True when it is the best so far.
        Stops the run after ``patience`` epochs without a better one."""
        if val_loss < self.val_loss:
            self.val_loss, self.epoch = val_loss, epoch
            return True
        if epoch - self.epoch >= patience:
            self.stopped = True
        return False


@dataclass
class Checkpoint:
    """Everything a resumed run needs to continue exactly where this one stood."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    epochs_done: int  # whole epochs; with ``within``, the epoch under way is the next one
    epochs: int  # planned: the learning-rate schedule depends on it
    miner: dict[str, Any] = field(default_factory=dict)  # the miner's state_dict()
    torch_rng: torch.Tensor | None = None  # dropout's
    ema: dict[str, Any] | None = None  # the weight average's state, when there is one
    best: EarlyStopping = field(default_factory=EarlyStopping)
    within: EpochState | None = None  # taken within an epoch: where that epoch stood

    def to_dict(self) -> dict[str, Any]:
        """The file's contents."""
        return {
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "epochs_done": self.epochs_done,
            "epochs": self.epochs,
            "miner": self.miner,
            "torch_rng": self.torch_rng,
            "ema": self.ema,
            "best": asdict(self.best),
            "within": asdict(self.within) if self.within is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Any, epochs: int) -> Checkpoint:
        """A checkpoint file's contents (any layout simnet has written); ``epochs``
        stands in for the planned epochs where the file does not say."""
        if not isinstance(data, dict):
            raise SimNetError(f"the checkpoint holds a {type(data).__name__}, not a training state")
        missing = [k for k in ("model", "optimizer", "scheduler", "epochs_done") if k not in data]
        if missing:
            raise SimNetError(f"the checkpoint is not a training state: it lacks {missing[0]!r}")
        try:
            return cls(
                model=data["model"],
                optimizer=data["optimizer"],
                scheduler=data["scheduler"],
                epochs_done=int(data["epochs_done"]),
                epochs=int(data.get("epochs", epochs)),
                miner=_miner_state(data),
                torch_rng=data.get("torch_rng"),
                ema=data.get("ema"),
                best=EarlyStopping(**(data.get("best") or {})),
                within=EpochState.from_dict(data["within"]) if data.get("within") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SimNetError(f"the checkpoint's training state is malformed ({exc})") from None


def _miner_state(data: dict[str, Any]) -> dict[str, Any]:
    """The miner's state: ``miner`` now, the random state alone (``miner_rng``) before."""
    if "miner" in data:
        return dict(data["miner"] or {})
    rng = data.get("miner_rng")
    return {} if rng is None else {"generator": rng}
