"""The service under untrusted input: Schemathesis fuzzes every operation of its OpenAPI
schema, Hypothesis sends damaged images and odd forms, and searches run while the index is
replaced; no request gets a server error, and every answer comes from one whole index."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.generation import GenerationMode

from simnet.index import Index, build_index
from simnet.inference import SimNet
from simnet.serve import Limits, create_app
from tests.conftest import make_tree

LIMITS = Limits(max_bytes=200_000, max_pixels=1_000_000)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def app(tiny_run, tmp_path_factory):
    data, run = tiny_run
    index_file = tmp_path_factory.mktemp("fuzz") / "shapes.index"
    build_index(SimNet.load(run), data, model_path=run).save(index_file)
    return create_app(index_file, limits=LIMITS)


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_no_request_the_schema_allows_or_breaks_gets_a_server_error(app, mode) -> None:
    """Every operation of the OpenAPI schema, with data that fits it (positive) and data
    that breaks it (negative)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/health",
        "/search",
        "/compare",
        "/explain",
        "/images/{image_id}",
    }
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and operation.path == "/health":
            continue  # it takes nothing, so nothing can break its schema

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def call(case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                assert response.json()["detail"], response.text

        call()


def test_the_schema_describes_the_forms(app) -> None:
    spec = TestClient(app).get("/openapi.json").json()
    form = spec["paths"]["/search"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["image"] and "k" in form["schema"]["properties"]
    assert set(spec["paths"]["/search"]["post"]["responses"]) >= {"200", "413", "415", "422"}


def png_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


GOOD = png_bytes(0)


@st.composite
def damaged(draw) -> bytes:
    """A real PNG cut short, with bytes flipped, or with junk around it."""
    data = bytearray(GOOD)
    how = draw(st.sampled_from(["cut", "flip", "wrap"]))
    if how == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "flip":
        for at in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=20)):
            data[at] ^= draw(st.integers(1, 255))
        return bytes(data)
    return draw(st.binary(max_size=64)) + bytes(data) + draw(st.binary(max_size=64))


@given(
    body=damaged(),
    field=st.sampled_from(["image", "a", "imag", ""]),
    kind=st.sampled_from(["image/png", "image/jpeg", "application/octet-stream", "text/plain"]),
    k=st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 500).map(str)),
)
@FUZZ
def test_damaged_images_and_odd_forms_get_a_reason_never_a_server_error(
    app, body, field, kind, k
) -> None:
    client = TestClient(app)
    data = {} if k is None else {"k": k}
    response = client.post("/search", files={field: ("x.png", body, kind)}, data=data)
    assert response.status_code in (200, 413, 415, 422), response.text
    if response.status_code == 200:
        matches = response.json()["matches"]
        assert matches == sorted(matches, key=lambda m: m["distance"])
    else:
        assert response.json()["detail"]


@given(path=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@FUZZ
def test_any_path_is_a_404_or_a_page_never_a_file_off_the_index(app, path) -> None:
    response = TestClient(app).get("/images/" + quote(path, safe="/.%~"))  # dots, raw %
    assert response.status_code < 500, (path, response.text)
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("image/")


def test_searches_during_index_updates_each_see_one_whole_index(tiny_run, tmp_path) -> None:
    """While the index file is replaced again and again (with and without a folder of new
    images), every search answers from the old index or the new one, never a mix."""
    data, run = tiny_run
    net = SimNet.load(run)
    new = make_tree(tmp_path / "new", per_class=5, seed=9)
    small = build_index(net, data, model_path=run)
    small.save(tmp_path / "live.index")
    grown = Index.load(tmp_path / "live.index")
    from simnet.index import add_to_index

    add_to_index(grown, net, [new])
    sizes = {len(small), len(grown)}
    added = {p for p in grown.paths if p.startswith(str(new))}
    query = sorted(added)[0]
    shown = str(Path(query).relative_to(new.parent))  # the tail of the path an answer shows
    client = TestClient(create_app(tmp_path / "live.index", limits=LIMITS))
    stop, seen, problems = threading.Event(), set(), []

    def search() -> None:
        while not stop.is_set():
            health = client.get("/health").json()["images"]
            with open(query, "rb") as handle:
                got = client.post("/search", files={"image": ("q.png", handle)}, data={"k": 100})
            if got.status_code != 200 or health not in sizes:
                problems.append((got.status_code, health, got.text[:200]))
                continue
            paths = [m["path"] for m in got.json()["matches"]]
            seen.add(len(paths))
            if len(paths) not in sizes:  # k=100 returns the whole index: old or new
                problems.append(("mixed", len(paths)))
            if any(Path(p).is_absolute() for p in paths):
                problems.append(("absolute", paths[:3]))
            if any(p.endswith(shown) for p in paths) and not paths[0].endswith(shown):
                problems.append(("query not first", paths[:3]))

    threads = [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    for version in range(6):  # the service looks for a new file at most once a second
        (grown if version % 2 == 0 else small).save(tmp_path / "live.index")
        time.sleep(1.3)
    stop.set()
    for t in threads:
        t.join()
    assert not problems, problems[:5]
    assert seen == sizes  # both versions were served
