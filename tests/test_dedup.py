"""simnet dedup: planted near-duplicates are grouped, distinct images are not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simnet.config import load_config
from simnet.dedup import close_pairs, find_duplicates, group_pairs
from simnet.inference import SimNet
from simnet.models import build_model
from simnet.models.store import save_model
from tests.conftest import make_tree
from tests.helpers import simnet as run

# A model trained for two epochs on these few shapes (one pattern per class, varied only in
# colour, place and noise) maps a class to nearly one point, even in its descriptors, so it
# cannot tell copies from other images of the class. The untrained network's descriptors
# keep them apart: here copies lie within 0.089 of their original, distinct images at
# least 0.125 apart.
THRESHOLD = "0.1"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = load_config(None, ["eval.shift=0"])
    run_dir = tmp_path_factory.mktemp("untrained")
    save_model(run_dir, build_model(config.model, load_weights=False), {
        "config": config.to_dict(), "classes": [], "data": "", "format": 1,
    })  # fmt: skip
    return run_dir


def test_close_pairs_are_exactly_the_pairs_under_the_threshold() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 4)).astype(np.float32)
    pairs, distances = close_pairs(vectors, 0.5)
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    expected = {(i, j) for i in range(300) for j in range(i + 1, 300) if d[i, j] < 0.5}
    assert {tuple(p) for p in pairs.tolist()} == expected and expected
    np.testing.assert_allclose(distances, d[pairs[:, 0], pairs[:, 1]], rtol=1e-4, atol=1e-5)


def test_groups_are_connected_components() -> None:
    pairs = np.array([[0, 1], [1, 2], [5, 6], [8, 9], [9, 5]])
    groups = group_pairs(10, pairs)
    assert [g.tolist() for g in groups] == [[5, 6, 8, 9], [0, 1, 2]]
    assert group_pairs(4, np.empty((0, 2), np.int64)) == []


def plant(folder: Path) -> dict[str, list[str]]:
    """Copies of three images (byte copy, re-encoded JPEG, enlarged) beside distinct ones."""
    make_tree(folder, per_class=4, seed=11)
    planted = {}
    for c in ("circle", "stripes", "cross"):
        original = folder / c / "000.png"
        image = Image.open(original).convert("RGB")
        copies = [folder / c / "copy.png", folder / c / "again.jpg", folder / c / "big.png"]
        copies[0].write_bytes(original.read_bytes())
        image.save(copies[1], quality=95)
        image.resize((64, 64), Image.Resampling.BICUBIC).save(copies[2])
        planted[c] = sorted(str(p.resolve()) for p in [original, *copies])
    return planted


def test_planted_duplicates_are_found_and_distinct_images_are_not(model, tmp_path) -> None:
    planted = plant(tmp_path / "photos")
    (tmp_path / "photos" / "notes.jpg").write_text("not an image")
    found = find_duplicates(SimNet.load(model), [tmp_path / "photos"], float(THRESHOLD))
    assert found.images == 16 + 9 and len(found.skipped) == 1
    assert sorted(sorted(g.paths) for g in found.groups) == sorted(planted.values())
    assert all(g.max_distance < float(THRESHOLD) for g in found.groups)
    exact = find_duplicates(SimNet.load(model), [tmp_path / "photos"], 1e-6).groups
    assert (
        sorted(Path(p).name for g in exact for p in g.paths) == ["000.png"] * 3 + ["copy.png"] * 3
    )
    # (at a tiny threshold only the byte-identical copies are left: three groups of two)


def test_dedup_command_writes_json_and_pictures(model, tmp_path) -> None:
    planted = plant(tmp_path / "photos")
    pictures = tmp_path / "groups"
    done = run(
        "dedup", "--data", str(tmp_path / "photos"), "--model", str(model),
        "--threshold", THRESHOLD, "--json", "--pictures", str(pictures),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert sorted(sorted(g["images"]) for g in result["groups"]) == sorted(planted.values())
    assert sorted(p.name for p in pictures.iterdir()) == [f"group-00{i}.png" for i in (1, 2, 3)]
    assert Image.open(pictures / "group-001.png").size[0] > 300
