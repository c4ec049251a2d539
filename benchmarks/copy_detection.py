"""Copy detection: edited copies of images searched among 10,000, recall@1 per kind of edit,
for simnet's embeddings and descriptors against perceptual hashes, in one run.

The base is CIFAR-10's 10,000 test images, upscaled once to 128x128 (bicubic). A seeded
sample of ``--originals`` of them is edited in each of seven ways (below) and every copy is
searched among all 10,000; a copy is found when its original comes first. Methods:

- ``lite0``: EfficientNet-Lite0's ImageNet features, no training (``--backbone
  efficientnet_lite0 --pretrained``, 224 px, aspect kept). This is the mode chosen,
  before measuring, as `simnet dedup`'s default when no model is given.
- ``embedding`` and ``descriptor`` of each ``--runs`` model (``simnet dedup --model``).
- ``phash`` and ``dhash``, computed by imagededup (``pip install imagededup``), searched by
  Hamming distance (ties broken by index order, which favours no one: the original's
  position is random).

    python benchmarks/copy_detection.py --cifar cifar10/ [--runs runs/cifar] [--originals 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from simnet.dedup import COPY_HASH_WEIGHT, DEFAULT_COPY_THRESHOLD
from simnet.eval.metrics import nearest_neighbours
from simnet.hashes import copy_descriptors
from simnet.inference import SimNet
from simnet.runtime import cpu_name

BASE_SIZE = 128


def _crop(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    s = BASE_SIZE
    keep = int(s * rng.uniform(0.7, 0.85))
    x, y = rng.integers(0, s - keep + 1, 2)
    return im.crop((x, y, x + keep, y + keep)).resize((s, s), Image.Resampling.BICUBIC)


def _rotate(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    angle = rng.uniform(8, 15) * rng.choice([-1, 1])
    return im.rotate(angle, Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))


def _jpeg(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    import io

    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=int(rng.integers(8, 16)))
    return Image.open(buffer).convert("RGB")


def _colour(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    hsv = np.asarray(im.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(50, 200))) % 256  # hue turned
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _grey(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


def _blur(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(2.0, 3.0)))


def _text(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    im = im.copy()
    draw = ImageDraw.Draw(im)
    top = int(rng.integers(0, BASE_SIZE * 3 // 4))
    draw.rectangle((0, top, BASE_SIZE, top + BASE_SIZE // 5), fill=(255, 255, 255))
    draw.text((4, top + 4), "COPY 2026", fill=(0, 0, 0))
    return im


EDITS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "crop": _crop,
    "rotate": _rotate,
    "jpeg": _jpeg,
    "colour": _colour,
    "greyscale": _grey,
    "blur": _blur,
    "text band": _text,
}


def _contrast(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    from PIL import ImageEnhance

    im = ImageEnhance.Contrast(im).enhance(rng.uniform(1.3, 1.6))
    return ImageEnhance.Brightness(im).enhance(rng.uniform(1.1, 1.25))


def _low_resolution(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(32, 48))
    return im.resize((side, side), Image.Resampling.BILINEAR).resize((BASE_SIZE,) * 2)


def _frame(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    inner = int(BASE_SIZE * rng.uniform(0.8, 0.9))
    framed = Image.new("RGB", (BASE_SIZE,) * 2, (200, 200, 200))
    framed.paste(im.resize((inner, inner)), ((BASE_SIZE - inner) // 2,) * 2)
    return framed


# Kinds of edit the fusion weight and threshold were not chosen on (reported apart).
HELD_OUT: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "contrast*": _contrast,
    "low res*": _low_resolution,
    "frame*": _frame,
}


def load_base(root: Path, count: int) -> np.ndarray:
    """The first ``count`` test images (of 10,000, all classes mixed) at 128x128:
    ``(N, 128, 128, 3)`` uint8."""
    files = sorted((root / "test").glob("*/*.jpg"))
    files = [files[i] for i in np.random.default_rng(0).permutation(len(files))[:count]]
    return np.stack(
        [
            np.asarray(
                Image.open(f).convert("RGB").resize((BASE_SIZE,) * 2, Image.Resampling.BICUBIC)
            )
            for f in files
        ]
    )


def resized(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size:
        return images
    return np.stack(
        [
            np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BICUBIC))
            for a in images
        ]
    )


def hashes(images: np.ndarray, kind: str) -> np.ndarray:
    """imagededup's 64-bit hash of each image, as ``(N, 8)`` uint8 bytes."""
    from imagededup.methods import DHash, PHash

    hasher = (PHash if kind == "phash" else DHash)(verbose=False)
    return np.stack(
        [np.frombuffer(bytes.fromhex(hasher.encode_image(image_array=a)), np.uint8) for a in images]
    )


