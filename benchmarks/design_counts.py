"""Do a design model's count heads count, or read the layout?

``design_styles.py`` scores the heads on its library's held-out designs: a few of each
count (two or three layouts with three memory stacks), too few to tell a head that counts
from one that reads the interposer's size. This draws a library of its own from another
seed, so that none of its designs was trained on: the families with more than one die or
memory stack, in every style the generator has, and scores each model's die and
memory-stack heads on every drawing, per count and per style (seen in training or held
out).

    python benchmarks/design_counts.py runs/styles-o/o1 [RUN ...] [--out runs/counts]
        [--designs 270] [--seed 101]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from simnet.data.designs import load_all_designs
from simnet.eval.designs import drawing_style
from simnet.inference import SimNet
from simnet.packages.attributes import ATTRIBUTES
from simnet.packages.generate import generate_packages
from simnet.packages.render import DEFAULT_STYLE, STYLES

# the families with more than one die or memory stack in some design
COUNTED = [
    "interposer-2.5d",
    "3d-on-2.5d",
    "bridge-2.5d",
    "fan-out-wlp",
    "fcbga",
    "mcm",
    "sip",
    "wire-bond",
    "info-pop",
]
HEADS = ("dies", "memory_stacks")


def library(out: Path, designs: int, seed: int) -> Path:
    path = out / f"library-{designs}-seed{seed}"
    if not path.exists():
        every = [DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE)]
        generate_packages(
            path, designs, seed=seed, renders=len(every), styles=every, families=COUNTED
        )
    return path


def score(net: SimNet, path: Path) -> dict[str, dict[str, list[int]]]:
    """head -> "count|style" -> [right, drawings], over the drawings of two or more."""
    c = net.config
    whole, _ = load_all_designs(
        path, c.data.image_size, 0.0, c.data.cache_dir, "family", net.views, c.data.trim,
        c.data.max_aspect,
    )  # fmt: skip
    views = net.embed_views(whole.images, c.eval.batch_size, False)
    emb = net.model.fuse(torch.from_numpy(views)).numpy()
    predicted = net.predict_attributes(emb)
    styles = [drawing_style(k) or "?" for k in whole.keys]
    assert whole.attributes is not None
    out: dict[str, dict[str, list[int]]] = {}
    for head in HEADS:
        if head not in net.attribute_names:
            continue
        col = list(ATTRIBUTES).index(head)
        cells: dict[str, list[int]] = {}
        for truth, guess, style in zip(whole.attributes[:, col], predicted, styles, strict=True):
            value = ATTRIBUTES[head][truth] if truth >= 0 else "0"
            if value in ("0", "1"):
                continue  # unknown, or nothing to count
            cell = cells.setdefault(f"{value}|{style}", [0, 0])
            cell[0] += int(guess[head][0] == value)
            cell[1] += 1
        out[head] = cells
    return out


def report(run: Path, scores: dict[str, dict[str, list[int]]], trained: list[str]) -> None:
    print(f"{run.name}: trained styles {', '.join(trained) or '?'}")
    for head, cells in scores.items():
        counts = sorted({k.split("|")[0] for k in cells}, key=lambda v: int(v.rstrip("+")))
        print(f"  {head:<14}" + "".join(f"{c:>8}" for c in counts) + f"{'all':>8}")
        for label, chosen in (("seen", True), ("held out", False)):
            row, right, total = [], 0, 0
            for c in counts:
                hit = [v for k, v in cells.items() if _is(k, c, trained, chosen)]
                r, n = sum(h[0] for h in hit), sum(h[1] for h in hit)
                right, total = right + r, total + n
                row.append(f"{r / n:>8.2f}" if n else f"{'-':>8}")
            if total:
                print(f"  {label:<14}" + "".join(row) + f"{right / total:>8.3f}")
        drawings = [sum(v[1] for k, v in cells.items() if k.startswith(f"{c}|")) for c in counts]
        print(f"  {'drawings':<14}" + "".join(f"{n:>8}" for n in drawings))


def _is(cell: str, count: str, trained: list[str], seen: bool) -> bool:
    value, style = cell.split("|")
    return value == count and (style in trained) == seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/counts"))
    parser.add_argument("--designs", type=int, default=270)
    parser.add_argument("--seed", type=int, default=101, help="not the training library's")
    args = parser.parse_args()
    path = library(args.out, args.designs, args.seed)
    for run in args.runs:
        net = SimNet.load(run)
        scores = score(net, path)
        (run / "counts.json").write_text(json.dumps(scores, indent=1) + "\n")
        report(run, scores, list(net.calibration.get("trained_styles") or []))


if __name__ == "__main__":
    main()
