"""Every metric of simnet.distances against the distance written out by hand, pair by pair."""

from __future__ import annotations

import math

import pytest
import torch

from simnet.distances import METRICS, check_metric, pair_distances, pairwise_distances, widen


def loop_distance(u: list[float], v: list[float], metric: str) -> float:
    """The distance between two vectors, one coordinate at a time."""
    if metric == "euclidean":
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v, strict=True)))
    if metric == "cosine":
        dot = sum(a * b for a, b in zip(u, v, strict=True))
        norms = math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v))
        return 1.0 - dot / norms
    if metric == "l1":
        return sum(abs(a - b) for a, b in zip(u, v, strict=True))
    raise AssertionError(f"no hand-written loop for {metric}")


def points(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g, dtype=dtype)
    x[4] = x[1]  # two equal rows: distance 0
    return x


def test_the_metrics_are_the_three_the_loops_know() -> None:
    assert METRICS == ("euclidean", "cosine", "l1")


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_distances_match_a_plain_loop(metric: str) -> None:
    x = points()
    got = pairwise_distances(x, metric)
    assert got.shape == (5, 5) and got.dtype == torch.float64
    rows = x.tolist()
    for i in range(5):
        for j in range(5):
            expected = loop_distance(rows[i], rows[j], metric)
            # abs: the sqrt(1e-12) floor that keeps the gradient finite at 0, and rounding
            assert float(got[i, j]) == pytest.approx(expected, abs=2e-6), (i, j)


@pytest.mark.parametrize("metric", METRICS)
def test_pair_distances_match_a_plain_loop(metric: str) -> None:
    x = points()
    a, b = torch.tensor([0, 1, 3, 2, 1]), torch.tensor([2, 4, 0, 2, 3])
    got = pair_distances(x, a, b, metric)
    assert got.shape == (5,)
    rows = x.tolist()
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        assert float(got[k]) == pytest.approx(loop_distance(rows[i], rows[j], metric), abs=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_both_paths_agree_in_float32(metric: str) -> None:
    x = points(torch.float32)
    a, b = torch.triu_indices(5, 5, offset=1)
    matrix = pairwise_distances(x, metric)[a, b]
    assert torch.allclose(pair_distances(x, a, b, metric), matrix, atol=1e-5)


def test_euclidean_has_a_finite_gradient_at_zero_distance() -> None:
    x = points().requires_grad_()
    pairwise_distances(x).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    y = points().requires_grad_()
    pair_distances(y, torch.tensor([1]), torch.tensor([4])).sum().backward()
    assert y.grad is not None and bool(torch.isfinite(y.grad).all())


def test_low_precision_is_widened_and_float64_kept() -> None:
    assert widen(torch.zeros(2, dtype=torch.bfloat16)).dtype == torch.float32
    assert widen(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64
    x = points(torch.float32).to(torch.bfloat16)
    assert pairwise_distances(x, "l1").dtype == torch.float32


def test_an_unknown_metric_is_refused() -> None:
    assert check_metric("cosine") == "cosine"
    with pytest.raises(ValueError, match="hamming"):
        check_metric("hamming")
    with pytest.raises(ValueError):
        pairwise_distances(points(), "hamming")
    with pytest.raises(ValueError):
        pair_distances(points(), torch.tensor([0]), torch.tensor([1]), "hamming")
