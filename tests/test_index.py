import numpy as np
import pytest

from simnet.errors import SimNetError
from simnet.index import Index

MODEL = {"id": "abc", "dim": 3, "preprocessing": {"image_size": 32}, "path": None}


def make_index() -> Index:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 3)).astype(np.float32)
    return Index(
        vectors,
        [f"img{i}.png" for i in range(50)],
        ["a" if i % 2 else "b" for i in range(50)],
        MODEL,
    )


def test_search_returns_true_nearest_first() -> None:
    index = make_index()
    query = index.vectors[7:8] + 0.01
    matches = index.search(query, k=5)[0]
    assert matches[0].path == "img7.png"
    brute = np.sort(np.linalg.norm(index.vectors - query, axis=1))[:5]
    assert [m.distance for m in matches] == pytest.approx(brute.tolist(), rel=1e-4)


def test_save_and_load_round_trip(tmp_path) -> None:
    index = make_index()
    index.save(tmp_path / "x.index")
    again = Index.load(tmp_path / "x.index")
    assert again.paths == index.paths and again.labels == index.labels
    np.testing.assert_array_equal(again.vectors, index.vectors)
    assert [m.path for m in again.search(index.vectors[:1], 3)[0]] == [
        m.path for m in index.search(index.vectors[:1], 3)[0]
    ]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_a_different_model_is_refused() -> None:
    index = make_index()
    index.check_model("abc", 3, {"image_size": 32})
    with pytest.raises(SimNetError, match="3-D"):
        index.check_model("abc", 4, {"image_size": 32})
    with pytest.raises(SimNetError, match="preprocessing"):
        index.check_model("abc", 3, {"image_size": 64})
    with pytest.raises(SimNetError, match="rebuild"):
        index.check_model("xyz", 3, {"image_size": 32})


def test_a_file_that_is_not_an_index_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.index"
    bad.write_text("hello")
    with pytest.raises(SimNetError, match="not a simnet index"):
        Index.load(bad)
