"""The command line as a user meets it: help, and one clear line for every bad input."""

import subprocess
import sys
from pathlib import Path

import pytest

from simnet.cli import build_parser, main
from tests.conftest import make_tree

COMMANDS = ["train", "evaluate", "index", "search"]
TINY = [
    "--set",
    "model.widths=[4,8,8,8]",
    "--set",
    "model.branch_width=4",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.per_class=4",
    "--set",
    "model.embedding_dim=16",
]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``simnet ARGS`` in a fresh process (in ``cwd``), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "simnet", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


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


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("simnet: error")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr


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


def test_bad_config_value(tmp_path: Path) -> None:
    result = run("train", "--set", "train.epochs=many", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "train.epochs")
    result = run("train", "--set", "train.nope=1", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "unknown key train.nope")


def test_missing_model_and_index(tmp_path: Path) -> None:
    assert_one_line_error(run("evaluate", str(tmp_path)), "no trained model")
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
