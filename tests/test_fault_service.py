"""Fault injection against the web service, as a hostile client or a hostile neighbour on
the disk would try it: request heads and bodies sent in part and left hanging (raw
sockets), floods of large uploads, a malformed index swapped in, indexed files replaced
by links out of the tree, FIFOs, bombs and sparse giants, then SIGTERM. Each case is
generated (cut points, sizes, damage), so a new case of the same kind is covered.

Most tests run against a real server (``simnet serve`` in a subprocess, short timeouts);
the index swaps and the archive run in process."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from simnet.index import Index, build_index
from simnet.inference import SimNet
from simnet.serve import Limits, create_app
from simnet.serve.guards import is_loopback
from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import free_port, simnet

HEADER_TIMEOUT, BODY_TIMEOUT, MAX_UPLOAD_MB = 1.0, 2.0, 2
SECRET = b"secret bytes outside the indexed tree"


# -- the service under test ----------------------------------------------------------------
def untrained_model(folder: Path, *settings: str) -> Path:
    """A tiny untrained model of single images (no training: seconds)."""
    import torch

    from simnet.config import load_config
    from simnet.models import build_model
    from simnet.models.store import save_model

    config = load_config(None, [f"data.cache_dir={folder / 'cache'}", *TINY_MODEL, *settings])
    meta = {"config": config.to_dict(), "classes": [], "data": "", "format": 1}
    torch.manual_seed(0)
    save_model(folder / "model", build_model(config.model, load_weights=False), meta)
    return folder / "model"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, Path]:
    """``(data, model, index file)``: 40 generated images and a 20 MB one, indexed."""
    return make_corpus(tmp_path_factory.mktemp("fault-service"))


def make_corpus(root: Path) -> tuple[Path, Path, Path]:
    """The corpus fixture's files, made under ``root``."""
    data = make_tree(root / "data", per_class=10)
    noise = np.random.default_rng(0).integers(0, 256, (2600, 2600, 3), dtype=np.uint8)
    Image.fromarray(noise).save(data / "circle" / "noise.png", compress_level=1)  # 20 MB
    model = untrained_model(root)
    build_index(SimNet.load(model), data, model_path=model).save(root / "shapes.index")
    (root / "outside").mkdir()
    (root / "outside" / "secret.png").write_bytes(SECRET)
    return data, model, root / "shapes.index"


class Live:
    """A ``simnet serve`` process and its address."""

    def __init__(self, index: Path, *options: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simnet", "serve", "--index", str(index)]
            + ["--port", str(self.port), "--quiet", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[0].decode()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return (
            int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]) / 1024
        )

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.communicate()[0].decode(errors="replace")


@pytest.fixture(scope="module")
def live(corpus) -> Iterator[Live]:
    """The service on all addresses (so its docs are off by default), with short timeouts,
    one decode thread and two places in its queue."""
    yield from serve_until_done(corpus[2])


def serve_until_done(index: Path) -> Iterator[Live]:
    """The service as the tests use it, stopped when the generator resumes, its log free
    of tracebacks."""
    server = Live(
        index,
        "--host",
        "0.0.0.0",
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
        "--max-upload-mb",
        str(MAX_UPLOAD_MB),
        "--workers",
        "1",
        "--queue",
        "2",
    )
    yield server
    log = server.stop()
    assert "Traceback" not in log, log


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG with a gradient and a patch of noise: small to send, as large as asked."""
    rng = np.random.default_rng(seed)
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    img.paste(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), (0, 0))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels, with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def connect(port: int, payload: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if payload:
        sock.sendall(payload)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before it closed the connection, or None: still open."""
    deadline, got = time.monotonic() + seconds, b""
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        return got
    return None


def health_ms(url: str) -> float:
    start = time.perf_counter()
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    return 1000 * (time.perf_counter() - start)


def search(url: str, body: bytes, k: int = 5, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{url}/search", files={"image": ("q.png", body, "image/png")}, data={"k": str(k)},
        timeout=timeout,
    )  # fmt: skip


