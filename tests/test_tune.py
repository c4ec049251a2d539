"""simnet tune: cross-validated search on the training split only, resumable, with a best
config that simnet train accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import simnet.tune as tune_module
from simnet.config import load_config
from simnet.data.cache import Dataset
from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import simnet as run

TINY = [*TINY_MODEL, "train.epochs=1", "eval.shift=0", "eval.flip=false"]


class _Untouchable:
    """Stands in for the test split: any use of it fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the test split was read during tuning ({name})")

    def __len__(self) -> int:
        raise AssertionError("the test split was read during tuning (len)")


def test_folds_are_stratified_disjoint_and_cover_the_training_split() -> None:
    labels = np.repeat(np.arange(4), 10)
    splits = tune_module.folds(labels, 5, seed=0)
    held = np.concatenate([h for _, h in splits])
    assert sorted(held.tolist()) == list(range(40))
    for fit, out in splits:
        assert not set(fit) & set(out)
        assert np.bincount(labels[out]).tolist() == [2, 2, 2, 2]


def test_tune_searches_resumes_and_never_reads_the_test_split(tmp_path: Path, monkeypatch) -> None:
    data = make_tree(tmp_path / "data", per_class=20)
    real_load = tune_module.load_data

    def training_only(*args, **kwargs):
        dataset = real_load(*args, **kwargs)
        return Dataset(dataset.train, _Untouchable(), dataset.skipped)

    monkeypatch.setattr(tune_module, "load_data", training_only)
    overrides = [f"data.source={data}", *TINY]
    path, params, score = tune_module.tune(tmp_path / "t", trials=2, k=2, overrides=overrides)
    assert set(params) == {
        "train.lr",
        "loss.margin",
        "mining.lambda_max",
        "model.embedding_dim",
        "train.per_class",
    }
    assert 0.0 <= score <= 1.0
    best = load_config(path)  # ready for simnet train --config
    assert best.train.lr == pytest.approx(params["train.lr"])
    assert best.model.embedding_dim == params["model.embedding_dim"]
    assert best.data.source == str(data.resolve())

    import optuna

    _, _, again = tune_module.tune(tmp_path / "t", trials=3, k=2, overrides=overrides)
    study = optuna.load_study(
        study_name="simnet-tune", storage=f"sqlite:///{tmp_path / 't' / 'study.db'}"
    )
    assert len(study.trials) == 3  # two kept from before, one new
    assert again >= score


def test_tune_from_the_command_line(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=20)
    sets = [x for item in TINY for x in ("--set", item)]
    done = run(
        "tune",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "t"),
        "--trials",
        "1",
        "--folds",
        "2",
        "--quiet",
        *sets,
    )
    assert done.returncode == 0, done.stderr
    assert "best mean fold 1-NN accuracy" in done.stdout
    assert (tmp_path / "t" / "best.yaml").is_file()
    bad = run("tune", "--data", str(data), "--folds", "50", "--quiet", cwd=tmp_path)
    assert bad.returncode == 2 and "50-fold cross-validation needs" in bad.stderr
