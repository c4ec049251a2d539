"""Query latency and batch embedding speed of a trained model over a CIFAR-10-sized index.

One query at a time, as a user asks: read the image file, decode it, embed it (with the
model's test-time views), search the index for the top 10. Then batch embedding of
32x32 images, with and without the test-time views.

    python benchmarks/query_latency.py --model runs/demo [--index runs/demo/train.index]
        [--queries 300]

Without --index, the model's training split is embedded into an exact index first.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from cifar_queries import cifar_test_jpegs

from simnet.data.loading import load_data
from simnet.index import Index, build_index
from simnet.inference import SimNet


def query_files(folder: Path, count: int) -> list[Path]:
    files = [folder / f"{i:05d}.jpg" for i in range(count)]
    for path, (_, data) in zip(files, cifar_test_jpegs(count), strict=True):
        path.write_bytes(data)
    return files


def rate(net: SimNet, images: np.ndarray, rounds: int = 3) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        net.embed_array(images, 500)
        best = max(best, len(images) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder of a trained model")
    parser.add_argument("--index", help="index file (default: build one of the train split)")
    parser.add_argument("--queries", type=int, default=300, help="query images, one at a time")
    args = parser.parse_args()
    net = SimNet.load(args.model)
    if args.index:
        index = Index.load(args.index)
    else:
        index = build_index(net, net.config.data.source, "train", model_path=args.model)
    print(
        f"index: {len(index):,} images, {index.kind} search, {index.dim}-D; "
        f"torch threads {torch.get_num_threads()}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        files = query_files(Path(scratch), args.queries)
        for path in files[:20]:  # warm-up
            index.search(net.embed([path]), 10)
        stages: dict[str, list[float]] = {"embed": [], "search": [], "total": []}
        for path in files:
            start = time.perf_counter()
            vector = net.embed([path])
            middle = time.perf_counter()
            matches = index.search(vector, 10)[0]
            end = time.perf_counter()
            assert len(matches) == 10
            stages["embed"].append(1000 * (middle - start))
            stages["search"].append(1000 * (end - middle))
            stages["total"].append(1000 * (end - start))
    for name, values in stages.items():
        q = statistics.quantiles(values, n=100, method="inclusive")
        print(f"query {name:<7} ms: p50 {q[49]:6.2f}  p99 {q[98]:6.2f}  ({len(values)} queries)")
    images = np.ascontiguousarray(
        load_data(net.config.data.source, net.config.data, []).test.images[:5000]
    )
    plain = SimNet(
        net.model,
        dataclasses.replace(
            net.config, eval=dataclasses.replace(net.config.eval, flip=False, shift=0)
        ),
        net.model_id,
    )
    views = 1 + int(net.config.eval.flip) + 2 * int(net.config.eval.shift > 0)
    print(
        f"batch embedding, 32x32, batches of 500: {rate(plain, images):,.0f} images/s "
        f"(one view); {rate(net, images):,.0f} images/s (the model's {views} test-time views)"
    )


if __name__ == "__main__":
    main()