# -- clients that stall ----------------------------------------------------------------------
def request_heads(rng: np.random.Generator, count: int) -> list[bytes]:
    """Request heads cut at random points (0: a connection that sends nothing), and some
    that are whole but for their last blank line."""
    whole = [
        b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n",
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        b"boundary=b\r\nContent-Length: 1000\r\n\r\n",
        b"GET /images/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n",
    ]
    heads = []
    for i in range(count):
        head = whole[i % len(whole)]
        heads.append(head[:-2] if i % 7 == 0 else head[: int(rng.integers(0, len(head) - 2))])
    return heads


def test_half_sent_request_heads_are_closed_and_block_nobody(live) -> None:
    """300 connections stop mid head (one sends a byte every 0.2 s, which must not keep
    its connection either): /health answers all the while, and the server closes every
    one of them soon after its head timeout."""
    sockets = [connect(live.port, head) for head in request_heads(np.random.default_rng(1), 300)]
    trickler = connect(live.port, b"G")
    opened = time.monotonic()
    probes = []
    while time.monotonic() - opened < HEADER_TIMEOUT + 0.5:
        probes.append(health_ms(live.url))
        try:
            trickler.send(b"E")
        except OSError:
            break
        time.sleep(0.2)
    assert max(probes) < 1000, probes
    assert closed_within(trickler, HEADER_TIMEOUT + 3) is not None
    still_open = [s for s in sockets if closed_within(s, HEADER_TIMEOUT + 3) is None]
    assert not still_open, f"{len(still_open)} of 300 stalled connections stayed open"
    for sock in [*sockets, trickler]:
        sock.close()
    assert health_ms(live.url) < 1000


def test_half_sent_bodies_get_408_and_give_their_memory_back(live) -> None:
    """40 uploads stop part way (a declared length, or chunked); each gets 408 and is
    closed after the body timeout, searches go on meanwhile, and the memory they took
    is given back."""
    rng = np.random.default_rng(2)
    limit = MAX_UPLOAD_MB * 1024 * 1024
    idle = live.rss_mb()
    sockets = []
    for i in range(40):
        length = int(rng.integers(1000, limit))
        sent = int(length * rng.uniform(0.05, 0.95))
        if i % 4 == 0:  # chunked: a chunk announced, part of it sent
            head = b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            body = f"{length:x}\r\n".encode() + b"x" * sent
        else:
            head = f"POST /compare HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n".encode()
            body = b"--b\r\n" + b"\0" * sent
        head += b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        sockets.append(connect(live.port, head + body))
    assert search(live.url, png(64, 64)).status_code == 200  # others are answered meanwhile
    answers = [closed_within(s, BODY_TIMEOUT + 4) for s in sockets]
    assert all(a is not None for a in answers), "an unfinished upload stayed open"
    answered = [a for a in answers if a]
    assert answered and all(a.startswith(b"HTTP/1.1 408") for a in answered), answered[:2]
    for sock in sockets:
        sock.close()
    time.sleep(0.3)
    assert live.rss_mb() - idle < 150  # not 40 bodies held


def multipart(fields: dict[str, tuple[str, bytes]], path: str = "/search") -> bytes:
    """A whole multipart POST as raw bytes, asking the server to close after answering."""
    body = b"".join(
        b"--b\r\nContent-Disposition: form-data; name=%s; filename=%s\r\n"
        b"Content-Type: image/png\r\n\r\n%s\r\n" % (name.encode(), file.encode(), data)
        for name, (file, data) in fields.items()
    )
    body += b"--b--\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def exchange(port: int, request: bytes, timeout: float = 60) -> tuple[int, bytes]:
    """Sends a raw request and reads the answer to the end: ``(status, head)``."""
    with connect(port) as sock:
        sock.sendall(request)
        answer = closed_within(sock, timeout)
    assert answer, "no answer"
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[0].lower()


