"""Shared fixtures: small synthetic image trees whose classes are easy to tell apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ["circle", "square", "stripes", "cross"]

# A network small enough that a few epochs on a few dozen images take seconds.
TINY_MODEL = [
    "model.widths=[4,8,8,8]",
    "model.branch_width=4",
    "model.embedding_dim=8",
    "train.batch_size=16",
    "train.per_class=4",
]


def draw(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 picture of a class, with random colour, place and noise."""
    y, x = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
    r = rng.integers(size // 6, size // 3)
    if kind == "circle":
        mask = (y - cy) ** 2 + (x - cx) ** 2 < r * r
    elif kind == "square":
        mask = (abs(y - cy) < r) & (abs(x - cx) < r)
    elif kind == "stripes":
        mask = ((x + rng.integers(0, 4)) // 3) % 2 == 0
    else:
        mask = (abs(y - cy) < 3) | (abs(x - cx) < 3)
    fg = rng.integers(120, 256, 3)
    bg = rng.integers(0, 90, 3)
    image = np.where(mask[..., None], fg, bg).astype(np.float64)
    image += rng.normal(0, 12, image.shape)
    return image.clip(0, 255).astype(np.uint8)


def make_tree(
    root: Path,
    per_class: int = 20,
    classes: list[str] | None = None,
    seed: int = 0,
    split: bool = False,
    suffix: str = ".png",
) -> Path:
    """Writes ``root/<class>/NNN.png`` (or ``root/{train,test}/<class>/...`` with split)."""
    rng = np.random.default_rng(seed)
    for c in classes or CLASSES:
        for i in range(per_class):
            sub = ("test" if i % 5 == 0 else "train") if split else ""
            folder = root / sub / c
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw(c, rng)).save(folder / f"{i:03d}{suffix}")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test decodes into its own cache folder, never the user's."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SIMNET_CACHE", str(cache))
    monkeypatch.delenv("SIMNET_DATA", raising=False)
    return cache


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "images")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(data folder, run folder)`` of a tiny model trained for 2 epochs on the shapes."""
    from simnet.config import load_config
    from simnet.train import train

    root = tmp_path_factory.mktemp("tiny-run")
    data = make_tree(root / "shapes", per_class=15)
    overrides = [
        f"data.source={data}",
        f"data.cache_dir={root / 'cache'}",
        *TINY_MODEL,
        "train.epochs=2",
        "eval.shift=0",
    ]
    run = train(load_config(None, overrides), root / "run", progress=False)
    return data, run
