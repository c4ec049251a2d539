"""Does a design model recognise designs in drawing styles it never saw, and does it see
their structure?

Trains ``--preset packages`` on a library drawn without the ``--hold-out`` styles, each
design with ``--variants`` one-change copies, then evaluates it on the same designs and
copies (same seed, so the same designs and the same test split) drawn in every style:

- each held-out design's drawing in each style is a query, searched among all the
  library's designs (copies included) in the default style: re-identification rank 1 and
  family precision@1 per style, the held-out styles marked;
- one-change ordering per kind of change: is a redrawing A' of a held-out design A nearer
  to A than A's one-change copy B?
- attribute accuracy per attribute, over the held-out designs' drawings.

    python benchmarks/design_styles.py --out runs/styles [--hold-out dimensioned true-scale]
        [--epochs N] [--variants 1] [--train-designs N] [--stacked-designs N]
        [--set augment.greyscale=0.3 ...]
    python benchmarks/design_styles.py --out runs/styles --frozen efficientnet_lite0
        [--image-size 224]   # no training: ImageNet features of each view, concatenated
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simnet.config import load_config
from simnet.eval.designs import evaluate_designs
from simnet.inference import SimNet
from simnet.models import build_model
from simnet.packages.generate import generate_packages
from simnet.packages.render import DEFAULT_STYLE, STYLES
from simnet.runtime import cpu_name
from simnet.train import train

# the families whose designs have two or more memory stacks: what the stack head counts
STACKED = ["interposer-2.5d", "3d-on-2.5d"]


def libraries(
    out: Path,
    designs: int,
    held_out: list[str],
    variants: int,
    train_designs: int | None = None,
    stacked: int | None = None,
) -> tuple[Path, Path]:
    """The training library (no held-out style) and the evaluation one (every style).

    ``train_designs`` (default ``designs``) draws a larger or smaller training library. The
    smaller library's designs are the first of the larger one's, byte for byte (a design's
    seed depends on its family and number only), and the test split is a hash of the
    design's name, so the held-out designs stay out of training at any size.

    ``stacked``: the training library's :data:`STACKED` families hold this many designs
    each (the rest as before), drawn alone and linked in; their first designs are the
    evaluation library's, as above."""
    seen = [DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE and s not in held_out)]
    train_designs = train_designs or designs
    name = "train-library" if train_designs == designs else f"train-library-{train_designs}"
    train_lib, eval_lib = out / name, out / "eval-library"
    if not train_lib.exists():
        generate_packages(
            train_lib, train_designs, renders=4, styles=seen, variants=variants, progress=False
        )
    if stacked:
        train_lib = _with_more_stacked(train_lib, stacked, seen, variants)
    if not eval_lib.exists():
        every = [DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE)]
        generate_packages(
            eval_lib, designs, renders=len(every), styles=every, variants=variants, progress=False
        )
    return train_lib, eval_lib


