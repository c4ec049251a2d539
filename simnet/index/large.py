"""Indexes for millions of vectors: built from embeddings streamed from disk in chunks,
chosen by size and memory budget, sharded on request, with recall measured against exact
search (also streamed, so nothing needs every vector in memory at once).

The kinds, and the FAISS structure of each, are described in
:mod:`simnet.index.structures`.
"""

from __future__ import annotations

import errno
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from simnet.errors import SimNetError
from simnet.index.checks import (
    MAX_DEPTH,
    MAX_DIM,
    MAX_SHARDS,
    Fields,
    check_model,
    check_model_record,
    check_queries,
    faiss_limits,
)
from simnet.index.embeddings import open_vectors as open_vectors  # its documented home too
from simnet.index.embeddings import read_embeddings
from simnet.index.formats import LARGE_FORMAT, not_an_index, open_index_file, read_meta
from simnet.index.records import Entry, Match, to_matches
from simnet.index.structures import (
    HNSW_NEIGHBOURS,
    HNSW_SEARCH_DEPTH,
    LARGE_KINDS,
    exact_rows_limit,
    faiss_threads,
    ivf_lists,
    new_faiss_index,
    pq_bytes,
    threads_for,
)
from simnet.storage import atomic_path

CHUNK = 100_000
_faiss: Any = faiss  # FAISS's type stubs miss its Python stream adapters
# How hard each kind looks by default: HNSW's efSearch, IVF lists probed (on a million
# clustered vectors, 16 lists find as much as 64: BENCHMARKS.md).
SEARCH_DEPTH = {"exact": 0, "hnsw": HNSW_SEARCH_DEPTH, "ivfpq": 16}


def chunks(vectors: np.ndarray, size: int | None = None) -> Iterator[np.ndarray]:
    """``(N, D)`` vectors ``size`` rows (:data:`CHUNK` by default) at a time, as float32."""
    size = size or CHUNK
    for start in range(0, len(vectors), size):
        yield np.ascontiguousarray(vectors[start : start + size], dtype=np.float32)


def memory_needed(kind: str, n: int, dim: int) -> int:
    """Bytes an index of ``n`` vectors takes (approximately, without FAISS's overheads)."""
    if kind == "exact":
        return n * dim * 4
    if kind == "hnsw":
        return n * (dim * 4 + HNSW_NEIGHBOURS * 2 * 4 + 16)  # level-0 links dominate
    if kind == "ivfpq":
        return n * (pq_bytes(dim) + 8) + ivf_lists(n) * dim * 4
    raise SimNetError(f"unknown index kind {kind!r} (choose from {', '.join(LARGE_KINDS)})")


def choose_kind(n: int, dim: int, memory_bytes: int | None) -> str:
    """Exact while it is small; the graph while it fits the budget; compressed codes past."""
    budget = memory_bytes if memory_bytes is not None else 1 << 62
    if n <= exact_rows_limit(dim) and memory_needed("exact", n, dim) <= budget:
        return "exact"
    for kind in ("hnsw", "ivfpq"):
        if memory_needed(kind, n, dim) <= budget:
            return kind
    raise SimNetError(
        f"{n:,} {dim}-D vectors need at least {memory_needed('ivfpq', n, dim) / 2**30:.1f} GiB "
        "as compressed codes: raise the memory budget or shard across machines"
    )


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
        part = new_faiss_index(kind, dim, hi - lo)
        if not part.is_trained:
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(hi - lo, size=min(sample, hi - lo), replace=False)) + lo
            part.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        for chunk in chunks(vectors[lo:hi]):
            part.add(chunk)
        parts.append(part)
    return _join(parts), kind


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
        flat = new_faiss_index("exact", chunk.shape[1], len(chunk))
        flat.add(chunk)
        d, i = flat.search(queries, min(k, len(chunk)))
        d_all = np.concatenate([best_d, d], axis=1)
        i_all = np.concatenate([best_i, i + start], axis=1)
        order = np.argsort(d_all, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(d_all, order, axis=1)
        best_i = np.take_along_axis(i_all, order, axis=1)
        start += len(chunk)
    return best_d, best_i


def neighbour_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true k nearest rows (``truth``, ``(Q, k)``, from
    :func:`exact_neighbours`) that an approximate search found among the k it returned
    (``found``, ``(Q, >= k)``), over queries. Not :func:`simnet.eval.metrics.recall_at_k`,
    which asks whether a neighbour has the query's label."""
    k = truth.shape[1]
    hits = sum(
        len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)
    )
    return hits / truth.size


