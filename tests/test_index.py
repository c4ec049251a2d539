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


# -- updates in place ----------------------------------------------------------------------
def brute_force(index: Index, query: np.ndarray, k: int) -> list[str]:
    d = np.linalg.norm(index.vectors - query, axis=1)
    return [index.paths[i] for i in np.argsort(d)[:k]]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_add_remove_and_reload_stay_consistent(kind: str, tmp_path) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    index = Index(vectors[:100], [f"p{i}" for i in range(100)], ["x"] * 100, MODEL, kind=kind)
    ids_before = {p: index.entry_for(p).id for p in index.paths}
    new_ids = index.add(vectors[100:], [f"p{i}" for i in range(100, 200)], ["y"] * 100)
    assert new_ids == list(range(100, 200))  # ids are never reused
    removed = index.remove([f"p{i}" for i in range(0, 200, 3)] + ["not-there"])
    assert removed == 67 and len(index) == 133
    assert index.kind == kind
    # Surviving images keep their ids; removed ones are gone from every lookup.
    assert all(index.entry_for(p).id == ids_before[p] for p in index.paths if p in ids_before)
    assert index.entry_for("p0") is None and index.entry(0) is None and "p3" not in index
    for q in range(0, 200, 7):
        found = [m.path for m in index.search(vectors[q : q + 1], 5)[0]]
        assert found == brute_force(index, vectors[q], 5)
        assert not any(int(p[1:]) % 3 == 0 for p in found)
    index.save(tmp_path / "x.index")
    again = Index.load(tmp_path / "x.index")
    assert again.kind == kind and again.paths == index.paths and len(again) == 133
    np.testing.assert_array_equal(again.ids, index.ids)
    for q in range(0, 200, 11):
        assert [m.path for m in again.search(vectors[q : q + 1], 5)[0]] == [
            m.path for m in index.search(vectors[q : q + 1], 5)[0]
        ]


def test_adding_a_path_again_replaces_it() -> None:
    index = make_index()
    before = index.entry_for("img7.png")
    index.add(np.full((1, 3), 9.0, np.float32), ["img7.png"], ["c"], [123], ["abc"])
    assert len(index) == 50
    entry = index.entry_for("img7.png")
    assert entry.id != before.id and entry.label == "c" and entry.size == 123
    assert index.search(np.full((1, 3), 9.0, np.float32), 1)[0][0].path == "img7.png"


def test_hnsw_graph_marks_removals_then_rebuilds(monkeypatch) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(100, 8)).astype(np.float32)
    index = Index(vectors, [f"p{i}" for i in range(100)], [""] * 100, MODEL, kind="hnsw")
    index.remove([f"p{i}" for i in range(10)])  # 10%: marked, not rebuilt
    assert index._faiss.ntotal == 100 and len(index) == 90
    assert all(m.path not in {f"p{i}" for i in range(10)} for m in index.search(vectors[:10], 3)[0])
    index.remove([f"p{i}" for i in range(10, 25)])  # 25% deleted: rebuilt without them
    assert index._faiss.ntotal == 75 and len(index) == 75


def test_auto_index_turns_approximate_past_the_threshold(monkeypatch) -> None:
    import simnet.index.structures as module

    monkeypatch.setattr(module, "AUTO_APPROXIMATE_ROWS", 60)
    index = make_index()
    assert index.kind == "exact"
    rng = np.random.default_rng(3)
    index.add(rng.normal(size=(20, 3)).astype(np.float32), [f"n{i}" for i in range(20)], [""] * 20)
    assert index.kind == "hnsw" and len(index) == 70
    query = index.vectors[5:6]
    assert index.search(query, 1)[0][0].path == index.paths[5]


# -- with a real model ---------------------------------------------------------------------
def test_adding_files_embeds_only_what_is_new_or_changed(tiny_run, tmp_path) -> None:
    from PIL import Image

    from simnet.index import add_to_index, build_index
    from simnet.inference import SimNet
    from tests.conftest import make_tree

    data, run = tiny_run
    net = SimNet.load(run)
    index = build_index(net, data, model_path=run)
    assert len(index) == 60 and all(e.size > 0 for e in map(index.entry_for, index.paths))
    extra = make_tree(tmp_path / "extra", per_class=2, seed=5)
    (extra / "circle" / "broken.png").write_bytes(b"not a picture")
    report = add_to_index(index, net, [extra])
    assert (report.added, report.replaced, report.unchanged) == (8, 0, 0)
    assert len(report.skipped) == 1 and "broken.png" in report.skipped[0][0]
    assert len(index) == 68
    # The same folder again: nothing to embed. A changed file is replaced, in place.
    Image.new("RGB", (32, 32), (250, 0, 0)).save(extra / "square" / "000.png")
    report = add_to_index(index, net, [extra])
    assert (report.added, report.replaced, report.unchanged) == (0, 1, 7)
    path = str((extra / "square" / "000.png").resolve())
    query = net.embed([extra / "square" / "000.png"])
    top = index.search(query, 1)[0][0]
    assert top.path == path and top.distance < 1e-3 and top.label == "square"
