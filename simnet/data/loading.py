"""One entry point from a configuration to a data set: images, or multi-view designs."""

from __future__ import annotations

from pathlib import Path

from simnet.config import DataConfig
from simnet.data.cache import Dataset, ImageSet, load_dataset, load_images
from simnet.data.designs import load_designs, load_library
from simnet.data.sources import open_source


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
        )
    return load_dataset(open_source(path), data.image_size, data.test_fraction, data.cache_dir)


def load_all(path: str | Path, data: DataConfig, views: list[str] | tuple[str, ...]) -> ImageSet:
    """Every image (or design) at ``path``, labelled or not, in one set (for an index)."""
    if views:
        return load_library(path, data.image_size, data.cache_dir, tuple(views), data.trim)
    return load_images(open_source(path), data.image_size, data.cache_dir)
