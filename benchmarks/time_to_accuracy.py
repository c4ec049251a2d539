"""Time to accuracy of the fast preset on CIFAR-10, from scratch, on this machine.

Trains with the default settings for each seed (wall time of training alone), then
evaluates test 1-NN accuracy against the 50,000 training images, and prints a table.

    python benchmarks/time_to_accuracy.py [--seeds 0 1 2] [--out runs/bench] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from pathlib import Path

from simnet.config import load_config
from simnet.eval import evaluate
from simnet.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--out", default="runs/bench", help="folder for the runs")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override (repeatable)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for seed in args.seeds:
        run = Path(args.out) / f"seed{seed}"
        shutil.rmtree(run, ignore_errors=True)
        config = load_config(None, [*args.overrides, f"train.seed={seed}"])
        start = time.perf_counter()
        train(config, run, progress=False)
        train_seconds = time.perf_counter() - start
        metrics = evaluate(run)
        rows.append((seed, metrics["knn_accuracy"], train_seconds, metrics["map_at_r"]))
        print(
            f"seed {seed}: 1-NN accuracy {metrics['knn_accuracy']:.4f}, "
            f"training {train_seconds / 60:.1f} min, MAP@R {metrics['map_at_r']:.4f}",
            flush=True,
        )
    print(f"\n{'seed':<6}{'1-NN acc':>10}{'train min':>11}{'MAP@R':>8}")
    for seed, acc, secs, mapr in rows:
        print(f"{seed:<6}{acc:>10.4f}{secs / 60:>11.1f}{mapr:>8.4f}")
    accs = [r[1] for r in rows]
    print(f"median 1-NN accuracy {statistics.median(accs):.4f} over {len(rows)} seed(s)")


if __name__ == "__main__":
    main()