# -- the index file ----------------------------------------------------------------------
class LargeIndex:
    """A read-only index over millions of embeddings: any kind, in shards, built once from
    an embeddings file and searched and served like :class:`~simnet.index.Index`. It keeps
    no copy of the vectors beside FAISS's (IVF-PQ keeps only codes), so it is not updated
    in place: build it again from new embeddings.

    Saved as one zip file (FAISS's own serialisation per shard, streamed in and out, and
    JSON; no pickles), written atomically.
    """

    def __init__(
        self,
        index: faiss.Index,
        kind: str,
        paths: list[str],
        labels: list[str],
        model: dict[str, Any],
        depth: int | None = None,
    ):
        if index.ntotal != len(paths) or len(paths) != len(labels):
            raise SimNetError("a large index needs one path and one label per vector")
        self.model, self.kind, self.requested_kind = model, kind, kind
        self._faiss, self._paths, self._labels = index, list(paths), list(labels)
        self._row_of_path = {p: i for i, p in enumerate(self._paths)}
        self.depth = SEARCH_DEPTH[kind] if depth is None else depth
        self._depth_set = -1

    @classmethod
    def from_embeddings(
        cls,
        vectors_path: str | Path,
        kind: str = "auto",
        memory_bytes: int | None = None,
        shards: int = 1,
        paths_file: str | Path | None = None,
    ) -> LargeIndex:
        """Builds from an embeddings file (:func:`~simnet.index.embeddings.read_embeddings`:
        ``simnet embed``'s ``.npy`` or ``.parquet``, or another tool's ``.npy`` with rows
        named by ``paths_file`` or by number), reading a ``.npy`` in chunks."""
        vectors, rows = read_embeddings(vectors_path, paths_file)
        index, built = build_large(vectors, kind, memory_bytes, shards)
        return cls(index, built, rows["paths"], rows["labels"], rows["model"])

    # -- facts ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, path: object) -> bool:
        return path in self._row_of_path

    @property
    def dim(self) -> int:
        return int(self._faiss.d)

    @property
    def shards(self) -> int:
        return len(parts_of(self._faiss))

    @property
    def faiss_index(self) -> faiss.Index:
        """The FAISS structure searched (an ``IndexShards`` when sharded)."""
        return self._faiss

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def entry(self, image_id: int) -> Entry | None:
        if not 0 <= image_id < len(self._paths):
            return None
        return Entry(image_id, self._paths[image_id], self._labels[image_id], -1, "")

    def entry_for(self, path: str) -> Entry | None:
        row = self._row_of_path.get(path)
        return None if row is None else self.entry(row)

    def check_model(self, model_id: str, dim: int, preprocessing: dict[str, Any]) -> None:
        """Raises :class:`SimNetError` unless the index was built by this model."""
        check_model(self.model, self.dim, model_id, dim, preprocessing)

    # -- search --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` nearest rows to each of ``(Q, D)`` queries, nearest first (IVF-PQ's
        distances are those of the compressed codes: approximate)."""
        queries, k = check_queries(queries, self.dim, k, len(self))
        if k < 1:
            return [[] for _ in queries]
        depth = max(self.depth, 2 * k) if self.kind == "hnsw" else self.depth
        if depth and depth != self._depth_set:
            set_search_depth(self._faiss, self.kind, depth)
            self._depth_set = depth
        with faiss_threads(threads_for(len(queries))):
            d2, rows = self._faiss.search(queries, k)
        return to_matches(d2, rows, self._paths, self._labels, None)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Writes the index as one zip file, atomically."""
        meta = {
            "format": LARGE_FORMAT,
            "kind": self.kind,
            "depth": self.depth,
            "paths": self._paths,
            "labels": self._labels,
            "model": self.model,
        }
        parts = parts_of(self._faiss)
        meta["shards"] = len(parts)
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
            for n, part in enumerate(parts):
                with archive.open(f"shard-{n:03d}.faiss", "w", force_zip64=True) as member:
                    try:
                        faiss.write_index(part, _faiss.PyCallbackIOWriter(member.write))
                    except RuntimeError as exc:  # FAISS wraps the OSError of a failed write
                        raise OSError(errno.EIO, str(exc).splitlines()[0]) from None
            archive.writestr("meta.json", json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> LargeIndex:
        """Reads a large index file, checking every field against the others first: its
        kind, depth and shard count, one path and label per vector, the shards' kind and
        width (FAISS reads no vector larger than its shard's bytes).

        Raises:
            SimNetError: no file, or one line naming what in the file is wrong.
        """
        path = Path(path)

        def fail(why: str) -> SimNetError:
            return not_an_index(path, why)

        with open_index_file(path) as archive:
            meta = read_meta(path, archive)
            if meta.get("format") != LARGE_FORMAT:
                raise SimNetError(f"{path} is not a large index")
            fields = Fields("meta.json", meta, f"{path} is not a simnet index (", ")")
            kind = fields.choice("kind", tuple(k for k in LARGE_KINDS if k != "auto"))
            depth = fields.integer("depth", 0, MAX_DEPTH)
            shards = fields.integer("shards", 1, MAX_SHARDS)
            parts = []
            for n in range(shards):
                name = f"shard-{n:03d}.faiss"
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise fail(f"no {name} of the {shards} shards meta.json names") from None
                try:
                    with archive.open(info) as member, faiss_limits(info.file_size):
                        parts.append(faiss.read_index(_faiss.PyCallbackIOReader(member.read)))
                except (RuntimeError, MemoryError, ValueError, OSError) as exc:
                    first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                    raise fail(f"{name} is not a FAISS index: {first}") from None
        expected = {"exact": faiss.IndexFlat, "hnsw": faiss.IndexHNSW, "ivfpq": faiss.IndexIVFPQ}
        for n, part in enumerate(parts):
            if not isinstance(part, expected[kind]) or part.d != parts[0].d:
                raise fail(
                    f"shard-{n:03d}.faiss is a {type(part).__name__} of {part.d}-D vectors, "
                    f"not a {kind} index of {parts[0].d}-D ones as meta.json says"
                )
        for n, part in enumerate(parts):
            lists = getattr(part, "invlists", None)  # IVF: its lists must be in the file
            if lists is not None and not isinstance(
                faiss.downcast_InvertedLists(lists), faiss.ArrayInvertedLists
            ):
                raise fail(f"shard-{n:03d}.faiss keeps its lists outside the index file")
        if not 1 <= parts[0].d <= MAX_DIM:
            raise fail(f"the shards hold {parts[0].d}-D vectors (1 to {MAX_DIM} allowed)")
        rows = sum(int(part.ntotal) for part in parts)
        paths = fields.string_list("paths", rows)
        labels = fields.string_list("labels", rows)
        model = check_model_record(
            "meta.json", meta.get("model"), f"{path} is not a simnet index (", ")"
        )
        return cls(_join(parts), kind, paths, labels, model, depth)


def _join(parts: list[faiss.Index]) -> faiss.Index:
    """One index searching all ``parts`` together, their ids successive."""
    if len(parts) == 1:
        return parts[0]
    shards_class: Any = faiss.IndexShards  # FAISS's type stubs miss its constructors
    sharded = shards_class(parts[0].d, True, True)  # threaded search, successive ids
    for part in parts:
        sharded.add_shard(part)  # FAISS's wrapper keeps each part alive with the whole
    return sharded
