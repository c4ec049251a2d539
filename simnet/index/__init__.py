"""Retrieval: embedding a repository, the FAISS index and its persistence."""

from simnet.index.build import build_index
from simnet.index.index import Index, Match

__all__ = ["Index", "Match", "build_index"]
