"""The README's Python example runs as written (on a small tree of images)."""

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import make_tree

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    import simnet.train  # noqa: F401  (the subpackage must not shadow simnet.train())

    api = README.read_text().split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", api, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    tree = make_tree(tmp_path / "photos", per_class=20, suffix=".jpg")
    shutil.copy(tree / "circle" / "000.jpg", "a.jpg")
    shutil.copy(tree / "square" / "000.jpg", "b.jpg")
    make_tree(tmp_path / "new-photos", per_class=1, seed=3)
    exec(compile(code, str(README), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert 0.0 <= float(lines[0]) <= 1.0
    assert len(lines) == 1 + 5
    # a.jpg's own copy comes first, named by its absolute path
    assert lines[1].startswith(str(tmp_path / "photos" / "circle" / "000.jpg"))
    saved = simnet.Index.load(tmp_path / "photos.index")
    assert len(saved) == 80 + 4 - 1  # the new photos added, one removed
    assert str(tmp_path / "photos" / "circle" / "001.jpg") not in saved


@pytest.mark.slow
def test_readme_designs_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "generate_packages" in b)
    # the same calls, smaller: 24 designs and one short epoch
    code = code.replace("600", "24").replace(
        '"data.source=designs"',
        '"data.source=designs", "train.epochs=1", "train.batch_size=24"',
    )
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    first, summary, attributes = capsys.readouterr().out.splitlines()
    similarity, views = first.split(" ", 1)
    assert -1.0 <= float(similarity) <= 1.0
    assert all(v in views for v in ("top", "front", "side"))
    assert summary.startswith(("same design", "same family", "different family"))
    assert "'memory_stacks'" in attributes and attributes.endswith("(2, 3, 32, 32)")


@pytest.mark.slow
def test_readme_model_and_dataset_objects_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "ImageFolder" in b)
    code = code.replace(  # the same calls, smaller
        '"train.epochs=5", "data.image_size=64"',
        '"train.epochs=1", "data.image_size=32", "train.batch_size=16", "train.per_class=4"',
    )
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "photos", per_class=10, suffix=".jpg")
    exec(compile(code, str(README), "exec"), {})
    assert 0.0 <= float(capsys.readouterr().out) <= 1.0
    assert (tmp_path / "runs" / "resnet" / "model.safetensors").exists()


def test_readme_large_index_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    import numpy as np

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "build_large" in b)
    monkeypatch.chdir(tmp_path)
    vectors = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    np.save("embeddings.npy", vectors)
    np.save("queries.npy", vectors[:20] + 0.01)
    exec(compile(code, str(README), "exec"), {})
    kind, recall = capsys.readouterr().out.split()
    assert kind == "exact" and float(recall) == 1.0  # 3,000 vectors: exact search


def test_the_command_table_matches_each_commands_help() -> None:
    """Every command is in the README's table once, its --json column says what its --help
    says, and its extras column names the extras its --help names."""
    from simnet.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| (yes|no)[^|]* \| ([^|]*) \|$", readme, re.M)
    table = {name: (json, needs) for name, json, needs in rows}
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert len(rows) == len(table) and set(table) == set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        takes_json = "--json" in text
        assert (table[name][0] == "yes") == takes_json, name
        extras = set(re.findall(r"simnet\[([a-z]+)\]", table[name][1]))
        assert extras == set(re.findall(r"simnet\[([a-z]+)\]", " ".join(text.split()))), name
    assert any(extras for _, extras in table.values())  # the column is read
