"""Opening an index file of either layout."""

from __future__ import annotations

from pathlib import Path

from simnet.index.formats import is_large_file
from simnet.index.index import Index
from simnet.index.large import LargeIndex
from simnet.index.protocol import SearchIndex


def load_index(path: str | Path) -> SearchIndex:
    """An index file of either layout: built from images (an updatable :class:`Index`) or
    from embeddings (a read-only :class:`LargeIndex`)."""
    return LargeIndex.load(path) if is_large_file(path) else Index.load(path)
