"""A searchable index of image embeddings: FAISS over vectors, with each image's path
and label, saved atomically and tied to the model that made it."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from simnet.errors import SimNetError
from simnet.storage import atomic_path

FORMAT = 1


@dataclass(frozen=True)
class Match:
    path: str
    label: str
    distance: float  # L2 distance between embeddings

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "distance": self.distance}


class Index:
    """Exact L2 search over embeddings.

    Args:
        vectors: ``(N, D)`` float32 embeddings.
        paths: the image of each row.
        labels: the label of each row ("" when unknown).
        model: what the embeddings were made with: ``id`` (weights digest), ``dim``,
            ``preprocessing`` and ``path``; checked against a model on load.
    """

    def __init__(
        self, vectors: np.ndarray, paths: list[str], labels: list[str], model: dict[str, Any]
    ):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(paths) or len(paths) != len(labels):
            raise ValueError("vectors, paths and labels must describe the same rows")
        self.vectors, self.paths, self.labels, self.model = (
            vectors,
            list(paths),
            list(labels),
            model,
        )
        self._faiss = faiss.IndexFlatL2(vectors.shape[1])
        self._faiss.add(vectors)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @classmethod
    def build(
        cls, model: Any, data: str | Path, split: str = "all", model_path: str | Path | None = None
    ) -> Index:
        """Embeds every image of ``data`` with a :class:`~simnet.inference.SimNet` model."""
        from simnet.index.build import build_index

        return build_index(model, data, split, model_path)

    def search(self, queries: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` nearest images to each of ``(Q, D)`` queries, nearest first."""
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise SimNetError(
                f"query embeddings have size {queries.shape[-1]}, index has {self.dim}"
            )
        k = min(k, len(self))
        d2, idx = self._faiss.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        distances = np.sqrt(np.maximum(d2, 0.0))
        return [
            [
                Match(self.paths[j], self.labels[j], float(d))
                for d, j in zip(row_d, row_i, strict=True)
                if j >= 0
            ]
            for row_d, row_i in zip(distances, idx, strict=True)
        ]

    def check_model(self, model_id: str, dim: int, preprocessing: dict[str, Any]) -> None:
        """Raises :class:`SimNetError` unless the index was built by this model."""
        if dim != self.dim:
            raise SimNetError(
                f"index holds {self.dim}-D embeddings but the model makes {dim}-D ones"
            )
        if preprocessing != self.model.get("preprocessing"):
            raise SimNetError("index was built with different preprocessing than this model uses")
        if model_id != self.model.get("id"):
            raise SimNetError(
                f"index was built with model {self.model.get('id')}, not {model_id}: "
                "rebuild it with simnet index"
            )

    def save(self, path: str | Path) -> None:
        """Writes the index as one zip file (no pickles), atomically."""
        meta = {"format": FORMAT, "paths": self.paths, "labels": self.labels, "model": self.model}
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
            buffer = io.BytesIO()
            np.save(buffer, self.vectors, allow_pickle=False)
            archive.writestr("vectors.npy", buffer.getvalue())
            archive.writestr("meta.json", json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> Index:
        path = Path(path)
        if not path.is_file():
            raise SimNetError(f"index not found: {path}")
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read("meta.json"))
                vectors = np.load(io.BytesIO(archive.read("vectors.npy")), allow_pickle=False)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise SimNetError(f"{path} is not a simnet index ({exc})") from None
        if meta.get("format") != FORMAT:
            raise SimNetError(f"{path} has index format {meta.get('format')}, expected {FORMAT}")
        return cls(vectors, meta["paths"], meta["labels"], meta["model"])
