"""The trained model on disk: ``model.safetensors`` (weights) and ``model.json`` (its config).

Safetensors holds tensors only, so loading a model never runs code from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from simnet.errors import SimNetError
from simnet.storage import atomic_path, atomic_write_text

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"


def save_model(run_dir: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Writes the weights (safetensors) and then the metadata that describes them."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        tmp.write_bytes(save(tensors))  # bytes first, so a failed disk write is an OSError
    atomic_write_text(run_dir / META_FILE, json.dumps(meta, indent=2))


def load_model_files(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Reads ``model.safetensors`` and ``model.json`` from a run folder (or the weights file)."""
    if not path.exists():
        raise SimNetError(f"no trained model at {path}: no such run folder")
    folder = path if path.is_dir() else path.parent
    weights, meta = folder / WEIGHTS_FILE, folder / META_FILE
    if not weights.is_file() or not meta.is_file():
        raise SimNetError(f"no trained model in {folder} (expected {WEIGHTS_FILE} and {META_FILE})")
    try:
        return load_file(str(weights)), json.loads(meta.read_text())
    except Exception as exc:  # a damaged or foreign file
        raise SimNetError(f"cannot read model in {folder}: {str(exc).splitlines()[0]}") from None
