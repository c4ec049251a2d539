"""The FAISS structures both kinds of index search, made in one place, and how many threads
a search gives FAISS.

Kinds: ``exact`` (``IndexFlatL2``: 4 bytes per dimension per vector), ``hnsw`` (an HNSW
graph over the full vectors: fast and accurate, the vectors plus about 300 bytes of links
each) and ``ivfpq`` (an inverted file over product-quantised codes: ``dim / 2`` bytes per
vector, its quantisers trained on a sample; the most compact, the least accurate).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import faiss

from simnet.errors import SimNetError

LARGE_KINDS = ("auto", "exact", "hnsw", "ivfpq")
# Exact search of 100k 128-D vectors takes a few ms per query; the time grows with rows x
# dimensions, so wider vectors turn approximate sooner (1280-D pretrained features: past 10k).
AUTO_APPROXIMATE_ROWS = 100_000
AUTO_APPROXIMATE_DIM = 128
HNSW_NEIGHBOURS = 32  # links per vector (FAISS's M)
HNSW_BUILD_DEPTH = 80  # efConstruction
HNSW_SEARCH_DEPTH = 64  # efSearch, raised to 2k for a larger k


def exact_rows_limit(dim: int) -> int:
    """How many ``dim``-D vectors ``auto`` searches exactly: :data:`AUTO_APPROXIMATE_ROWS` at
    up to :data:`AUTO_APPROXIMATE_DIM` dimensions, proportionally fewer past."""
    return AUTO_APPROXIMATE_ROWS * AUTO_APPROXIMATE_DIM // max(dim, AUTO_APPROXIMATE_DIM)


IVFPQ_MIN_ROWS = 256  # each 8-bit product quantiser learns 256 centroids
# FAISS's threads cost more than they save on a few queries: one 128-D query against
# 50,000 vectors takes 1.1 ms on one thread and 3.3 ms on two here.
FEW_QUERIES = 4


def new_faiss_index(kind: str, dim: int, rows: int) -> faiss.Index:
    """An empty FAISS structure of this kind for ``rows`` vectors of ``dim`` (an ``ivfpq``
    one still has to be trained)."""
    if kind == "exact":
        return faiss.IndexFlatL2(dim)
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS)
        graph.hnsw.efConstruction = HNSW_BUILD_DEPTH
        return graph
    if kind == "ivfpq":
        if rows < IVFPQ_MIN_ROWS:
            raise SimNetError(
                f"IVF-PQ trains its codes on at least {IVFPQ_MIN_ROWS} vectors, not {rows}: "
                "use --kind exact or hnsw (or fewer shards)"
            )
        return faiss.IndexIVFPQ(faiss.IndexFlatL2(dim), dim, ivf_lists(rows), pq_bytes(dim), 8)
    raise SimNetError(f"unknown index kind {kind!r} (choose from {', '.join(LARGE_KINDS)})")


def pq_bytes(dim: int) -> int:
    """Bytes per vector of the ``ivfpq`` codes: the largest divisor of ``dim`` up to dim/2."""
    return max(m for m in range(1, dim // 2 + 1) if dim % m == 0) if dim > 1 else 1


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4 sqrt(n), at least 16, at most 65,536, and
    no more than k-means can train from 39 vectors each."""
    return int(max(1, min(65_536, max(16, 4 * round(math.sqrt(n))), n // 39)))


@contextlib.contextmanager
def faiss_threads(count: int | None) -> Iterator[None]:
    """FAISS uses ``count`` threads inside the block (``None``: as many as it had)."""
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def threads_for(queries: int) -> int | None:
    """The threads a search of this many queries uses: one for a few, else FAISS's own."""
    return 1 if queries <= FEW_QUERIES else None
