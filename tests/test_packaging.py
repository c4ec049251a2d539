"""Packaging: the wheel installs into a clean virtual environment with only the core and the
[serve] extra, and there index, search and serve work; a command whose extra is missing
names it in one line; the demo's set-up installs no test tools.

The clean environment reuses this one's installed distributions, but only those that
``simnet[serve]`` requires (found from the package's own metadata, recursively): they are
linked into a folder the new environment sees through a ``.pth`` file, so nothing is
downloaded and pip's ``--no-index`` install fails if the wheel asks for anything else.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from simnet.cli import main
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "examples" / "photos"


def simnet_requires(extras: set[str]) -> list[Requirement]:
    """What ``simnet[extras]`` asks for, read from pyproject.toml (the installed metadata
    may be older than the checkout)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    todo, done = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        for line in project["optional-dependencies"][extra]:
            req = Requirement(line)
            if canonicalize_name(req.name) == "simnet":  # simnet[all]: more extras
                todo.extend(req.extras)
            else:
                found.append(req)
    return found


def closure(extras: set[str]) -> set[str]:
    """The distributions ``simnet[extras]`` needs, by name: its own requirements and,
    recursively, theirs, from the installed distributions' metadata."""
    wanted = [(canonicalize_name(r.name), frozenset(r.extras)) for r in simnet_requires(extras)]
    seen = set(wanted)
    while wanted:
        name, with_extras = wanted.pop()
        for line in md.requires(name) or []:
            req = Requirement(line)
            env = [{"extra": e} for e in with_extras or {""}]
            if req.marker is not None and not any(req.marker.evaluate(e) for e in env):
                continue
            key = (canonicalize_name(req.name), frozenset(req.extras))
            if key not in seen:
                seen.add(key)
                wanted.append(key)
    return {name for name, _ in seen}


def link_distributions(names: set[str], into: Path) -> None:
    """Links each distribution's top-level files and folders (and its metadata) into
    ``into``."""
    into.mkdir()
    for name in names:
        dist = md.distribution(name)
        site = Path(str(dist.locate_file("")))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            target = into / top
            if (site / top).exists() and not target.exists():
                target.symlink_to(site / top)