def _with_more_stacked(base: Path, per_family: int, styles: list[str], variants: int) -> Path:
    """``base`` with its :data:`STACKED` families drawn again with ``per_family`` designs
    each: a folder of links to the families' folders."""
    extra = base.parent / f"stacked-{per_family}"
    if not extra.exists():
        generate_packages(
            extra, per_family * len(STACKED), renders=4, styles=styles, variants=variants,
            families=STACKED, progress=False,
        )  # fmt: skip
    combined = base.parent / f"{base.name}-stacked-{per_family}"
    if not combined.exists():
        combined.mkdir()
        for family in sorted(p.name for p in base.iterdir() if p.is_dir()):
            source = extra if family in STACKED else base
            (combined / family).symlink_to((source / family).resolve())
    return combined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/styles"))
    parser.add_argument("--hold-out", nargs="+", default=["dimensioned", "true-scale"])
    parser.add_argument("--designs", type=int, default=600)
    parser.add_argument(
        "--train-designs", type=int, help="designs in the training library (default: --designs)"
    )
    parser.add_argument(
        "--stacked-designs", type=int, help=f"designs of each of {STACKED} in training"
    )
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--variants", type=int, default=1, help="one-change copies per design")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--name", default="model")
    parser.add_argument(
        "--frozen", metavar="BACKBONE", help="no training: this pretrained backbone's features"
    )
    parser.add_argument("--image-size", type=int, default=224, help="with --frozen (224)")
    args = parser.parse_args()
    train_lib, eval_lib = libraries(
        args.out, args.designs, args.hold_out, args.variants, args.train_designs,
        args.stacked_designs,
    )  # fmt: skip
    if args.frozen:
        args.name = f"frozen-{args.frozen}-{args.image_size}"
        net = frozen(args.frozen, args.image_size)
        started = time.perf_counter()
        result = evaluate_designs(net, eval_lib, [1])
        print(f"evaluated in {time.perf_counter() - started:.0f} s ({cpu_name()})")
        (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
        report(args, result)
        return
    run = args.out / args.name
    if not (run / "model.safetensors").is_file():
        epochs = [f"train.epochs={args.epochs}"] if args.epochs else []
        config = load_config(
            None,
            [f"data.source={train_lib}", *epochs, *args.overrides],
            preset="packages",
        )
        started = time.perf_counter()
        train(config, run, progress=False)
        print(f"trained in {time.perf_counter() - started:.0f} s ({cpu_name()})")
    result = evaluate_designs(SimNet.load(run), eval_lib, [1])
    (run / "styles.json").write_text(json.dumps(result, indent=1) + "\n")
    report(args, result)


def frozen(backbone: str, image_size: int) -> SimNet:
    """The packages preset's views and decoding around a pretrained backbone used as it is:
    each view's pooled ImageNet features, L2-normalised, concatenated."""
    config = load_config(
        None,
        [
            f"model.backbone={backbone}",
            "model.pretrained=true",
            "model.embedding_dim=0",
            "model.scales=[]",
            "model.whiten=false",
            "model.attributes=[]",
            f"data.image_size={image_size}",
        ],
        preset="packages",
    )
    return SimNet(build_model(config.model), config)


def report(args: argparse.Namespace, result: dict) -> None:
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
    if "reid_miss_own_copy" in result:
        print(
            "first where a design does not find itself: its one-change twin "
            f"{result['reid_miss_own_copy']:.3f}, another of its family "
            f"{result['reid_miss_same_family']:.3f}, another family "
            f"{result['reid_miss_other_family']:.3f} (shares of all queries)"
        )
    for kind in ("seen", "held_out"):
        if f"reid_rank1_{kind}_worst" in result:
            print(
                f"worst {kind.replace('_', '-')} style: re-id@1 "
                f"{result[f'reid_rank1_{kind}_worst']:.3f}, family P@1 "
                f"{result[f'family_precision_at_1_{kind}_worst']:.3f}"
            )
    changes = sorted(k.removeprefix("one_change_cases_") for k in result if "_cases_" in k)
    if changes:
        print(f"{'one change':<16}{'ordering':>9}{'cases':>7}")
        for change in changes:
            print(
                f"{change:<16}{result[f'one_change_ordering_{change}']:>9.3f}"
                f"{result[f'one_change_cases_{change}']:>7}"
            )
        print(f"{'all':<16}{result['one_change_ordering']:>9.3f}")
    groups = {"": "", "_seen": ", seen styles", "_held_out": ", held-out styles"}
    names = [k.removeprefix("attribute_accuracy_") for k in result if "attribute_acc" in k]
    for suffix, which in groups.items():
        parts = ("_seen", "_held_out")
        mine = [n for n in names if (n.endswith(suffix) if suffix else not n.endswith(parts))]
        if mine:
            scores = (
                f"{n.removesuffix(suffix)} {result['attribute_accuracy_' + n]:.3f}" for n in mine
            )
            print(f"attribute accuracy{which}: " + ", ".join(scores))
    for name in ("dies", "memory_stacks"):
        prefix = f"count_drawings_{name}_"
        counts = [k.removeprefix(prefix) for k in result if k.startswith(prefix)]
        if counts:
            print(
                f"{name} read right, by count (drawings): "
                + ", ".join(
                    f"{c} {result[f'count_accuracy_{name}_{c}']:.2f} "
                    f"({result[f'count_drawings_{name}_{c}']})"
                    for c in counts
                )
            )


if __name__ == "__main__":
    main()
