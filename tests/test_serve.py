"""The web service: every endpoint, its error codes, and that nothing outside the index
can be read through it."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from simnet.index import Index, build_index
from simnet.inference import SimNet
from simnet.serve import Limits, create_app

SECRET = "top-secret-contents-never-served"


@pytest.fixture(scope="module")
def served(tiny_run, tmp_path_factory) -> tuple[TestClient, Path, Path]:
    data, run = tiny_run
    folder = tmp_path_factory.mktemp("serve")
    (folder / "secret.txt").write_text(SECRET)
    (data.parent / "secret.png").write_text(SECRET)  # beside the data, never indexed
    index_file = folder / "shapes.index"
    build_index(SimNet.load(run), data, model_path=run).save(index_file)
    app = create_app(index_file, limits=Limits(max_bytes=200_000, max_pixels=1_000_000))
    return TestClient(app), index_file, data


def png(size: tuple[int, int] = (32, 32), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def relative(path: Path, root: Path) -> str:
    """How answers name an indexed file: by its path relative to the indexed root."""
    return str(path.resolve().relative_to(root.resolve()))


def upload(path: Path) -> dict:
    return {"image": (path.name, path.read_bytes(), "image/png")}


def test_health_and_page(served) -> None:
    client, _, _ = served
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["images"] == 60 and health["index"] == "exact"
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'type = "file"' in page.text and "/search" in page.text


def test_search_finds_the_uploaded_image_first(served) -> None:
    client, _, data = served
    query = data / "stripes" / "003.png"
    response = client.post("/search", files=upload(query), data={"k": "5"})
    assert response.status_code == 200, response.text
    matches = response.json()["matches"]
    assert len(matches) == 5
    assert matches[0]["path"] == relative(query, data) and matches[0]["distance"] < 1e-3
    assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)
    picture = client.get(matches[0]["url"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.content == query.read_bytes()


def test_a_token_guards_everything_but_the_page_and_health(served) -> None:
    _, index_file, data = served
    client = TestClient(create_app(index_file, token="s3cret"))
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200
    query = upload(data / "stripes" / "003.png")
    for refused in (
        client.post("/search", files=query),
        client.post("/search", files=query, headers={"Authorization": "Bearer wrong"}),
        client.post("/search", files=query, headers={"Authorization": "Basic s3cret"}),
        client.get("/images/0"),
        client.get("/openapi.json"),
    ):
        assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]
        assert "token" in refused.json()["detail"]
    found = client.post("/search", files=query, headers={"Authorization": "Bearer s3cret"})
    assert found.status_code == 200, found.text
    url = found.json()["matches"][0]["url"]
    assert client.get(url + "?token=s3cret").status_code == 200  # how the page loads images
    assert client.get(url + "?token=s3cre").status_code == 401


def test_compare_gives_distance_and_similarity(served) -> None:
    client, _, data = served
    a, b = data / "circle" / "001.png", data / "cross" / "002.png"
    same = client.post(
        "/compare", files={"a": (a.name, a.read_bytes()), "b": (a.name, a.read_bytes())}
    )
    assert same.status_code == 200, same.text
    assert same.json()["distance"] < 1e-3 and same.json()["similarity"] == pytest.approx(
        1, abs=1e-4
    )
    other = client.post(
        "/compare", files={"a": (a.name, a.read_bytes()), "b": (b.name, b.read_bytes())}
    )
    net = client.app.state.service.net
    expected = float(np.linalg.norm(np.subtract(*net.embed([a, b]))))
    assert other.json()["distance"] == pytest.approx(expected, abs=1e-4)
    assert other.json()["similarity"] == pytest.approx(1 - expected**2 / 2, abs=1e-4)


@pytest.mark.parametrize(
    ("files", "data", "status", "fragment"),
    [
        ({"image": ("a.txt", b"hello", "text/plain")}, {}, 415, "not an image type"),
        ({"image": ("a.png", b"hello, not a png", "image/png")}, {}, 415, "not an image"),
        ({"image": ("a.png", png()[:60], "image/png")}, {}, 422, "a.png"),
        ({"image": ("big.png", png((2000, 1000)), "image/png")}, {}, 413, "pixels"),
        ({"image": ("a.png", png(), "image/png")}, {"k": "0"}, 422, "k must be"),
        ({"image": ("a.png", png(), "image/png")}, {"k": "ten"}, 422, "k must be"),
        ({"photo": ("a.png", png(), "image/png")}, {}, 422, "missing image"),
        ({"image": ("a.png", b"", "image/png")}, {}, 422, "empty"),
    ],
)
def test_bad_uploads_get_4xx_with_a_reason(served, files, data, status, fragment) -> None:
    client, _, _ = served
    response = client.post("/search", files=files, data=data)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_bodies_over_the_limit_are_refused_before_reading(served) -> None:
    client, _, _ = served
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")  # about 270 KB: over the 200 KB limit
    response = client.post("/search", files={"image": ("n.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 413
    chunked = client.post(
        "/compare",
        content=iter([b"x" * 100_000] * 3),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )  # no Content-Length: counted as it arrives
    assert chunked.status_code == 413


def test_only_indexed_images_can_be_read(served) -> None:
    client, index_file, data = served
    index = Index.load(index_file)
    assert client.get(f"/images/{max(index.ids) + 1}").status_code == 404
    assert client.get("/images/-1").status_code == 404
    attempts = [
        "/images/..%2Fsecret.txt",
        "/images/../secret.txt",
        "/images/%2e%2e/%2e%2e/secret.png",
        f"/images/{data.parent / 'secret.png'}",
        "/images/1?path=../secret.txt",
        "/secret.txt",
        "/static/../secret.txt",
        "/images/1.0",
    ]
    for url in attempts:
        response = client.get(url)
        assert SECRET not in response.text, url
        assert (
            response.status_code in (404, 422)
            or response.content == Path(index.entry(1).path).read_bytes()
        ), url


def test_an_index_replaced_on_disk_is_picked_up(served) -> None:
    client, index_file, data = served
    index = Index.load(index_file)
    gone = str((data / "circle" / "000.png").resolve())
    old_id = index.entry_for(gone).id
    index.remove([gone])
    index.save(index_file)
    time.sleep(1.1)  # the file is looked at once a second at most
    assert client.get("/health").json()["images"] == 59
    assert client.get(f"/images/{old_id}").status_code == 404
    response = client.post("/search", files=upload(data / "circle" / "000.png"), data={"k": "59"})
    assert relative(Path(gone), data) not in [m["path"] for m in response.json()["matches"]]


def test_concurrent_searches_each_get_their_own_answer(served) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, _, data = served
    queries = sorted(data.glob("*/00[1-9].png"))[:24]

    def ask(path: Path) -> tuple[str, str, int]:
        response = client.post(
            "/search", files=upload(path), data={"k": str(3 + int(path.stem) % 3)}
        )
        matches = response.json()["matches"]
        return relative(path, data), matches[0]["path"], len(matches)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, queries))
    for path, first, k in answers:  # batched together, each answer is still its own
        assert first == path and k == 3 + int(Path(path).stem) % 3
        assert not Path(first).is_absolute()


def design_service(library: Path, folder: Path, *overrides: str) -> TestClient:
    """A service over the designs in ``library``, with an untrained design model that has
    attribute heads (the "packages" preset) and no calibration."""
    import torch

    from simnet.config import load_config
    from simnet.models import build_model
    from simnet.models.store import save_model

    tiny = ["model.widths=[4,8,8,8]", "model.branch_width=4", "model.embedding_dim=8"]
    settings = [f"data.cache_dir={folder / 'cache'}", *tiny, *overrides]
    config = load_config(None, settings, preset="packages")
    model_dir = folder / "model"
    meta = {"config": config.to_dict(), "classes": [], "data": str(library), "format": 1}
    torch.manual_seed(0)
    save_model(model_dir, build_model(config.model, load_weights=False), meta)
    build_index(SimNet.load(model_dir), library, model_path=model_dir).save(folder / "d.index")
    return TestClient(create_app(folder / "d.index"))


@pytest.fixture(scope="module")
def designs(tmp_path_factory) -> tuple[TestClient, Path]:
    """A service over 12 package designs (:func:`design_service`): ``(client, library)``."""
    from simnet.packages.generate import generate_packages

    tmp_path = tmp_path_factory.mktemp("designs")
    library = tmp_path / "lib"
    generate_packages(library, 12, seed=3, size=64, progress=False)
    as_drawn = ["data.trim=false", "data.max_aspect=null"]  # the views as drawn, padded square
    return design_service(library, tmp_path, *as_drawn), library


def design_views(design: Path, prefix: str = "") -> dict:
    return {f"{prefix}{v}": (f"{v}.png", (design / f"{v}.png").read_bytes(), "image/png")
            for v in ("top", "front", "side")}  # fmt: skip


def test_a_multi_view_model_takes_one_file_per_view(designs) -> None:
    """Package designs: search and compare take top, front and side; pictures are the top
    views, or the view asked for."""
    client, library = designs
    design = sorted(p.parent for p in library.rglob("top.png"))[0]
    assert client.get("/health").json()["views"] == ["top", "front", "side"]
    found = client.post("/search", files=design_views(design), data={"k": "3"}).json()["matches"]
    assert found[0]["path"] == relative(design, library) and found[0]["distance"] < 1e-3
    picture = client.get(found[0]["url"])
    assert picture.content == (design / "top.png").read_bytes()
    for view in ("top", "front", "side"):
        shown = client.get(found[0]["url"], params={"view": view})
        assert shown.status_code == 200 and shown.content == (design / f"{view}.png").read_bytes()
    for view in ("back", "../params.json", "top.png"):  # only the model's views, by name
        assert client.get(found[0]["url"], params={"view": view}).status_code == 422
    same = client.post(
        "/compare", files={**design_views(design, "a."), **design_views(design, "b.")}
    )
    assert same.json()["distance"] < 1e-3
    missing = client.post("/search", files={"top": design_views(design)["top"]})
    assert missing.status_code == 422 and "'front'" in missing.json()["detail"]


def test_explain_says_how_a_query_and_a_match_differ(designs) -> None:
    """/explain: the verdict (None: no calibration), the summary, both sides' attributes,
    and a difference map over each view of each side, as data and as overlays."""
    client, library = designs
    design, other = sorted(p.parent for p in library.rglob("top.png"))[:2]
    found = client.post("/search", files=design_views(design), data={"k": "12"}).json()
    match = next(m for m in found["matches"] if m["path"] == relative(other, library))
    response = client.post("/explain", files=design_views(design), data={"match": match["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["views"] == ["top", "front", "side"]
    assert body["a"] == "top.png+front.png+side.png" and body["b"] == match["path"]
    assert body["verdict"] is None and body["same_family_percentile"] is None
    assert body["summary"].startswith(f"similarity {body['similarity']:.3f}")
    assert body["similarity"] == pytest.approx(1 - match["distance"] ** 2 / 2, abs=1e-3)
    names = ["family", "dies", "memory_stacks", "cover", "bonding"]
    assert list(body["attributes"]["a"]) == names and list(body["attributes"]["b"]) == names
    assert body["attribute_labels"]["memory_stacks"] == "memory stacks"
    assert set(body["differing_attributes"]) <= set(names)
    size = client.app.state.service.net.config.data.image_size
    for side in "ab":
        assert list(body["difference_maps"][side]) == body["views"]
        assert list(body["overlays"][side]) == body["views"]
        for url in body["overlays"][side].values():
            assert url.startswith("data:image/png;base64,")
            overlay = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
            assert overlay.mode == "RGBA" and overlay.size == (size, size)
    assert max(np.asarray(Image.open(io.BytesIO(base64.b64decode(u.split(",")[1]))))[..., 3].max()
               for u in body["overlays"]["a"].values()) > 0  # fmt: skip
    for view, url in body["match"]["view_urls"].items():
        assert client.get(url).content == (other / f"{view}.png").read_bytes()
    itself = client.post(
        "/explain", files=design_views(design), data={"match": found["matches"][0]["id"]}
    )
    assert itself.json()["similarity"] == pytest.approx(1, abs=1e-4)
    assert itself.json()["differing_attributes"] == []
    assert "pictures" not in body  # the maps lie over the files as drawn, padded square


@pytest.mark.parametrize(
    "framing",
    [["data.trim=true", "data.max_aspect=null"], ["data.trim=false", "data.max_aspect=1"]],
    ids=["trim", "stretch"],
)
def test_a_model_that_frames_views_is_queried_and_explained_as_it_sees_them(
    designs, tmp_path, framing
) -> None:
    """With ``data.trim`` (or ``data.max_aspect``) a query's views are trimmed (stretched)
    as the index's were, so a design finds itself, and /explain adds the views as the
    model framed them, which the maps lie over."""
    _, library = designs
    client = design_service(library, tmp_path, *framing)
    design = sorted(p.parent for p in library.rglob("top.png"))[0]
    found = client.post("/search", files=design_views(design), data={"k": "2"}).json()["matches"]
    assert found[0]["path"] == relative(design, library) and found[0]["distance"] < 1e-3
    body = client.post(
        "/explain", files=design_views(design), data={"match": found[1]["id"]}
    ).json()
    size = client.app.state.service.net.config.data.image_size
    seen = client.app.state.service.net.decode(design)  # (V, S, S, 3), trimmed
    for i, view in enumerate(body["views"]):
        url = body["pictures"]["a"][view]
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        assert picture.shape == (size, size, 3) and np.array_equal(picture, seen[i])
        assert list(body["pictures"]["b"]) == body["views"]


def test_explain_refuses_what_it_cannot_explain(designs) -> None:
    client, library = designs
    design = sorted(p.parent for p in library.rglob("top.png"))[0]
    unknown = client.post("/explain", files=design_views(design), data={"match": "999"})
    assert unknown.status_code == 404 and "no image 999" in unknown.json()["detail"]
    no_match = client.post("/explain", files=design_views(design))
    assert no_match.status_code == 422 and "'match'" in no_match.json()["detail"]
    not_an_id = client.post("/explain", files=design_views(design), data={"match": "../x"})
    assert not_an_id.status_code == 422 and "id" in not_an_id.json()["detail"]
    views = design_views(design)
    del views["side"]
    no_side = client.post("/explain", files=views, data={"match": "0"})
    assert no_side.status_code == 422 and "'side'" in no_side.json()["detail"]
    text = {**design_views(design), "front": ("f.txt", b"hello", "text/plain")}
    assert client.post("/explain", files=text, data={"match": "0"}).status_code == 415


def test_explain_with_a_single_image_model(served) -> None:
    """A model of single images has one "view", the image; no attributes, no verdict."""
    client, _, data = served
    query = data / "square" / "002.png"
    matches = client.post("/search", files=upload(query), data={"k": "2"}).json()["matches"]
    response = client.post("/explain", files=upload(query), data={"match": matches[1]["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["views"] == ["image"] and body["verdict"] is None
    assert body["attributes"] == {"a": {}, "b": {}} and body["differing_attributes"] == []
    assert body["similarity"] == pytest.approx(1 - matches[1]["distance"] ** 2 / 2, abs=1e-3)
    assert list(body["overlays"]["a"]) == ["image"] and list(body["overlays"]["b"]) == ["image"]
    assert list(body["difference_maps"]["b"]) == ["image"]
    assert body["match"]["view_urls"] == {"image": matches[1]["url"]}
    assert client.get(matches[1]["url"], params={"view": "top"}).status_code == 422
