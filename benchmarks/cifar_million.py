"""A million embeddings of real images, for benchmarks/large_index.py.

CIFAR-10's 50,000 training images, each in 20 variants (a random crop of the image padded
by 4 pixels, mirrored half the time, brightness and contrast scaled by up to 20%), embedded
by a trained model with one view per image (no test-time averaging, for speed); the
queries are 1,000 CIFAR-10 test images, which are in no variant. Writes ``base.npy`` and
``queries.npy`` (float32, unit norm) to ``--out``.

    python benchmarks/cifar_million.py --model runs/cifar --out /tmp/cifar-million
    python benchmarks/large_index.py --base /tmp/cifar-million/base.npy \\
        --queries /tmp/cifar-million/queries.npy
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from simnet.data.loading import load_data
from simnet.inference import SimNet

VARIANTS = 20


def variants(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random variant of each ``(N, S, S, 3)`` uint8 image."""
    n, size = len(images), images.shape[1]
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
    rows = dy[:, None] + np.arange(size)[None, :]  # (N, S)
    cols = dx[:, None] + np.arange(size)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    x = out.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    contrast = rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    brightness = rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    return np.clip(((x - mean) * contrast + mean) * brightness, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder of a CIFAR-10 model")
    parser.add_argument("--out", required=True, help="folder for base.npy and queries.npy")
    parser.add_argument("--variants", type=int, default=VARIANTS)
    args = parser.parse_args()
    net = SimNet.load(args.model)
    net.config.eval.flip, net.config.eval.shift = False, 0  # one view per image
    data = load_data(net.config.data.source, net.config.data, net.views)
    train = np.asarray(data.train.images)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    queries = np.asarray(data.test.images)[np.sort(rng.permutation(len(data.test))[:1000])]
    np.save(out / "queries.npy", net.embed_array(queries))
    rows = len(train) * args.variants
    base = np.lib.format.open_memmap(out / "base.npy", "w+", np.float32, (rows, net.dim))
    started = time.perf_counter()
    for v in range(args.variants):
        for start in range(0, len(train), 5000):
            chunk = variants(train[start : start + 5000], rng)
            at = v * len(train) + start
            base[at : at + len(chunk)] = net.embed_array(chunk, batch_size=1000)
        done = (v + 1) * len(train)
        print(f"{done:,} of {rows:,} embedded, {done / (time.perf_counter() - started):.0f}/s")
    base.flush()
    print(f"wrote {out / 'base.npy'} ({rows:,} x {net.dim}) and {out / 'queries.npy'}")


if __name__ == "__main__":
    main()
