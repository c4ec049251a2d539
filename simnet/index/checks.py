"""What every index checks before it answers: that queries fit it, and that a model is the
one that built it."""

from __future__ import annotations

from typing import Any

import numpy as np

from simnet.errors import SimNetError


def check_queries(queries: np.ndarray, dim: int, k: int, rows: int) -> tuple[np.ndarray, int]:
    """``(Q, D)`` query embeddings for an index of ``rows`` ``dim``-D vectors, as FAISS
    takes them (contiguous float32), and the ``k`` it can answer (at most ``rows``; below 1
    when there is nothing to find).

    Raises:
        SimNetError: the queries are not ``(Q, dim)``.
    """
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise SimNetError(f"query embeddings have size {queries.shape[-1]}, index has {dim}")
    return np.ascontiguousarray(queries, dtype=np.float32), min(k, rows)


def check_model(
    built_by: dict[str, Any], index_dim: int, model_id: str, dim: int, preprocessing: dict
) -> None:
    """Raises :class:`SimNetError` unless an index (made by ``built_by``, of ``index_dim``
    vectors) was built by the model with this id, size and preprocessing. An index of
    another tool's embeddings (``built_by`` empty) is checked for the size alone."""
    if dim != index_dim:
        raise SimNetError(f"index holds {index_dim}-D embeddings but the model makes {dim}-D ones")
    if not built_by:  # another tool's embeddings: nothing is known of their model but the size
        return
    if preprocessing != built_by.get("preprocessing"):
        raise SimNetError("index was built with different preprocessing than this model uses")
    if model_id != built_by.get("id"):
        raise SimNetError(
            f"index was built with model {built_by.get('id')}, not {model_id}: "
            "rebuild it with simnet index"
        )
