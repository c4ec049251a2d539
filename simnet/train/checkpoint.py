"""Checkpoints in safe formats, written atomically.

``checkpoint.pt`` holds the whole training state (weights, optimizer, schedule, epoch) as
plain tensors and numbers, loaded with ``weights_only=True`` so no code is ever unpickled.
The final model is written by :mod:`simnet.models.store`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from simnet.errors import SimNetError
from simnet.storage import ZIP_ERRORS, atomic_path, open_zip

STATE_FILE = "checkpoint.pt"


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)  # in memory first: its C++ writer hides why a disk write failed
    with atomic_path(run_dir / STATE_FILE) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_state(run_dir: Path) -> dict[str, Any]:
    """The training state in ``run_dir``: a regular file (never a FIFO or a device), a zip
    whose members unpack to no more than :func:`~simnet.storage.zip_budget` allows, loaded
    with ``weights_only`` (no code runs). Its structure is checked by
    :meth:`simnet.train.state.Checkpoint.from_dict`."""
    path = run_dir / STATE_FILE
    if not path.exists():
        raise SimNetError(f"no checkpoint to resume from in {run_dir}")
    try:
        with open_zip(path, "a checkpoint"):
            pass
    except ZIP_ERRORS as exc:
        raise SimNetError(f"cannot load checkpoint {path}: not a checkpoint ({exc})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad or unsafe file
        raise SimNetError(f"cannot load checkpoint {path}: {str(exc).splitlines()[0]}") from None
