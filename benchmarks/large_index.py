"""A million vectors: build time, peak memory, recall@10 and single-query latency per kind.

The vectors are **synthetic** (this machine has no million real images): 1,000,000
unit-norm 128-D vectors (the fast preset's embedding size) around 2,000 random cluster
centres, written to a .npy file and read back memory-mapped, in chunks; queries are 1,000
more drawn alike. Each kind is built in its own process; "+peak" is that process's peak
resident memory above what it held before building (Python, FAISS and the queries),
"index" the index's own size; recall@10 is against exact search over the same file.

    python benchmarks/large_index.py [--rows 1000000] [--kinds exact hnsw ivfpq] [--shards 1]
    python benchmarks/large_index.py --base base.npy --queries queries.npy   # your vectors
                                     (benchmarks/cifar_million.py makes real ones)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simnet.index.large import (
    LargeIndex,
    build_large,
    exact_neighbours,
    open_vectors,
    parts_of,
    recall_at_k,
    set_search_depth,
)

DEPTHS = {"hnsw": [32, 64, 128], "ivfpq": [16, 64], "exact": [0]}


def make_vectors(path: Path, rows: int, dim: int, seed: int, centres: np.ndarray) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    rng = np.random.default_rng(seed)
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        x = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.6 / np.sqrt(dim), (n, dim))
        out[start : start + n] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    out.flush()


def rss_mib(field: str) -> float:
    """This process's resident memory (VmRSS) or its peak so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    import faiss

    faiss.omp_set_num_threads(2)
    vectors = open_vectors(args.base)
    queries = np.load(args.queries)
    truth = np.load(args.truth)
    before = rss_mib("VmRSS")
    start = time.perf_counter()
    index, kind = build_large(vectors, args.kind, shards=args.shards)
    build = time.perf_counter() - start
    faiss.omp_set_num_threads(1)  # one query at a time, as a user asks
    rows = []
    for depth in DEPTHS[kind]:
        if depth:
            set_search_depth(index, kind, depth)
        index.search(queries[:50], 10)  # warm-up
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = index.search(q[None], 10)
            times.append(1000 * (time.perf_counter() - t))
            found.append(ids[0])
        rows.append(
            {
                "depth": depth,
                "recall": recall_at_k(np.array(found), truth),
                "p50": float(np.percentile(times, 50)),
                "p99": float(np.percentile(times, 99)),
            }
        )
    peak = rss_mib("VmHWM") - before  # includes the file pages mapped while reading
    size = sum(faiss.serialize_index(p).nbytes for p in parts_of(index)) / 2**20
    # the index file simnet index --embeddings writes, and simnet serve reads, with a path
    # per row: time to save and to load it, and the loaded index answers alike
    names = [f"images/{i // 1000:04d}/{i:07d}.jpg" for i in range(index.ntotal)]
    saved = LargeIndex(index, kind, names, [""] * len(names), {}, depth=DEPTHS[kind][-1])
    start = time.perf_counter()
    saved.save(Path(args.truth).with_name(f"{kind}.index"))
    save = time.perf_counter() - start
    start = time.perf_counter()
    loaded = LargeIndex.load(Path(args.truth).with_name(f"{kind}.index"))
    load = time.perf_counter() - start
    _, expected = index.search(queries[:100], 10)
    same = [[m.id for m in r] for r in loaded.search(queries[:100], 10)] == expected.tolist()
    file_mib = Path(args.truth).with_name(f"{kind}.index").stat().st_size / 2**20
    print(
        json.dumps(
            {
                "kind": kind,
                "build": build,
                "peak_mib": peak,
                "index_mib": size,
                "rows": rows,
                "save": save,
                "load": load,
                "file_mib": file_mib,
                "same": same,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--kinds", nargs="+", default=["exact", "hnsw", "ivfpq"])
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--base", help="vectors to index (.npy, float32) instead of synthetic ones")
    parser.add_argument("--queries", help="with --base: the query vectors (.npy)")
    parser.add_argument("--truth", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        centres = np.random.default_rng(0).normal(size=(2_000, args.dim))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        started = time.perf_counter()
        if args.base:
            base, query_file = Path(args.base).resolve(), Path(args.queries).resolve()
            what = f"vectors of {base} ({open_vectors(base).shape[0]:,}), queries of {query_file}"
        else:
            base, query_file = folder / "base.npy", folder / "queries.npy"
            make_vectors(base, args.rows, args.dim, 1, centres)
            make_vectors(query_file, 1_000, args.dim, 2, centres)
            what = f"{args.rows:,} synthetic {args.dim}-D vectors (2,000 clusters), 1,000 queries"
        queries = np.load(query_file)
        _, truth = exact_neighbours(open_vectors(base), queries, 10)
        np.save(folder / "truth.npy", truth)
        print(
            f"{what}; data and exact top-10 in {time.perf_counter() - started:.0f} s; "
            f"shards {args.shards}"
        )
        print(
            f"{'kind':<7}{'build s':>9}{'+peak MiB':>10}{'index MiB':>11}{'depth':>7}"
            f"{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}"
        )
        for kind in args.kinds:
            command = [
                sys.executable,
                __file__,
                "--child",
                "--kind",
                kind,
                "--shards",
                str(args.shards),
                "--base",
                str(base),
                "--queries",
                str(query_file),
                "--truth",
                str(folder / "truth.npy"),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(f"{kind}: failed\n{done.stderr[-2000:]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            for i, row in enumerate(result["rows"]):
                head = (
                    f"{result['kind']:<7}{result['build']:>9.1f}{result['peak_mib']:>10.0f}"
                    f"{result['index_mib']:>11.0f}"
                    if i == 0
                    else " " * 37
                )
                print(
                    f"{head}{row['depth']:>7}{row['recall']:>11.4f}{row['p50']:>9.2f}{row['p99']:>9.2f}"
                )
            print(
                f"{'':<7}index file {result['file_mib']:.0f} MiB: saved in {result['save']:.1f} s, "
                f"loaded in {result['load']:.1f} s; same answers once loaded: {result['same']}"
            )


if __name__ == "__main__":
    main()
