"""A tiny train -> evaluate -> index -> search run through the real command line."""

import json
from pathlib import Path

import pytest

from tests.conftest import make_tree
from tests.helpers import TINY, assert_one_line_error, simnet


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("e2e")
    data = make_tree(root / "shapes", per_class=60, split=True)
    run_dir = root / "run"
    result = simnet(
        "train",
        "--data",
        data,
        "--out",
        run_dir,
        "--epochs",
        "4",
        "--quiet",
        *TINY,
        "--set",
        "model.widths=[8,16,16,16]",
        "--set",
        "train.lr=0.2",
        "--set",  # this tiny 4-epoch model tells the shapes apart better with 4-px shifts
        "augment.crop_padding=4",
    )
    assert result.returncode == 0, result.stderr
    return data, run_dir


@pytest.mark.slow
def test_training_writes_a_complete_run(trained: tuple[Path, Path]) -> None:
    _, run_dir = trained
    for name in ("config.yaml", "metrics.csv", "checkpoint.pt", "model.safetensors", "model.json"):
        assert (run_dir / name).is_file(), name
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 4
    assert not list(run_dir.glob(".*tmp"))


@pytest.mark.slow
def test_evaluate_json_reports_real_accuracy(trained: tuple[Path, Path]) -> None:
    _, run_dir = trained
    result = simnet("evaluate", "--model", str(run_dir), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert 0.0 <= metrics["knn_accuracy"] <= 1.0
    assert metrics["knn_accuracy"] > 0.6  # four classes: chance is 0.25
    assert metrics["test_images"] == 4 * 12 and metrics["train_images"] == 4 * 48
    assert metrics["roc_auc"] > 0.6


@pytest.mark.slow
def test_index_and_search_find_the_querys_class(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run_dir = trained
    index = tmp_path / "train.index"
    result = simnet(
        "index",
        "--model",
        str(run_dir),
        "--data",
        str(data),
        "--split",
        "train",
        "--out",
        str(index),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    # Every test image, a folder of them as the query: three circles alone were too few to
    # judge by (this 4-epoch model mistakes some circles for squares, more or fewer by CPU).
    queries = data / "test"
    result = simnet("search", "--index", str(index), str(queries), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert len(answers) == 4 * 12
    same_class = 0
    for answer in answers:
        distances = [m["distance"] for m in answer["matches"]]
        assert len(distances) == 10 and distances == sorted(distances)
        assert all("/train/" in m["path"] for m in answer["matches"])
        label = Path(answer["query"]).parent.name
        same_class += sum(m["label"] == label for m in answer["matches"])
    assert same_class > 0.6 * 10 * len(
        answers
    )  # most matches share the query's class (chance: 1 in 4)


@pytest.mark.slow
def test_search_refuses_a_non_image_query(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, run_dir = trained
    index = tmp_path / "all.index"
    assert (
        simnet(
            "index", "--model", str(run_dir), "--data", str(data), "--out", str(index), "--quiet"
        ).returncode
        == 0
    )
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert_one_line_error(simnet("search", "--index", str(index), str(text)), "no readable query")


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_is_refused(trained: tuple[Path, Path]) -> None:
    data, run_dir = trained
    again = simnet("train", "--data", str(data), "--out", str(run_dir), "--quiet", *TINY)
    assert_one_line_error(again, "already holds a run")
    longer = simnet("train", "--out", str(run_dir), "--resume", "--epochs", "9", "--quiet")
    assert_one_line_error(longer, "planned for 4 epochs")
