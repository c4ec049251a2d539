"""Classes never trained on: CIFAR-10's last five classes (dog, frog, horse, ship, truck),
retrieved by models that never saw them (the deep-metric-learning protocol).

Queries are the unseen classes' test images, the gallery their training images (a seeded
sample of ``--per-class`` of each, both); a query is right when its nearest gallery image
has its class (P@1), and MAP@R ranks the whole gallery. Compared in one run:

- off-the-shelf pretrained features: EfficientNet-Lite0's ImageNet weights (installed with
  pip) at each ``--sizes`` resolution, no training (``simnet index --backbone``);
- any ``--runs``: simnet models trained on the first five classes only (airplane ...
  deer), e.g. ``simnet train --data seen5 --out runs/fast-seen5`` over a class tree that
  holds just those five.

    python benchmarks/unseen_classes.py --cifar cifar10/ [--runs runs/fast-seen5]
        [--sizes 128 224] [--per-class 1000]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from simnet.data.images import decode_image
from simnet.eval.metrics import map_at_r, precision_at_1
from simnet.inference import SimNet
from simnet.runtime import cpu_name

UNSEEN = ("dog", "frog", "horse", "ship", "truck")


def sample(root: Path, split: str, per_class: int, seed: int) -> tuple[list[Path], np.ndarray]:
    """``per_class`` seeded image paths of each unseen class, and their labels."""
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(UNSEEN):
        files = sorted((root / split / name).iterdir())
        chosen = rng.choice(len(files), min(per_class, len(files)), replace=False)
        paths += [files[i] for i in sorted(chosen)]
        labels += [label] * len(chosen)
    return paths, np.array(labels)


def embed(net: SimNet, paths: list[Path]) -> tuple[np.ndarray, float]:
    """Embeddings of the files as the model decodes them, and images per second (decoding
    included)."""
    start = time.perf_counter()
    size = net.config.data.image_size
    keep = net.config.data.keep_aspect
    images = np.stack([decode_image(p, size, keep_aspect=keep) for p in paths])
    emb = net.embed_array(images, batch_size=64)
    return emb, len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, required=True, help="CIFAR-10 class tree")
    parser.add_argument("--runs", nargs="*", default=[], help="models trained on 5 classes")
    parser.add_argument("--sizes", type=int, nargs="*", default=[128], help="pretrained px")
    parser.add_argument("--per-class", type=int, default=1000, help="images per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"CPU: {cpu_name()} ({platform.machine()})", flush=True)
    gallery, gallery_labels = sample(args.cifar, "train", args.per_class, args.seed)
    queries, query_labels = sample(args.cifar, "test", args.per_class, args.seed)
    print(f"unseen classes {', '.join(UNSEEN)}: {len(queries)} queries, {len(gallery)} gallery")
    models: list[tuple[str, SimNet]] = [
        (f"efficientnet_lite0 pretrained, {s} px, no training",
         SimNet.from_backbone("efficientnet_lite0", pretrained=True, image_size=s))
        for s in args.sizes
    ]  # fmt: skip
    models += [(f"trained on the 5 seen classes: {run}", SimNet.load(run)) for run in args.runs]
    print(f"{'model':<60} {'P@1':>6} {'MAP@R':>6} {'img/s':>6}")
    for name, net in models:
        g, speed = embed(net, gallery)
        q, _ = embed(net, queries)
        p1 = precision_at_1(g, gallery_labels, q, query_labels)
        mapr = map_at_r(g, gallery_labels, q, query_labels)
        print(f"{name:<60} {p1:6.3f} {mapr:6.3f} {speed:6.1f}", flush=True)


if __name__ == "__main__":
    main()
