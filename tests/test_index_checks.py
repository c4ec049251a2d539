"""The pieces both index layouts share: the query check, the FAISS factory and the thread
count of a search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from simnet.errors import SimNetError
from simnet.index import Index
from simnet.index.checks import check_queries
from simnet.index.large import build_large
from simnet.index.structures import (
    FEW_QUERIES,
    HNSW_BUILD_DEPTH,
    HNSW_NEIGHBOURS,
    IVFPQ_MIN_ROWS,
    faiss_threads,
    new_faiss_index,
    threads_for,
)


def test_queries_come_back_contiguous_float32_with_k_capped() -> None:
    given = np.arange(24, dtype=np.float64).reshape(6, 4)[::2]  # (3, 4), not contiguous
    queries, k = check_queries(given, 4, 10, 7)
    assert queries.dtype == np.float32 and queries.flags.c_contiguous
    np.testing.assert_array_equal(queries, given)
    assert k == 7
    assert check_queries(given, 4, 3, 7)[1] == 3
    assert check_queries(given, 4, 5, 0)[1] == 0  # an empty index: nothing to find


def test_queries_already_fit_are_not_copied() -> None:
    given = np.ones((2, 4), np.float32)
    assert check_queries(given, 4, 1, 1)[0] is given


@pytest.mark.parametrize(("shape", "size"), [((2, 3), 3), ((4,), 4), ((1, 2, 4), 4), ((0, 5), 5)])
def test_queries_of_another_shape_are_refused(shape: tuple[int, ...], size: int) -> None:
    with pytest.raises(SimNetError, match=f"query embeddings have size {size}, index has 4"):
        check_queries(np.zeros(shape, np.float32), 4, 1, 10)


def test_an_empty_batch_of_queries_is_fine() -> None:
    queries, _ = check_queries(np.zeros((0, 4), np.float64), 4, 3, 10)
    assert queries.shape == (0, 4) and queries.dtype == np.float32


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_both_layouts_get_their_structure_from_the_one_factory(kind: str) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 6)).astype(np.float32)
    small = Index(vectors, [f"p{i}" for i in range(50)], [""] * 50, {}, kind=kind)
    large, _ = build_large(vectors, kind)
    made = new_faiss_index(kind, 6, 50)
    for structure in (small._faiss, large):
        assert type(structure) is type(made) and structure.d == 6
        if kind == "hnsw":
            assert structure.hnsw.efConstruction == HNSW_BUILD_DEPTH
            assert structure.hnsw.nb_neighbors(1) == HNSW_NEIGHBOURS


def test_the_factory_makes_compressed_codes_only_from_enough_rows() -> None:
    made = new_faiss_index("ivfpq", 16, IVFPQ_MIN_ROWS)
    assert isinstance(made, faiss.IndexIVFPQ) and not made.is_trained
    with pytest.raises(SimNetError, match=f"at least {IVFPQ_MIN_ROWS} vectors"):
        new_faiss_index("ivfpq", 16, IVFPQ_MIN_ROWS - 1)
    with pytest.raises(SimNetError, match="unknown index kind 'lsh'"):
        new_faiss_index("lsh", 16, 1000)


def test_a_few_queries_search_on_one_thread_and_the_count_comes_back() -> None:
    assert threads_for(1) == threads_for(FEW_QUERIES) == 1
    assert threads_for(FEW_QUERIES + 1) is None
    before = faiss.omp_get_max_threads()
    with faiss_threads(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    with faiss_threads(None):
        assert faiss.omp_get_max_threads() == before
