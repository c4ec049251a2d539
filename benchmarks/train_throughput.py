"""Training throughput of the fast preset: bf16 autocast + channels-last against fp32.

Both settings run full training steps (forward, OPMS, contrastive loss, backward, SGD) on
the same batches, interleaved in one run so machine noise hits both alike.

    python benchmarks/train_throughput.py [--steps 6] [--batch 500]
"""

from __future__ import annotations

import argparse
import time

import torch

from simnet.config import load_config
from simnet.data import BatchAugment
from simnet.runtime import cpu_has_bf16, set_threads
from simnet.train.step import build_parts, train_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setting")
    parser.add_argument("--batch", type=int, default=500, help="images per batch")
    args = parser.parse_args()
    set_threads(None)
    settings = {
        "fp32": ["train.bf16=off", "train.channels_last=false"],
        "fp32+channels-last": ["train.bf16=off"],
        "bf16": ["train.bf16=on", "train.channels_last=false"],
        "bf16+channels-last": ["train.bf16=on"],
    }
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 32, 32, 3), dtype=torch.uint8, generator=gen)
    labels = torch.arange(10).repeat_interleave(args.batch // 10)
    runs = {}
    for name, overrides in settings.items():
        config = load_config(None, overrides)
        parts = build_parts(config, 1000)
        augment = BatchAugment(config.augment)
        x = augment(images)
        if not config.train.channels_last:
            x = x.contiguous()
        train_step(parts, x, labels, 0.5)  # warm-up
        runs[name] = (parts, x)
    seconds = dict.fromkeys(settings, 0.0)
    for _ in range(args.steps):
        for name, (parts, x) in runs.items():
            start = time.perf_counter()
            train_step(parts, x, labels, 0.5)
            seconds[name] += time.perf_counter() - start
    base = args.steps * args.batch / seconds["fp32"]
    print(f"cpu bf16 units: {cpu_has_bf16()}; threads: {torch.get_num_threads()}")
    print(f"{'setting':<22}{'images/s':>10}{'vs fp32':>9}")
    for name in settings:
        rate = args.steps * args.batch / seconds[name]
        print(f"{name:<22}{rate:>10.0f}{rate / base:>8.2f}x")


if __name__ == "__main__":
    main()
