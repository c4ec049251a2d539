"""What callers may rely on from any index, whichever layout it was loaded from."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from simnet.index.records import Entry, Match


@runtime_checkable
class SearchIndex(Protocol):
    """A searchable index of image embeddings, tied to the model that made them.

    Both :class:`~simnet.index.Index` (built from images, updated in place) and
    :class:`~simnet.index.LargeIndex` (built from embeddings, read-only) are one; code that
    only searches, serves or checks an index takes this, as
    :func:`~simnet.index.load_index` returns it.
    """

    model: dict[str, Any]  # what made the embeddings: id, dim, preprocessing, path
    kind: str  # the FAISS structure searched: exact, hnsw or ivfpq

    def __len__(self) -> int:
        """Images (or designs) the index holds."""
        ...

    @property
    def dim(self) -> int:
        """Size of each embedding."""
        ...

    @property
    def paths(self) -> list[str]:
        """The path (or ``archive::member`` key) of each image held."""
        ...

    def entry(self, image_id: int) -> Entry | None:
        """The image with the id a search gave, or None when the index holds none."""
        ...

    def search(self, queries: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` nearest images to each of ``(Q, D)`` queries, nearest first."""
        ...

    def check_model(self, model_id: str, dim: int, preprocessing: dict[str, Any]) -> None:
        """Raises :class:`~simnet.errors.SimNetError` unless this model built the index."""
        ...

    def save(self, path: str | Path) -> None:
        """Writes the index to one file, atomically."""
        ...
