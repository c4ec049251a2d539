"""Training in two processes under torchrun (gloo, CPU) equals training in one on the same
global batches; mining pairs images across processes; a run resumes in another number of
processes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import assert_one_line_error
from tests.helpers import simnet as run

SETTINGS = [
    *TINY_MODEL,
    "train.bf16=off",  # float32: the two runs differ only by summation order
    "train.threads=1",
    "train.epochs=2",
    "eval.shift=0",
]


def simnet_train(data: Path, out: Path, processes: int, *extra: str) -> str:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [sys.executable, *(launcher if processes > 1 else []), "-m", "simnet", "train"]
    command += ["--data", str(data), "--out", str(out), *extra]
    for setting in SETTINGS:
        command += ["--set", setting]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def parameters(run: Path) -> dict[str, torch.Tensor]:
    """The trained weights, without batch-norm's running statistics (each process keeps
    its own slice's; the first process's are saved)."""
    weights = load_file(run / "model.safetensors")
    return {k: v for k, v in weights.items() if "running_" not in k and "num_batches" not in k}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_two_processes_train_like_one_and_mine_across_processes(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "shapes", per_class=12)
    simnet_train(data, tmp_path / "one", 1, "--set", "train.shards=2")
    log = simnet_train(data, tmp_path / "two", 2)
    one, two = parameters(tmp_path / "one"), parameters(tmp_path / "two")
    assert_same(one, two)
    # The comparison can fail: one process normalising the whole batch at once trains
    # to other weights.
    simnet_train(data, tmp_path / "whole", 1)
    with pytest.raises(AssertionError):
        assert_same(parameters(tmp_path / "whole"), two)
    across = re.findall(r"epoch (\d): (\d+) of (\d+) mined pairs joined images embedded by", log)
    assert [int(epoch) for epoch, _, _ in across] == [1, 2]
    assert all(0 < int(cross) < int(total) for _, cross, total in across)
    assert "2 processes" in log
    # A run stopped after its first epoch in two processes ends in one, identically.
    simnet_train(data, tmp_path / "resumed", 2, "--stop-after", "1")
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    simnet_train(data, tmp_path / "resumed", 1, "--resume")
    assert_same(parameters(tmp_path / "resumed"), two)


def test_batches_must_split_evenly(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "shapes", per_class=4)
    tiny = [a for s in TINY_MODEL for a in ("--set", s)]
    done = run(
        "train", "--data", str(data), "--out", str(tmp_path / "r"), "--set", "train.shards=3", *tiny
    )
    assert_one_line_error(done, "must divide into 3 equal slices")


def test_the_training_device_follows_the_setting_and_the_process(monkeypatch) -> None:
    from simnet.errors import SimNetError
    from simnet.runtime import training_device

    assert training_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")
    with pytest.raises(SimNetError, match="no usable GPU"):
        training_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a 4-GPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "2")  # torchrun's third process on this machine
    assert training_device("auto") == torch.device("cuda", 2)
    assert training_device("cuda") == torch.device("cuda", 2)
    assert training_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(SimNetError, match="4 GPU"):
        training_device("cuda:7")
    with pytest.raises(SimNetError, match="must be auto, cpu"):
        training_device("tpu")
