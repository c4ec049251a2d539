"""The web service under clients that stall it: is /health still fast, does every search
get an answer, does the memory stay bounded?

Starts ``simnet serve`` on a free port in its own process, then at once: 8 clients that
upload the largest image the service takes (``--max-pixels``, a PNG under the upload
limit) to /search again and again, 100 connections that stall (half of them mid request
head, half mid body, each reopened when the server closes it), and one client that probes
/health (at least 200 times). Prints /health latency p50/p99/max, the /search answers by
status (each 503 must carry Retry-After; a client timeout is counted as one), and the
server's memory (VmRSS) idle and at its peak, then whether each target was met:

- /health p99 <= 100 ms;
- every /search 200, or 503 with Retry-After (no timeout, no other status);
- peak memory within 500 MB of idle.

    python benchmarks/serve_stall.py [--index FILE] [--max-pixels N] [--probes 200]

Without --index it builds one: an untrained model of the default config over 200
generated images, in a scratch folder. Client and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw
from serve_load import free_port, start_server  # beside this script

UPLOADERS = 8
STALLED = 100
TARGET_P99_MS = 100.0
TARGET_MEMORY_MB = 500.0


def build_index(folder: Path, count: int = 200) -> Path:
    """An index of ``count`` generated images, embedded by an untrained default model."""
    import torch

    from simnet.config import load_config
    from simnet.index import build_index as build
    from simnet.inference import SimNet
    from simnet.models import build_model
    from simnet.models.store import save_model

    rng = np.random.default_rng(0)
    data = folder / "data"
    for i in range(count):
        label = ("circle", "square", "cross", "stripes")[i % 4]
        (data / label).mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (64, 64), tuple(int(c) for c in rng.integers(0, 255, 3)))
        x, y = (int(v) for v in rng.integers(4, 40, 2))
        ImageDraw.Draw(img).ellipse((x, y, x + 20, y + 20), fill=(255, 255, 255))
        img.save(data / label / f"{i:03d}.png")
    config = load_config(None, [f"data.cache_dir={folder / 'cache'}"])
    meta = {"config": config.to_dict(), "classes": [], "data": str(data), "format": 1}
    torch.manual_seed(0)
    save_model(folder / "model", build_model(config.model, load_weights=False), meta)
    net = SimNet.load(folder / "model")
    build(net, data, model_path=folder / "model").save(folder / "bench.index")
    return folder / "bench.index"


def largest_image(max_pixels: int) -> bytes:
    """A PNG of at most ``max_pixels`` pixels (a square as large as allowed): a gradient
    with shapes, which compresses to well under the upload limit."""
    side = math.isqrt(max_pixels)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), np.uint8)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 1] = ramp[:, None]
    pixels[..., 2] = 128
    img = Image.fromarray(pixels)
    del pixels
    ImageDraw.Draw(img).ellipse((side // 4, side // 4, side // 2, side // 2), fill=(250, 250, 250))
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stallers:
    """``count`` connections that stall: even ones stop mid request head, odd ones send
    a head declaring a 9 MB body and stop after 256 KB of it. A connection the server
    closes is opened again, so ``count`` stall all the while."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.closed_by_server = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if i % 2 == 0:
            sock.sendall(b"POST /search HTTP/1.1\r\nHost: bench\r\nContent-Ty")
        else:
            head = (
                "POST /search HTTP/1.1\r\nHost: bench\r\n"
                "Content-Type: multipart/form-data; boundary=xx\r\n"
                f"Content-Length: {9 * 1024 * 1024}\r\n\r\n"
            )
            sock.sendall(head.encode() + b"--xx\r\n" + b"\0" * (256 * 1024))
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        open_ = {i: self._open(i) for i in range(self.count)}
        while not self.stop.is_set():
            for i, sock in list(open_.items()):
                try:
                    gone = sock.recv(65536, socket.MSG_PEEK) == b"" or self._drain(sock)
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    sock.close()
                    self.closed_by_server += 1
                    open_[i] = self._open(i)
            time.sleep(0.2)
        for sock in open_.values():
            sock.close()

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """Reads what the server answered (a 408); True when it then closed."""
        while True:
            try:
                if sock.recv(65536) == b"":
                    return True
            except BlockingIOError:
                return False


