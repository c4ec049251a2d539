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
from typing import Any

import faiss
import numpy as np
from index_helpers import cluster_centres, make_vectors, one_at_a_time, rss_mib

from simnet.index.embeddings import open_vectors
from simnet.index.large import (
    LargeIndex,
    build_large,
    exact_neighbours,
    neighbour_recall,
    parts_of,
    set_search_depth,
)

DEPTHS = {"hnsw": [32, 64, 128], "ivfpq": [16, 64], "exact": [0]}


def child(args: argparse.Namespace) -> None:
    """Builds one kind, searches it at each depth, saves and loads it; prints JSON."""
    faiss.omp_set_num_threads(2)
    vectors = open_vectors(args.base)
    queries = np.load(args.queries)
    truth = np.load(args.truth)
    before = rss_mib("VmRSS")
    start = time.perf_counter()
    index, kind = build_large(vectors, args.kind, shards=args.shards)
    build = time.perf_counter() - start
    faiss.omp_set_num_threads(1)  # one query at a time, as a user asks
    rows = [at_depth(index, kind, depth, queries, truth) for depth in DEPTHS[kind]]
    peak = rss_mib("VmHWM") - before  # includes the file pages mapped while reading
    size = sum(faiss.serialize_index(p).nbytes for p in parts_of(index)) / 2**20
    saved = save_and_load(index, kind, queries, Path(args.truth).with_name(f"{kind}.index"))
    figures = {"kind": kind, "build": build, "peak_mib": peak, "index_mib": size, "rows": rows}
    print(json.dumps({**figures, **saved}))


def at_depth(
    index: faiss.Index, kind: str, depth: int, queries: np.ndarray, truth: np.ndarray
) -> dict[str, Any]:
    """Recall@10 and single-query latency with the index looking this hard."""
    if depth:
        set_search_depth(index, kind, depth)
    index.search(queries[:50], 10)  # warm-up
    found, times = one_at_a_time(index, queries, 10)
    return {
        "depth": depth,
        "recall": neighbour_recall(found, truth),
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
    }


def save_and_load(index: faiss.Index, kind: str, queries: np.ndarray, path: Path) -> dict[str, Any]:
    """The index file simnet index --embeddings writes, and simnet serve reads, with a path
    per row: time to save and to load it, its size, and whether the loaded index answers
    alike."""
    names = [f"images/{i // 1000:04d}/{i:07d}.jpg" for i in range(index.ntotal)]
    saved = LargeIndex(index, kind, names, [""] * len(names), {}, depth=DEPTHS[kind][-1])
    start = time.perf_counter()
    saved.save(path)
    save = time.perf_counter() - start
    start = time.perf_counter()
    loaded = LargeIndex.load(path)
    load = time.perf_counter() - start
    _, expected = index.search(queries[:100], 10)
    same = [[m.id for m in r] for r in loaded.search(queries[:100], 10)] == expected.tolist()
    return {"save": save, "load": load, "file_mib": path.stat().st_size / 2**20, "same": same}


def parse_args() -> argparse.Namespace:
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
    return parser.parse_args()


def prepare(args: argparse.Namespace, folder: Path) -> tuple[Path, Path]:
    """The base and query vectors (given, or synthetic ones written to ``folder``), and
    their exact top 10 in ``folder/truth.npy``. Returns the two vector files."""
    centres = cluster_centres(2_000, args.dim)
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
    return base, query_file


def run_child(
    args: argparse.Namespace, kind: str, base: Path, query_file: Path, truth: Path
) -> dict[str, Any] | None:
    """One kind measured in a process of its own (so its peak memory is its own)."""
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
        str(truth),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(f"{kind}: failed\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_result(result: dict[str, Any]) -> None:
    for i, row in enumerate(result["rows"]):
        head = (
            f"{result['kind']:<7}{result['build']:>9.1f}{result['peak_mib']:>10.0f}"
            f"{result['index_mib']:>11.0f}"
            if i == 0
            else " " * 37
        )
        print(f"{head}{row['depth']:>7}{row['recall']:>11.4f}{row['p50']:>9.2f}{row['p99']:>9.2f}")
    print(
        f"{'':<7}index file {result['file_mib']:.0f} MiB: saved in {result['save']:.1f} s, "
        f"loaded in {result['load']:.1f} s; same answers once loaded: {result['same']}"
    )


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        base, query_file = prepare(args, folder)
        print(
            f"{'kind':<7}{'build s':>9}{'+peak MiB':>10}{'index MiB':>11}{'depth':>7}"
            f"{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}"
        )
        for kind in args.kinds:
            result = run_child(args, kind, base, query_file, folder / "truth.npy")
            if result is not None:
                print_result(result)


if __name__ == "__main__":
    main()
