"""How much of a one-change copy's drawing differs from its original's, per kind of change.

For every ``<design>-<change>`` folder of a generated library, the share of a view's pixels
that differ from the original's by more than ``VISIBLE_LEVELS`` in a channel (the view
that differs most), in the drawings as written and in the 32 px views the packages preset
sees (trimmed, stretched square, scaled). ``hidden``: copies under ``VISIBLE_SHARE`` in
every view, which cannot be told from their original; ``generate-packages`` no longer
writes them.

    python benchmarks/change_visibility.py runs/styles/eval-library
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from simnet.data.images import pad_square, trim_to_content
from simnet.packages.generate import VIEWS, VISIBLE_SHARE, changed_share

COPY = re.compile(r"^(?P<design>.+-\d{4})-(?P<change>[a-z-]+)$")


def views(folder: Path, size: int | None) -> dict[str, Image.Image]:
    """A design's views as written (``size`` None) or as the preset's model sees them."""
    out = {}
    for view in VIEWS:
        with Image.open(folder / f"{view}.png") as image:
            rgb = image.convert("RGB")
        if size:
            framed = pad_square(trim_to_content(rgb, max_aspect=1))
            rgb = framed.resize((size, size), Image.Resampling.BILINEAR)
        out[view] = rgb
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", type=Path)
    parser.add_argument("--size", type=int, default=32, help="the model's view size (32)")
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for folder in sorted(args.library.glob("*/*")):
        match = COPY.match(folder.name)
        if not match or not (folder / "params.json").is_file():
            continue
        original = folder.parent / match["design"]
        of = json.loads((folder / "params.json").read_text())["variant_of"]
        drawn = changed_share(views(original, None), views(folder, None))
        seen = changed_share(views(original, args.size), views(folder, args.size))
        found[of["change"]].append((drawn, seen, folder.name))
    print(f"{args.library}: share of pixels that differ, in the view that differs most")
    head = ["change", "copies", "drawn: median", "least", f"{args.size} px: median", "hidden"]
    print(f"{head[0]:<15}" + "".join(f"{h:>16}" for h in head[1:]))
    for change, rows in sorted(found.items()):
        drawn = np.array([r[0] for r in rows])
        seen = np.array([r[1] for r in rows])
        hidden = [r[2] for r in rows if r[0] < VISIBLE_SHARE]
        cells = [f"{len(rows)}", f"{np.median(drawn):.4f}", f"{drawn.min():.4f}"]
        cells += [f"{np.nanmedian(seen):.4f}", f"{len(hidden)}"]
        print(f"{change:<15}" + "".join(f"{c:>16}" for c in cells))
        for name in hidden[:3]:
            print(f"{'':<15}  e.g. {name}")


if __name__ == "__main__":
    main()