def hamming_first(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query's nearest base hash by Hamming distance."""
    base_bits = np.unpackbits(base, axis=1).astype(np.int16)  # (N, 64)
    out = np.empty(len(queries), np.int64)
    for i, q in enumerate(np.unpackbits(queries, axis=1).astype(np.int16)):
        out[i] = np.abs(base_bits - q).sum(1).argmin()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, required=True, help="CIFAR-10 class tree")
    parser.add_argument("--runs", nargs="*", default=[], help="trained simnet models")
    parser.add_argument("--originals", type=int, default=200, help="images edited")
    parser.add_argument("--base", type=int, default=10_000, help="images searched among")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="keep the lite0 features here (reruns)")
    parser.add_argument(
        "--hash-weights", type=float, nargs="*", help="fusion weights to compare (tuning)"
    )
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}", flush=True)
    base = load_base(args.cifar, args.base)
    rng = np.random.default_rng(args.seed)
    originals = rng.choice(len(base), args.originals, replace=False)
    queries, truth, kinds = [], [], []
    for kind, edit in {**EDITS, **HELD_OUT}.items():  # held-out ones last: the rest unchanged
        for i in originals:
            queries.append(np.asarray(edit(Image.fromarray(base[i]), rng)))
            truth.append(i)
            kinds.append(kind)
    q_images, truth_a, kinds_a = np.stack(queries), np.array(truth), np.array(kinds)
    print(f"{len(base)} base images, {len(q_images)} edited copies of {args.originals}", flush=True)

    found: dict[str, np.ndarray] = {}
    for kind in ("phash", "dhash"):
        found[kind] = hamming_first(hashes(base, kind), hashes(q_images, kind))

    def by_vectors(name: str, embed: Callable[[np.ndarray], np.ndarray]) -> None:
        start = time.perf_counter()
        b, q = embed(base), embed(q_images)
        found[name] = nearest_neighbours(b, q, 1)[1][:, 0]
        print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)

    lite = SimNet.from_backbone("efficientnet_lite0", pretrained=True)
    start = time.perf_counter()
    cache = (
        args.cache / f"lite0-{args.base}-{args.originals}-{args.seed}.npz" if args.cache else None
    )
    if cache and cache.is_file():
        with np.load(cache) as saved:
            base_f, query_f = saved["base"], saved["queries"]
        if len(query_f) < len(q_images):  # copies added since: embed only those
            extra = lite.embed_array(resized(q_images[len(query_f) :], 224), 64)
            query_f = np.concatenate([query_f, extra])
            np.savez(cache, base=base_f, queries=query_f)
    else:
        base_f, query_f = (lite.embed_array(resized(x, 224), 64) for x in (base, q_images))
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, base=base_f, queries=query_f)
    found["lite0 features"] = nearest_neighbours(base_f, query_f, 1)[1][:, 0]
    print(f"  lite0 features: {time.perf_counter() - start:.0f} s", flush=True)
    weights = args.hash_weights or [COPY_HASH_WEIGHT]
    for w in weights:
        name = f"lite0 + hashes w={w:g}" + (" (dedup default)" if w == COPY_HASH_WEIGHT else "")
        b = copy_descriptors(base_f, base, w)
        q = copy_descriptors(query_f, q_images, w)
        d, idx = nearest_neighbours(b, q, 1)
        found[name] = idx[:, 0]
        if w == COPY_HASH_WEIGHT:
            copy_d = np.linalg.norm(b[truth_a] - q, axis=1)
            own = nearest_neighbours(b, b, 2)[0][:, 1]  # each base image's nearest other
            print(f"  {name}: distance of a copy to its original, by edit (p50 / p90):")
            for kind in {**EDITS, **HELD_OUT}:
                dk = copy_d[kinds_a == kind]
                print(f"    {kind:<12} {np.median(dk):.3f} / {np.quantile(dk, 0.9):.3f}")
            q = np.quantile(own, [0.001, 0.01, 0.05])
            print(
                f"    distinct images' nearest other: 0.1% {q[0]:.3f}, 1% {q[1]:.3f}, 5% {q[2]:.3f}"
            )
            for t in sorted({0.4, 0.5, 0.6, DEFAULT_COPY_THRESHOLD, 0.7, 0.8}):
                print(
                    f"    under {t:.2f}: {float((copy_d < t).mean()):.1%} of copies; "
                    f"{float((own < t).mean()):.2%} of base images have another within it"
                )
    for run in args.runs:
        net = SimNet.load(run)
        size = net.config.data.image_size
        by_vectors(
            f"{Path(run).name} embedding", lambda x, n=net, s=size: n.embed_array(resized(x, s))
        )
        by_vectors(
            f"{Path(run).name} descriptor", lambda x, n=net, s=size: n.describe(resized(x, s))
        )

    names = list(found)
    print(f"\nrecall@1 among {len(base)} ({cpu_name()})")
    print(f"{'edit':<12}" + "".join(f"{n[:30]:>32}" for n in names))
    for kind in [*EDITS, "mean", *HELD_OUT]:
        rows = np.isin(kinds_a, list(EDITS)) if kind == "mean" else kinds_a == kind
        cells = [float((found[n][rows] == truth_a[rows]).mean()) for n in names]
        print(f"{kind:<12}" + "".join(f"{c:>32.3f}" for c in cells))


if __name__ == "__main__":
    main()
