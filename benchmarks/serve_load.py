"""Load on the web service: M concurrent clients, N searches each, over loopback.

Starts ``simnet serve`` on a free port in its own process, waits for /health, then runs
the clients (threads, one keep-alive connection each) posting real query images to
/search, and prints latency p50/p99, throughput and errors. Client and server share this
machine's cores, so the figures include the clients' own cost.

    python benchmarks/serve_load.py --index runs/demo/train.index \
        [--clients 20] [--requests 50] [--queries FOLDER] [-k 10]

Without --queries, 200 CIFAR-10 test images are taken from ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from cifar_queries import cifar_test_jpegs

from simnet.data.images import is_image_name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query_images(folder: str | None, scratch: Path, count: int = 200) -> list[tuple[str, bytes]]:
    if folder:
        files = sorted(p for p in Path(folder).rglob("*") if is_image_name(p.name))[:count]
        return [(p.name, p.read_bytes()) for p in files]
    return cifar_test_jpegs(count)


def start_server(index: str | Path, port: int, log: Path, *options: str) -> subprocess.Popen:
    """``simnet serve`` in its own process, once it answers ``/health``."""
    command = [sys.executable, "-m", "simnet", "serve", "--index", str(index)]
    command += ["--port", str(port), "--quiet", *options]
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer /health within 300 s")


def client(
    url: str, queries: list[tuple[str, bytes]], offset: int, n: int, k: int, out: list
) -> None:
    with httpx.Client(timeout=60) as session:
        for i in range(n):
            name, data = queries[(offset + i) % len(queries)]
            start = time.perf_counter()
            try:
                response = session.post(
                    url, files={"image": (name, data, "image/jpeg")}, data={"k": str(k)}
                )
                ok = response.status_code == 200 and len(response.json()["matches"]) == k
            except httpx.HTTPError:
                ok = False
            out.append((time.perf_counter() - start, ok))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="index file to serve")
    parser.add_argument("--model", help="run folder (default: the index's model)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=50, help="searches per client")
    parser.add_argument("--queries", help="folder of query images (default: CIFAR-10 test)")
    parser.add_argument("-k", type=int, default=10, help="matches per search")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        queries = query_images(args.queries, Path(scratch))
        port = free_port()
        model = ["--model", args.model] if args.model else []
        server = start_server(args.index, port, Path(scratch) / "server.log", *model)
        try:
            url = f"http://127.0.0.1:{port}/search"
            health = httpx.get(f"http://127.0.0.1:{port}/health").json()
            client(url, queries, 0, 20, args.k, [])  # warm-up, not counted
            results: list[tuple[float, bool]] = []
            threads = [
                threading.Thread(
                    target=client, args=(url, queries, c * 7, args.requests, args.k, results)
                )
                for c in range(args.clients)
            ]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(30)
    latencies = sorted(1000 * s for s, ok in results)
    errors = sum(not ok for _, ok in results)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"index: {health['images']:,} images, {health['index']} search, {health['dim']}-D")
    print(f"machine: {os.cpu_count()} CPU cores shared by server and clients")
    print(
        f"clients {args.clients} x requests {args.requests} = {len(results)} searches, k={args.k}"
    )
    print(f"latency ms: p50 {q[49]:.1f}  p90 {q[89]:.1f}  p99 {q[98]:.1f}  max {latencies[-1]:.1f}")
    print(f"throughput: {len(results) / wall:.1f} searches/s over {wall:.1f} s")
    print(f"errors: {errors}")


if __name__ == "__main__":
    main()
