"""``simnet report RUN``: one self-contained HTML page per run, readable offline.

The page holds the metrics table, the loss per epoch, ROC and precision-recall curves on
test pairs, a t-SNE map of test embeddings, the layer weight histograms and a retrieval
grid; every picture is embedded in the page (base64 PNG), so the file can be mailed or
archived on its own.
"""

from __future__ import annotations

import base64
import csv
import html
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from simnet.data.defaults import resolve_data
from simnet.data.loading import load_data
from simnet.errors import SimNetError
from simnet.eval.designs import evaluate_designs
from simnet.eval.evaluate import retrieval_metrics
from simnet.eval.metrics import nearest_neighbours
from simnet.inference import SimNet
from simnet.storage import atomic_write_text

REPORT_FILE = "report.html"
Figure = tuple[str, bytes]  # (caption, PNG bytes)


def _metrics_rows(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _weights(net: SimNet, limit: int = 16) -> list[tuple[str, np.ndarray]]:
    """Weights of the conv and fully-connected layers, at most ``limit`` spread over depth."""
    named = [
        (name.removesuffix(".weight"), p.detach().float().flatten().numpy())
        for name, p in net.model.named_parameters()
        if name.endswith(".weight") and p.dim() > 1
    ]
    if len(named) > limit:
        named = [named[i] for i in np.linspace(0, len(named) - 1, limit).round().astype(int)]
    return [(name, values[:: max(1, len(values) // 200_000)]) for name, values in named]


def tsne(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates of ``(N, D)`` embeddings (scikit-learn)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(embeddings) - 1) // 3)))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        embeddings.astype(np.float32)
    )


def _retrieval_grid(
    train: Any, test: Any, train_emb: np.ndarray, test_emb: np.ndarray, queries: int, k: int
) -> Any:
    from simnet.plots import retrieval_grid

    rng = np.random.default_rng(0)
    picks = np.sort(rng.choice(len(test_emb), min(queries, len(test_emb)), replace=False))
    dist, idx = nearest_neighbours(train_emb, test_emb[picks], min(k, len(train_emb)))
    classes = test.classes
    return retrieval_grid(
        [test.images[i] for i in picks],
        [classes[test.labels[i]] for i in picks],
        [[train.images[j] for j in row] for row in idx],
        [
            [f"{d:.2f} {train.classes[train.labels[j]]}" for d, j in zip(dr, row, strict=True)]
            for dr, row in zip(dist, idx, strict=True)
        ],
        [
            [train.labels[j] == test.labels[q] for j in row]
            for q, row in zip(picks, idx, strict=True)
        ],
    )


def _page(
    title: str, summary: dict[str, Any], metrics: dict[str, Any], figures: list[Figure]
) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))

    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in summary.items()
    )
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in metrics.items()
    )
    pictures = "".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for caption, png in figures
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Run</h2><table>{facts}</table>
<h2>Metrics</h2><table>{rows}</table>
<h2>Figures</h2>{pictures}
</body></html>
"""


class _Stages:
    """A progress bar over the stages of a report, each named as it begins.

    Use as a context manager; calling it with a name ends the stage before and begins that
    one. With ``show`` False, or stderr not a terminal, there is no bar."""

    def __init__(self, count: int, show: bool):
        self._bar = tqdm(
            total=count,
            desc="report",
            unit="stage",
            leave=False,
            disable=None if show else True,  # shown: only when stderr is a terminal
        )
        self._begun = False

    def __enter__(self) -> _Stages:
        return self

    def __call__(self, name: str) -> None:
        if self._begun:
            self._bar.update()
        self._begun = True
        self._bar.set_postfix_str(name)

    def __exit__(self, *exc: object) -> None:
        if self._begun and not any(exc):
            self._bar.update()
        self._bar.close()


def _loss_figures(run: Path) -> list[Figure]:
    """The loss per epoch from the run's ``metrics.csv``; none when it has none."""
    from simnet.plots import loss_curves, to_png_bytes

    rows = _metrics_rows(run)
    if not rows:
        return []
    return [("Contrastive loss per epoch (metrics.csv)", to_png_bytes(loss_curves(rows)))]


