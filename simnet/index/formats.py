"""The two layouts of an index file, both one zip file with a ``meta.json`` naming its
format: an :class:`~simnet.index.Index` (arrays as ``.npy``, updatable) and a
:class:`~simnet.index.LargeIndex` (FAISS's own structures, built from embeddings).

An index file is untrusted input: it is opened only if it is a regular file, its members
may not unpack to more than :func:`simnet.storage.zip_budget` allows (a zip bomb), and
every field is checked (:mod:`simnet.index.checks`) before it is used; each refusal is one
:class:`SimNetError` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simnet.errors import SimNetError
from simnet.storage import ZIP_ERRORS, open_zip, parse_json

FORMAT = 2  # Index; format 1 files (no ids, sizes or hashes) still load
LARGE_FORMAT = "large-1"  # LargeIndex: built from embeddings, read-only


def not_an_index(path: str | Path, why: str) -> SimNetError:
    """The one-line refusal of an index file: ``<path> is not a simnet index (<why>)``."""
    return SimNetError(f"{path} is not a simnet index ({why})")


@contextlib.contextmanager
def open_index_file(path: str | Path) -> Iterator[zipfile.ZipFile]:
    """An index file's zip archive: a regular file whose members unpack to no more than
    :func:`~simnet.storage.zip_budget`; any damage to the zip is one
    :class:`SimNetError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise SimNetError(f"index not found: {path}")
    try:
        with open_zip(path, "an index") as archive:
            yield archive
    except ZIP_ERRORS as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise not_an_index(path, why) from None


def read_meta(path: str | Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    """An index file's ``meta.json``: a JSON object (bad JSON, deep nesting or another type
    is a one-line refusal)."""
    try:
        data = archive.read("meta.json")
    except KeyError:
        raise not_an_index(path, "no meta.json") from None
    except RuntimeError as exc:  # an encrypted member
        raise not_an_index(path, f"meta.json: {exc}") from None
    try:
        meta = parse_json(data, "meta.json")
    except SimNetError as exc:
        raise not_an_index(path, str(exc)) from None
    if not isinstance(meta, dict):
        raise not_an_index(path, f"meta.json holds {type(meta).__name__}, not an object")
    return meta


def is_large_file(path: str | Path) -> bool:
    """Whether an index file holds a :class:`~simnet.index.LargeIndex`.

    Raises:
        SimNetError: there is no file, or it is not a simnet index.
    """
    with open_index_file(path) as archive:
        return read_meta(path, archive).get("format") == LARGE_FORMAT
