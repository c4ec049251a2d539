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
from simnet.storage import (
    MAX_META_BYTES,
    atomic_path,
    atomic_write_text,
    open_regular,
    read_json_limited,
)

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"


def save_model(run_dir: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Writes the weights (safetensors) and then the metadata that describes them."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        tmp.write_bytes(save(tensors))  # bytes first, so a failed disk write is an OSError
    atomic_write_text(run_dir / META_FILE, json.dumps(meta, indent=2))


def load_model_files(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Reads ``model.safetensors`` and ``model.json`` from a run folder (or the weights file).

    Both must be regular files (never a FIFO or a device); ``model.json`` is at most
    :data:`~simnet.storage.MAX_META_BYTES` and an object whose ``config`` is an object of
    section objects (:func:`check_meta`); the weights' header is checked by safetensors
    against the file's size before any tensor is read.

    Raises:
        SimNetError: one line naming the file and what is wrong with it.
    """
    if not path.exists():
        raise SimNetError(f"no trained model at {path}: no such run folder")
    folder = path if path.is_dir() else path.parent
    weights, meta_path = folder / WEIGHTS_FILE, folder / META_FILE
    if not weights.exists() or not meta_path.exists():
        raise SimNetError(f"no trained model in {folder} (expected {WEIGHTS_FILE} and {META_FILE})")
    meta = check_meta(meta_path, read_json_limited(meta_path, MAX_META_BYTES, "model.json"))
    with open_regular(weights, None, "a weights file"):
        pass  # a regular file: safetensors maps it, and a FIFO would never answer
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # a damaged or foreign file
        raise SimNetError(f"cannot read model in {folder}: {str(exc).splitlines()[0]}") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SimNetError(f"{weights}: tensor {name} holds values that are not finite")
    return tensors, meta


def check_meta(path: Path, meta: Any) -> dict[str, Any]:
    """``model.json``'s contents: an object with a ``config`` object of section objects."""
    if not isinstance(meta, dict):
        raise SimNetError(f"{path}: holds {type(meta).__name__}, not an object")
    if "config" not in meta:
        raise SimNetError(f"{path}: field 'config' is missing (the run's settings)")
    config = meta["config"]
    if not isinstance(config, dict):
        raise SimNetError(f"{path}: field 'config' is {type(config).__name__}, not an object")
    for name, section in config.items():
        if not isinstance(section, dict):
            raise SimNetError(
                f"{path}: field 'config.{name}' is {type(section).__name__}, not an object"
            )
    return meta


def check_weights(
    path: Path, weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> None:
    """Raises one line unless ``weights`` (from ``path``) has exactly the tensors, of the
    same shapes, as the model ``model.json`` describes (``expected``: its state dict): the
    weights of another run in this folder, say."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    reshaped = [
        k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (first {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} not in the model (first {unexpected[0]})")
    if reshaped:
        k = reshaped[0]
        parts.append(
            f"{len(reshaped)} of another shape (first {k}: {tuple(weights[k].shape)}, "
            f"the model's {tuple(expected[k].shape)})"
        )
    raise SimNetError(
        f"{path} does not hold the weights of the model {path.parent / META_FILE} describes: "
        f"{'; '.join(parts)}"
    )
