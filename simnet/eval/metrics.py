"""Retrieval and verification metrics on embeddings (numbers only; no plotting here).

Memory stays bounded for large sets: neighbours come from FAISS or from chunked distance
blocks, never from an N x N matrix.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def nearest_neighbours(
    reference: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest references of each query: ``(Q, k)`` L2 distances and indices."""
    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    d2, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return np.sqrt(np.maximum(d2, 0.0)), idx


def knn_vote(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Majority label of each row of ``(Q, k)`` neighbour labels; ties go to the class
    whose members are nearer."""
    q, k = neighbour_labels.shape
    scores = np.zeros((q, num_classes))
    weights = 1.0 - 1e-6 * np.arange(k)  # a nearer neighbour breaks a tie
    np.add.at(scores, (np.repeat(np.arange(q), k), neighbour_labels.ravel()), np.tile(weights, q))
    return scores.argmax(1)


def knn_accuracy(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    ks: list[int],
) -> dict[int, float]:
    """Accuracy of k-NN majority classification of the queries, for each k."""
    _, idx = nearest_neighbours(reference, queries, max(ks))
    neighbour_labels = reference_labels[idx]  # (Q, kmax)
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    return {
        k: float((knn_vote(neighbour_labels[:, :k], num_classes) == query_labels).mean())
        for k in ks
    }


def precision_at_1(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
) -> float:
    """Share of queries whose nearest reference has the query's label."""
    _, idx = nearest_neighbours(reference, queries, 1)
    return float((reference_labels[idx[:, 0]] == query_labels).mean())


def map_at_r(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    chunk: int = 256,
) -> float:
    """Mean average precision at R (Musgrave et al., 2020), R = references of the query's class.

    For each query, ``(1/R) * sum_{i<=R} precision@i * [i-th neighbour is relevant]``.
    """
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))
    ref_labels = torch.from_numpy(reference_labels)
    counts = torch.bincount(ref_labels, minlength=int(query_labels.max()) + 1)
    total = 0.0
    for start in range(0, len(queries), chunk):
        q = torch.from_numpy(np.ascontiguousarray(queries[start : start + chunk], dtype=np.float32))
        ql = torch.from_numpy(query_labels[start : start + chunk])
        r = counts[ql]  # (c,)
        rmax = int(r.max())
        if rmax == 0:
            continue
        d = torch.cdist(q, ref)  # (c, N)
        idx = d.topk(rmax, dim=1, largest=False).indices  # (c, rmax), nearest first
        relevant = (ref_labels[idx] == ql[:, None]).float()
        ranks = torch.arange(1, rmax + 1, dtype=torch.float32)
        within = (ranks[None, :] <= r[:, None]).float()
        precision = relevant.cumsum(1) / ranks
        ap = (precision * relevant * within).sum(1) / r.clamp_min(1)
        total += float(ap[r > 0].sum())
    return total / len(queries)


def recall_at_k(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    ks: list[int],
) -> dict[int, float]:
    """Recall@K: share of queries with at least one reference of their label among their K
    nearest references, for each K."""
    _, idx = nearest_neighbours(reference, queries, max(ks))
    hit = reference_labels[idx] == query_labels[:, None]  # (Q, kmax)
    first = np.where(hit.any(1), hit.argmax(1), np.iinfo(np.int64).max)  # rank of first hit
    return {k: float((first < k).mean()) for k in ks}


def sample_pairs(
    labels: np.ndarray, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About ``n`` pairs of distinct items, half similar (same label), half not. A kind of
    pair with no more distinct pairs than its half is taken whole, each pair once (9 images
    give 36 pairs, not ``n`` repeats of them).

    Returns:
        ``(a, b, similar)`` index arrays and a bool array.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    half = n // 2
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    if len(labels) * (len(labels) - 1) // 2 <= 2 * n:  # few images: every pair, each once
        i, j = np.triu_indices(len(labels), 1)
        same = labels[i] == labels[j]
        pos = rng.permutation(np.flatnonzero(same))[:half]
        neg = rng.permutation(np.flatnonzero(~same))[:half]
        a_pos, b_pos, a_neg, b_neg = i[pos], j[pos], i[neg], j[neg]
    else:
        a_pos, b_pos = _similar_pairs(by_class, half, rng)
        a_neg = rng.integers(0, len(labels), 4 * half)
        b_neg = rng.integers(0, len(labels), 4 * half)
        keep = labels[a_neg] != labels[b_neg]
        a_neg, b_neg = a_neg[keep][:half], b_neg[keep][:half]
    a = np.concatenate([a_pos, a_neg]).astype(np.int64)
    b = np.concatenate([b_pos, b_neg]).astype(np.int64)
    similar = np.concatenate([np.ones(len(a_pos), bool), np.zeros(len(a_neg), bool)])
    return a, b, similar


def _similar_pairs(
    by_class: list[np.ndarray], count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` same-class pairs: every one where there are no more, else drawn at random
    (a class chosen uniformly, then two of its images)."""
    usable = [ix for ix in by_class if len(ix) >= 2]
    if sum(len(ix) * (len(ix) - 1) // 2 for ix in usable) <= count:
        pairs = [ix[np.stack(np.triu_indices(len(ix), 1), 1)] for ix in usable]
        both = np.concatenate(pairs) if pairs else np.empty((0, 2), np.int64)
        return both[:, 0], both[:, 1]
    chosen = rng.integers(0, len(usable), count)
    drawn = [
        np.stack([rng.choice(ix, 2, replace=False) for _ in range(m)])
        for c, ix in enumerate(usable)
        if (m := int((chosen == c).sum()))
    ]
    both = np.concatenate(drawn)
    return both[:, 0], both[:, 1]


def verification(
    distances: np.ndarray, similar: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """ROC-AUC and average precision of "similar" scored by closeness, and the accuracy of
    calling pairs at or under a distance threshold similar.

    Args:
        distances: ``(P,)`` pair distances.
        similar: ``(P,)`` bool.
        threshold: the threshold to apply, chosen elsewhere (on validation pairs); None
            takes the best one for these pairs (an optimistic figure).
    Returns:
        ``roc_auc``, ``average_precision``, ``verification_accuracy`` and ``threshold``.
    """
    if similar.all() or not similar.any():
        raise ValueError("verification needs both similar and dissimilar pairs")
    scores = -distances
    fpr, tpr, thresholds = roc_curve(similar, scores)
    p, n = similar.sum(), (~similar).sum()
    accuracy = (tpr * p + (1.0 - fpr) * n) / (p + n)
    best = int(np.argmax(accuracy))
    if threshold is None:
        threshold = float(-thresholds[best]) if np.isfinite(thresholds[best]) else 0.0
        chosen = float(accuracy[best])
    else:
        chosen = float(((distances <= threshold) == similar).mean())
    return {
        "roc_auc": float(roc_auc_score(similar, scores)),
        "average_precision": float(average_precision_score(similar, scores)),
        "verification_accuracy": chosen,
        "threshold": float(threshold),
    }
