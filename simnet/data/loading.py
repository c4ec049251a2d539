"""One entry point from a configuration to a data set: images, or multi-view designs."""

from __future__ import annotations

import os
from pathlib import Path

from simnet.config import DataConfig
from simnet.data.cache import Dataset, ImageSet, load_dataset, load_images
from simnet.data.designs import is_design, load_designs, load_library
from simnet.data.images import IMAGE_SUFFIXES, max_image_bytes
from simnet.data.sources import CifarSource, open_source
from simnet.errors import SimNetError
from simnet.storage import open_regular

PHOTO_PIXELS = 64  # single images larger than this train with the photos preset by default


def load_data(path: str | Path, data: DataConfig, views: list[str] | tuple[str, ...]) -> Dataset:
    """The train/test data set at ``path``: designs of ``views`` when there are views."""
    if views:
        return load_designs(
            path,
            data.image_size,
            data.test_fraction,
            data.cache_dir,
            data.labels,
            tuple(views),
            data.trim,
            data.max_aspect,
        )
    return load_dataset(
        open_source(path), data.image_size, data.test_fraction, data.cache_dir, data.keep_aspect
    )


def load_all(path: str | Path, data: DataConfig, views: list[str] | tuple[str, ...]) -> ImageSet:
    """Every image (or design) at ``path``, labelled or not, in one set (for an index)."""
    if views:
        return load_library(
            path, data.image_size, data.cache_dir, tuple(views), data.trim, data.max_aspect
        )
    return load_images(open_source(path), data.image_size, data.cache_dir, data.keep_aspect)


def suggest_preset(path: str | Path, sample: int = 8) -> str | None:
    """``"photos"`` for a folder of single images larger than 64 px (the median of the
    longer sides of the first ``sample`` images found), else None: CIFAR batches, archives,
    CSVs, design libraries and small images keep the default preset."""
    from PIL import Image

    path = Path(path)
    if not path.is_dir() or CifarSource.looks_like(path):
        return None
    sides: list[int] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        images = sorted(f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES)
        if images and is_design(folder):
            return None
        for name in images[: sample - len(sides)]:
            try:  # a regular file only (never a FIFO or a device), its header only
                with (
                    open_regular(Path(folder) / name, max_image_bytes(), "an image") as (file, _),
                    Image.open(file) as image,
                ):
                    sides.append(max(image.size))
            except (OSError, SimNetError, Image.DecompressionBombError):
                continue
        if len(sides) >= sample:
            break
    if not sides:
        return None
    return "photos" if sorted(sides)[len(sides) // 2] > PHOTO_PIXELS else None
