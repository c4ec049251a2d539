"""Are redrawn designs found when their drawings are edited in ways no training saw?

The library's held-out designs (the test split, originals only), their default drawings
edited in one way each, searched among all the library's designs in the default style:
re-identification rank 1 and the family of the first match, per edit, per model. Turns
and skew are what framing (laying flat, levelling) and ``augment.turn`` were built for,
and the worn photocopy what dropping specks from the trim was; the other edits were
tuned on by nothing.

    python benchmarks/design_edits.py runs/styles-v/id01 [more runs ...] \
        [--library runs/styles-v/eval-library]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from simnet.data.cache import TEST, hash_split
from simnet.inference import SimNet
from simnet.packages.attributes import read_params
from simnet.runtime import cpu_name

VIEWS = ("top", "front", "side")


def frame_and_title(im: Image.Image) -> Image.Image:
    """A drawing frame around the view and a title line under it."""
    w, h = im.size
    sheet = Image.new("RGB", (w + 24, h + 40), im.getpixel((0, 0)))
    sheet.paste(im, (12, 12))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([2, 2, w + 21, h + 37], outline=(0, 0, 0), width=1)
    draw.line([(2, h + 24), (w + 21, h + 24)], fill=(0, 0, 0))
    draw.text((8, h + 26), "DWG 0042 REV B", fill=(0, 0, 0))
    return sheet


def third_resolution(im: Image.Image) -> Image.Image:
    w, h = im.size
    return im.resize((w // 3, h // 3), Image.Resampling.BILINEAR).resize(
        (w, h), Image.Resampling.NEAREST
    )


def sepia(im: Image.Image) -> Image.Image:
    grey = np.asarray(im).astype(float) @ [0.299, 0.587, 0.114] / 255
    tinted = np.stack([grey, grey * 0.85, grey * 0.6], -1) * 0.9 + 0.08
    return Image.fromarray((tinted.clip(0, 1) * 255).astype(np.uint8))


def wide_canvas(im: Image.Image) -> Image.Image:
    w, h = im.size
    sheet = Image.new("RGB", (w * 2, h), im.getpixel((0, 0)))
    sheet.paste(im, (w // 2, 0))
    return sheet


def photocopy(im: Image.Image) -> Image.Image:
    """A worn copy: contrast halved towards a grey paper, and speckles of toner."""
    x = np.asarray(im).astype(float)
    x = 0.5 * x + 0.5 * 200
    rng = np.random.default_rng(sum(x.shape))
    x[rng.random(x.shape[:2]) < 0.01] = 60
    return Image.fromarray(x.clip(0, 255).astype(np.uint8))


def grid_paper(im: Image.Image) -> Image.Image:
    """The drawing on graph paper: a faint blue grid every 8 pixels, behind the ink."""
    x = np.asarray(im).astype(float)
    paper = x[0, 0]
    behind = np.zeros(x.shape[:2], bool)
    behind[::8] = behind[:, ::8] = True
    behind &= np.abs(x - paper).max(axis=2) < 24
    x[behind] = 0.7 * x[behind] + 0.3 * np.array([90, 140, 220])
    return Image.fromarray(x.astype(np.uint8))


def ruled_paper(im: Image.Image) -> Image.Image:
    """The drawing on ruled notepaper: grey lines every 11 pixels across, behind the ink,
    and a red margin line down the left (added after the rulings were erased, as a check
    of the kind, not of the grid it was built on)."""
    x = np.asarray(im).astype(float)
    paper = x[0, 0]
    blank = np.abs(x - paper).max(axis=2) < 24
    rules = np.zeros(x.shape[:2], bool)
    rules[5::11] = True
    x[rules & blank] = 0.6 * x[rules & blank] + 0.4 * np.array([120, 120, 140])
    margin = np.zeros(x.shape[:2], bool)
    margin[:, max(1, x.shape[1] // 20)] = True
    x[margin & blank] = [200, 60, 60]
    return Image.fromarray(x.astype(np.uint8))


def dot_grid(im: Image.Image) -> Image.Image:
    """The drawing on dot-grid paper: a grey dot every 6 pixels, behind the ink (no line
    crosses the sheet, so nothing here erases it)."""
    x = np.asarray(im).astype(float)
    paper = x[0, 0]
    dots = np.zeros(x.shape[:2], bool)
    dots[3::6, 3::6] = True
    dots &= np.abs(x - paper).max(axis=2) < 24
    x[dots] = [130, 130, 130]
    return Image.fromarray(x.astype(np.uint8))


def stamp(im: Image.Image) -> Image.Image:
    """A red approval stamp in the lower right corner of the sheet, over the drawing."""
    sheet = im.copy()
    w, h = sheet.size
    r = max(6, min(w, h) // 7)
    draw = ImageDraw.Draw(sheet)
    box = [w - 2 * r - 3, h - 2 * r - 3, w - 3, h - 3]
    draw.ellipse(box, outline=(200, 30, 30), width=2)
    draw.text((box[0] + r // 2, box[1] + r - 5), "OK", fill=(200, 30, 30))
    return sheet


def heavy_jpeg(im: Image.Image) -> Image.Image:
    """Saved as a JPEG of quality 8 (training's JPEG goes down to 30)."""
    buffer = io.BytesIO()
    im.save(buffer, format="JPEG", quality=8)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def turned(degrees: float) -> Callable[[Image.Image], Image.Image]:
    """Each view turned anticlockwise, on its own paper (a quarter turn, or a scan's skew)."""

    def edit(im: Image.Image) -> Image.Image:
        return im.rotate(
            degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=im.getpixel((0, 0))
        )

    return edit


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "frame and title line": frame_and_title,
    "a third of the resolution": third_resolution,
    "sepia": sepia,
    "twice as wide a canvas": wide_canvas,
    "worn photocopy": photocopy,
    "on grid paper": grid_paper,
    "on ruled paper": ruled_paper,
    "on dot-grid paper": dot_grid,
    "approval stamp": stamp,
    "JPEG quality 8": heavy_jpeg,
    "skewed 3 degrees": turned(3),
    "turned 90 degrees": turned(90),
    "turned 270 degrees": turned(270),
}


