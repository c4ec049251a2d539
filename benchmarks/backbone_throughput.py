"""Embedding throughput of every registered backbone at its native input size, bf16 and fp32.

Each backbone is the CNN1 of a full multi-scale SimNet (two shallow branches, fusion,
projection: the embedding a search computes), in eval mode with channels-last memory. The
compact backbone runs on 32x32 images, the torchvision ones on 224x224. bf16 autocast and
fp32 take turns on the same batches within each round, so machine noise hits both alike.

    python benchmarks/backbone_throughput.py [--rounds 3] [--seconds 4] [--backbones ...]
"""

from __future__ import annotations

import argparse
import time

import torch

from simnet.config import ModelConfig
from simnet.models import build_model, list_backbones
from simnet.runtime import autocast, cpu_has_bf16, set_threads

NATIVE = {"compact": 32}  # everything else: 224
BATCH = {32: 500, 224: 16}


@torch.no_grad()
def images_per_second(model: torch.nn.Module, x: torch.Tensor, bf16: bool, seconds: float) -> float:
    """Embeds ``x`` repeatedly for about ``seconds``; returns images per second."""
    done, start = 0, time.perf_counter()
    while True:
        with autocast(bf16):
            model(x)
        done += len(x)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list_backbones(), help="which ones")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    args = parser.parse_args()
    set_threads(None)
    print(f"threads {torch.get_num_threads()}, CPU bf16 units: {cpu_has_bf16()}", flush=True)
    models = {}
    for name in args.backbones:
        size = NATIVE.get(name, 224)
        config = ModelConfig(backbone=name, whiten=False)
        model = build_model(config).eval().to(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH[size], 3, size, size, generator=gen)
        x = x.contiguous(memory_format=torch.channels_last)
        for bf16 in (False, True):  # warm-up: first calls pick kernels
            images_per_second(model, x, bf16, 0.0)
        models[name] = (model, x, size)
    best: dict[tuple[str, bool], float] = {}
    for _ in range(args.rounds):
        for name, (model, x, _size) in models.items():
            for bf16 in (False, True):
                rate = images_per_second(model, x, bf16, args.seconds)
                best[name, bf16] = max(best.get((name, bf16), 0.0), rate)
    head = ["backbone", "input", "batch", "fp32 img/s", "bf16 img/s", "bf16/fp32"]
    print("\n" + "".join(f"{h:>12}" for h in head))
    for name, (_model, x, size) in models.items():
        fp32, bf16 = best[name, False], best[name, True]
        cells = [
            name,
            f"{size}x{size}",
            len(x),
            f"{fp32:.1f}",
            f"{bf16:.1f}",
            f"{bf16 / fp32:.2f}x",
        ]
        print("".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
