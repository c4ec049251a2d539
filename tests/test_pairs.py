"""Training from explicit pairs (path_a,path_b,similar) with no class labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from simnet.config import load_config
from simnet.data.pairs import PairBatchSampler, load_pairs
from simnet.errors import SimNetError
from simnet.eval import evaluate
from simnet.train import train
from tests.conftest import make_tree
from tests.helpers import simnet


def write_pairs(root: Path, count: int = 900, seed: int = 0) -> Path:
    """A pairs CSV over a class tree: similar exactly when two images share a class. The
    classes themselves are never written down."""
    tree = make_tree(root / "images", per_class=25)
    files = sorted(tree.rglob("*.png"))
    rng = np.random.default_rng(seed)
    path = root / "pairs.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["path_a", "path_b", "similar"])
        chosen: set[tuple[int, int]] = set()
        while len(chosen) < count:
            i, j = sorted(rng.choice(len(files), 2, replace=False).tolist())
            same = files[i].parent == files[j].parent
            if (i, j) in chosen or (not same and rng.random() < 0.6):
                continue  # each pair once; the two kinds about balanced
            chosen.add((i, j))
            a, b = files[i].relative_to(root), files[j].relative_to(root)
            out.writerow([a, b, "1" if same else "0"])
    return path


def test_batches_hold_their_pairs_and_every_pair_once(tmp_path: Path) -> None:
    data = load_pairs(write_pairs(tmp_path, count=200), 32, test_fraction=0.2)
    sampler = PairBatchSampler(data.train, batch_size=32, seed=0)
    seen = []
    for index, (pos, neg) in sampler:
        assert len(index) <= 32 and len(np.unique(index)) == len(index)
        for pairs, similar in ((pos, True), (neg, False)):
            assert bool((pairs.similar == similar).all())
            for a, b in zip(pairs.a.tolist(), pairs.b.tolist(), strict=True):
                seen.append((int(index[a]), int(index[b]), similar))
    train_pairs = set(
        zip(data.train.a.tolist(), data.train.b.tolist(), data.train.similar.tolist(), strict=True)
    )
    assert set(seen) <= train_pairs and len(seen) == len(set(seen))
    assert len(seen) >= len(train_pairs) - 16  # all but the last partial batch
    # Labels are the groups that similar pairs connect: similar pairs share one.
    labels = data.images.labels
    assert bool(
        (labels[data.train.a[data.train.similar]] == labels[data.train.b[data.train.similar]]).all()
    )


def test_a_pairs_csv_trains_a_model_that_tells_pairs_apart(tmp_path: Path) -> None:
    path = write_pairs(tmp_path)
    overrides = [
        f"data.source={path}",
        "model.widths=[8,16,32,32]",
        "model.branch_width=4",
        "model.embedding_dim=16",
        "train.batch_size=64",
        "train.per_class=8",  # unused by pair batches, but kept consistent
        "train.epochs=8",
        "train.lr=0.2",
        "eval.flip=false",
    ]
    run = train(load_config(None, overrides), tmp_path / "run", progress=False)
    result = evaluate(run)
    assert result["test_pairs"] > 100
    assert result["verification_accuracy"] > 0.8, result  # chance: about 0.5
    assert result["roc_auc"] > 0.85, result


def test_a_pairs_csv_turns_the_identity_loss_off_and_says_so(tmp_path: Path, caplog) -> None:
    path = write_pairs(tmp_path)
    overrides = [f"data.source={path}", "model.widths=[8,16,32,32]", "model.embedding_dim=16"]
    overrides += ["train.batch_size=64", "train.per_class=8", "train.epochs=1"]
    with caplog.at_level("WARNING"):
        config = load_config(None, [*overrides, "loss.identity_weight=0.1"])
        run = train(config, tmp_path / "r", progress=False)
    assert "the identity loss is off" in caplog.text
    assert load_config(run / "config.yaml").model.classes == 0  # no classifier was built


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["path_a", "path_b", "similar"], ["a.png", "b.png", "maybe"]], "similar must be"),
        ([["path_a", "path_b", "similar"], ["a.png", "a.png", "1"]], "with itself"),
        ([["path_a", "path_b", "similar"]], "holds no pairs"),
    ],
)
def test_bad_pairs_csv_is_one_clear_line(tmp_path: Path, rows, message: str) -> None:
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(SimNetError, match=message):
        load_pairs(path, 32)
    done = simnet("train", "--data", path, "--out", tmp_path / "r")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
