"""The large-index path: chosen by size and budget, built from a memory-mapped file in
chunks, sharded, with recall against a streamed exact search."""

from __future__ import annotations

import numpy as np
import pytest

import simnet.index.large as large
from simnet.errors import SimNetError


@pytest.fixture
def vectors(tmp_path, monkeypatch):
    monkeypatch.setattr(large, "CHUNK", 700)  # several chunks even at this size
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    x = centres[rng.integers(0, 40, 3000)] + 0.3 * rng.normal(size=(3000, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    queries = x[rng.integers(0, 3000, 50)] + 0.01 * rng.normal(size=(50, 16)).astype(np.float32)
    return large.open_vectors(tmp_path / "v.npy"), queries.astype(np.float32), x


def test_streamed_exact_search_is_brute_force(vectors) -> None:
    mapped, queries, x = vectors
    assert isinstance(mapped, np.memmap)
    d, i = large.exact_neighbours(mapped, queries, 7)
    brute = ((queries[:, None] - x[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(i, np.argsort(brute, axis=1, kind="stable")[:, :7])
    np.testing.assert_allclose(d, np.sort(brute, axis=1)[:, :7], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("kind", "floor"), [("exact", 1.0), ("hnsw", 0.95), ("ivfpq", 0.5)])
@pytest.mark.parametrize("shards", [1, 3])
def test_each_kind_finds_the_true_neighbours(vectors, kind, floor, shards) -> None:
    mapped, queries, _ = vectors
    index, built = large.build_large(mapped, kind, shards=shards, sample=2000)
    assert built == kind and index.ntotal == 3000
    large.set_search_depth(index, kind, 16 if kind == "ivfpq" else 64)
    _, found = index.search(queries, 10)
    _, truth = large.exact_neighbours(mapped, queries, 10)
    assert large.recall_at_k(found, truth) >= floor
    assert found.max() < 3000 and found.min() >= 0  # ids are global across shards


def test_the_kind_follows_size_and_memory() -> None:
    assert large.choose_kind(50_000, 128, None) == "exact"
    assert large.choose_kind(1_000_000, 128, None) == "hnsw"
    assert large.choose_kind(1_000_000, 128, 400 * 2**20) == "ivfpq"  # the graph needs ~770 MiB
    assert large.memory_needed("ivfpq", 1_000_000, 128) < 100 * 2**20
    with pytest.raises(SimNetError, match="budget"):
        large.choose_kind(1_000_000, 128, 10 * 2**20)


def test_recall_counts_overlap() -> None:
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert large.recall_at_k(np.array([[3, 2, 9], [4, 5, 6]]), truth) == pytest.approx(5 / 6)


def test_a_file_that_is_not_vectors_is_refused(tmp_path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(10))
    with pytest.raises(SimNetError, match="float32"):
        large.open_vectors(tmp_path / "ints.npy")