def test_a_flood_of_large_uploads_gets_answers_or_503_with_retry_after(live) -> None:
    """24 clients upload a 9-megapixel image at once to a service with one decode thread
    and two places: every search is a 200 or a 503 with Retry-After, some of each, and
    /health stays fast while the images decode. (Raw sockets: the clients cost little.)"""
    upload = multipart({"image": ("big.png", png(3000, 3000))})
    stop = threading.Event()
    probes: list[float] = []

    def probe() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            status, _ = exchange(
                live.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            probes.append(1000 * (time.perf_counter() - start) if status == 200 else 1e9)
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(lambda _: exchange(live.port, upload), range(24)))
    finally:
        stop.set()
        prober.join()
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] and statuses[503], statuses
    assert all(b"retry-after: " in head for status, head in answers if status == 503)
    assert probes and sorted(probes)[int(0.9 * len(probes))] < 500, probes


def test_a_client_that_never_reads_its_answer_is_dropped(live, corpus) -> None:
    """A client asks for a 20 MB image and reads none of it: the server drops the
    connection once the answer has waited the body timeout, not holding it for ever."""
    data, _, index_file = corpus
    path = data / "circle" / "noise.png"
    image_id = Index.load(index_file).entry_for(str(path.resolve())).id
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", live.port))
        sock.sendall(f"GET /images/{image_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(BODY_TIMEOUT + 2)
        got = closed_within(sock, 10)
    assert got is not None and len(got) < path.stat().st_size
    assert health_ms(live.url) < 1000


# -- what the service shows ------------------------------------------------------------------
def test_answers_name_images_relative_to_the_indexed_root(live, corpus) -> None:
    data, _, _ = corpus
    query = (data / "cross" / "003.png").read_bytes()
    found = search(live.url, query, k=40)
    assert found.status_code == 200
    paths = [m["path"] for m in found.json()["matches"]]
    assert "cross/003.png" in paths and not any(p.startswith("/") for p in paths)
    assert str(data.resolve().parent) not in found.text
    explained = httpx.post(
        f"{live.url}/explain",
        files={"image": ("q.png", query, "image/png")},
        data={"match": str(found.json()["matches"][1]["id"])},
        timeout=30,
    )
    assert explained.status_code == 200, explained.text
    assert explained.json()["b"] == paths[1] == explained.json()["match"]["path"]


def test_docs_are_off_beyond_loopback_and_when_hidden(live, corpus) -> None:
    for url in ("/docs", "/redoc", "/openapi.json"):  # live listens on 0.0.0.0
        assert httpx.get(live.url + url).status_code == 404
    client = TestClient(create_app(corpus[2], docs=False))
    for url in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(url).status_code == 404
    assert client.get("/health").status_code == 200
    assert TestClient(create_app(corpus[2])).get("/openapi.json").status_code == 200
    assert all(map(is_loopback, ["127.0.0.1", "::1", "127.8.0.1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.7", "example.invalid"]))


# -- in process: the index file swapped, archives ----------------------------------------------
def damaged_indexes(good: bytes, other_model: bytes, rng: np.random.Generator) -> Iterator[bytes]:
    """Index files that must not replace a served one: empty, junk, cut short at random
    points, with bytes flipped, a zip without the index's members, and a whole index of
    another model."""
    yield b""
    yield rng.bytes(3000)
    for cut in rng.integers(1, len(good) - 1, 6):
        yield good[: int(cut)]
    for _ in range(4):
        flipped = bytearray(good)
        for at in rng.integers(0, len(good), 30):
            flipped[int(at)] ^= 0xFF
        yield bytes(flipped)
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meta.json", '{"format": 2, "paths": 3}')
    yield buffer.getvalue()
    yield other_model


def test_a_damaged_index_swapped_in_keeps_the_old_one_serving(corpus, tmp_path, caplog) -> None:
    """Each damaged index file (:func:`damaged_indexes`) moved over the served one: the
    reload says why in the log, /health and /search answer from the old index, no 500;
    a good index afterwards is picked up."""
    data, model, index_file = corpus
    served = tmp_path / "served.index"
    shutil.copy(index_file, served)
    client = TestClient(create_app(served, limits=Limits(max_bytes=1_000_000)))
    service = client.app.state.service
    other = tmp_path / "other"
    other.mkdir()
    wider = untrained_model(other, "model.embedding_dim=16")  # another model
    build_index(SimNet.load(wider), data, model_path=wider).save(other / "o.index")
    query = {"image": ("q.png", (data / "circle" / "002.png").read_bytes(), "image/png")}
    refused = 0
    rng = np.random.default_rng(4)
    damaged = damaged_indexes(index_file.read_bytes(), (other / "o.index").read_bytes(), rng)
    for i, bad in enumerate(damaged):
        swap = tmp_path / f"swap-{i}"
        swap.write_bytes(bad)
        os.replace(swap, served)
        with caplog.at_level(logging.WARNING, logger="simnet.serve.app"):
            loaded = service.reload() or service.current.stamp == service._file_stamp()
        if not loaded:
            refused += 1
            assert "kept the loaded index" in caplog.text
            assert client.get("/health").json()["images"] == 41
        found = client.post("/search", files=query)
        assert found.status_code == 200, found.text
        caplog.clear()
        if loaded:  # damage that left a loadable index: put the good one back
            shutil.copy(index_file, served)
            service.reload()
    assert refused >= 10
    smaller = Index.load(index_file)
    smaller.remove(smaller.paths[:5])
    smaller.save(served)
    service.reload()  # unless the service's own watcher thread was first
    assert service.current.stamp == service._file_stamp()
    assert client.get("/health").json()["images"] == 36


def test_an_archive_is_read_once_and_never_stalls_other_requests(
    corpus, tmp_path, monkeypatch
) -> None:
    """Six requests for images of an archive-backed index at once: the archive is read
    once, on its own thread; /health and /search answer while it is read."""
    from simnet.serve.app import Service

    _, model, _ = corpus
    data = make_tree(tmp_path / "shapes", per_class=3, seed=5)
    archive = tmp_path / "shapes.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data, arcname="shapes")
    build_index(SimNet.load(model), archive, model_path=model).save(tmp_path / "a.index")
    client = TestClient(create_app(tmp_path / "a.index"))
    reads = []
    slow = Service._load_archive

    def load(self, snapshot, name):
        reads.append(name)
        time.sleep(1.5)  # as a large archive would take
        return slow(self, snapshot, name)

    monkeypatch.setattr(Service, "_load_archive", load)
    member = (data / "circle" / "002.png").read_bytes()
    found = client.post("/search", files={"image": ("q.png", member, "image/png")})
    first = found.json()["matches"][0]
    assert first["path"] == "shapes.tar.gz::shapes/circle/002.png", first
    with ThreadPoolExecutor(8) as pool:
        pictures = [pool.submit(client.get, m["url"]) for m in found.json()["matches"][:6]]
        time.sleep(0.3)
        start = time.monotonic()
        assert client.get("/health").status_code == 200
        again = client.post("/search", files={"image": ("q.png", member, "image/png")})
        assert again.status_code == 200 and time.monotonic() - start < 1.0
        answers = [p.result() for p in pictures]
    assert len(reads) == 1
    assert all(a.status_code == 200 for a in answers)
    assert answers[0].content == member


# -- the command line --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        ["--port", "99999"],
        ["--port", "0"],
        ["--port", "-5"],
        ["--max-upload-mb", "nan"],
        ["--body-timeout", "0"],
        ["--header-timeout", "inf"],
        ["--workers", "0"],
        ["--queue", "-1"],
        ["--hide-docs", "--show-docs"],
    ],
)
def test_serve_options_out_of_range_are_one_line(corpus, options) -> None:
    done = simnet("serve", "--index", corpus[2], *options, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("simnet: error:") and "Traceback" not in done.stderr, lines


def test_a_port_in_use_is_one_line(corpus) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = simnet("serve", "--index", corpus[2], "--port", port, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"simnet: error: port {port} on 127.0.0.1 is already in use"
    ]


# -- indexed files replaced ------------------------------------------------------------------
def replacements(rng: np.random.Generator, outside: Path) -> list[tuple[str, object]]:
    """What can take an indexed file's place, each with the answer it must get: a link
    out of the tree, a FIFO, bombs (claimed pixels) and a sparse giant (bytes), a folder,
    junk, nothing. Sizes are drawn."""
    side = int(rng.integers(9_000, 200_000))
    return [
        ("link out", 403),
        ("link to a folder", 403),
        ("fifo", 403),
        ("folder", 403),
        (f"bomb {side}", 413),
        (f"bomb {int(rng.integers(9_000, 12_000))}", 413),
        (f"sparse {int(rng.integers(1, 50))} GB", 413),
        ("junk", 404),
        ("gone", 404),
        ("link inside", 200),
    ]


def replace(path: Path, how: str, outside: Path, inside: Path, rng: np.random.Generator) -> None:
    path.unlink()
    if how == "link out":
        path.symlink_to(outside / "secret.png")
    elif how == "link to a folder":
        path.symlink_to(outside)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()
    elif how.startswith("bomb"):
        side = int(how.split()[1])
        path.write_bytes(bomb_png(side, side))
    elif how.startswith("sparse"):
        with path.open("wb") as handle:
            handle.truncate(int(how.split()[1]) * 1024**3)
    elif how == "junk":
        path.write_bytes(rng.bytes(int(rng.integers(0, 5000))))
    elif how == "link inside":
        path.symlink_to(inside)


@pytest.fixture
def own_live(tmp_path) -> Iterator[tuple[Live, tuple[Path, Path, Path]]]:
    """A corpus and a server of the test's own, for a test that damages the one and ends
    the other: with the module's, the tests that a worker runs after it (pytest-xdist's
    worksteal does not keep the file's order) met a dead server and a damaged tree."""
    corpus = make_corpus(tmp_path)
    for server in serve_until_done(corpus[2]):
        yield server, corpus


def test_indexed_files_replaced_are_refused_at_once_and_sigterm_still_ends(own_live) -> None:
    """Each indexed file replaced afterwards (see :func:`replacements`): /images answers
    403, 404 or 413 within a second, never the outside file, never a 500; /explain of it
    is a 4xx too. A class folder replaced by a link out of the tree is refused the same.
    Then, with a FIFO in place and connections stalled, SIGTERM ends the server."""
    live, (data, _, index_file) = own_live
    index = Index.load(index_file)
    rng = np.random.default_rng(3)
    outside = index_file.parent / "outside"
    files = sorted(data.glob("square/*.png"))
    query = (data / "circle" / "000.png").read_bytes()
    for path, (how, status) in zip(files, replacements(rng, outside), strict=False):
        image_id = index.entry_for(str(path.resolve())).id
        replace(path, how, outside, data / "circle" / "001.png", rng)
        start = time.monotonic()
        got = httpx.get(f"{live.url}/images/{image_id}", timeout=5)
        assert time.monotonic() - start < 1.5, how
        assert got.status_code == status, (how, got.status_code, got.text)
        assert SECRET not in got.content, how
        explained = httpx.post(
            f"{live.url}/explain",
            files={"image": ("q.png", query, "image/png")},
            data={"match": str(image_id)},
            timeout=10,
        )
        expected = {200} if status == 200 else {403, 404, 413}
        assert explained.status_code in expected, (how, explained.text)
    # a whole class folder swapped for a link to a copy outside the tree
    stripes = data / "stripes"
    image_id = index.entry_for(str((stripes / "002.png").resolve())).id
    copy = outside / "stripes"
    shutil.copytree(stripes, copy)
    shutil.rmtree(stripes)
    stripes.symlink_to(copy)
    assert httpx.get(f"{live.url}/images/{image_id}", timeout=5).status_code == 403

    stalled = [connect(live.port, b"POST /search HTTP/1.1\r\nContent-Length: 99\r\n\r\n")]
    stalled += [connect(live.port, b"GET /heal") for _ in range(5)]
    live.process.send_signal(signal.SIGTERM)
    try:
        live.process.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("SIGTERM did not end the server within 15 s")
    for sock in stalled:
        sock.close()
