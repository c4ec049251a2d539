"""Where the numbers are computed: threads, seeds, bf16 autocast and channels-last."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import numpy as np
import torch

from simnet.errors import SimNetError


def seed_everything(seed: int) -> None:
    """The one place that seeds Python, NumPy and PyTorch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(threads: int | None) -> None:
    torch.set_num_threads(threads or os.cpu_count() or 1)


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(setting: str, device: torch.device | None = None) -> bool:
    """Resolves a ``train.bf16`` setting (auto, on, off) for a device (the CPU by default):
    auto means on where the CPU has bf16 units, or the GPU supports bf16."""
    if setting != "auto":
        return setting == "on"
    if device is not None and device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def autocast(
    enabled: bool, device: torch.device | None = None
) -> contextlib.AbstractContextManager:
    kind = device.type if device is not None else "cpu"
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=enabled)


def training_device(setting: str) -> torch.device:
    """Resolves ``train.device``: ``cpu``, ``cuda`` (under torchrun: this process's GPU,
    ``LOCAL_RANK``), ``cuda:N``, or ``auto`` (a GPU when there is one, else the CPU)."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if not setting.startswith("cuda"):
        raise SimNetError(f"train.device must be auto, cpu, cuda or cuda:N, not {setting!r}")
    if not torch.cuda.is_available():
        raise SimNetError(f"train.device is {setting} but this machine has no usable GPU")
    device = torch.device(setting)
    if device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.index >= torch.cuda.device_count():
        raise SimNetError(f"{device} asked for, but {torch.cuda.device_count()} GPU(s) here")
    return device


def cpu_name() -> str:
    """The CPU's model name, for timings (they mean little without it)."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
