"""Retrieval: embedding a repository, the FAISS index, its updates and persistence."""

from simnet.index.build import (
    AddReport,
    add_to_index,
    build_index,
    expand_paths,
    remove_from_index,
)
from simnet.index.index import Entry, Index, Match

__all__ = [
    "AddReport",
    "Entry",
    "Index",
    "Match",
    "add_to_index",
    "build_index",
    "expand_paths",
    "remove_from_index",
]
