"""Faults that must cost nothing already saved: files that would run code, a loss that
explodes mid-run, a disk that fills during a write, and a second writer of the same run."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from simnet.errors import SimNetError
from simnet.losses import ContrastiveLoss
from simnet.storage import atomic_path, exclusive
from simnet.train import train
from simnet.train.checkpoint import load_state
from tests.conftest import make_tree
from tests.helpers import TINY, simnet, start_simnet
from tests.test_train import config_for


class _RunsCode:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_error_line(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("simnet: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped after its first epoch of three (the checkpoint a resume reads)."""
    root = tmp_path_factory.mktemp("faults")
    data = make_tree(root / "data", per_class=12)
    common = [*TINY, "--set", "train.epochs=3", "--set", f"data.cache_dir={root / 'cache'}"]
    done = simnet("train", "--data", data, "--out", root / "run", *common, "--stop-after", "1")
    assert done.returncode == 0, done.stderr
    return root, common


# -- files that would run code -------------------------------------------------------------
def test_a_checkpoint_that_would_run_code_is_refused(stopped_run, tmp_path) -> None:
    root, common = stopped_run
    run, marker = tmp_path / "run", tmp_path / "ran"
    run.mkdir()
    torch.save({"model": _RunsCode(marker), "epochs_done": 1}, run / "checkpoint.pt")
    resumed = simnet("train", "--data", root / "data", "--out", run, *common, "--resume")
    one_error_line(resumed, "cannot load checkpoint")
    assert not marker.exists()


def test_a_config_that_would_run_code_is_refused(tmp_path) -> None:
    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f'train: !!python/object/apply:os.system ["touch {marker}"]\n')
    result = simnet("train", "--config", config, "--out", tmp_path / "run")
    one_error_line(result, "not valid YAML")
    assert not marker.exists()


def test_an_index_that_would_run_code_is_refused(tiny_run, tmp_path) -> None:
    from simnet.index import Index, build_index
    from simnet.inference import SimNet

    data, run = tiny_run
    build_index(SimNet.load(run), data, model_path=run).save(tmp_path / "good.index")
    marker = tmp_path / "ran"
    payload = io.BytesIO()
    np.save(payload, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
    with (
        zipfile.ZipFile(tmp_path / "good.index") as good,
        zipfile.ZipFile(tmp_path / "evil.index", "w") as evil,
    ):
        for name in good.namelist():
            evil.writestr(name, payload.getvalue() if name == "vectors.npy" else good.read(name))
    with pytest.raises(SimNetError, match="not a simnet index"):
        Index.load(tmp_path / "evil.index")
    assert not marker.exists()
    found = simnet("search", data / "circle" / "000.png", "--index", tmp_path / "evil.index")
    one_error_line(found, "not a simnet index")
    assert not marker.exists()


# -- training guards -----------------------------------------------------------------------
def test_a_loss_that_explodes_mid_run_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    real, checkpoint = ContrastiveLoss.forward, tmp_path / "run" / "checkpoint.pt"

    def explodes_after_epoch_one(self, *args, **kwargs):
        loss = real(self, *args, **kwargs)
        return loss * float("nan") if checkpoint.exists() else loss

    monkeypatch.setattr(ContrastiveLoss, "forward", explodes_after_epoch_one)
    config = config_for(data, "train.epochs=3", "data.val_fraction=0")
    with pytest.raises(SimNetError, match="non-finite"):
        train(config, tmp_path / "run", progress=False)
    state = load_state(tmp_path / "run")
    assert state["epochs_done"] == 1  # epoch 1's checkpoint, not a poisoned one
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (tmp_path / "run" / "model.safetensors").exists()


def _limit_file_size(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_that_fills_during_a_checkpoint_keeps_the_one_before(stopped_run) -> None:
    root, common = stopped_run
    checkpoint = root / "run" / "checkpoint.pt"
    before = checkpoint.read_bytes()
    limit = len(before) // 2  # the next checkpoint cannot be written whole
    resumed = simnet(
        "train",
        "--data",
        root / "data",
        "--out",
        root / "run",
        *common,
        "--resume",
        preexec_fn=_limit_file_size(limit),
    )
    one_error_line(resumed, "could not write")
    assert "checkpoint.pt (File too large); what was there before is unchanged" in resumed.stderr
    assert checkpoint.read_bytes() == before
    assert not list((root / "run").glob(".*.tmp"))
    again = simnet("train", "--data", root / "data", "--out", root / "run", *common, "--resume")
    assert again.returncode == 0, again.stderr  # room again: the run goes on from epoch 1
    assert load_state(root / "run")["epochs_done"] == 3


def test_a_failed_index_write_keeps_the_index(tiny_run, tmp_path) -> None:
    from simnet.index import Index, build_index
    from simnet.inference import SimNet

    data, run = tiny_run
    build_index(SimNet.load(run), data, model_path=run).save(tmp_path / "x.index")
    before = (tmp_path / "x.index").read_bytes()
    new = make_tree(tmp_path / "new", per_class=3, seed=4)
    added = simnet(
        "index",
        "--out",
        tmp_path / "x.index",
        "--add",
        new,
        "--quiet",
        preexec_fn=_limit_file_size(len(before) // 2),
    )
    one_error_line(added, "could not write")
    assert (tmp_path / "x.index").read_bytes() == before
    assert len(Index.load(tmp_path / "x.index")) == 60


def test_one_writer_per_run_folder(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=12)
    (tmp_path / "run").mkdir()
    with exclusive(tmp_path / "run"), pytest.raises(SimNetError, match="another process"):
        train(config_for(data), tmp_path / "run", progress=False)


def test_a_write_error_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text(json.dumps({"old": True}))
    with pytest.raises(SimNetError, match="could not write .*out.json"), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise OSError(28, "No space left on device")
    assert json.loads(target.read_text()) == {"old": True}


def test_a_second_index_update_waits_for_the_first(tiny_run, tmp_path: Path) -> None:
    from simnet.index import Index, build_index
    from simnet.inference import SimNet

    data, run = tiny_run
    build_index(SimNet.load(run), data, model_path=run).save(tmp_path / "x.index")
    new = make_tree(tmp_path / "new", per_class=2, seed=6)
    with exclusive(tmp_path / "x.index"):  # another writer holds the index
        waiting = start_simnet("index", "--out", tmp_path / "x.index", "--add", new, "--quiet")
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=8)  # it would be done in ~5 s were it not waiting
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert len(Index.load(tmp_path / "x.index")) == 60 + 8


def test_a_disk_that_fills_while_embedding_or_building_a_large_index_fails_cleanly(
    tiny_run, tmp_path: Path
) -> None:
    data, run = tiny_run
    made = simnet("embed", "--data", data, "--model", run, "--out", tmp_path / "e.npy", "--quiet")
    assert made.returncode == 0, made.stderr
    size = (tmp_path / "e.npy").stat().st_size
    full = simnet(
        "embed",
        data,
        "--model",
        run,
        "--out",
        tmp_path / "f.npy",
        "--quiet",
        preexec_fn=_limit_file_size(size // 2),
    )
    one_error_line(full, "could not write")
    assert not (tmp_path / "f.npy").exists() and not list(tmp_path.glob(".*"))
    built = simnet(
        "index",
        "--embeddings",
        tmp_path / "e.npy",
        "--kind",
        "hnsw",
        "--out",
        tmp_path / "big.index",
        preexec_fn=_limit_file_size(size // 2),
    )
    one_error_line(built, "could not write")
    assert not (tmp_path / "big.index").exists() and not list(tmp_path.glob(".*"))
