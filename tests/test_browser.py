"""The search page in a real browser: headless Chromium (Debian's package) driven by
Playwright, against the service on a loopback port: searching, and the explanation of how
the query and a match differ. Skipped where Chromium is not installed, unless
SIMNET_REQUIRE_BROWSER=1 (CI sets it, so there it must run)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from simnet.index import build_index
from simnet.inference import SimNet
from simnet.serve import create_app
from tests.helpers import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("SIMNET_REQUIRE_BROWSER") == "1"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def serving(index_file: Path, token: str | None = None) -> Iterator[str]:
    """The service over ``index_file`` on a loopback port, in a thread: its URL."""
    import uvicorn

    port = free_port()
    app = create_app(index_file, token=token)
    config = uvicorn.Config(app, port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(10)


def chromium() -> ModuleType:
    """Playwright's sync API, or the test skipped (failed under SIMNET_REQUIRE_BROWSER=1)
    where Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        if REQUIRED:
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(tiny_run, tmp_path):
    data, run = tiny_run
    index_file = tmp_path / "shapes.index"
    build_index(SimNet.load(run), data, model_path=run).save(index_file)
    with serving(index_file) as url:
        yield url, data


@pytest.fixture
def design_server(tmp_path):
    """The service over 12 package designs with an untrained design model that has
    attribute heads (the "packages" preset) and no calibration: ``(url, library)``."""
    import torch

    from simnet.config import load_config
    from simnet.models import build_model
    from simnet.models.store import save_model
    from simnet.packages.generate import generate_packages

    library = tmp_path / "lib"
    generate_packages(library, 12, seed=3, size=64, progress=False)
    tiny = ["model.widths=[4,8,8,8]", "model.branch_width=4", "model.embedding_dim=8"]
    tiny += ["data.trim=false", "data.max_aspect=null"]  # views as drawn: the page shows the files
    config = load_config(None, [f"data.cache_dir={tmp_path / 'cache'}", *tiny], preset="packages")
    model_dir = tmp_path / "model"
    meta = {"config": config.to_dict(), "classes": [], "data": str(library), "format": 1}
    torch.manual_seed(0)
    save_model(model_dir, build_model(config.model, load_weights=False), meta)
    index_file = tmp_path / "designs.index"
    build_index(SimNet.load(model_dir), library, model_path=model_dir).save(index_file)
    with serving(index_file) as url:
        yield url, library


def test_dropping_an_image_shows_its_matches(server, tmp_path: Path) -> None:
    playwright = chromium()
    url, data = server
    query = data / "cross" / "004.png"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#file-image")
        assert "60 images indexed" in page.inner_text("#facts")
        page.select_option("#k", "5")
        page.set_input_files("#file-image", str(query))
        page.wait_for_selector(".match img")
        page.wait_for_function(  # every thumbnail loaded from /images/{id}
            "[...document.querySelectorAll('.match img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        thumbnails = page.query_selector_all(".match img")
        assert len(thumbnails) == 5
        assert page.inner_text(".match .distance") == "0.000"  # the image itself, first
        assert "matches in" in page.inner_text("#status")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        browser.close()


def test_the_page_asks_for_the_token_once_and_keeps_it(tiny_run, tmp_path: Path) -> None:
    playwright = chromium()
    data, run = tiny_run
    index_file = tmp_path / "shapes.index"
    build_index(SimNet.load(run), data, model_path=run).save(index_file)
    asked = []
    with serving(index_file, token="s3cret") as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept("s3cret")))
        page.goto(url + "/")
        page.wait_for_selector("#file-image")
        for query in ("cross/004.png", "circle/001.png"):
            page.set_input_files("#file-image", str(data / query))
            page.wait_for_function(
                "document.querySelector('#status').textContent.includes('matches in')"
            )
            page.wait_for_function(LOADED % ".match img")  # thumbnails carry the token too
        assert len(asked) == 1 and "token" in asked[0]  # asked once, kept for the tab
        browser.close()


LOADED = "[...document.querySelectorAll(%r)].every(i => i.complete && i.naturalWidth > 0)"


