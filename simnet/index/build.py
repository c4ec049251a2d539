"""Embedding a repository of images into an :class:`Index`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simnet.data.loading import load_all, load_data
from simnet.errors import SimNetError
from simnet.index.index import Index
from simnet.inference import SimNet

SPLITS = ("all", "train", "test")


def model_info(net: SimNet, model_path: str | Path | None) -> dict:
    return {
        "id": net.model_id,
        "dim": net.dim,
        "preprocessing": net.preprocessing,
        "path": str(Path(model_path).resolve()) if model_path else None,
    }


def build_index(
    net: SimNet, data: str | Path, split: str = "all", model_path: str | Path | None = None
) -> Index:
    """Embeds every image of a folder, archive or CSV (or one split of it) into an index;
    for a multi-view model, every design of a design library."""
    if split not in SPLITS:
        raise SimNetError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    config = net.config
    views = config.model.views
    if split == "all":
        images = load_all(data, config.data, views)
    else:
        dataset = load_data(data, config.data, views)
        images = dataset.train if split == "train" else dataset.test
    if len(images) == 0:
        raise SimNetError(f"no images in the {split} split of {data}")
    vectors = net.embed_array(images.images, config.eval.batch_size)
    labels = [images.classes[i] for i in np.asarray(images.labels)]
    return Index(vectors, images.keys, labels, model_info(net, model_path))
