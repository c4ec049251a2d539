"""Where the numbers are computed: threads, seeds, bf16 autocast and channels-last."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import numpy as np
import torch


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


def use_bf16(setting: str) -> bool:
    """Resolves a ``train.bf16`` setting (auto, on, off)."""
    return setting == "on" or (setting == "auto" and cpu_has_bf16())


def autocast(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)
