"""Draws the package gallery: ``python docs/make_gallery.py``.

- ``docs/packages.png`` (in the README): one design of each family (the first design of
  ``simnet generate-packages --seed 0``), its front view in six styles and its top view.
- ``docs/gallery/<family>.png``: that design in every style, all four views, at 192 px.
- ``docs/gallery/one-change.png``: designs beside their one-change copies.
"""

from __future__ import annotations

import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from simnet.packages.families import FAMILIES, build_spec, one_change, sample  # noqa: E402
from simnet.packages.generate import design_seed  # noqa: E402
from simnet.packages.render import BOTTOM, STYLES, VIEWS, Style, render  # noqa: E402

HERE = Path(__file__).parent
OVERVIEW = ("filled", "line", "hatched", "grey", "dark", "true-scale")


def _save(fig, out: Path, dpi: int) -> None:
    """Saves a figure as a 256-colour PNG: a tenth of the bytes, the same picture."""
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    with Image.open(out) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    small.save(out, optimize=True)


def _axis(ax, image, title: str = "", label: str = "") -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    if label:
        ax.set_ylabel(label, fontsize=8)


def overview(out: Path) -> None:
    columns = [*OVERVIEW, "top (filled)"]
    fig, axes = plt.subplots(
        len(FAMILIES), len(columns), figsize=(1.45 * len(columns), 1.5 * len(FAMILIES))
    )
    for row, family in enumerate(FAMILIES):
        seed = design_seed(0, family, 0)
        st = build_spec(family, sample(family, seed))
        for col, style in enumerate(OVERVIEW):
            views = render(st, 160, Style.make(style, seed + 1))
            _axis(axes[row][col], views["front"], style if row == 0 else "", "")
        top = render(st, 160, Style.make("filled", seed + 1))["top"]
        _axis(axes[row][-1], top, columns[-1] if row == 0 else "")
        axes[row][0].set_ylabel(f"{family}\n({st.variant})", fontsize=7)
    fig.tight_layout(pad=0.3)
    _save(fig, out, 90)


def family_sheet(family: str, out: Path) -> None:
    seed = design_seed(0, family, 0)
    st = build_spec(family, sample(family, seed))
    views = (*VIEWS, BOTTOM)
    fig, axes = plt.subplots(len(STYLES), len(views), figsize=(2.2 * len(views), 2.2 * len(STYLES)))
    for row, style in enumerate(STYLES):
        drawn = render(st, 192, Style.make(style, seed + 1), bottom=True)
        for col, view in enumerate(views):
            _axis(axes[row][col], drawn[view], view if row == 0 else "", style if col == 0 else "")
    fig.suptitle(f"{family} ({st.variant}): every style", fontsize=10)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.97))
    _save(fig, out, 80)


def one_change_sheet(out: Path) -> None:
    """For each family, a design and one one-change copy of it, front and top views."""
    rows = []
    for family, fam in FAMILIES.items():
        seed = design_seed(0, family, 1)
        spec = sample(family, seed)
        for change in fam.changes:
            changed = one_change(family, spec, change, random.Random(seed))
            if changed:
                rows.append((family, change, spec, changed))
                break
    fig, axes = plt.subplots(len(rows), 4, figsize=(7.0, 1.6 * len(rows)))
    for r, (family, change, spec, (copy, before, after)) in enumerate(rows):
        style = Style.make("filled", 1)
        a, b = (
            render(build_spec(family, spec), 160, style),
            render(build_spec(family, copy), 160, style),
        )
        for c, (image, title) in enumerate(
            [(a["front"], "design"), (b["front"], "copy"), (a["top"], "design"), (b["top"], "copy")]
        ):
            _axis(axes[r][c], image, title if r == 0 else "")
        axes[r][0].set_ylabel(f"{family}\n{change}: {before} > {after}", fontsize=6)
    fig.tight_layout(pad=0.3)
    _save(fig, out, 80)


def main() -> None:
    (HERE / "gallery").mkdir(exist_ok=True)
    overview(HERE / "packages.png")
    print(f"wrote {HERE / 'packages.png'}")
    for family in FAMILIES:
        family_sheet(family, HERE / "gallery" / f"{family}.png")
    one_change_sheet(HERE / "gallery" / "one-change.png")
    print(f"wrote {HERE / 'gallery'}/: {len(FAMILIES)} family sheets and one-change.png")


if __name__ == "__main__":
    main()
