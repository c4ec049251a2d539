"""The search page in a real browser: headless Chromium (Debian's package) driven by
Playwright, against the service on a loopback port. Skipped where Chromium is not
installed, unless SIMNET_REQUIRE_BROWSER=1 (CI sets it, so there it must run)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from simnet.index import build_index
from simnet.inference import SimNet
from simnet.serve import create_app

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tiny_run, tmp_path):
    import uvicorn

    data, run = tiny_run
    index_file = tmp_path / "shapes.index"
    build_index(SimNet.load(run), data, model_path=run).save(index_file)
    port = free_port()
    config = uvicorn.Config(create_app(index_file), port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data
    uvicorn_server.should_exit = True
    thread.join(10)


def test_dropping_an_image_shows_its_matches(server, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if REQUIRED:
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
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
