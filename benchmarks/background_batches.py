"""Batch preparation on a background thread: does it overlap the training step?

Measures, interleaved in one run on the same batches: preparing a batch alone (gather,
augmentation, candidate pairs: P), a training step alone on ready batches (forward, OPMS,
loss, backward, SGD: T), the two in series in one thread, and the two with preparation on
a background thread. With overlap the background loop's step time is near max(P, T), not
P + T.

    python benchmarks/background_batches.py [--steps 8] [--set augment.rotation=10 ...]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from simnet.config import load_config
from simnet.data import BatchAugment, ClassBalancedBatchSampler, ImageSet
from simnet.runtime import set_threads
from simnet.train.batches import prepare_batch
from simnet.train.prefetch import Prefetcher
from simnet.train.step import build_parts, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="batches per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, args.overrides)
    set_threads(config.train.threads)
    rng = np.random.default_rng(0)
    n, size = 10_000, config.data.image_size
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n) % 10
    train_set = ImageSet(images, labels, [str(c) for c in range(10)], [str(i) for i in range(n)])
    sampler = ClassBalancedBatchSampler(labels, config.train.batch_size, config.train.per_class)
    parts = build_parts(config, 10_000)
    augment = BatchAugment(config.augment, seed=0)
    prepare = partial(prepare_batch, train_set=train_set, augment=augment)
    items = [item for _, item in zip(range(args.steps), sampler, strict=False)]

    def prepare_only() -> None:
        for item in items:
            prepare(item)

    ready = [prepare(item) for item in items]

    def train_only() -> None:
        for b in ready:
            train_step(parts, b.x, b.labels, 1.0, b.groups, b.candidates)

    def loop(depth: int) -> None:
        for b in Prefetcher(prepare, items, depth):
            train_step(parts, b.x, b.labels, 1.0, b.groups, b.candidates)

    runs = {
        "prepare only (P)": prepare_only,
        "train step only (T)": train_only,
        "in series": partial(loop, 0),
        "background thread": partial(loop, 2),
    }
    train_only()  # warm-up
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], (time.perf_counter() - start) / args.steps * 1000)
    p, t = best["prepare only (P)"], best["train step only (T)"]
    print(f"batch {sampler.batch_size}, {args.steps} steps, best of {args.rounds} rounds")
    for name, ms in best.items():
        print(f"{name:<22}{ms:>9.1f} ms/batch")
    print(f"{'P + T':<22}{p + t:>9.1f} ms/batch")
    print(f"{'max(P, T)':<22}{max(p, t):>9.1f} ms/batch")
    saved = best["in series"] - best["background thread"]
    print(f"background saves {saved:.1f} ms/batch of the {p:.1f} ms preparation")


if __name__ == "__main__":
    main()