def run(*args: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def serve_venv(tmp_path_factory) -> Path:
    """A virtual environment holding the simnet wheel, its core and its [serve] extra."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: the build's files never land in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(
        ROOT / "simnet", source / "simnet", ignore=shutil.ignore_patterns("__pycache__")
    )
    pip = [sys.executable, "-m", "pip"]
    built = run(
        *pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source
    )
    assert built.returncode == 0, built.stderr
    link_distributions(closure({"serve"}), tmp / "shared")
    venv = tmp / "venv"
    assert run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "shared.pth").write_text(f"{tmp / 'shared'}\n")
    python = venv / "bin" / "python"
    install = run(
        *pip, "--python", python, "install", "-q", "--no-index",
        "--find-links", tmp / "dist", "simnet[serve]",
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def test_the_wheel_indexes_searches_and_serves_with_the_serve_extra(
    serve_venv: Path, tmp_path: Path
) -> None:
    simnet = serve_venv / "bin" / "simnet"
    env = {**os.environ, "SIMNET_CACHE": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)
    listed = run(serve_venv / "bin" / "python", "-m", "pip", "list", env=env)
    # The test tools and the other extras' packages are not there.
    check = run(
        serve_venv / "bin" / "python", "-c",
        "import importlib.util as u, simnet, sys;"
        "print(simnet.__file__);"
        "sys.exit(any(u.find_spec(m) for m in ('pytest', 'optuna', 'pyarrow', 'playwright')))",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert check.returncode == 0, (check.stdout, check.stderr, listed.stdout)
    assert str(serve_venv) in check.stdout  # the installed wheel, not the checkout
    index = tmp_path / "photos.index"
    built = run(
        simnet, "index", "--backbone", "efficientnet_lite0", "--pretrained",
        "--data", PHOTOS, "--out", index, "--quiet", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    query = PHOTOS / "cat.jpg"
    found = run(simnet, "search", "--index", index, "--json", query, env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    first = json.loads(found.stdout)[0]["matches"][0]
    assert Path(first["path"]).name == "cat.jpg"

    port = free_port()
    server = subprocess.Popen(
        [str(simnet), "serve", "--index", str(index), "--port", str(port), "--quiet"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/health"
                with urllib.request.urlopen(url, timeout=2) as r:
                    assert json.load(r)["images"] == len(list(PHOTOS.glob("*.jpg")))
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "serve never answered"
                time.sleep(0.5)
        import httpx

        response = httpx.post(
            f"http://127.0.0.1:{port}/search",
            files={"image": (query.name, query.read_bytes(), "image/jpeg")},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert Path(response.json()["matches"][0]["path"]).name == "cat.jpg"
    finally:
        server.terminate()
        server.wait(timeout=30)

    # What the core and [serve] lack is named, with its extra, in one line.
    tuned = run(simnet, "tune", "--data", PHOTOS, "--out", tmp_path / "t", env=env, cwd=tmp_path)
    assert tuned.returncode == 2
    assert tuned.stderr.strip().splitlines() == [
        "simnet: error: simnet tune needs the [tune] extra (optuna is not installed): "
        "pip install 'simnet[tune]'"
    ]
    parquet = run(
        simnet, "embed", "--backbone", "efficientnet_lite0", "--pretrained", "--data", PHOTOS,
        "--out", tmp_path / "e.parquet", "--quiet", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert parquet.returncode == 2 and "pip install 'simnet[parquet]'" in parquet.stderr
    assert len(parquet.stderr.strip().splitlines()) == 1, parquet.stderr


def test_the_core_requires_none_of_the_extras() -> None:
    core = closure(set())
    for extra_only in ("fastapi", "uvicorn", "optuna", "matplotlib", "pyarrow", "tensorboard"):
        assert extra_only not in core, extra_only
    assert {"torch", "faiss-cpu", "onnxruntime"} <= core
    assert {"fastapi", "uvicorn", "matplotlib"} <= closure({"serve"})
    tools = {"pytest", "ruff", "mypy", "playwright", "schemathesis", "hypothesis"}
    assert not tools & closure({"report"})  # what make demo installs
    assert tools <= closure({"dev"})


def test_make_demo_installs_the_report_extra_and_no_test_tools(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    planned = run("make", "-n", "-B", "demo", f"VENV={tmp_path / 'v'}", cwd=ROOT)
    assert planned.returncode == 0, planned.stderr
    installs = [line for line in planned.stdout.splitlines() if " install " in line]
    assert any("'.[report]'" in line for line in installs), installs
    assert not any("dev" in line for line in installs), installs


@pytest.mark.parametrize(
    ("argv", "module", "extra"),
    [
        (["serve", "--index", "x.index"], "fastapi", "serve"),
        (["serve", "--index", "x.index"], "uvicorn", "serve"),
        (["tune", "--data", "x"], "optuna", "tune"),
        (["report", "--model", "runs/x"], "matplotlib", "report"),
        (["compare", "--model", "runs/x", "a", "b", "--picture", "c.png"], "matplotlib", "report"),
        (["dedup", "--data", "x", "--pictures", "p"], "matplotlib", "report"),
        (["experiment", "table2", "--data", "x"], "matplotlib", "report"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(
    argv, module, extra, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    block(monkeypatch, module)  # as if it were not installed
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simnet: error: ")
    assert f"needs the [{extra}] extra ({module} is not installed)" in err[0]
    assert err[0].endswith(f"pip install 'simnet[{extra}]'")
    assert not (tmp_path / "runs").exists()  # said before any work


def test_parquet_without_pyarrow_is_named_before_any_embedding(
    tree, monkeypatch, capsys, tmp_path
) -> None:
    block(monkeypatch, "pyarrow")
    out = tmp_path / "e.parquet"
    code = main(["embed", "--backbone", "efficientnet_lite0", "--pretrained", "--data", str(tree),
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "pip install 'simnet[parquet]'" in capsys.readouterr().err


class _Missing(importlib.abc.MetaPathFinder):
    """Makes ``names`` (and their submodules) fail to import, as if not installed."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def block(monkeypatch, *names: str) -> None:
    """Uninstalls ``names`` for one test: out of sys.modules, and unimportable."""
    for key in list(sys.modules):
        if key.split(".")[0] in names:
            monkeypatch.delitem(sys.modules, key)
    monkeypatch.setattr(sys, "meta_path", [_Missing(names), *sys.meta_path])


def test_the_core_commands_run_without_any_extra(tmp_path: Path, monkeypatch, capsys) -> None:
    """train, evaluate, embed, index, search, compare and dedup with every extra's modules
    missing (as after a plain pip install simnet)."""
    from tests.conftest import make_tree

    block(monkeypatch, "matplotlib", "optuna", "fastapi", "uvicorn", "pyarrow", "tensorboard")
    data = make_tree(tmp_path / "data", per_class=12)
    run = tmp_path / "run"
    small = ["model.widths=[4,8,8,8]", "model.branch_width=4", "model.embedding_dim=8"]
    sets = [x for s in [*small, "train.batch_size=16", "train.per_class=4"] for x in ("--set", s)]
    steps = [
        ["train", "--data", data, "--out", run, "--epochs", "1", *sets],
        ["evaluate", "--model", run],
        ["embed", "--model", run, "--data", data, "--out", tmp_path / "e.npy"],
        ["index", "--model", run, "--data", data, "--out", tmp_path / "i.index"],
        ["search", "--index", tmp_path / "i.index", data / "circle" / "000.png"],
        ["compare", "--model", run, data / "circle" / "000.png", data / "cross" / "000.png"],
        ["dedup", "--model", run, "--data", data],
    ]
    for argv in steps:
        assert main([str(a) for a in [*argv, "--quiet"]]) == 0, (argv, capsys.readouterr().err)
    assert not (run / "tensorboard").exists()  # auto, without TensorBoard: none
