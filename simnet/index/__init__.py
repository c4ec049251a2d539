"""Retrieval: embedding a repository, the FAISS index, its updates and persistence.

An index is built from images with :func:`build_index` (an updatable :class:`Index`) or
from an embeddings file with :meth:`LargeIndex.from_embeddings` (read-only); both are a
:class:`SearchIndex`, which is what :func:`load_index` returns.
"""

from simnet.index.build import (
    AddReport,
    add_to_index,
    build_index,
    embed_to_file,
    expand_paths,
    model_info,
    remove_from_index,
)
from simnet.index.index import Index
from simnet.index.large import LargeIndex
from simnet.index.load import load_index
from simnet.index.protocol import SearchIndex
from simnet.index.records import Entry, Match

__all__ = [
    "AddReport",
    "Entry",
    "Index",
    "LargeIndex",
    "Match",
    "SearchIndex",
    "add_to_index",
    "build_index",
    "embed_to_file",
    "expand_paths",
    "load_index",
    "model_info",
    "remove_from_index",
]
