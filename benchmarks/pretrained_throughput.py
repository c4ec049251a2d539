"""How fast the pretrained EfficientNet-Lite0 embeds photos on this CPU, by execution path,
and how long one photo takes to search 100,000 indexed vectors.

Paths, measured side by side in one run on the same preprocessed batches (batches of 32 at
224 px, the network simnet embeds with: pooled features, L2-normalised): eager fp32,
channels-last fp32, channels-last bf16 autocast (where the CPU has bf16 units), TorchScript
(traced and frozen) and torch.compile. Each path's embeddings must keep cosine >= 0.999 to
eager fp32's, or it is reported as wrong. Paths take turns within each round (the best
round kept), so machine noise hits them alike. Decoding (JPEG to 224x224 array) is measured
separately, on the shipped photos.

Then the query: one photo decoded, embedded and searched among 100,000 random unit vectors
of the same size (exact inner-product search, as ``simnet index`` builds up to 100,000
images), p50 and p90 over ``--queries`` runs.

    python benchmarks/pretrained_throughput.py [--rounds 3] [--seconds 5] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from simnet.data.images import decode_image
from simnet.index import Index
from simnet.inference import SimNet
from simnet.runtime import autocast, cpu_has_bf16, cpu_name, set_threads

PHOTOS = Path(__file__).resolve().parents[1] / "examples" / "photos"
BATCH, SIZE = 32, 224


def rate(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, seconds: float) -> float:
    """Images per second of ``run`` on ``x``, over about ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        run(x)
        done += len(x)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def paths(model: torch.nn.Module, x: torch.Tensor, compile_: bool) -> dict[str, Callable]:
    """The execution paths, each a function of a ``(B, 3, S, S)`` batch."""
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)  # model stays as it is

    def eager(batch: torch.Tensor) -> torch.Tensor:
        return model(batch.contiguous())

    def channels_last(batch: torch.Tensor) -> torch.Tensor:
        return cl(batch.contiguous(memory_format=torch.channels_last))

    found: dict[str, Callable] = {"eager fp32": eager, "channels-last fp32": channels_last}
    if cpu_has_bf16():

        def bf16(batch: torch.Tensor) -> torch.Tensor:
            with autocast(True):
                return cl(batch.contiguous(memory_format=torch.channels_last)).float()

        found["channels-last bf16"] = bf16
    traced = torch.jit.freeze(torch.jit.trace(cl, x.contiguous(memory_format=torch.channels_last)))
    found["torchscript frozen fp32"] = lambda b: traced(
        b.contiguous(memory_format=torch.channels_last)
    )
    if compile_:
        compiled = torch.compile(cl)
        found["torch.compile fp32"] = lambda b: compiled(
            b.contiguous(memory_format=torch.channels_last)
        )
    return found


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    set_threads(None)
    print(f"CPU: {cpu_name()}; {torch.get_num_threads()} threads; bf16 units: {cpu_has_bf16()}")
    net = SimNet.from_backbone("efficientnet_lite0", pretrained=True, image_size=SIZE)
    model = net.model.eval()

    def embed(batch: torch.Tensor) -> torch.Tensor:
        return model.embed_images(batch)

    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    want = F.normalize(embed(x).float(), dim=1)
    runs = paths(_Embedder(model).eval(), x, not args.no_compile)
    agreement = {}
    for name, run in runs.items():  # warm-up (compiles), and correctness
        got = F.normalize(run(x).float(), dim=1)
        agreement[name] = float((got * want).sum(1).min())
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            best[name] = max(best.get(name, 0.0), rate(run, x, args.seconds))
    print(f"{'path (batch 32, 224 px)':<28} {'img/s':>7} {'min cosine to eager fp32':>26}")
    for name in runs:
        ok = "" if agreement[name] >= 0.999 else "  (too far: not a correct path)"
        print(f"{name:<28} {best[name]:7.1f} {agreement[name]:26.5f}{ok}")

    photos = sorted(PHOTOS.glob("*.jpg"))
    start = time.perf_counter()
    for _ in range(5):
        for p in photos:
            decode_image(p, SIZE, keep_aspect=True)
    per = (time.perf_counter() - start) / (5 * len(photos))
    print(f"decoding a photo to {SIZE}x{SIZE} (aspect kept): {per * 1000:.1f} ms ({1 / per:.0f}/s)")

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((100_000, net.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = Index(vectors, [f"v{i}" for i in range(len(vectors))], [""] * len(vectors), {})
    total, search = [], []
    for i in range(args.queries):
        t0 = time.perf_counter()
        query = net.embed([photos[i % len(photos)]])
        t1 = time.perf_counter()
        index.search(query, 10)
        t2 = time.perf_counter()
        total.append(t2 - t0)
        search.append(t2 - t1)

    def ms(values: list[float], q: int) -> float:
        return (
            statistics.quantiles(values, n=10)[q - 1] * 1000
            if q != 5
            else statistics.median(values) * 1000
        )

    print(
        f"one photo against 100,000 vectors ({index.kind} search): decode+embed+search p50 "
        f"{ms(total, 5):.1f} ms, p90 {ms(total, 9):.1f} ms; the search alone p50 "
        f"{ms(search, 5):.1f} ms"
    )


class _Embedder(torch.nn.Module):
    """The model's image embedding as a module (what the paths run)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed_images(x)


if __name__ == "__main__":
    main()
