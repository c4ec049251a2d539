"""The two layouts of an index file, both one zip file with a ``meta.json`` naming its
format: an :class:`~simnet.index.Index` (arrays as ``.npy``, updatable) and a
:class:`~simnet.index.LargeIndex` (FAISS's own structures, built from embeddings)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from simnet.errors import SimNetError

FORMAT = 2  # Index; format 1 files (no ids, sizes or hashes) still load
LARGE_FORMAT = "large-1"  # LargeIndex: built from embeddings, read-only


def is_large_file(path: str | Path) -> bool:
    """Whether an index file holds a :class:`~simnet.index.LargeIndex`.

    Raises:
        SimNetError: there is no file, or it is not a simnet index.
    """
    path = Path(path)
    if not path.is_file():
        raise SimNetError(f"index not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("meta.json")).get("format") == LARGE_FORMAT
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SimNetError(f"{path} is not a simnet index ({exc})") from None
