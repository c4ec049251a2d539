"""Training steps per second of the packages preset against larger views and backbones.

Full multi-view training steps (three views per design through the shared network,
OPMS, contrastive and group loss, backward, SGD) on batches of 240 designs, every variant
interleaved in one run so machine noise hits all alike.

    python benchmarks/packages_throughput.py [--steps 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from simnet.config import load_config
from simnet.data import BatchAugment
from simnet.runtime import set_threads
from simnet.train.step import build_parts, train_step

VARIANTS = {
    "preset: 32 px, 24-32-96-128": [],
    "32 px, 24-48-192-256": ["model.widths=[24,48,192,256]"],
    "48 px, 24-48-192-256": ["data.image_size=48", "model.widths=[24,48,192,256]"],
    "48 px, 24-32-96-128": ["data.image_size=48"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (all)")
    args = parser.parse_args()
    set_threads(args.threads)
    runs = {}
    for name, overrides in VARIANTS.items():
        config = load_config(None, overrides, preset="packages")
        runs[name] = (config, build_parts(config, 1000))
    batch, per = 240, 4
    labels = torch.arange(batch // per).repeat_interleave(per)
    groups = labels % 6
    times: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(args.steps + 1):  # the first round warms up
        for name, (config, parts) in runs.items():
            s = config.data.image_size
            images = torch.randint(0, 256, (batch, 3, s, s, 3), dtype=torch.uint8)
            x = BatchAugment(config.augment, seed=step)(images)
            started = time.perf_counter()
            train_step(parts, x, labels, 1.0, groups)
            if step:
                times[name].append(time.perf_counter() - started)
    base = np.mean(times[next(iter(times))])
    print(f"{'variant':<30}{'s/step':>8}{'designs/s':>11}{'vs preset':>11}")
    for name, t in times.items():
        mean = float(np.mean(t))
        print(f"{name:<30}{mean:>8.2f}{batch / mean:>11.0f}{base / mean:>10.2f}x")


if __name__ == "__main__":
    main()