def _image_evaluation(
    net: SimNet, path: Path, ks: list[int], sample: int, queries: int, k: int, stage: _Stages
) -> tuple[dict[str, Any], list[Figure]]:
    """The metrics of a single-image model on the data at ``path``, with the figures only
    image data has: ROC and precision-recall curves, a t-SNE map and a retrieval grid."""
    from simnet.plots import embedding_map, roc_and_pr, to_png_bytes

    config = net.config
    dataset = load_data(path, config.data, config.model.views)
    train_emb = net.embed_array(dataset.train.images, config.eval.batch_size)  # (N_train, D)
    test_emb = net.embed_array(dataset.test.images, config.eval.batch_size)  # (N_test, D)
    metrics = retrieval_metrics(
        train_emb, dataset.train.labels, test_emb, dataset.test.labels, ks, config.eval.pairs
    )
    distances = metrics.pop("test_pair_distances")
    similar = metrics.pop("test_pair_similar")
    stage("ROC and precision-recall curves")
    figures = [
        (
            "ROC and precision-recall curves of pair verification on test pairs",
            to_png_bytes(roc_and_pr(distances, similar)),
        )
    ]
    stage("t-SNE map")
    pick = np.sort(np.random.default_rng(0).permutation(len(test_emb))[:sample])
    coords = tsne(test_emb[pick])
    figures.append(
        (
            f"t-SNE map of {len(pick)} test embeddings, coloured by class",
            to_png_bytes(embedding_map(coords, dataset.test.labels[pick], dataset.test.classes)),
        )
    )
    stage("retrieval grid")
    grid = _retrieval_grid(dataset.train, dataset.test, train_emb, test_emb, queries, k)
    figures.append(
        (
            "Test queries and their nearest training images (green: same class)",
            to_png_bytes(grid),
        )
    )
    return metrics, figures


def _weights_figure(net: SimNet) -> Figure:
    from simnet.plots import to_png_bytes, weight_histograms

    return (
        "Weights of the conv and fully-connected layers",
        to_png_bytes(weight_histograms(_weights(net))),
    )


def _summary(run: Path, path: Path, net: SimNet, started: float) -> dict[str, Any]:
    """The facts at the top of the page; ``started``: when evaluating began."""
    config = net.config
    return {
        "run": str(run.resolve()),
        "data": str(path),
        "backbone": config.model.backbone,
        "embedding": f"{net.dim}-D",
        "epochs": config.train.epochs,
        "mining": config.mining.strategy,
        "report made in": f"{time.perf_counter() - started:.0f} s",
    }


def build_report(
    run: str | Path,
    out: str | Path | None = None,
    data: str | Path | None = None,
    sample: int = 2000,
    queries: int = 8,
    k: int = 8,
    progress: bool = False,
) -> Path:
    """Evaluates the run's model and writes its HTML report (default ``RUN/report.html``).

    Args:
        run: the run folder.
        out: the page to write.
        data: the data set; None uses the one the model was trained on.
        sample: test embeddings in the t-SNE map.
        queries: rows of the retrieval grid; ``k``: matches per row.
        progress: show a progress bar over the report's stages (on stderr, when it is a
            terminal).

    Raises:
        SimNetError: the run folder does not exist.
    """
    run = Path(run)
    if not run.is_dir():
        raise SimNetError(f"run folder not found: {run}")
    net = SimNet.load(run)
    config = net.config
    path = Path(data) if data else resolve_data(config.data.source, config.data.cache_dir)
    ks = sorted(set(config.eval.ks) | {1})
    with _Stages(4 if net.views else 7, progress) as stage:
        stage("loss curve")
        figures = _loss_figures(run)
        started = time.perf_counter()  # "report made in" counts from here
        stage("evaluating")
        if net.views:  # multi-view designs: the metrics, without the image figures
            metrics = evaluate_designs(net, path, ks)
        else:
            metrics, image_figures = _image_evaluation(net, path, ks, sample, queries, k, stage)
            figures += image_figures
        stage("weight histograms")
        figures.append(_weights_figure(net))
        stage("writing the page")
        page = _page(
            f"simnet report: {run.name}", _summary(run, path, net, started), metrics, figures
        )
        target = Path(out) if out else run / REPORT_FILE
        atomic_write_text(target, page)
    return target
