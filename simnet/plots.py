"""Figures. The one module that imports matplotlib (headless, and only when a figure is
asked for: importing it costs a second)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simnet.errors import SimNetError
from simnet.storage import atomic_path

FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def pyplot() -> Any:
    """matplotlib's pyplot on the headless Agg back end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out: str | Path, dpi: int = 110) -> Path:
    """Writes ``fig`` atomically (format from the suffix) and closes it."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise SimNetError(f"a figure must be .png, .jpg, .pdf or .svg, not {out.name}")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".").lower().replace("jpg", "jpeg"), dpi=dpi)
    pyplot().close(fig)
    return out


def accuracy_against_pairs(
    names: Sequence[str], pairs: Sequence[float], accuracy: Sequence[float], out: str | Path
) -> Path:
    """Table 2's picture: test accuracy against training pairs used, one point per row."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter(pairs, accuracy, color="tab:blue", zorder=3)
    for name, x, y in zip(names, pairs, accuracy, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training pairs used")
    ax.set_ylabel("test 1-NN accuracy")
    ax.grid(True, alpha=0.3)
    ax.set_title("Pair strategies at the same epoch budget")
    fig.tight_layout()
    return save_figure(fig, out)
