"""A searchable index of image embeddings: FAISS over vectors, with each image's path,
label, size and content hash, saved atomically and tied to the model that made it.

Small indexes search exactly (``IndexFlatL2``); past :func:`exact_rows_limit` rows, or
when asked, they search an HNSW graph. Images are added and removed in place: an exact
index drops removed rows at once; a graph marks them deleted, leaves them out of every
search, and is rebuilt only when a fifth of its rows are deleted.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from simnet.errors import SimNetError
from simnet.index.checks import (
    MAX_DIM,
    Fields,
    check_array,
    check_model,
    check_model_record,
    check_queries,
    faiss_limits,
    read_npy_member,
)
from simnet.index.formats import FORMAT, LARGE_FORMAT, not_an_index, open_index_file, read_meta
from simnet.index.records import Entry, Match, to_matches
from simnet.index.structures import (
    HNSW_SEARCH_DEPTH,
    exact_rows_limit,
    faiss_threads,
    new_faiss_index,
    threads_for,
)
from simnet.storage import atomic_path

KINDS = ("auto", "exact", "hnsw")
REBUILD_DELETED_FRACTION = 0.2


def _read_graph(data: np.ndarray, rows: int, dim: int, fail: Callable[[str], SimNetError]) -> Any:
    """An index file's saved HNSW graph, which must be one over ``rows`` ``dim``-D vectors;
    FAISS reads no vector larger than the bytes it comes from."""
    try:
        with faiss_limits(data.nbytes):
            graph = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise fail(f"graph.npy is not a FAISS index: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(graph, faiss.IndexHNSWFlat) or graph.d != dim or graph.ntotal != rows:
        raise fail(
            f"graph.npy is a {type(graph).__name__} of {graph.ntotal} {graph.d}-D vectors, "
            f"not an HNSW graph of the {rows} {dim}-D vectors"
        )
    return graph


class Index:
    """Nearest-neighbour search over embeddings, with the facts of each row; images are
    embedded into one by :func:`~simnet.index.build_index` and
    :func:`~simnet.index.add_to_index`.

    Args:
        vectors: ``(N, D)`` float32 embeddings.
        paths: the image of each row (unique).
        labels: the label of each row ("" when unknown).
        model: what the embeddings were made with: ``id`` (weights digest), ``dim``,
            ``preprocessing`` and ``path``; checked against a model on load.
        sizes, hashes: each file's byte size and content hash (unknown when omitted).
        kind: ``exact``, ``hnsw``, or ``auto`` (exact up to :func:`exact_rows_limit`).
    """

    def __init__(
        self,
        vectors: np.ndarray,
        paths: list[str],
        labels: list[str],
        model: dict[str, Any],
        sizes: list[int] | np.ndarray | None = None,
        hashes: list[str] | None = None,
        kind: str = "auto",
        ids: np.ndarray | None = None,
        alive: np.ndarray | None = None,
        graph: Any = None,
    ):
        if kind not in KINDS:
            raise SimNetError(f"unknown index kind {kind!r} (choose from {', '.join(KINDS)})")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(paths)
        sizes = np.full(n, -1, np.int64) if sizes is None else np.asarray(sizes, np.int64)
        hashes = [""] * n if hashes is None else list(hashes)
        if vectors.ndim != 2 or not (len(vectors) == n == len(labels) == len(sizes) == len(hashes)):
            raise ValueError("vectors, paths, labels, sizes and hashes must describe the same rows")
        self.model, self.requested_kind = model, kind
        self._vectors, self._paths, self._labels = vectors, list(paths), list(labels)
        self._sizes, self._hashes = sizes, hashes
        self._ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        self._alive = np.ones(n, bool) if alive is None else np.asarray(alive, bool).copy()
        self._next_id = int(self._ids.max()) + 1 if n else 0
        self._reindex()
        if len(self._row_of_path) != int(self._alive.sum()):
            raise ValueError("an index holds each path once")
        self.kind = self._resolve_kind(int(self._alive.sum()))
        if graph is not None and graph.ntotal == n and self.kind == "hnsw":
            self._faiss = graph
        else:
            self._rebuild()

    # -- facts ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._row_of_path)

    def __contains__(self, path: object) -> bool:
        return path in self._row_of_path

    @property
    def dim(self) -> int:
        return self._vectors.shape[1]

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[self._alive]

    @property
    def paths(self) -> list[str]:
        return [p for p, a in zip(self._paths, self._alive, strict=True) if a]

    @property
    def labels(self) -> list[str]:
        return [x for x, a in zip(self._labels, self._alive, strict=True) if a]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[self._alive]

    def entry(self, image_id: int) -> Entry | None:
        """The image with this id, or None when the index holds none."""
        row = self._row_of_id.get(image_id)
        return None if row is None else self._entry(row)

    def entry_for(self, path: str) -> Entry | None:
        row = self._row_of_path.get(path)
        return None if row is None else self._entry(row)

    def _entry(self, row: int) -> Entry:
        return Entry(
            int(self._ids[row]),
            self._paths[row],
            self._labels[row],
            int(self._sizes[row]),
            self._hashes[row],
        )

    # -- search --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` nearest images to each of ``(Q, D)`` queries, nearest first."""
        queries, k = check_queries(queries, self.dim, k, len(self))
        if k < 1:
            return [[] for _ in queries]
        with faiss_threads(threads_for(len(queries))):
            d2, rows = self._search(queries, k)
        return to_matches(d2, rows, self._paths, self._labels, self._ids)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(HNSW_SEARCH_DEPTH, 2 * k)
            bitmap = None
            if not self._alive.all():
                bitmap = np.packbits(self._alive, bitorder="little")
                params.sel = faiss.IDSelectorBitmap(len(self._alive), faiss.swig_ptr(bitmap))
            d2, rows = self._faiss.search(queries, k, params=params)
            del bitmap  # kept alive until FAISS is done with it
            return d2, rows
        return self._faiss.search(queries, k)

    # -- updates -------------------------------------------------------------------------
    def add(
        self,
        vectors: np.ndarray,
        paths: list[str],
        labels: list[str],
        sizes: list[int] | None = None,
        hashes: list[str] | None = None,
    ) -> list[int]:
        """Adds rows without rebuilding; a path already indexed is replaced. Returns the
        new rows' ids."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(paths):
            raise SimNetError(f"vectors to add must be (N, {self.dim}) with one path each")
        if len(set(paths)) != len(paths):
            raise SimNetError("the same path is added twice")
        self.remove([p for p in paths if p in self._row_of_path], rebuild=False)
        n = len(paths)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        start = len(self._paths)
        self._vectors = np.concatenate([self._vectors, vectors])
        self._paths += list(paths)
        self._labels += list(labels)
        self._sizes = np.concatenate([self._sizes, np.asarray(sizes or [-1] * n, np.int64)])
        self._hashes += list(hashes or [""] * n)
        self._ids = np.concatenate([self._ids, ids])
        self._alive = np.concatenate([self._alive, np.ones(n, bool)])
        for offset, (path, image_id) in enumerate(zip(paths, ids, strict=True)):
            self._row_of_path[path] = start + offset
            self._row_of_id[int(image_id)] = start + offset
        if self._resolve_kind(len(self)) != self.kind:
            self.kind = self._resolve_kind(len(self))
            self._rebuild()  # grew past the exact-search size
        else:
            self._faiss.add(vectors)
        return ids.tolist()

    def remove(self, paths: list[str], rebuild: bool = True) -> int:
        """Removes the rows of these paths (paths not indexed are ignored); returns how
        many were removed."""
        rows = sorted({self._row_of_path[p] for p in paths if p in self._row_of_path})
        if not rows:
            return 0
        if self.kind == "exact":
            self._faiss.remove_ids(np.asarray(rows, dtype=np.int64))
            keep = np.ones(len(self._paths), bool)
            keep[rows] = False
            self._take(keep)
            self._reindex()
        else:
            self._alive[rows] = False
            for row in rows:
                del self._row_of_path[self._paths[row]]
                del self._row_of_id[int(self._ids[row])]
            deleted = 1.0 - len(self) / max(1, len(self._paths))
            if rebuild and deleted > REBUILD_DELETED_FRACTION:
                self._rebuild()
        return len(rows)

    # -- persistence ---------------------------------------------------------------------
    def check_model(self, model_id: str, dim: int, preprocessing: dict[str, Any]) -> None:
        """Raises :class:`SimNetError` unless the index was built by this model."""
        check_model(self.model, self.dim, model_id, dim, preprocessing)

    def save(self, path: str | Path) -> None:
        """Writes the index as one zip file (arrays and JSON, no pickles), atomically: a
        reader sees the old index or the new one, never a mix."""
        meta = {
            "format": FORMAT,
            "kind": self.requested_kind,
            "paths": self._paths,
            "labels": self._labels,
            "hashes": self._hashes,
            "model": self.model,
        }
        arrays = {
            "vectors": self._vectors,
            "ids": self._ids,
            "alive": self._alive,
            "sizes": self._sizes,
        }
        if self.kind == "hnsw":
            arrays["graph"] = faiss.serialize_index(self._faiss)
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.save(buffer, array, allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())
            archive.writestr("meta.json", json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> Index:
        """Reads an index file, checking every field's type, shape and length against the
        others first (:mod:`simnet.index.checks`).

        Raises:
            SimNetError: no file, or one line naming what in the file is wrong.
        """
        path = Path(path)

        def fail(why: str) -> SimNetError:
            return not_an_index(path, why)

        meta, arrays = _read_index_file(path, fail)
        fields = Fields("meta.json", meta, f"{path} is not a simnet index (", ")")
        vectors = check_array(fail, "vectors.npy", arrays["vectors"], 2, "fiu", None)
        rows, dim = vectors.shape
        if not 1 <= dim <= MAX_DIM:
            raise fail(f"vectors.npy holds {dim}-D vectors (1 to {MAX_DIM} allowed)")
        paths = fields.string_list("paths", rows)
        labels = fields.string_list("labels", rows)
        hashes = fields.string_list("hashes", rows) if "hashes" in meta else None
        kind = fields.choice("kind", KINDS, "auto")
        model = check_model_record(
            "meta.json", meta.get("model"), f"{path} is not a simnet index (", ")"
        )
        ids, alive, sizes = _row_arrays(arrays, rows, fail)
        if not np.isfinite(vectors).all():
            raise fail("vectors.npy holds values that are not finite numbers")
        live = paths if alive is None else [p for p, a in zip(paths, alive, strict=True) if a]
        if len(set(live)) != len(live):
            raise fail("meta.json field 'paths' names a path twice")
        graph = None
        if "graph" in arrays:
            data = check_array(fail, "graph.npy", arrays["graph"], 1, "u", None)
            graph = _read_graph(data, rows, dim, fail)
        return cls(
            vectors,
            paths,
            labels,
            model,
            sizes=sizes,
            hashes=hashes,
            kind=kind,
            ids=ids,
            alive=alive,
            graph=graph,
        )

    # -- internals -----------------------------------------------------------------------
    def _resolve_kind(self, rows: int) -> str:
        if self.requested_kind != "auto":
            return self.requested_kind
        return "hnsw" if rows > exact_rows_limit(self.dim) else "exact"

    def _reindex(self) -> None:
        alive = np.flatnonzero(self._alive)
        self._row_of_path = {self._paths[r]: int(r) for r in alive}
        self._row_of_id = {int(self._ids[r]): int(r) for r in alive}

    def _take(self, keep: np.ndarray) -> None:
        rows = np.flatnonzero(keep)
        self._vectors = np.ascontiguousarray(self._vectors[rows])
        self._paths = [self._paths[r] for r in rows]
        self._labels = [self._labels[r] for r in rows]
        self._hashes = [self._hashes[r] for r in rows]
        self._sizes, self._ids, self._alive = self._sizes[rows], self._ids[rows], self._alive[rows]

    def _rebuild(self) -> None:
        """Drops deleted rows and builds the FAISS structure afresh."""
        if not self._alive.all():
            self._take(self._alive)
            self._reindex()
        self._faiss = new_faiss_index(self.kind, self.dim, len(self._vectors))
        if len(self._vectors):
            self._faiss.add(self._vectors)


def _read_index_file(
    path: Path, fail: Callable[[str], SimNetError]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An index file's metadata and arrays, each read within its bounds."""
    with open_index_file(path) as archive:
        meta = read_meta(path, archive)
        if meta.get("format") == LARGE_FORMAT:
            raise SimNetError(
                f"{path} was built from embeddings (simnet index --embeddings): it is "
                "searched and served as it is; to change it, build it again"
            )
        if type(meta.get("format")) is not int or meta.get("format") not in (1, FORMAT):
            raise SimNetError(f"{path} has index format {meta.get('format')!r}, expected {FORMAT}")
        names = set(archive.namelist())
        if "vectors.npy" not in names:
            raise fail("no vectors.npy")
        arrays = {
            name[:-4]: read_npy_member(archive, name, fail)
            for name in sorted(names)
            if name[:-4] in ("vectors", "ids", "alive", "sizes", "graph") and name.endswith(".npy")
        }
    return meta, arrays


def _row_arrays(
    arrays: dict[str, np.ndarray], rows: int, fail: Callable[[str], SimNetError]
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The optional per-row arrays (ids, alive, sizes), each checked against ``rows``."""
    ids, alive, sizes = arrays.get("ids"), arrays.get("alive"), arrays.get("sizes")
    if ids is not None:
        check_array(fail, "ids.npy", ids, 1, "iu", rows)
        if len(ids) and (ids.min() < 0 or len(np.unique(ids)) != len(ids)):
            raise fail("ids.npy holds a negative or repeated id")
    if alive is not None:
        check_array(fail, "alive.npy", alive, 1, "bu", rows)
    if sizes is not None:
        check_array(fail, "sizes.npy", sizes, 1, "iu", rows)
    return ids, alive, sizes
