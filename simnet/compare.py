"""``simnet compare A B``: how similar two designs are, and how they differ.

A comparison gives the similarity and the distance of each view. With a design model it
explains itself (:func:`explain`): a verdict (same design, same family, different
family) from the thresholds the model was calibrated with, the percentile of the
similarity among the library's same-family pairs, both designs' predicted attributes with
the differing ones named, the true differences where both folders hold params.json, and
per-view maps of where the two differ (occlusion: the places where taking the other
design's pixels brings the designs closest). The words come from the model's
predictions, not from params.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simnet.calibration import same_family_percentile, verdict
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
    return compare_arrays(net, np.stack([net.decode(a), net.decode(b)]), str(a), str(b))


def compare_arrays(net: SimNet, arrays: np.ndarray, a: str, b: str) -> Comparison:
    """As :func:`compare`, for two decoded images ``(2, S, S, 3)`` or designs
    ``(2, V, S, S, 3)``."""
    return _compared(net, a, b, *_embedded(net, arrays))


def _embedded(net: SimNet, arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The two fused embeddings ``(2, D)`` and, for designs, the view embeddings
    ``(2, V, view_dim)`` they are fused from: one pass through the network."""
    if not net.views:
        return net.embed_array(arrays), None
    views = net.embed_views(arrays)
    return net.model.fuse(torch.from_numpy(views)).numpy(), views


def _compared(
    net: SimNet, a: str, b: str, fused: np.ndarray, views: np.ndarray | None
) -> Comparison:
    distance = float(np.linalg.norm(fused[0] - fused[1]))
    per_view: dict[str, float] = {}
    if views is not None:
        per_view = {
            v: float(np.linalg.norm(views[0, i] - views[1, i])) for i, v in enumerate(net.views)
        }
    return Comparison(a, b, distance, 1.0 - distance**2 / 2.0, per_view)


@dataclass
class Explanation:
    """A :class:`Comparison` explained (see the module's docstring)."""

    comparison: Comparison
    verdict: str | None  # None: the model has no calibration
    percentile: float | None  # among the library's same-family pairs
    attributes: tuple[dict[str, tuple[str, float]], dict[str, tuple[str, float]]]
    differing: list[str]  # attribute names whose predictions differ
    maps: np.ndarray  # (2, V, S, S) in [0, 1]: where each design differs from the other
    true_differences: dict[str, tuple[Any, Any]] | None = None  # from both params.json

    @property
    def summary(self) -> str:
        """One line: the verdict and the attributes that differ."""
        from simnet.packages.attributes import describe

        a, b = ({k: v for k, (v, _) in side.items()} for side in self.attributes)
        words = self.verdict or f"similarity {self.comparison.similarity:.3f}"
        if self.differing:
            return f"{words}: they differ in {describe(self.differing, a, b)}"
        if a:
            return f"{words}: no predicted attribute differs"
        return words

    def to_dict(self, grid: int = 8) -> dict[str, Any]:
        """Everything, the maps as ``grid x grid`` means per view (row-major, top first)."""
        views = list(self.comparison.view_distances) or ["image"]
        coarse = _coarse(self.maps, grid)
        return {
            **self.comparison.to_dict(),
            "verdict": self.verdict,
            "summary": self.summary,
            "same_family_percentile": self.percentile,
            "attributes": {
                side: {k: {"value": v, "probability": p} for k, (v, p) in attrs.items()}
                for side, attrs in zip("ab", self.attributes, strict=True)
            },
            "differing_attributes": self.differing,
            "true_differences": (
                None
                if self.true_differences is None
                else {k: {"a": va, "b": vb} for k, (va, vb) in self.true_differences.items()}
            ),
            "difference_maps": {
                side: {v: coarse[s, i].round(3).tolist() for i, v in enumerate(views)}
                for s, side in enumerate("ab")
            },
        }


def _coarse(maps: np.ndarray, grid: int) -> np.ndarray:
    """``(2, V, S, S)`` -> ``(2, V, grid, grid)`` block means."""
    s = maps.shape[-1]
    edges = np.linspace(0, s, grid + 1).round().astype(int)
    out = np.zeros((*maps.shape[:2], grid, grid))
    for i in range(grid):
        for j in range(grid):
            block = maps[..., edges[i] : edges[i + 1], edges[j] : edges[j + 1]]
            out[..., i, j] = block.mean(axis=(-1, -2)) if block.size else 0.0
    return out


