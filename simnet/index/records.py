"""What an index holds for each image (:class:`Entry`) and answers for a query
(:class:`Match`), and the one place FAISS's answer becomes matches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One indexed image (or design): its stable id, where it is, and what it held."""

    id: int
    path: str
    label: str
    size: int  # bytes of the file (-1 when unknown)
    hash: str  # SHA-256 prefix of the file's bytes ("" when unknown)


@dataclass(frozen=True)
class Match:
    """One image found for a query."""

    path: str
    label: str
    distance: float  # L2 distance between embeddings
    id: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "label": self.label, "distance": self.distance}


def to_matches(
    d2: np.ndarray, rows: np.ndarray, paths: list[str], labels: list[str], ids: np.ndarray | None
) -> list[list[Match]]:
    """FAISS's answer (``(Q, k)`` squared distances and rows, -1 for none) as matches per
    query; a row's id is ``ids[row]``, or the row itself."""
    distances = np.sqrt(np.maximum(d2, 0.0))
    return [
        [
            Match(paths[r], labels[r], float(d), int(r if ids is None else ids[r]))
            for d, r in zip(row_d, row_r, strict=True)
            if r >= 0
        ]
        for row_d, row_r in zip(distances, rows, strict=True)
    ]
