"""An index as plain FAISS: one file that ``faiss.read_index`` loads, and a CSV beside it
naming each id's image (``id,path,label``), for tools that do not know simnet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import faiss
import numpy as np

from simnet.errors import SimNetError
from simnet.index.index import Index
from simnet.index.large import LargeIndex, parts_of
from simnet.index.protocol import SearchIndex
from simnet.index.structures import new_faiss_index
from simnet.storage import atomic_write_bytes, atomic_write_text


def export_faiss(index: SearchIndex, path: str | Path) -> dict[str, object]:
    """Writes ``index`` as a FAISS file at ``path`` and its table at ``path`` with ``.csv``.

    An updatable index is written as ``IndexIDMap2`` over a structure of its own kind
    (exact or HNSW), holding each image under its simnet id; an index built from
    embeddings is written as it is, each image under its row number.

    Returns:
        ``faiss``, ``table``, ``count`` and ``kind``: what was written.

    Raises:
        SimNetError: a sharded index (export its shards by building with ``--shards 1``).
    """
    path = Path(path)
    if isinstance(index, LargeIndex):
        parts = parts_of(index.faiss_index)
        if len(parts) > 1:
            raise SimNetError(
                f"the index has {len(parts)} shards; plain FAISS holds one: build it again "
                "with --shards 1 to export it"
            )
        structure, ids = parts[0], np.arange(len(index), dtype=np.int64)
        paths, labels = index.paths, index.labels
    elif isinstance(index, Index):
        vectors, ids = np.ascontiguousarray(index.vectors, np.float32), index.ids
        structure = faiss.IndexIDMap2(new_faiss_index(index.kind, index.dim, len(vectors)))
        structure.add_with_ids(vectors, ids)
        paths, labels = index.paths, index.labels
    else:
        raise SimNetError(f"cannot export a {type(index).__name__}")
    atomic_write_bytes(path, faiss.serialize_index(structure).tobytes())
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["id", "path", "label"])
    writer.writerows(zip(ids.tolist(), paths, labels, strict=True))
    csv_path = path.with_suffix(".csv")
    atomic_write_text(csv_path, table.getvalue())
    return {"faiss": str(path), "table": str(csv_path), "count": len(paths), "kind": index.kind}
