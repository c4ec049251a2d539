"""Embeddings on disk, for ``simnet index --embeddings``: simnet's own ``.npy`` with the JSON
beside it naming each row, a ``.parquet`` table (columns ``path``, ``label``, ``embedding``;
the model in the schema's metadata), or a plain ``.npy`` from another tool with an optional
paths file (one path per line, optionally a tab and a label)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from simnet.errors import SimNetError
from simnet.extras import require
from simnet.index.checks import MAX_DIM, Fields, check_model_record, read_npy_header
from simnet.storage import (
    MAX_META_BYTES,
    MAX_ROW_BYTES,
    ZIP_FLOOR_BYTES,
    ZIP_UNPACK_RATIO,
    human_bytes,
    open_regular,
    parse_json,
    read_json_limited,
    read_text_limited,
)

MODEL_KEY = b"simnet.model"  # the parquet schema's metadata entry naming the model


def open_vectors(path: str | Path) -> np.ndarray:
    """A ``(N, D)`` ``.npy`` file of floats (any width: read as float32 a chunk at a time),
    memory-mapped (read as needed, never all at once). The file must be a regular file whose
    header's shape is exactly what it holds, checked before it is mapped."""
    path = Path(path)
    try:
        with open_regular(path, None, "an embeddings file") as (handle, size):
            shape, _, dtype = read_npy_header(handle)
            offset = handle.tell()
    except (OSError, ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise SimNetError(f"cannot read vectors from {path}: {exc}") from None
    if len(shape) != 2 or dtype.hasobject or dtype.kind != "f":
        raise SimNetError(f"{path} must hold an (N, D) array of floats, not {dtype} {shape}")
    if not 1 <= shape[1] <= MAX_DIM or shape[0] < 0:
        raise SimNetError(f"{path} holds {shape[1]}-D vectors (1 to {MAX_DIM} allowed)")
    needed = math.prod(shape) * dtype.itemsize
    if needed != size - offset:
        raise SimNetError(
            f"{path}: its header declares the shape {shape} ({human_bytes(needed)}) but it "
            f"holds {human_bytes(size - offset)}"
        )
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SimNetError(f"cannot read vectors from {path}: {exc}") from None
    return vectors


def rows_file(vectors_path: str | Path) -> Path:
    """The JSON file beside an embeddings ``.npy`` naming its rows (``simnet embed``)."""
    return Path(vectors_path).with_suffix(".json")


def rows_limit(count: int) -> int:
    """The most bytes a file naming ``count`` rows may hold: :data:`MAX_ROW_BYTES` a row,
    plus :data:`MAX_META_BYTES` for the rest."""
    return MAX_META_BYTES + count * MAX_ROW_BYTES


def read_rows(vectors_path: str | Path, count: int) -> dict[str, Any]:
    """The ``paths``, ``labels`` and ``model`` of the ``count`` rows of an embeddings file,
    each field checked (one line naming the file and the field)."""
    path = rows_file(vectors_path)
    if not path.exists():
        raise SimNetError(
            f"{path} not found: it names each row of {vectors_path} "
            '({"paths": [...], "labels": [...], "model": {...}}, written by simnet embed)'
        )
    try:
        rows = read_json_limited(path, rows_limit(count), "a rows file")
        fields = Fields(str(path), rows)
        paths = fields.string_list("paths", None)
        labels = fields.string_list("labels", None)
        model = check_model_record(str(path), rows.get("model"))
    except SimNetError as exc:
        why = str(exc).removeprefix(f"{path}: ")
        raise SimNetError(f"{path} does not name the rows of {vectors_path} ({why})") from None
    if not (len(paths) == len(labels) == count):
        raise SimNetError(
            f"{path} names {len(paths)} rows but {vectors_path} holds {count}: "
            "they come from different runs of simnet embed"
        )
    return {"paths": paths, "labels": labels, "model": model}


def _pyarrow() -> Any:
    require("parquet", "parquet files")
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def write_parquet(
    sink: IO[bytes],
    chunks: Iterator[tuple[np.ndarray, list[tuple[str, str]]]],
    dim: int,
    model: dict[str, Any],
) -> int:
    """Writes ``(vectors, [(path, label), ...])`` chunks as one row group each; returns the
    rows written. ``sink`` is a Python file, so that a failed write is an ``OSError``."""
    pa, pq = _pyarrow()
    schema = pa.schema(
        [("path", pa.string()), ("label", pa.string()), ("embedding", pa.list_(pa.float32(), dim))],
        metadata={MODEL_KEY: json.dumps(model).encode()},
    )
    count = 0
    with pq.ParquetWriter(sink, schema) as writer:
        for vectors, rows in chunks:
            if not rows:
                continue
            flat = pa.array(np.ascontiguousarray(vectors, np.float32).ravel())
            columns = [
                pa.array([p for p, _ in rows], pa.string()),
                pa.array([label for _, label in rows], pa.string()),
                pa.FixedSizeListArray.from_arrays(flat, dim),
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            count += len(rows)
    return count


def read_embeddings(
    path: str | Path, paths_file: str | Path | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(vectors, rows)`` of an embeddings file: ``rows`` holds ``paths``, ``labels`` and
    ``model`` (empty where the vectors came from another tool). A ``.npy`` is memory-mapped;
    a ``.parquet`` table is read whole.

    Raises:
        SimNetError: an unreadable file, or rows that do not match the vectors.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        if paths_file is not None:
            raise SimNetError("a parquet file names its own rows: drop --paths")
        return _read_parquet(path)
    vectors = open_vectors(path)
    if paths_file is not None:
        return vectors, _read_paths_file(Path(paths_file), len(vectors))
    if rows_file(path).exists():
        return vectors, read_rows(path, len(vectors))
    # another tool's vectors: rows named by their number, no model to check queries against
    return vectors, {
        "paths": [str(i) for i in range(len(vectors))],
        "labels": [""] * len(vectors),
        "model": {},
    }


def _read_parquet(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    pa, pq = _pyarrow()
    with open_regular(path, None, "a parquet file") as (_, size):
        pass  # a regular file (never a FIFO); its row groups unpack to a bounded size
    try:
        facts = pq.ParquetFile(path).metadata
        unpacked = sum(facts.row_group(i).total_byte_size for i in range(facts.num_row_groups))
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SimNetError(f"cannot read embeddings from {path} ({exc})") from None
    budget = ZIP_FLOOR_BYTES + ZIP_UNPACK_RATIO * size
    if unpacked > budget:
        raise SimNetError(
            f"{path}: its row groups unpack to {human_bytes(unpacked)}, more than the "
            f"{human_bytes(budget)} a file of {human_bytes(size)} may hold"
        )
    try:
        table = pq.read_table(path)
        column = table.column("embedding").combine_chunks()
        vectors = np.asarray(column.flatten().to_numpy(zero_copy_only=False), np.float32)
        vectors = vectors.reshape(len(table), -1)
        paths = [str(p) for p in table.column("path").to_pylist()]
        labels = (
            [str(x or "") for x in table.column("label").to_pylist()]
            if "label" in table.column_names
            else [""] * len(paths)
        )
        model = parse_json((table.schema.metadata or {}).get(MODEL_KEY, b"{}"), path)
        model = check_model_record(str(path), model)
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as exc:
        raise SimNetError(
            f"cannot read embeddings from {path} ({exc}); a parquet file needs the columns "
            "path and embedding (a list of floats per row), and optionally label"
        ) from None
    return vectors, {"paths": paths, "labels": labels, "model": model}


def _read_paths_file(path: Path, count: int) -> dict[str, Any]:
    text = read_text_limited(path, rows_limit(count), "a paths file")
    lines = [line.rstrip("\n") for line in text.splitlines() if line.strip()]
    if len(lines) != count:
        raise SimNetError(f"--paths {path} names {len(lines)} rows but the vectors are {count}")
    named = [line.split("\t", 1) for line in lines]
    return {
        "paths": [n[0] for n in named],
        "labels": [n[1] if len(n) > 1 else "" for n in named],
        "model": {},
    }
