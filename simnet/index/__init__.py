"""Retrieval: embedding a repository, the FAISS index, its updates and persistence."""

from simnet.index.build import (
    AddReport,
    add_to_index,
    build_index,
    embed_to_file,
    expand_paths,
    model_info,
    remove_from_index,
)
from simnet.index.index import Entry, Index, Match
from simnet.index.large import LargeIndex, load_index

__all__ = [
    "AddReport",
    "Entry",
    "Index",
    "LargeIndex",
    "Match",
    "add_to_index",
    "build_index",
    "embed_to_file",
    "expand_paths",
    "load_index",
    "model_info",
    "remove_from_index",
]