def held_out_originals(designs: list[Path], test_fraction: float = 0.2) -> list[Path]:
    """The designs of the test split that are not one-change copies."""
    test = [d for d in designs if hash_split(d.name, test_fraction) == TEST]
    return [d for d in test if not (read_params(d) or {}).get("variant_of")]


def write_edits(queries: list[Path], out: Path) -> None:
    for name, edit in EDITS.items():
        for design in queries:
            folder = out / name / design.parent.name / design.name
            folder.mkdir(parents=True, exist_ok=True)
            for view in VIEWS:
                edit(Image.open(design / f"{view}.png").convert("RGB")).save(folder / f"{view}.png")


def evaluate(run: Path, designs: list[Path], queries: list[Path], edited: Path) -> None:
    net = SimNet.load(run)
    gallery, kept, _ = net.embed_files(designs)
    names = [Path(k) for k in kept]
    for name in EDITS:
        emb, found, _ = net.embed_files([edited / name / q.parent.name / q.name for q in queries])
        first = [names[i] for i in np.argmax(emb @ gallery.T, axis=1)]
        asked = [Path(k) for k in found]
        pairs = list(zip(first, asked, strict=True))
        reid = np.mean([f.name == a.name for f, a in pairs])
        family = np.mean([f.parent.name == a.parent.name for f, a in pairs])
        print(f"{run.name:<10}{name:<28}{reid:>8.3f}{family:>9.3f}{len(asked):>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--library", type=Path, default=Path("runs/styles-v/eval-library"))
    args = parser.parse_args()
    designs = sorted(p.parent for p in args.library.glob("*/*/params.json"))
    queries = held_out_originals(designs)
    print(f"{len(queries)} held-out designs, {len(designs)} in the library ({cpu_name()})")
    print(f"{'model':<10}{'edit':<28}{'re-id@1':>8}{'family':>9}{'count':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        write_edits(queries, Path(tmp))
        for run in args.runs:
            evaluate(run, designs, queries, Path(tmp))


if __name__ == "__main__":
    main()
