"""``simnet evaluate``: embed the train and test splits and measure retrieval."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from simnet.data.defaults import resolve_data
from simnet.data.loading import load_data
from simnet.data.pairs import is_pairs_csv, load_pairs
from simnet.errors import SimNetError
from simnet.eval.designs import evaluate_designs
from simnet.eval.metrics import (
    knn_accuracy,
    map_at_r,
    precision_at_1,
    recall_at_k,
    sample_pairs,
    verification,
)
from simnet.inference import SimNet

log = logging.getLogger(__name__)


def evaluate(
    model: SimNet | str | Path,
    data: str | Path | None = None,
    ks: list[int] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Nearest-neighbour metrics of the test split against the training split.

    Args:
        model: a loaded model or its run folder.
        data: the data set; None uses the one the model was trained on.
        ks: k values for k-NN majority accuracy (default: the model's ``eval.ks``).
        progress: show progress bars while embedding.
    Returns:
        A flat dict; ``knn_accuracy`` is the 1-NN accuracy as a fraction. For a multi-view
        model, see :func:`simnet.eval.designs.evaluate_designs`.
    """
    net = model if isinstance(model, SimNet) else SimNet.load(model)
    config = net.config
    path = (
        Path(data) if data is not None else resolve_data(config.data.source, config.data.cache_dir)
    )
    ks = sorted(set(ks or config.eval.ks) | {1})
    if net.views:
        return evaluate_designs(net, path, ks, progress)
    if is_pairs_csv(path):
        return evaluate_pairs(net, path)
    dataset = load_data(path, config.data, config.model.views)
    started = time.perf_counter()
    train_emb = net.embed_array(dataset.train.images, config.eval.batch_size, progress)
    test_emb = net.embed_array(dataset.test.images, config.eval.batch_size, progress)
    embed_seconds = time.perf_counter() - started
    result = retrieval_metrics(
        train_emb, dataset.train.labels, test_emb, dataset.test.labels, ks, config.eval.pairs
    )
    del result["test_pair_distances"], result["test_pair_similar"]
    if net.model.classifier is not None:  # the classifier baseline: its own predictions too
        result["classifier_accuracy"] = classifier_accuracy(net, test_emb, dataset.test.labels)
    result["embed_images_per_second"] = (len(train_emb) + len(test_emb)) / embed_seconds
    result["data"] = str(path)
    return result


def classifier_accuracy(net: SimNet, embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose highest-scoring class (model.logits) is their label."""
    import torch

    with torch.no_grad():
        logits = net.model.logits(torch.from_numpy(np.ascontiguousarray(embeddings)).float())
    return float((logits.argmax(1).numpy() == labels).mean())


def _both_kinds(similar: np.ndarray) -> bool:
    return bool(similar.any()) and not bool(similar.all())


def retrieval_metrics(
    train_emb: np.ndarray,
    train_labels: np.ndarray,
    test_emb: np.ndarray,
    test_labels: np.ndarray,
    ks: list[int],
    pairs: int = 20000,
) -> dict[str, Any]:
    """Every retrieval and verification metric of test embeddings against training ones.

    Also returns the sampled test pairs' distances and labels (``test_pair_distances``,
    ``test_pair_similar``) for curves.
    """
    accuracy = knn_accuracy(train_emb, train_labels, test_emb, test_labels, ks)
    recalls = recall_at_k(train_emb, train_labels, test_emb, test_labels, ks)
    # Verification: the threshold is chosen on pairs of training images, applied to test pairs.
    a, b, similar = sample_pairs(train_labels, pairs, seed=1)
    train_d = np.linalg.norm(train_emb[a] - train_emb[b], axis=1)
    a, b, similar_test = sample_pairs(test_labels, pairs, seed=0)
    distances = np.linalg.norm(test_emb[a] - test_emb[b], axis=1)
    if not (_both_kinds(similar) and _both_kinds(similar_test)):
        log.warning("too few classes in a split for pair verification: its metrics are left out")
        checked: dict[str, Any] = {}
    else:
        threshold = verification(train_d, similar)["threshold"]
        checked = verification(distances, similar_test, threshold)
    similar = similar_test
    return {
        "knn_accuracy": accuracy[1],
        **{f"knn_accuracy@{k}": v for k, v in accuracy.items() if k != 1},
        "precision_at_1": precision_at_1(train_emb, train_labels, test_emb, test_labels),
        "map_at_r": map_at_r(train_emb, train_labels, test_emb, test_labels),
        **{f"recall@{k}": v for k, v in recalls.items()},
        **checked,
        "verification_pairs": int(len(similar)),
        "train_images": len(train_labels),
        "test_images": len(test_labels),
        "test_pair_distances": distances,
        "test_pair_similar": similar,
    }


def evaluate_pairs(net: SimNet, path: Path) -> dict[str, Any]:
    """Pair verification on a pairs CSV's test pairs: ROC-AUC, and the accuracy at the
    distance threshold that is best on the training pairs (never chosen on the test)."""
    config = net.config
    data = load_pairs(
        path, config.data.image_size, config.data.test_fraction, config.data.cache_dir
    )
    if len(data.test) == 0 or data.test.similar.all() or not data.test.similar.any():
        raise SimNetError(f"{path}: the test pairs must hold both similar and dissimilar pairs")
    emb = net.embed_array(data.images.images, config.eval.batch_size)

    def distances(pairs):
        return np.linalg.norm(emb[pairs.a] - emb[pairs.b], axis=1)

    threshold = verification(distances(data.train), data.train.similar)["threshold"]
    return {
        **verification(distances(data.test), data.test.similar, threshold),
        "train_pairs": len(data.train),
        "test_pairs": len(data.test),
        "images": len(data.images),
        "data": str(path),
    }
