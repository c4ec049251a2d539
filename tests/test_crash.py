"""Crash safety: commands killed with SIGKILL at random moments leave whole files behind,
and the same command, run again, ends where an uninterrupted run ends (training saved
within epochs too, so its kills land between steps and resume there)."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from simnet.index import Index
from simnet.train.checkpoint import load_state
from tests.conftest import make_tree
from tests.helpers import TINY, simnet, start_simnet
from tests.test_train import weights


def start(*args: str | Path) -> subprocess.Popen:
    return start_simnet(*args, stdout=subprocess.DEVNULL)


def stamp(path: Path) -> tuple[int, int] | None:
    """Changes whenever the file is replaced (atomic writes give it a new inode)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def kill_after_next_write(proc: subprocess.Popen, path: Path, rng: random.Random) -> bool:
    """Waits for ``path`` to be written again, then kills ``proc`` a random moment later
    (while it computes or writes); False when it finished first."""
    before = stamp(path)
    while proc.poll() is None and stamp(path) == before:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is not None:
        return False
    proc.kill()  # SIGKILL: no handler, no finally, no flush
    proc.wait()
    return True


# Long enough that the first kill (up to 4 s in) and three more, each a little after a
# checkpoint, all land before the end: at 24 epochs a fast CPU (about 0.1 s an epoch here)
# sometimes finished after three.
EPOCHS = 40


def test_training_killed_again_and_again_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=30)
    args = [
        "--data",
        data,
        *TINY,
        "--set",
        f"train.epochs={EPOCHS}",
        "--set",
        "eval.shift=0",
        "--set",
        f"data.cache_dir={tmp_path / 'cache'}",
        "--quiet",
    ]
    whole = simnet("train", "--out", tmp_path / "whole", *args, timeout=None)
    assert whole.returncode == 0, whole.stderr

    cut, rng, kills, done = tmp_path / "cut", random.Random(0), [], []
    checkpoint = cut / "checkpoint.pt"
    for attempt in range(20):
        resume = ["--resume"] if checkpoint.exists() else []
        every_step = ["--set", "train.checkpoint_minutes=0.000001"]  # saves within epochs too
        proc = start("train", "--out", cut, *args, *every_step, *resume)
        if attempt == 0:  # at a moment of its own: starting, decoding, or training
            time.sleep(rng.uniform(0.5, 4.0))
            killed = proc.poll() is None
            if killed:
                proc.kill()
                proc.wait()
        elif len(kills) < 4:
            killed = kill_after_next_write(proc, checkpoint, rng)
        else:
            killed = False
        if not killed:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            break
        kills.append(attempt)
        if checkpoint.exists():  # never partial: it loads whole, at a step's end
            state = load_state(cut)
            done.append((state["epochs_done"], (state.get("within") or {}).get("step", 0)))
    else:
        raise AssertionError("the run never finished")
    assert len(kills) >= 4 and len(done) >= 3 and done == sorted(done) and done[-1][0] < EPOCHS
    assert any(step for _, step in done)  # killed within an epoch, and resumed from there
    assert not list(cut.glob(".*.tmp"))  # a killed writer's leftovers are cleared
    a, b = weights(tmp_path / "whole"), weights(cut)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_index_add_killed_again_and_again_keeps_a_whole_index(tiny_run, tmp_path: Path) -> None:
    from simnet.index import build_index
    from simnet.inference import SimNet

    data, run = tiny_run
    new = make_tree(tmp_path / "new", per_class=750, seed=5)  # 3,000 images: three chunks
    base = build_index(SimNet.load(run), data, model_path=run)
    base.save(tmp_path / "whole.index")
    base.save(tmp_path / "cut.index")
    add = ["--add", new, "--quiet", "--save-every", "0.001"]  # saved after every chunk
    whole = simnet("index", "--out", tmp_path / "whole.index", *add, timeout=None)
    assert whole.returncode == 0, whole.stderr
    expected = Index.load(tmp_path / "whole.index")
    vector_of = dict(zip(expected.paths, expected.vectors, strict=True))

    rng, kills, sizes = random.Random(1), 0, []
    for _ in range(20):
        proc = start("index", "--out", tmp_path / "cut.index", *add)
        killed = kills < 3 and kill_after_next_write(proc, tmp_path / "cut.index", rng)
        if not killed:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            break
        kills += 1
        index = Index.load(tmp_path / "cut.index")  # whole: it loads, rows agree
        assert set(base.paths) <= set(index.paths) <= set(expected.paths)
        for path, vector in zip(index.paths, index.vectors, strict=True):
            np.testing.assert_allclose(vector, vector_of[path], atol=1e-5)
        sizes.append(len(index))
    else:
        raise AssertionError("the update never finished")
    assert kills == 3 and sizes == sorted(sizes) and sizes[-1] > len(base)  # work was kept
    final = Index.load(tmp_path / "cut.index")
    assert sorted(final.paths) == sorted(expected.paths)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