def explain(net: SimNet, a: str | Path, b: str | Path) -> Explanation:
    """Compares two design folders (or image files) and explains the result."""
    from simnet.packages.attributes import read_params
    from simnet.packages.schema import differences

    arrays = np.stack([net.decode(a), net.decode(b)])
    found = explain_arrays(net, arrays, str(a), str(b))
    if net.views:
        pa, pb = read_params(a), read_params(b)
        if pa is not None and pb is not None:
            found.true_differences = differences(pa, pb)
    return found


def explain_arrays(net: SimNet, arrays: np.ndarray, a: str, b: str) -> Explanation:
    """:func:`explain` for two decoded designs ``(2, V, S, S, 3)`` (or images)."""
    fused, views = _embedded(net, arrays)
    result = _compared(net, a, b, fused, views)
    attrs = net.predict_attributes(fused)
    from simnet.packages.attributes import differing

    values = [{k: v for k, (v, _) in side.items()} for side in attrs]
    return Explanation(
        comparison=result,
        verdict=verdict(result.similarity, net.calibration) if net.views else None,
        percentile=same_family_percentile(result.similarity, net.calibration)
        if net.views
        else None,
        attributes=(attrs[0], attrs[1]),
        differing=differing(values[0], values[1]),
        maps=difference_maps(net, arrays, fused),
    )


