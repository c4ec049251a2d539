"""Both layouts of index are a :class:`SearchIndex`: the same queries over each, built from
the same vectors, get the same kind of answer, checked against a brute-force search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simnet.errors import SimNetError
from simnet.index import Index, LargeIndex, SearchIndex, load_index
from simnet.index.large import build_large

MODEL = {"id": "abc", "dim": 8, "preprocessing": {"image_size": 32}, "path": None}
ROWS = 300


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.normal(size=(ROWS, 8)).astype(np.float32)


def names(n: int) -> list[str]:
    return [f"img{i:03d}.png" for i in range(n)]


def labels(n: int) -> list[str]:
    return ["odd" if i % 2 else "even" for i in range(n)]


def small(kind: str) -> Callable[[np.ndarray], SearchIndex]:
    return lambda x: Index(x, names(len(x)), labels(len(x)), MODEL, kind=kind)


def large(kind: str, shards: int) -> Callable[[np.ndarray], SearchIndex]:
    def make(x: np.ndarray) -> SearchIndex:
        index, built = build_large(x, kind, shards=shards)
        return LargeIndex(index, built, names(len(x)), labels(len(x)), MODEL)

    return make


MAKERS = {
    "index-exact": small("exact"),
    "index-hnsw": small("hnsw"),
    "large-exact": large("exact", 1),
    "large-hnsw-3-shards": large("hnsw", 3),
}
EXACT = {"index-exact", "large-exact"}  # these must match brute force distance for distance


@pytest.fixture(params=sorted(MAKERS))
def made(request, vectors) -> tuple[str, SearchIndex]:
    return request.param, MAKERS[request.param](vectors)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    distances = np.linalg.norm(vectors - query, axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return order.tolist(), distances[order]


def test_each_kind_is_a_search_index(made) -> None:
    _, index = made
    assert isinstance(index, SearchIndex)
    assert len(index) == ROWS and index.dim == 8 and index.model == MODEL
    assert index.kind in ("exact", "hnsw") and index.paths == names(ROWS)


def test_the_same_queries_find_the_true_neighbours(made, vectors) -> None:
    name, index = made
    queries = vectors[::37] + 0.01
    results = index.search(queries, 5)
    assert len(results) == len(queries)
    for query, matches in zip(queries, results, strict=True):
        rows, distances = brute_force(vectors, query, 5)
        assert [m.path for m in matches] == [names(ROWS)[r] for r in rows]
        assert [m.label for m in matches] == [labels(ROWS)[r] for r in rows]
        if name in EXACT:
            assert [m.distance for m in matches] == pytest.approx(distances.tolist(), rel=1e-4)
        for m in matches:  # a match's id leads back to its image (as /images/{id} serves it)
            entry = index.entry(m.id)
            assert entry is not None and (entry.path, entry.label) == (m.path, m.label)


def test_k_is_capped_by_the_index_and_zero_finds_nothing(made, vectors) -> None:
    _, index = made
    assert [len(r) for r in index.search(vectors[:2], ROWS + 50)] == [ROWS, ROWS]
    assert index.search(vectors[:3], 0) == [[], [], []]


@pytest.mark.parametrize("bad", [np.zeros((2, 7), np.float32), np.zeros(8, np.float32)])
def test_queries_of_the_wrong_shape_are_refused_alike(made, bad) -> None:
    _, index = made
    with pytest.raises(SimNetError, match="query embeddings have size .*, index has 8"):
        index.search(bad, 3)


def test_queries_of_any_float_type_and_layout_are_taken(made, vectors) -> None:
    _, index = made
    as_float32 = index.search(vectors[:4], 3)
    as_float64 = index.search(np.asfortranarray(vectors[:4].astype(np.float64)), 3)
    assert [[m.path for m in r] for r in as_float64] == [[m.path for m in r] for r in as_float32]


def test_the_model_check_is_the_same(made) -> None:
    _, index = made
    index.check_model("abc", 8, {"image_size": 32})
    with pytest.raises(SimNetError, match="8-D"):
        index.check_model("abc", 4, {"image_size": 32})
    with pytest.raises(SimNetError, match="preprocessing"):
        index.check_model("abc", 8, {"image_size": 64})
    with pytest.raises(SimNetError, match="rebuild"):
        index.check_model("xyz", 8, {"image_size": 32})


def test_a_saved_index_loads_as_its_own_layout_with_the_same_answers(
    made, vectors, tmp_path: Path
) -> None:
    name, index = made
    index.save(tmp_path / "x.index")
    again = load_index(tmp_path / "x.index")
    assert type(again) is type(index) and isinstance(again, SearchIndex)
    assert again.kind == index.kind and len(again) == len(index)
    queries = vectors[::50]
    assert [[(m.path, m.id) for m in r] for r in again.search(queries, 4)] == [
        [(m.path, m.id) for m in r] for r in index.search(queries, 4)
    ]


def test_load_index_refuses_what_is_not_an_index(tmp_path: Path) -> None:
    with pytest.raises(SimNetError, match="index not found"):
        load_index(tmp_path / "missing.index")
    (tmp_path / "bad.index").write_text("hello")
    with pytest.raises(SimNetError, match="not a simnet index"):
        load_index(tmp_path / "bad.index")
