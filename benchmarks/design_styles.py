"""Does a design model recognise designs in drawing styles it never saw?

Trains ``--preset packages`` on a library drawn without the ``--hold-out`` styles, then
evaluates it on the same designs (same seed, so the same designs and the same test split)
drawn in every style: each held-out design's drawing in each style is a query, searched
among all the library's designs in the default style. Prints re-identification rank 1 and
family precision@1 per style, the held-out styles marked.

    python benchmarks/design_styles.py --out runs/styles [--hold-out dimensioned true-scale]
        [--epochs 32] [--set augment.greyscale=0.3 ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simnet.config import load_config
from simnet.eval.designs import evaluate_designs
from simnet.inference import SimNet
from simnet.packages.generate import generate_packages
from simnet.packages.render import DEFAULT_STYLE, STYLES
from simnet.train import train


def libraries(out: Path, designs: int, held_out: list[str]) -> tuple[Path, Path]:
    """The training library (no held-out style) and the evaluation one (every style)."""
    seen = [DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE and s not in held_out)]
    train_lib, eval_lib = out / "train-library", out / "eval-library"
    if not train_lib.exists():
        generate_packages(train_lib, designs, renders=4, styles=seen, progress=False)
    if not eval_lib.exists():
        every = [DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE)]
        generate_packages(eval_lib, designs, renders=len(every), styles=every, progress=False)
    return train_lib, eval_lib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/styles"))
    parser.add_argument("--hold-out", nargs="+", default=["dimensioned", "true-scale"])
    parser.add_argument("--designs", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--name", default="model")
    args = parser.parse_args()
    train_lib, eval_lib = libraries(args.out, args.designs, args.hold_out)
    run = args.out / args.name
    if not (run / "model.safetensors").is_file():
        config = load_config(
            None,
            [f"data.source={train_lib}", f"train.epochs={args.epochs}", *args.overrides],
            preset="packages",
        )
        started = time.perf_counter()
        train(config, run, progress=False)
        print(f"trained in {time.perf_counter() - started:.0f} s")
    result = evaluate_designs(SimNet.load(run), eval_lib, [1])
    (run / "styles.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.name}: {' '.join(args.overrides) or 'preset'}; held out: {args.hold_out}")
    print(f"{'style':<14}{'re-id@1':>9}{'family P@1':>12}{'queries':>9}")
    for style in STYLES:
        if f"queries_{style}" not in result:
            continue
        mark = " (held out)" if style in args.hold_out else ""
        print(
            f"{style:<14}{result[f'reid_rank1_{style}']:>9.3f}"
            f"{result[f'family_precision_at_1_{style}']:>12.3f}"
            f"{result[f'queries_{style}']:>9}{mark}"
        )
    print(f"all: re-id@1 {result['reid_rank1']:.3f}, family P@1 {result['knn_accuracy']:.3f}")


if __name__ == "__main__":
    main()
