"""One convention across the commands: each common option declared once, --json wherever
results are printed, the model as --model, pictures only where asked, a light --help."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simnet import cli as cli_module
from simnet.cli import build_parser, main
from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import simnet

COMMON = ["--quiet", "--json", "--model", "--data", "--out", "--set", "--epochs", "--preset"]
# Every command prints results but serve, which serves them.
PRINTS_RESULTS = {name for name in build_parser()._subparsers._group_actions[0].choices} - {  # type: ignore[union-attr]
    "serve"
}


def _declarations() -> dict[str, int]:
    """How often each option string is passed to add_argument in cli.py's source."""
    tree = ast.parse(Path(cli_module.__file__).read_text())
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    counts[arg.value] = counts.get(arg.value, 0) + 1
    return counts


def test_each_common_option_is_declared_once() -> None:
    counts = _declarations()
    assert {option: counts.get(option, 0) for option in COMMON} == dict.fromkeys(COMMON, 1)


def test_every_command_that_prints_results_accepts_json() -> None:
    sub = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    for name in PRINTS_RESULTS:
        options = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert "--json" in options, name
        assert "--quiet" in options, name


def test_help_imports_no_torch() -> None:
    """``simnet --help`` builds every command's parser without torch (it answers in a
    fraction of a second: the figure is in the note of the CLI's issue)."""
    code = (
        "import sys\nfrom simnet.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'faiss', 'torchvision', 'scipy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-300:]


def _json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> object:
    assert main([str(a) for a in args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def index_file(tiny_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, run = tiny_run
    out = tmp_path_factory.mktemp("convention") / "shapes.index"
    assert (
        main(["index", "--model", str(run), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    )
    return out


def test_json_from_the_model_commands(
    tiny_run: tuple[Path, Path], index_file: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    data, run = tiny_run
    monkeypatch.chdir(tmp_path)
    seen = set()
    built = _json(capsys, "index", "--model", run, "--data", data, "--out", "a.index", "--json")
    assert built == {"index": "a.index", "count": 60, "kind": "exact"}
    seen.add("index")
    query = data / "circle" / "000.png"
    found = _json(capsys, "search", "--index", index_file, query, "-k", "3", "--json", "--quiet")
    assert found[0]["matches"][0]["path"].endswith("circle/000.png")
    seen.add("search")
    metrics = _json(capsys, "evaluate", "--model", run, "--knn", "1", "3", "--json", "--quiet")
    assert 0 <= metrics["knn_accuracy"] <= 1 and "knn_accuracy@3" in metrics
    seen.add("evaluate")
    pair = _json(capsys, "compare", "--model", run, query, data / "cross" / "000.png", "--json")
    assert pair["picture"] is None and not list(tmp_path.glob("*.png"))  # none unless asked
    seen.add("compare")
    dups = _json(capsys, "dedup", "--model", run, "--data", data / "circle", "--json", "--quiet")
    assert dups["images"] == 15
    seen.add("dedup")
    rows = _json(capsys, "embed", "--model", run, "--data", data, "--out", "e.npy", "--json")
    assert rows["added"] == 60 and rows["skipped"] == []
    seen.add("embed")
    large = _json(capsys, "index", "--embeddings", "e.npy", "--out", "e.index", "--json")
    assert large["count"] == 60
    page = _json(capsys, "report", "--model", run, "--out", "r.html", "--json", "--quiet")
    assert Path(page["report"]).is_file()
    seen.add("report")
    added = _json(capsys, "index", "--out", "a.index", "--remove", data / "cross", "--json")
    assert added["removed"] == 15 and added["count"] == 45
    designs = _json(capsys, "generate-packages", "--out", "lib", "--designs", "6", "--json")
    assert designs == {"out": "lib", "designs": 6}
    seen.add("generate-packages")
    exported = _json(capsys, "export", "--model", run, "--out", "m.onnx", "--json")
    assert exported["onnx"] == "m.onnx" and exported["input"]["shape"] == ["batch", 32, 32, 3]
    seen.add("export")
    assert seen == PRINTS_RESULTS - {"train", "tune", "experiment"}  # those train: below


@pytest.mark.slow
def test_json_from_the_training_commands(tmp_path: Path, capsys, monkeypatch) -> None:
    data = make_tree(tmp_path / "shapes", per_class=10)
    monkeypatch.chdir(tmp_path)
    tiny = [x for o in TINY_MODEL for x in ("--set", o)]
    common = ["--data", data, "--epochs", "1", "--quiet", "--json", *tiny]
    trained = _json(capsys, "train", "--out", "run", *common)
    assert trained == {"run": "run", "finished": True}
    tuned = _json(capsys, "tune", "--out", "tune", "--trials", "1", "--folds", "2", *common)
    assert Path(tuned["best_config"]).is_file() and 0 <= tuned["score"] <= 1
    table = _json(capsys, "experiment", "table2", "--rows", "random", "--out", "t2", *common)
    assert table["table"] == "table2" and [r["row"] for r in table["rows"]] == ["random"]


def test_old_spellings_still_work_with_a_notice(tiny_run: tuple[Path, Path], tmp_path) -> None:
    data, run = tiny_run
    old = simnet("evaluate", run, "--k", "1", "--json", "--quiet")
    assert old.returncode == 0, old.stderr
    assert "knn_accuracy" in json.loads(old.stdout)
    notices = [line for line in old.stderr.splitlines() if "deprecated" in line]
    assert len(notices) == 2 and all(n.startswith("simnet: warning:") for n in notices)
    dedup = simnet("dedup", data / "circle", "--model", run, "--json", "--quiet")
    assert dedup.returncode == 0 and json.loads(dedup.stdout)["images"] == 15
    assert "--data PATH" in dedup.stderr


def test_the_model_named_twice_or_not_at_all_is_one_error(tiny_run: tuple[Path, Path]) -> None:
    _, run = tiny_run
    for args in (["evaluate", run, "--model", run], ["evaluate"], ["report"]):
        done = simnet(*args)
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("simnet: error")]
        assert len(errors) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "jobs", [["--add", "x", "--embeddings", "e.npy"], ["--data", "x", "--remove", "y"]]
)
def test_index_jobs_exclude_each_other(jobs: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["index", "--out", "i.index", *jobs])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
