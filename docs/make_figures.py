"""Draws the README's picture of the package families: ``python docs/make_figures.py``.

One design per family (seed 0 of ``simnet generate-packages``), its top, front and side
views in a row. The compare pictures come from ``make demo`` (``runs/packages/``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from simnet.packages.families import FAMILIES, build  # noqa: E402
from simnet.packages.generate import design_seed  # noqa: E402
from simnet.packages.render import VIEWS, Style, render  # noqa: E402


def main(out: Path = Path(__file__).parent / "packages.png") -> None:
    fig, axes = plt.subplots(len(FAMILIES), 3, figsize=(7.2, 2.3 * len(FAMILIES)))
    for row, family in enumerate(FAMILIES):
        seed = design_seed(0, family, 0)
        views = render(build(family, seed), 192, Style.random(seed + 1))
        for col, view in enumerate(VIEWS):
            ax = axes[row][col]
            ax.imshow(views[view])
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(view)
            if col == 0:
                ax.set_ylabel(family)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
