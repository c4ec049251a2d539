"""Indexes for millions of vectors: built from embeddings streamed from disk in chunks,
chosen by size and memory budget, sharded on request, with recall measured against exact
search (also streamed, so nothing needs every vector in memory at once).

Kinds: ``exact`` (``IndexFlatL2``: 4 bytes per dimension per vector), ``hnsw`` (an HNSW
graph over the full vectors: fast and accurate, the vectors plus about 300 bytes of links
each) and ``ivfpq`` (an inverted file over product-quantised codes: ``dim / 2`` bytes per
vector, its quantisers trained on a sample; the most compact, the least accurate).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from simnet.errors import SimNetError
from simnet.index.index import AUTO_APPROXIMATE_ROWS, HNSW_BUILD_DEPTH, HNSW_NEIGHBOURS

LARGE_KINDS = ("auto", "exact", "hnsw", "ivfpq")
CHUNK = 100_000


def open_vectors(path: str | Path) -> np.ndarray:
    """A ``(N, D)`` float32 ``.npy`` file, memory-mapped (read as needed, never all at once)."""
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SimNetError(f"cannot read vectors from {path}: {exc}") from None
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise SimNetError(
            f"{path} must hold an (N, D) float32 array, not {vectors.dtype} {vectors.shape}"
        )
    return vectors


def chunks(vectors: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    for start in range(0, len(vectors), size):
        yield np.ascontiguousarray(vectors[start : start + size], dtype=np.float32)


def pq_bytes(dim: int) -> int:
    """Bytes per vector of the ``ivfpq`` codes: the largest divisor of ``dim`` up to dim/2."""
    return max(m for m in range(1, dim // 2 + 1) if dim % m == 0) if dim > 1 else 1


def memory_needed(kind: str, n: int, dim: int) -> int:
    """Bytes an index of ``n`` vectors takes (approximately, without FAISS's overheads)."""
    if kind == "exact":
        return n * dim * 4
    if kind == "hnsw":
        return n * (dim * 4 + HNSW_NEIGHBOURS * 2 * 4 + 16)  # level-0 links dominate
    if kind == "ivfpq":
        return n * (pq_bytes(dim) + 8) + ivf_lists(n) * dim * 4
    raise SimNetError(f"unknown index kind {kind!r} (choose from {', '.join(LARGE_KINDS)})")


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4 sqrt(n), at least 16, at most 65,536."""
    return int(min(65_536, max(16, 4 * round(math.sqrt(n)))))


def choose_kind(n: int, dim: int, memory_bytes: int | None) -> str:
    """Exact while it is small; the graph while it fits the budget; compressed codes past."""
    budget = memory_bytes if memory_bytes is not None else 1 << 62
    if n <= AUTO_APPROXIMATE_ROWS and memory_needed("exact", n, dim) <= budget:
        return "exact"
    for kind in ("hnsw", "ivfpq"):
        if memory_needed(kind, n, dim) <= budget:
            return kind
    raise SimNetError(
        f"{n:,} {dim}-D vectors need at least {memory_needed('ivfpq', n, dim) / 2**30:.1f} GiB "
        "as compressed codes: raise the memory budget or shard across machines"
    )


def empty_index(kind: str, dim: int, n: int) -> faiss.Index:
    if kind == "exact":
        return faiss.IndexFlatL2(dim)
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS)
        graph.hnsw.efConstruction = HNSW_BUILD_DEPTH
        return graph
    if kind == "ivfpq":
        return faiss.IndexIVFPQ(faiss.IndexFlatL2(dim), dim, ivf_lists(n), pq_bytes(dim), 8)
    raise SimNetError(f"unknown index kind {kind!r} (choose from {', '.join(LARGE_KINDS)})")


def build_large(
    vectors: np.ndarray,
    kind: str = "auto",
    memory_bytes: int | None = None,
    shards: int = 1,
    sample: int = 200_000,
    seed: int = 0,
) -> tuple[faiss.Index, str]:
    """An index of ``(N, D)`` vectors (a memory map is read chunk by chunk). ``ivfpq``
    trains its quantisers on a random sample of ``sample`` rows. With ``shards > 1`` the
    rows are split into that many contiguous indexes searched together (ids stay global).
    Returns the index and its kind."""
    n, dim = vectors.shape
    if kind == "auto":
        kind = choose_kind(n, dim, memory_bytes)
    if shards < 1:
        raise SimNetError("shards must be at least 1")
    bounds = np.linspace(0, n, shards + 1).astype(int)
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        part = empty_index(kind, dim, hi - lo)
        if not part.is_trained:
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(hi - lo, size=min(sample, hi - lo), replace=False)) + lo
            part.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        for chunk in chunks(vectors[lo:hi]):
            part.add(chunk)
        parts.append(part)
    if shards == 1:
        return parts[0], kind
    shards_class: Any = faiss.IndexShards  # FAISS's type stubs miss its constructors
    sharded = shards_class(dim, True, True)  # threaded search, successive ids
    for part in parts:
        sharded.add_shard(part)  # FAISS's wrapper keeps each part alive with the whole
    return sharded, kind


def parts_of(index: faiss.Index) -> list[faiss.Index]:
    """The shards of a sharded index, or the index itself."""
    shards: Any = index  # FAISS's type stubs know little of its classes
    if isinstance(index, faiss.IndexShards):
        return [faiss.downcast_index(shards.at(i)) for i in range(shards.count())]
    return [index]


def set_search_depth(index: faiss.Index, kind: str, depth: int) -> None:
    """How hard an approximate index looks: HNSW's efSearch, or IVF lists probed."""
    target: Any
    for target in parts_of(index):
        if kind == "hnsw":
            target.hnsw.efSearch = depth
        elif kind == "ivfpq":
            target.nprobe = depth


def exact_neighbours(
    vectors: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """True ``k`` nearest rows of ``vectors`` (streamed in chunks) for each query."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    best_d = np.full((len(queries), k), np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    start = 0
    for chunk in chunks(vectors):
        flat = faiss.IndexFlatL2(chunk.shape[1])
        flat.add(chunk)
        d, i = flat.search(queries, min(k, len(chunk)))
        d_all = np.concatenate([best_d, d], axis=1)
        i_all = np.concatenate([best_i, i + start], axis=1)
        order = np.argsort(d_all, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(d_all, order, axis=1)
        best_i = np.take_along_axis(i_all, order, axis=1)
        start += len(chunk)
    return best_d, best_i


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true k nearest that were found among the k returned, over queries."""
    k = truth.shape[1]
    hits = sum(
        len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / truth.size
