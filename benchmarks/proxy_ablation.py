"""A quick proxy for recipe choices: train on 1,000 CIFAR-10 images per class for a few
epochs and report test 1-NN accuracy (all 10,000 test images, no flip averaging).

Each row is one config override set; rows run one after another on the same subset.
A 240-step row takes about 3.5 minutes on a 2-core CPU.

    python benchmarks/proxy_ablation.py --data ../shared/data/cifar10-jpg.tar.gz \\
        --row "mining.lambda_start=1.0" --row "mining.lambda_start=1.0 loss.margin=1.0"
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from simnet.config import load_config
from simnet.data import BatchAugment, ClassBalancedBatchSampler, load_dataset, open_source
from simnet.eval.metrics import knn_accuracy
from simnet.inference import SimNet
from simnet.mining import LambdaSchedule
from simnet.runtime import seed_everything, set_threads
from simnet.train.step import build_parts, train_step


def run_row(data, overrides: list[str], per_class: int, epochs: int) -> tuple[float, float]:
    config = load_config(None, [f"train.epochs={epochs}", "eval.flip=false", *overrides])
    seed_everything(0)
    rng = np.random.default_rng(0)
    labels = data.train.labels
    index = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
                for k in np.unique(labels)
            ]
        )
    )
    train = data.train.subset(index)
    t = config.train
    sampler = ClassBalancedBatchSampler(train.labels, t.batch_size, t.per_class, t.seed)
    parts = build_parts(config, t.epochs * len(sampler))
    m = config.mining
    schedule = LambdaSchedule(t.epochs, m.lambda_start, m.lambda_step, m.lambda_max)
    start = time.perf_counter()
    for epoch in range(t.epochs):
        sampler.set_epoch(epoch)
        augment = BatchAugment(config.augment, seed=epoch)
        for batch in sampler:
            images = augment(torch.from_numpy(train.images[batch]))
            train_step(parts, images, torch.from_numpy(train.labels[batch]), schedule(epoch))
    seconds = time.perf_counter() - start
    net = SimNet(parts.final_model, config)
    ref, test = net.embed_array(train.images), net.embed_array(data.test.images)
    return knn_accuracy(ref, train.labels, test, data.test.labels, [1])[1], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cifar10-jpg.tar.gz", help="data set")
    parser.add_argument("--row", action="append", default=[], help="space-separated overrides")
    parser.add_argument("--per-class", type=int, default=1000, help="training images per class")
    parser.add_argument("--epochs", type=int, default=12, help="epochs (20 steps each)")
    args = parser.parse_args()
    set_threads(None)
    data = load_dataset(open_source(args.data), 32)
    for row in args.row or [""]:
        accuracy, seconds = run_row(data, row.split(), args.per_class, args.epochs)
        print(f"{accuracy:.4f}  {seconds:5.0f}s  {row or '(defaults)'}", flush=True)


if __name__ == "__main__":
    main()
