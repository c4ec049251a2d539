"""The command line as a user meets it: help, and one clear line for every bad input."""

import json
import re
import shutil
from pathlib import Path

import pytest

from simnet.cli import build_parser, main
from tests.conftest import make_tree
from tests.helpers import TINY, assert_one_line_error
from tests.helpers import simnet as run

COMMANDS = ["train", "evaluate", "index", "search", "dedup", "serve"]


def test_help_describes_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"simnet {name}: option {action.dest} has no help"


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help_runs(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: simnet" in capsys.readouterr().out


def test_missing_data_path(tmp_path: Path) -> None:
    result = run("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "not found")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run("train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "no readable images")


def test_single_class(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "one", per_class=10, classes=["only"])
    result = run("train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY)
    assert_one_line_error(result, "at least 2 classes")
    assert re.search(r"holds 10 images in 1 class, \d+ of them for training", result.stderr)
    assert not (tmp_path / "run").exists()  # a failed run leaves no folder (nor its .lock)


def test_one_image_in_one_class_says_what_training_has(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "one", per_class=1, classes=["only"])
    (tmp_path / "runs").mkdir()
    result = run("train", "--data", str(data), "--out", str(tmp_path / "runs" / "a"), *TINY)
    assert_one_line_error(result, "at least 2 classes")
    assert re.search(r"holds 1 image in 1 class, [01] of them for training", result.stderr)
    assert not list((tmp_path / "runs").iterdir())


def test_bad_config_value(tmp_path: Path) -> None:
    result = run("train", "--set", "train.epochs=many", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "train.epochs")
    result = run("train", "--set", "train.nope=1", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "unknown key train.nope")


def test_missing_model_and_index(tmp_path: Path) -> None:
    assert_one_line_error(run("evaluate", "--model", str(tmp_path)), "no trained model")
    query = tmp_path / "q.png"
    query.write_bytes(b"")
    assert_one_line_error(
        run("search", "--index", str(tmp_path / "x.index"), str(query)), "index not found"
    )


def test_no_default_data_says_how_to_give_some(tmp_path: Path, monkeypatch) -> None:
    from simnet.data import defaults

    monkeypatch.setattr(defaults, "_candidates", lambda cache: [tmp_path / "absent"])
    monkeypatch.setattr(
        defaults,
        "_download_cifar",
        lambda cache: (_ for _ in ()).throw(
            defaults.SimNetError(defaults.HOW_TO + " (download failed: offline)")
        ),
    )
    code = main(["train", "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2


def test_index_add_remove_and_a_model_mismatch_on_the_command_line(tiny_run, tmp_path) -> None:
    data, run_dir = tiny_run
    index = tmp_path / "shapes.index"
    built = run("index", "--model", str(run_dir), "--data", str(data), "--out", str(index))
    assert built.returncode == 0, built.stderr
    assert "indexed 60 images" in built.stdout
    extra = make_tree(tmp_path / "extra", per_class=1, seed=9)
    added = run("index", "--out", str(index), "--add", str(extra), "--quiet")
    assert added.returncode == 0, added.stderr
    assert "added 4" in added.stdout and "64 in the index" in added.stdout
    removed = run("index", "--out", str(index), "--remove", str(extra / "circle"), "--quiet")
    assert removed.returncode == 0 and "removed 1" in removed.stdout, removed.stderr
    found = run("search", "--index", str(index), "--json", "-k", "64", str(extra / "cross"))
    assert found.returncode == 0, found.stderr
    [result] = json.loads(found.stdout)
    paths = [m["path"] for m in result["matches"]]
    assert len(paths) == 63 and str((extra / "circle" / "000.png").resolve()) not in paths
    assert paths[0] == str((extra / "cross" / "000.png").resolve())
    # Another model (same shape, other weights) is refused in one line.
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    weights = other / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-4:] = b"\x00\x00\x80\x3f"  # one weight changed: another model
    weights.write_bytes(bytes(blob))
    refused = run("search", "--index", str(index), "--model", str(other), str(extra / "cross"))
    assert_one_line_error(refused, "rebuild it with simnet index")


def test_a_missing_run_folder_is_named_itself(tmp_path: Path) -> None:
    missing = tmp_path / "runs" / "nope"
    missing.parent.mkdir()
    result = run("evaluate", "--model", missing)
    assert_one_line_error(result, f"no trained model at {missing}: no such run folder")


def test_dedup_of_a_folder_without_images_is_an_error(tiny_run, tmp_path: Path) -> None:
    _, model = tiny_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.png").write_text("not an image")
    for folder in ("empty", "notes"):
        result = run("dedup", "--model", model, "--data", tmp_path / folder, "--quiet")
        assert_one_line_error(result, "no readable images")