def test_clicking_a_match_explains_how_it_differs(design_server, tmp_path: Path) -> None:
    """Upload a design's three views, click a match: a dialog shows the verdict (this model
    has none: its similarity), the summary, the attribute table with the differing rows
    marked, and both designs' views each under its difference map. Escape closes it, and
    the keyboard opens it again from the focused match."""
    playwright = chromium()
    url, library = design_server
    design = sorted(p.parent for p in library.rglob("top.png"))[0]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("#file-side")
        page.select_option("#k", "5")
        for view in ("top", "front", "side"):
            page.set_input_files(f"#file-{view}", str(design / f"{view}.png"))
        page.wait_for_selector(".match img")
        page.wait_for_function(LOADED % ".match img")
        assert page.inner_text(".match .distance") == "0.000"  # the design itself, first
        assert not page.is_visible("#explain")

        second = page.locator(".match button").nth(1)
        second.click()
        page.wait_for_selector("#explain[open] #explain-views .overlay")
        page.wait_for_function(LOADED % "#explain-views img")
        heading = page.inner_text("#explain-verdict")
        summary = page.inner_text("#explain-summary")
        assert heading.startswith("Similarity 0.")  # no calibration: no verdict
        assert summary.startswith(("They differ in", "No predicted attribute differs"))
        numbers = page.inner_text("#explain-numbers")
        assert "distance 0." in numbers and "not calibrated" in numbers

        assert page.is_visible("#explain-attributes")
        rows = page.locator("#explain-attributes tbody tr")
        labels = [rows.nth(i).locator("th").inner_text() for i in range(rows.count())]
        assert [label.removeprefix("≠ ") for label in labels] == [
            "family",
            "dies",
            "memory stacks",
            "cover",
            "bonding",
        ]
        differing = page.locator("#explain-attributes tr.differs th").all_inner_texts()
        assert all(label.startswith("≠ ") for label in differing)
        for label in differing:  # each differing row is named in the summary
            assert label.removeprefix("≠ ") in summary
        assert summary.startswith("They differ in") == bool(differing)

        for word in ("query", "match"):
            figures = page.locator(f"#explain-views figure.{word}-view")
            assert figures.count() == 3
            assert figures.locator("figcaption").all_inner_texts()[1].startswith("front")
        overlays = page.locator("#explain-views .overlay")
        assert overlays.count() == 6
        assert all(
            src.startswith("data:image/png;base64,")
            for src in overlays.evaluate_all("els => els.map(e => e.src)")
        )
        match_pictures = page.locator("#explain-views figure.match-view .picture")
        assert (
            match_pictures.evaluate_all("els => els.map(e => new URL(e.src).pathname)")
            == [page.evaluate("document.querySelectorAll('.match img')[1].getAttribute('src')")] * 3
        )
        assert match_pictures.evaluate_all(
            "els => els.map(e => new URL(e.src).searchParams.get('view'))"
        ) == ["top", "front", "side"]
        assert page.evaluate(  # every map lies exactly over its picture
            """[...document.querySelectorAll('#explain-views .stack')].every(s => {
                 const [a, b] = [...s.querySelectorAll('img')].map(i => i.getBoundingClientRect());
                 return a.width > 50 && a.x === b.x && a.y === b.y && a.width === b.width
                        && a.height === b.height;
               })"""
        )
        page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)

        page.keyboard.press("Escape")
        page.wait_for_selector("#explain", state="hidden")
        assert page.evaluate(
            "document.activeElement === document.querySelectorAll('.match button')[1]"
        )
        # the focused match, from the keyboard; a failure says whether the request went out
        # and what the dialog said (a rare 30 s timeout here in one full-suite run)
        with page.expect_response(lambda r: r.url.endswith("/explain")) as reopened:
            page.keyboard.press("Enter")
        assert reopened.value.ok, f"/explain answered {reopened.value.status}"
        try:
            page.wait_for_selector("#explain[open] #explain-views .overlay")
        except playwright.Error as exc:
            status = page.inner_text("#explain-status")
            raise AssertionError(f"no difference maps on reopening; status: {status!r}") from exc
        assert page.inner_text("#explain-verdict") == heading
        page.click("#explain-close")
        page.wait_for_selector("#explain", state="hidden")

        # Chromium queues a dialog's close event, and input can overtake the queue: a close
        # arriving just after a match reopened the dialog must not drop that answer
        page.evaluate(
            """document.querySelectorAll('.match button')[1].click();
               document.getElementById('explain').dispatchEvent(new Event('close'))"""
        )
        page.wait_for_selector("#explain[open] #explain-views .overlay")
        assert page.inner_text("#explain-status") == ""
        browser.close()