def difference_maps(net: SimNet, arrays: np.ndarray, whole: np.ndarray | None = None) -> np.ndarray:
    """``(2, V, S, S)`` in [0, 1]: for each design and view, how much taking the other
    design's pixels at each place (a square of a quarter of the side, at the same place
    of the same view) brings the two designs' embeddings closer. Where the designs agree
    nothing changes; where one has what the other lacks (a die, a memory stack, a lid)
    the swap closes the gap and the place lights up. Both designs share one scale (1: the
    strongest place of either). ``whole``: the pair's embeddings, when already made."""
    designs = arrays if arrays.ndim == 5 else arrays[:, None]
    _, v, s = designs.shape[:3]
    patch = max(2, s // 4)
    stride = max(1, patch // 2)
    starts = list(range(0, s - patch + 1, stride))
    if starts[-1] != s - patch:
        starts.append(s - patch)
    whole = net.embed_array(arrays) if whole is None else whole
    base = float(np.linalg.norm(whole[0] - whole[1]))
    maps = np.zeros((2, v, s, s))
    counts = np.zeros((2, v, s, s))
    for side in (0, 1):
        swapped, where = [], []
        for view in range(v):
            for y in starts:
                for x in starts:
                    copy = designs[side].copy()
                    window = (view, slice(y, y + patch), slice(x, x + patch))
                    copy[window] = designs[1 - side][window]
                    swapped.append(copy)
                    where.append((view, y, x))
        batch = np.stack(swapped) if arrays.ndim == 5 else np.stack(swapped)[:, 0]
        emb = net.embed_array(batch)
        gain = np.clip(base - np.linalg.norm(emb - whole[1 - side], axis=1), 0.0, None)
        for g, (view, y, x) in zip(gain, where, strict=True):
            maps[side, view, y : y + patch, x : x + patch] += g
            counts[side, view, y : y + patch, x : x + patch] += 1
    maps /= np.maximum(counts, 1)
    top = maps.max()
    return maps / top if top > 0 else maps


def _originals(
    path: str | Path, views: tuple[str, ...], trim: bool = False, max_aspect: float | None = None
) -> list[tuple[str, np.ndarray]]:
    """The images as drawn, at full resolution, framed as the model sees them: trimmed to
    the drawing where the model trims, stretched to ``max_aspect`` where it does, padded
    square."""
    from PIL import Image

    from simnet.data.images import frame_drawing, max_image_bytes, pad_square
    from simnet.storage import open_regular

    def opened(file: str | Path) -> Any:  # a regular file of an image's size, or ImageError
        return open_regular(file, max_image_bytes(), "an image", ImageError)

    if not views:
        with opened(path) as (handle, _), Image.open(handle) as image:
            return [("image", np.asarray(image.convert("RGB")))]
    files = view_files(Path(path), views)
    if files is None:
        raise ImageError(f"{path} is not a design folder")
    out = []
    for view in views:
        with opened(files[view]) as (handle, _), Image.open(handle) as image:
            rgb = image.convert("RGB")
            rgb = frame_drawing(rgb, trim, max_aspect)
            out.append((view, np.asarray(pad_square(rgb) if rgb.width != rgb.height else rgb)))
    return out


def save_picture(
    result: Comparison | Explanation,
    views: tuple[str, ...],
    out: str | Path,
    trim: bool = False,
    max_aspect: float | None = None,
) -> Path:
    """Both designs side by side, one row each, one column per view, with the distances;
    an explanation adds the difference maps over the views and a panel with the verdict
    and both designs' attributes (the differing ones marked). ``trim``, ``max_aspect``:
    how the model frames its views (``data.trim``, ``data.max_aspect``), so the views are
    shown framed so too, under the maps."""
    from simnet.plots import pyplot, save_figure

    explained = result if isinstance(result, Explanation) else None
    comparison = explained.comparison if explained else result
    assert isinstance(comparison, Comparison)
    plt = pyplot()
    rows = [_originals(side, views, trim, max_aspect) for side in (comparison.a, comparison.b)]
    cols = len(rows[0])
    panel = 1 if explained else 0
    widths = [1.0] * cols + [1.5] * panel
    fig, axes = plt.subplots(
        2,
        cols + panel,
        figsize=(2.6 * cols + 0.6 + 3.9 * panel, 6.0),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    for r, (design, row) in enumerate(zip((comparison.a, comparison.b), rows, strict=True)):
        for c, (view, image) in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image)
            if explained is not None and explained.maps.max() > 0:
                h, w = image.shape[:2]
                ax.imshow(
                    explained.maps[r, c],
                    cmap="magma",
                    alpha=0.55 * (explained.maps[r, c] > 0.15),
                    extent=(0, w, h, 0),
                    vmin=0,
                    vmax=1,
                    interpolation="bilinear",
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                d = comparison.view_distances.get(view)
                ax.set_title(view if d is None else f"{view}: distance {d:.3f}", fontsize=10)
            if c == 0:
                ax.set_ylabel(Path(design).name, fontsize=10)
    if explained is not None:
        _panel(fig, axes[0][cols], axes[1][cols], explained)
    title = f"similarity {comparison.similarity:.3f}   (distance {comparison.distance:.3f})"
    if explained is not None and explained.verdict:
        title = f"{explained.verdict}: {title}"
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save_figure(fig, out)


def _panel(fig: Any, top: Any, bottom: Any, found: Explanation) -> None:
    """The words beside the views: percentile, both designs' predicted attributes (the
    differing ones in red, marked), and the true differences."""
    from simnet.packages.attributes import LABELS

    for ax in (top, bottom):
        ax.axis("off")
    a, b = found.attributes
    lines: list[tuple[str, str]] = []  # (text, colour)
    if found.percentile is not None:
        lines += [(f"more alike than {found.percentile:.0f}% of the", "black")]
        lines += [("library's same-family pairs", "black"), ("", "black")]
    if a:
        lines.append((f"  {'predicted':<15}{'A':<16}B", "black"))
        for name in a:
            differs = name in found.differing
            text = f"{'! ' if differs else '  '}{LABELS[name]:<15}{a[name][0]:<16}{b[name][0]}"
            lines.append((text, "crimson" if differs else "black"))
    for i, (text, colour) in enumerate(lines):
        top.text(0, 1 - 0.075 * i, text, va="top", family="monospace", fontsize=8, color=colour)
    words = []
    if found.true_differences is not None:
        words.append("true differences (params.json):")
        if not found.true_differences:
            words.append("  none")
        for name, (va, vb) in list(found.true_differences.items())[:8]:
            words.append(f"  {name}: {_short(va)} vs {_short(vb)}")
    bottom.text(0.0, 1.0, "\n".join(words), va="top", ha="left", family="monospace", fontsize=8)


def _short(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{len(value)} items"
    text = str(value)
    return text if len(text) <= 18 else text[:17] + "\u2026"


__all__ = [
    "Comparison",
    "Explanation",
    "compare",
    "compare_arrays",
    "difference_maps",
    "explain",
    "explain_arrays",
    "save_picture",
]
