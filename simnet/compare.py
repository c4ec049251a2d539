"""``simnet compare A B``: how similar two designs are, view by view, with a picture."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simnet.data.designs import view_files
from simnet.errors import ImageError
from simnet.inference import SimNet


@dataclass
class Comparison:
    """Two designs as the model sees them.

    ``distance`` is the L2 distance between the unit-norm design embeddings (0 to 2) and
    ``similarity`` their cosine similarity, ``1 - distance**2 / 2`` (1: identical). The
    per-view distances are between the unit-norm view embeddings.
    """

    a: str
    b: str
    distance: float
    similarity: float
    view_distances: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "similarity": self.similarity,
            "distance": self.distance,
            "view_distances": self.view_distances,
        }


def compare(net: SimNet, a: str | Path, b: str | Path) -> Comparison:
    """Compares two designs (folders of views) with a multi-view model; with a
    single-image model, two image files."""
    arrays = np.stack([net.decode(a), net.decode(b)])
    fused = net.embed_array(arrays)
    distance = float(np.linalg.norm(fused[0] - fused[1]))
    per_view: dict[str, float] = {}
    if net.views:
        views = net.embed_views(arrays)  # (2, V, D)
        per_view = {
            v: float(np.linalg.norm(views[0, i] - views[1, i])) for i, v in enumerate(net.views)
        }
    return Comparison(str(a), str(b), distance, 1.0 - distance**2 / 2.0, per_view)


def _originals(path: str | Path, views: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """The images as drawn (full resolution), for the picture."""
    from PIL import Image

    if not views:
        with Image.open(path) as image:
            return [("image", np.asarray(image.convert("RGB")))]
    files = view_files(Path(path), views)
    if files is None:
        raise ImageError(f"{path} is not a design folder")
    out = []
    for view in views:
        with Image.open(files[view]) as image:
            out.append((view, np.asarray(image.convert("RGB"))))
    return out


def save_picture(result: Comparison, views: tuple[str, ...], out: str | Path) -> Path:
    """Both designs side by side, one row each, one column per view, with the distances."""
    from simnet.plots import pyplot, save_figure

    plt = pyplot()
    rows = [_originals(result.a, views), _originals(result.b, views)]
    cols = len(rows[0])
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols + 0.6, 6.0), squeeze=False)
    for r, (design, row) in enumerate(zip((result.a, result.b), rows, strict=True)):
        for c, (view, image) in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                d = result.view_distances.get(view)
                ax.set_title(view if d is None else f"{view}: distance {d:.3f}", fontsize=10)
            if c == 0:
                ax.set_ylabel(Path(design).name, fontsize=10)
    fig.suptitle(
        f"similarity {result.similarity:.3f}   (distance {result.distance:.3f})", fontsize=12
    )
    fig.tight_layout()
    return save_figure(fig, out)


__all__ = ["Comparison", "compare", "save_picture"]
