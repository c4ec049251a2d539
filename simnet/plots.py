"""Figures. The one module that imports matplotlib (headless, and only when a figure is
asked for: importing it costs a second)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simnet.errors import SimNetError
from simnet.extras import require
from simnet.storage import atomic_path

FORMATS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def pyplot() -> Any:
    """matplotlib's pyplot on the headless Agg back end."""
    require("report", "figures")
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


def loss_curves(rows: Sequence[dict[str, str]]) -> Any:
    """Training (and validation, when recorded) loss per epoch from ``metrics.csv`` rows."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    epochs = [int(r["epoch"]) for r in rows]
    ax.plot(epochs, [float(r["train_loss"]) for r in rows], marker="o", label="training")
    val = [
        (e, float(r["val_loss"])) for e, r in zip(epochs, rows, strict=True) if r.get("val_loss")
    ]
    if val:
        ax.plot(*zip(*val, strict=True), marker="s", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("contrastive loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("Loss per epoch")
    fig.tight_layout()
    return fig


def roc_and_pr(distances: Any, similar: Any) -> Any:
    """ROC and precision-recall curves of calling a pair similar when it is close."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.9))
    fpr, tpr, _ = roc_curve(similar, -distances)
    left.plot(fpr, tpr, label=f"AUC {auc(fpr, tpr):.3f}")
    left.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    left.set_xlabel("false positive rate")
    left.set_ylabel("true positive rate")
    left.set_title("ROC, test pairs")
    left.legend(loc="lower right")
    precision, recall, _ = precision_recall_curve(similar, -distances)
    right.plot(recall, precision)
    right.axhline(float(similar.mean()), linestyle="--", color="grey", linewidth=0.8)
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_title("Precision-recall, test pairs")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def embedding_map(points: Any, labels: Any, classes: Sequence[str]) -> Any:
    """A 2-D map (t-SNE coordinates) of embeddings, coloured by class."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.6, 5.6))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for c in sorted(set(labels.tolist())):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=4, color=cmap(c % cmap.N), label=classes[c])
    if len(classes) <= 20:
        ax.legend(markerscale=3, fontsize=7, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("t-SNE map of test embeddings")
    fig.tight_layout()
    return fig


def weight_histograms(named_weights: Sequence[tuple[str, Any]], columns: int = 4) -> Any:
    """One histogram per weight tensor (conv and linear layers), in network order."""
    plt = pyplot()
    rows = max(1, -(-len(named_weights) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 1.9 * rows), squeeze=False)
    for ax in axes.ravel()[len(named_weights) :]:
        ax.axis("off")
    for ax, (name, values) in zip(axes.ravel(), named_weights, strict=False):
        ax.hist(values, bins=50, color="tab:blue")
        ax.set_title(name, fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("Layer weights", fontsize=10)
    fig.tight_layout()
    return fig


def retrieval_grid(
    queries: Sequence[Any],
    query_titles: Sequence[str],
    matches: Sequence[Sequence[Any]],
    match_titles: Sequence[Sequence[str]],
    match_ok: Sequence[Sequence[bool]],
) -> Any:
    """Each query image in a row, followed by its top matches with their distances; a
    match of the query's class is framed green, any other red."""
    plt = pyplot()
    k = max(len(m) for m in matches)
    fig, axes = plt.subplots(
        len(queries), k + 1, figsize=(1.25 * (k + 1), 1.45 * len(queries)), squeeze=False
    )
    for r, query in enumerate(queries):
        axes[r][0].imshow(query)
        axes[r][0].set_title(query_titles[r], fontsize=7)
        for c in range(k):
            ax = axes[r][c + 1]
            if c < len(matches[r]):
                ax.imshow(matches[r][c])
                ax.set_title(match_titles[r][c], fontsize=6)
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:green" if match_ok[r][c] else "tab:red")
                    spine.set_linewidth(2)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Queries (left) and their nearest training images", fontsize=9)
    fig.tight_layout()
    return fig


def duplicate_group(images: Sequence[Any], names: Sequence[str], distances: Sequence[float]) -> Any:
    """One group of near-duplicates in a row, each titled with its file name and its
    distance to the first image."""
    plt = pyplot()
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 2.0), squeeze=False)
    for ax, image, name, d in zip(axes[0], images, names, distances, strict=True):
        ax.imshow(image)
        ax.set_title(f"{name[-18:]}\nd = {d:.3f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{n} near-duplicates (d: distance to the first)", fontsize=9)
    fig.tight_layout()
    return fig


def to_png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for pages that embed their pictures), then closed."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    return buffer.getvalue()
