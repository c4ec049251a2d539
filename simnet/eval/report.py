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

from simnet.data.defaults import resolve_data
from simnet.data.loading import load_data
from simnet.errors import SimNetError
from simnet.eval.designs import evaluate_designs
from simnet.eval.evaluate import retrieval_metrics
from simnet.eval.metrics import nearest_neighbours
from simnet.inference import SimNet
from simnet.storage import atomic_write_text

REPORT_FILE = "report.html"


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


def _page(title: str, summary: dict[str, Any], metrics: dict[str, Any], figures: list) -> str:
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


def build_report(
    run: str | Path,
    out: str | Path | None = None,
    data: str | Path | None = None,
    sample: int = 2000,
    queries: int = 8,
    k: int = 8,
) -> Path:
    """Evaluates the run's model and writes its HTML report (default ``RUN/report.html``).

    Args:
        run: the run folder.
        out: the page to write.
        data: the data set; None uses the one the model was trained on.
        sample: test embeddings in the t-SNE map.
        queries: rows of the retrieval grid; ``k``: matches per row.
    """
    from simnet.plots import (
        embedding_map,
        loss_curves,
        roc_and_pr,
        to_png_bytes,
        weight_histograms,
    )

    run = Path(run)
    if not run.is_dir():
        raise SimNetError(f"run folder not found: {run}")
    net = SimNet.load(run)
    config = net.config
    path = Path(data) if data else resolve_data(config.data.source, config.data.cache_dir)
    ks = sorted(set(config.eval.ks) | {1})
    figures: list[tuple[str, bytes]] = []
    rows = _metrics_rows(run)
    if rows:
        figures.append(
            ("Contrastive loss per epoch (metrics.csv)", to_png_bytes(loss_curves(rows)))
        )
    started = time.perf_counter()
    if net.views:
        metrics = evaluate_designs(net, path, ks)
    else:
        dataset = load_data(path, config.data, config.model.views)
        train_emb = net.embed_array(dataset.train.images, config.eval.batch_size)
        test_emb = net.embed_array(dataset.test.images, config.eval.batch_size)
        metrics = retrieval_metrics(
            train_emb, dataset.train.labels, test_emb, dataset.test.labels, ks, config.eval.pairs
        )
        distances = metrics.pop("test_pair_distances")
        similar = metrics.pop("test_pair_similar")
        figures.append(
            (
                "ROC and precision-recall curves of pair verification on test pairs",
                to_png_bytes(roc_and_pr(distances, similar)),
            )
        )
        pick = np.sort(np.random.default_rng(0).permutation(len(test_emb))[:sample])
        coords = tsne(test_emb[pick])
        figures.append(
            (
                f"t-SNE map of {len(pick)} test embeddings, coloured by class",
                to_png_bytes(
                    embedding_map(coords, dataset.test.labels[pick], dataset.test.classes)
                ),
            )
        )
        figures.append(
            (
                "Test queries and their nearest training images (green: same class)",
                to_png_bytes(
                    _retrieval_grid(dataset.train, dataset.test, train_emb, test_emb, queries, k)
                ),
            )
        )
    figures.append(
        (
            "Weights of the conv and fully-connected layers",
            to_png_bytes(weight_histograms(_weights(net))),
        )
    )
    summary = {
        "run": str(run.resolve()),
        "data": str(path),
        "backbone": config.model.backbone,
        "embedding": f"{net.dim}-D",
        "epochs": config.train.epochs,
        "mining": config.mining.strategy,
        "report made in": f"{time.perf_counter() - started:.0f} s",
    }
    page = _page(f"simnet report: {run.name}", summary, metrics, figures)
    target = Path(out) if out else run / REPORT_FILE
    atomic_write_text(target, page)
    return target
