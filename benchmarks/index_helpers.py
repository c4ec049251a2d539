"""What the index benchmarks need and the library does not: synthetic vectors, the memory
of this process, and queries timed one at a time.

Recall is measured with the library's own :func:`simnet.index.large.exact_neighbours` and
:func:`simnet.index.large.neighbour_recall` (README shows them).
"""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np


def cluster_centres(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """``(count, dim)`` random unit vectors, the centres :func:`make_vectors` draws around."""
    centres = np.random.default_rng(seed).normal(size=(count, dim))
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def make_vectors(path: Path, rows: int, dim: int, seed: int, centres: np.ndarray) -> None:
    """Writes ``rows`` unit-norm float32 vectors, each a random centre plus noise, to a
    ``.npy`` file, 100,000 at a time (memory holds one chunk, however many rows)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    rng = np.random.default_rng(seed)
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        x = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.6 / np.sqrt(dim), (n, dim))
        out[start : start + n] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    out.flush()


def rss_mib(field: str) -> float:
    """This process's resident memory (VmRSS) or its peak so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_at_a_time(
    index: faiss.Index, queries: np.ndarray, k: int
) -> tuple[np.ndarray, list[float]]:
    """Searches each query alone, as a user asks: the ``(Q, k)`` rows found and each
    search's time in milliseconds."""
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q[None], k)
        times.append(1000 * (time.perf_counter() - start))
        found.append(ids[0])
    return np.array(found), times