def upload(url: str, body: bytes, stop: threading.Event, answers: Counter) -> None:
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            try:
                response = client.post(url, files={"image": ("big.png", body, "image/png")})
            except httpx.TimeoutException:
                answers["timeout"] += 1
                continue
            except httpx.HTTPError as exc:
                answers[f"error {type(exc).__name__}"] += 1
                continue
            status = response.status_code
            if status == 503 and "retry-after" not in response.headers:
                answers["503 without Retry-After"] += 1
            else:
                answers[str(status)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", help="index file to serve (default: one built here)")
    parser.add_argument("--max-pixels", type=int, default=40_000_000, help="as for serve")
    parser.add_argument("--probes", type=int, default=200, help="/health probes (>= 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(args.index) if args.index else build_index(Path(scratch))
        body = largest_image(args.max_pixels)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(scratch) / "server.log"
        server = start_server(index, port, log, "--max-pixels", str(args.max_pixels))
        try:
            small = io.BytesIO()
            Image.new("RGB", (64, 64), (10, 200, 30)).save(small, "PNG")
            warm = httpx.post(f"{base}/search", files={"image": ("s.png", small.getvalue())})
            assert warm.status_code == 200, warm.text
            time.sleep(1.0)
            idle = rss_mb(server.pid)
            peak = idle
            stop, answers = threading.Event(), Counter()
            stallers = Stallers(port, STALLED)
            stallers.thread.start()
            time.sleep(0.5)
            uploaders = [
                threading.Thread(target=upload, args=(f"{base}/search", body, stop, answers))
                for _ in range(UPLOADERS)
            ]
            for t in uploaders:
                t.start()
            time.sleep(1.0)  # the uploads are under way
            latencies, failures = [], Counter()
            with httpx.Client(timeout=10) as prober:
                for _ in range(args.probes):
                    start = time.perf_counter()
                    try:
                        ok = prober.get(f"{base}/health").status_code == 200
                    except httpx.HTTPError as exc:
                        ok, failures[type(exc).__name__] = False, failures[type(exc).__name__] + 1
                    latencies.append(1000 * (time.perf_counter() - start))
                    if not ok:
                        failures["not 200"] += 1
                    peak = max(peak, rss_mb(server.pid))
                    time.sleep(0.02)
            stop.set()
            for t in uploaders:
                t.join(150)
            stallers.stop.set()
            stallers.thread.join(10)
            peak = max(peak, rss_mb(server.pid, "VmHWM"))
            sizes = (len(body), math.isqrt(args.max_pixels))
        finally:
            server.terminate()
            server.wait(30)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    searches = sum(answers.values())
    bad = {k: v for k, v in answers.items() if k not in ("200", "503")}
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"machine: {cpu}, {os.cpu_count()} cores shared by server and clients")
    print(
        f"load: {UPLOADERS} clients uploading a {sizes[1]}x{sizes[1]} PNG "
        f"({sizes[0] / 1e6:.2f} MB) to /search in a loop, {STALLED} stalled connections "
        f"({stallers.closed_by_server} closed by the server and reopened)"
    )
    print(
        f"/health: {len(latencies)} probes, p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, "
        f"max {max(latencies):.1f} ms, failures {dict(failures) or 0}"
    )
    print(f"/search: {searches} answers: {dict(sorted(answers.items()))}")
    print(f"memory: idle {idle:.0f} MB, peak {peak:.0f} MB (+{peak - idle:.0f} MB)")
    met = {
        f"/health p99 <= {TARGET_P99_MS:g} ms": q[98] <= TARGET_P99_MS and not failures,
        "every /search 200 or 503 with Retry-After": not bad and searches > 0,
        f"memory within {TARGET_MEMORY_MB:g} MB of idle": peak - idle <= TARGET_MEMORY_MB,
    }
    for what, ok in met.items():
        print(f"{'met' if ok else 'MISSED'}: {what}")
    sys.exit(0 if all(met.values()) else 1)


if __name__ == "__main__":
    main()
