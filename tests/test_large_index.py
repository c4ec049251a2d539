"""The large-index path: chosen by size and budget, built from a memory-mapped file in
chunks, sharded, with recall against a streamed exact search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import simnet.index.large as large
from simnet.errors import SimNetError
from simnet.index.embeddings import open_vectors
from tests.helpers import simnet


@pytest.fixture
def vectors(tmp_path, monkeypatch):
    monkeypatch.setattr(large, "CHUNK", 700)  # several chunks even at this size
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    x = centres[rng.integers(0, 40, 3000)] + 0.3 * rng.normal(size=(3000, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    queries = x[rng.integers(0, 3000, 50)] + 0.01 * rng.normal(size=(50, 16)).astype(np.float32)
    return open_vectors(tmp_path / "v.npy"), queries.astype(np.float32), x


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
    assert large.neighbour_recall(found, truth) >= floor
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
    assert large.neighbour_recall(np.array([[3, 2, 9], [4, 5, 6]]), truth) == pytest.approx(5 / 6)


def test_a_file_that_is_not_vectors_is_refused(tmp_path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(10))
    with pytest.raises(SimNetError, match=r"an \(N, D\) array of floats, not int64"):
        open_vectors(tmp_path / "ints.npy")


# -- from images to a served large index ---------------------------------------------------
@pytest.fixture(scope="module")
def embedded(tiny_run, tmp_path_factory):
    """The shapes embedded by ``simnet embed`` (one file unreadable), and the model."""
    from simnet.index import embed_to_file
    from simnet.inference import SimNet

    data, run = tiny_run
    folder = tmp_path_factory.mktemp("embedded")
    shutil.copytree(data, folder / "shapes")
    (folder / "shapes" / "stripes" / "broken.png").write_bytes(b"not a png")
    net = SimNet.load(run)
    report = embed_to_file(net, [folder / "shapes"], folder / "shapes.npy", run)
    return folder, net, report, run


def test_embed_writes_each_readable_image_once_with_its_row(embedded) -> None:
    folder, net, report, _ = embedded
    assert report.added == 60 and [Path(p).name for p, _ in report.skipped] == ["broken.png"]
    vectors = open_vectors(folder / "shapes.npy")
    rows = json.loads((folder / "shapes.json").read_text())
    assert vectors.shape == (60, net.dim) and len(rows["paths"]) == 60
    assert rows["model"]["id"] == net.model_id
    assert not any(p.endswith("broken.png") for p in rows["paths"])
    some = [0, 17, 59]  # rows hold the embeddings of the images they name
    np.testing.assert_allclose(
        vectors[some], net.embed([rows["paths"][i] for i in some]), atol=1e-5
    )
    assert {Path(p).parent.name for p in rows["paths"]} == set(rows["labels"])


@pytest.mark.parametrize(("kind", "shards"), [("hnsw", 3), ("exact", 2)])
def test_a_large_index_saves_loads_and_finds_each_image(embedded, kind, shards) -> None:
    from simnet.index import LargeIndex, load_index

    folder, net, _, _ = embedded
    built = LargeIndex.from_embeddings(folder / "shapes.npy", kind, shards=shards)
    built.save(folder / f"{kind}.index")
    index = load_index(folder / f"{kind}.index")
    assert isinstance(index, LargeIndex) and (index.kind, index.shards) == (kind, shards)
    index.check_model(net.model_id, net.dim, net.preprocessing)
    vectors = open_vectors(folder / "shapes.npy")
    results = index.search(np.asarray(vectors), 5)
    assert [matches[0].id for matches in results] == list(range(60))
    assert all(results[i][0].distance < 1e-3 for i in range(60))
    entry = index.entry(7)
    assert entry is not None and entry.path == index.paths[7] and index.entry(60) is None


def test_compressed_codes_survive_saving_and_need_enough_rows(vectors, embedded, tmp_path) -> None:
    from simnet.index import LargeIndex

    mapped, queries, _ = vectors
    index, _ = large.build_large(mapped, "ivfpq", sample=2000)
    names = [f"v{i}" for i in range(3000)]
    LargeIndex(index, "ivfpq", names, ["x"] * 3000, {}).save(tmp_path / "pq.index")
    loaded = LargeIndex.load(tmp_path / "pq.index")
    assert loaded.kind == "ivfpq" and loaded.depth == large.SEARCH_DEPTH["ivfpq"]
    index.nprobe = loaded.depth
    _, expected = index.search(queries, 10)
    assert [[m.path for m in r] for r in loaded.search(queries, 10)] == [
        [names[i] for i in row] for row in expected
    ]
    folder = embedded[0]  # 60 images: too few to train 8-bit codes
    with pytest.raises(SimNetError, match="at least 256 vectors"):
        LargeIndex.from_embeddings(folder / "shapes.npy", "ivfpq")


def test_a_large_index_is_not_updated_in_place(embedded, tmp_path) -> None:
    from simnet.index import Index, LargeIndex

    folder, _, _, _ = embedded
    LargeIndex.from_embeddings(folder / "shapes.npy", "hnsw").save(tmp_path / "big.index")
    with pytest.raises(SimNetError, match="build it again"):
        Index.load(tmp_path / "big.index")


def test_embeddings_whose_rows_do_not_match_are_refused(embedded, tmp_path) -> None:
    from simnet.index import LargeIndex

    folder, _, _, _ = embedded
    shutil.copy(folder / "shapes.npy", tmp_path / "lone.npy")
    alone = LargeIndex.from_embeddings(tmp_path / "lone.npy")  # another tool's: rows by number
    assert alone.paths[:2] == ["0", "1"] and alone.model == {}
    (tmp_path / "lone.json").write_text(json.dumps({"paths": [], "labels": [], "model": {}}))
    with pytest.raises(SimNetError, match="names 0 rows but"):
        LargeIndex.from_embeddings(tmp_path / "lone.npy")
    (tmp_path / "lone.json").write_text("{not json")
    with pytest.raises(SimNetError, match="does not name the rows"):
        LargeIndex.from_embeddings(tmp_path / "lone.npy")


def test_the_command_line_builds_searches_and_serves_a_large_index(embedded, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from simnet.serve import create_app
    from tests.helpers import simnet as run

    folder, _, _, model = embedded
    made = run(
        "embed",
        str(folder / "shapes"),
        "--model",
        str(model),
        "--out",
        str(tmp_path / "e.npy"),
        "--quiet",
    )
    assert made.returncode == 0 and "embedded 60 images" in made.stdout, made.stderr
    assert "skipped 1 unreadable" in made.stdout and "broken.png" in made.stderr
    built = run(
        "index",
        "--embeddings",
        str(tmp_path / "e.npy"),
        "--kind",
        "hnsw",
        "--shards",
        "2",
        "--out",
        str(tmp_path / "big.index"),
    )
    assert built.returncode == 0 and "hnsw search, 2 shards" in built.stdout, built.stderr
    query = folder / "shapes" / "cross" / "004.png"
    found = run("search", str(query), "--index", str(tmp_path / "big.index"), "--json", "-k", "3")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["matches"][0]["path"] == str(query.resolve())
    refused = run("index", "--out", str(tmp_path / "big.index"), "--add", str(query))
    assert refused.returncode == 2 and "build it again" in refused.stderr

    client = TestClient(create_app(tmp_path / "big.index"))
    assert client.get("/health").json()["images"] == 60
    response = client.post("/search", files={"image": ("q.png", query.read_bytes(), "image/png")})
    first = response.json()["matches"][0]
    assert first["path"] == "cross/004.png"  # relative to the indexed root, shapes/
    assert client.get(first["url"]).content == query.read_bytes()


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_an_index_exports_to_plain_faiss_with_a_table(embedded, tmp_path, kind) -> None:
    import csv

    import faiss

    from simnet.index import Index, LargeIndex
    from simnet.index.export import export_faiss

    folder = embedded[0]
    vectors = np.load(folder / "shapes.npy")
    names = [f"img{i}.png" for i in range(len(vectors))]
    small = Index(vectors, names, ["a"] * len(vectors), {}, kind=kind)
    small.remove(names[:5])  # ids need not be rows
    large = LargeIndex.from_embeddings(folder / "shapes.npy", kind)
    for index in (small, large):
        done = export_faiss(index, tmp_path / f"{kind}.faiss")
        plain = faiss.read_index(str(tmp_path / f"{kind}.faiss"))
        with open(done["table"]) as handle:
            path_of = {int(row["id"]): row["path"] for row in csv.DictReader(handle)}
        assert plain.ntotal == len(index) == done["count"] == len(path_of)
        _, ids = plain.search(np.ascontiguousarray(vectors[5:25]), 3)
        found = [[m.path for m in ms] for ms in index.search(vectors[5:25], 3)]
        assert [[path_of[int(i)] for i in row] for row in ids] == found
    sharded = LargeIndex.from_embeddings(folder / "shapes.npy", kind, shards=2)
    with pytest.raises(SimNetError, match="--shards 1"):
        export_faiss(sharded, tmp_path / "sharded.faiss")


def test_export_on_the_command_line_writes_plain_faiss(embedded, tmp_path) -> None:
    from simnet.index import LargeIndex

    folder = embedded[0]
    LargeIndex.from_embeddings(folder / "shapes.npy", "exact").save(tmp_path / "big.index")
    out = tmp_path / "big.faiss"
    done = simnet("export", "--index", tmp_path / "big.index", "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 60 and out.with_suffix(".csv").is_file()
    both = simnet("export", "--index", tmp_path / "big.index", "--model", "x", "--out", out)
    assert (
        both.returncode == 2 and both.stderr.count("\n") == 1 and "export one thing" in both.stderr
    )


def test_parquet_and_foreign_embeddings_index_and_search(embedded, tmp_path, capsys) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simnet.cli import main

    folder, _, _, run = embedded

    def cli(*args: object) -> int:
        capsys.readouterr()
        return main([str(a) for a in args])

    table = tmp_path / "e.parquet"
    assert cli("embed", "--model", run, "--data", folder / "shapes", "--out", table) == 0
    written = pq.read_table(table)
    assert written.column_names == ["path", "label", "embedding"] and len(written) == 60
    query = json.loads((folder / "shapes.json").read_text())["paths"][7]

    def search(index: Path) -> dict:
        assert cli("search", "--index", index, "--model", run, query, "-k", "1", "--json") == 0
        return json.loads(capsys.readouterr().out)[0]["matches"][0]

    assert cli("index", "--embeddings", table, "--out", tmp_path / "p.index") == 0
    assert search(tmp_path / "p.index")["path"] == query  # the model recorded, and checked
    # another tool's vectors: float64, no JSON beside them, rows named by a paths file
    foreign = tmp_path / "foreign.npy"
    np.save(foreign, np.load(folder / "shapes.npy").astype(np.float64))
    names = tmp_path / "names.txt"
    names.write_text("".join(f"photo-{i}.jpg\tkind-{i % 3}\n" for i in range(60)))
    assert (
        cli("index", "--embeddings", foreign, "--paths", names, "--out", tmp_path / "f.index") == 0
    )
    match = search(tmp_path / "f.index")  # only the size can be checked against the model
    assert (match["path"], match["label"]) == ("photo-7.jpg", "kind-1")
    assert cli("index", "--embeddings", foreign, "--out", tmp_path / "n.index") == 0
    assert search(tmp_path / "n.index")["path"] == "7"
    names.write_text("only-one.jpg\n")
    pq.write_table(pa.table({"path": ["a"], "vector": [[1.0]]}), tmp_path / "wrong.parquet")
    for args in [
        ("--embeddings", foreign, "--paths", names),  # 1 name for 60 rows
        ("--paths", names, "--model", run),  # --paths without --embeddings
        ("--embeddings", tmp_path / "wrong.parquet"),  # no embedding column
    ]:
        assert cli("index", *args, "--out", tmp_path / "x.index") == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x.index").exists()
