"""Distances between embeddings, shared by the losses and the miners.

``euclidean`` is the default (the paper found it best); ``cosine`` (1 - cosine similarity)
and ``l1`` are options.
"""

from __future__ import annotations

import typing

import torch
import torch.nn.functional as F

from simnet.config import Metric

# The one list of metrics: ``loss.metric`` is annotated with it, and the config checks it.
METRICS: tuple[str, ...] = typing.get_args(Metric)
_EPS = 1e-12  # keeps the gradient of sqrt finite at zero distance


def widen(x: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16 autocast outputs are widened; float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def check_metric(metric: str) -> str:
    """``metric`` itself, or ValueError when it names no metric here."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return metric


def pairwise_distances(x: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """All distances between the rows of ``x``: ``(B, D)`` -> ``(B, B)``."""
    check_metric(metric)
    x = widen(x)
    if metric == "euclidean":
        sq = (x * x).sum(1)
        d2 = (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)
        return (d2 + _EPS).sqrt()
    if metric == "cosine":
        x = F.normalize(x, dim=1)
        return 1.0 - x @ x.T
    return torch.cdist(x, x, p=1)


def pair_distances(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, metric: str = "euclidean"
) -> torch.Tensor:
    """Distances of the pairs ``(x[a[i]], x[b[i]])``: ``(B, D)``, ``(P,)``, ``(P,)`` -> ``(P,)``."""
    check_metric(metric)
    x = widen(x)
    if metric == "euclidean":
        return ((x[a] - x[b]).pow(2).sum(1) + _EPS).sqrt()
    if metric == "cosine":
        return 1.0 - F.cosine_similarity(x[a], x[b], dim=1)
    return (x[a] - x[b]).abs().sum(1)
