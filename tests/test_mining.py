import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from simnet.distances import METRICS
from simnet.losses import contrastive_pair_losses
from simnet.mining import OPMS, LambdaSchedule, candidate_pairs
from simnet.mining.opms import nearest_negative
from tests.test_distances import loop_distance


def batch(seed: int = 0, b: int = 60, classes: int = 6, dim: int = 8):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(b // classes)
    centres = torch.randn(classes, dim, generator=g)
    x = centres[labels] * 0.6 + torch.randn(b, dim, generator=g) * 0.5
    return F.normalize(x, dim=1), labels


def pair_distance(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (x[a] - x[b]).norm(dim=1)


def test_candidates_are_every_pair_once() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1])
    pos, neg = candidate_pairs(labels)
    assert len(pos) == 1 + 3 and len(neg) == 2 * 3
    assert bool((labels[pos.a] == labels[pos.b]).all()) and bool(pos.similar.all())
    assert bool((labels[neg.a] != labels[neg.b]).all()) and not bool(neg.similar.any())
    assert bool((pos.a < pos.b).all()) and bool((neg.a < neg.b).all())


@pytest.mark.parametrize("seed", range(5))
def test_opms_pairs_are_labelled_right_and_never_self(seed: int) -> None:
    x, labels = batch(seed)
    pairs = OPMS(outlier_fraction=0.1).mine(x, labels, 0.5)
    assert len(pairs) > 0
    assert bool((pairs.a != pairs.b).all())
    assert torch.equal(pairs.similar, labels[pairs.a] == labels[pairs.b])


@pytest.mark.parametrize("seed", range(5))
def test_more_lambda_keeps_more_and_harder_negatives(seed: int) -> None:
    x, labels = batch(seed)
    counts, means = [], []
    for lam in np.linspace(0.0, 1.0, 11):
        miner = OPMS(outlier_fraction=0.0)
        pairs = miner.mine(x, labels, float(lam))
        neg = pairs.select(~pairs.similar)
        counts.append(len(neg))
        means.append(float(pair_distance(x, neg.a, neg.b).mean()))
    assert all(b >= a for a, b in zip(counts, counts[1:], strict=False)), counts
    assert all(b <= a + 1e-6 for a, b in zip(means, means[1:], strict=False)), means
    assert counts[-1] > counts[0]


def test_lambda_one_keeps_every_negative_within_the_margin() -> None:
    x, labels = batch(3)
    pairs = OPMS(outlier_fraction=0.3).mine(x, labels, 1.0)
    _, neg = candidate_pairs(labels)
    within = int((pair_distance(x, neg.a, neg.b) < 1.0).sum())
    assert int((~pairs.similar).sum()) == within


@pytest.mark.parametrize("seed", range(5))
def test_pruned_pairs_carry_no_loss(seed: int) -> None:
    x, labels = batch(seed)
    miner = OPMS()
    dist = torch.cdist(x, x)
    pos, neg = candidate_pairs(labels)
    pos_keep, neg_keep = miner.prune(dist, nearest_negative(dist, neg), pos, neg)
    # Pruned negatives cost nothing under the contrastive loss.
    dropped = neg.select(~neg_keep)
    assert len(dropped) > 0
    losses = contrastive_pair_losses(pair_distance(x, dropped.a, dropped.b), dropped.similar)
    assert float(losses.abs().max()) == 0.0
    # Pruned positives already satisfy the pair constraint (Eq. 2) for both of their images:
    # D(q, p)^2 + m < D(q, n)^2 for every negative n of q in the batch (checked by a loop).
    for a, b in zip(pos.a[~pos_keep].tolist(), pos.b[~pos_keep].tolist(), strict=True):
        for q in (a, b):
            for n in range(len(labels)):
                if labels[n] != labels[q]:
                    assert float(dist[a, b]) ** 2 + 1.0 < float(dist[q, n]) ** 2
    # And the kept ones do not.
    for a, b in zip(pos.a[pos_keep].tolist(), pos.b[pos_keep].tolist(), strict=True):
        nearest = min(
            float(dist[q, n]) for q in (a, b) for n in range(len(labels)) if labels[n] != labels[q]
        )
        assert float(dist[a, b]) ** 2 + 1.0 >= nearest**2 - 1e-5


def test_pruning_drops_positives_once_classes_separate() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    x = torch.tensor([[1.0, 0.0], [0.99, 0.14], [-1.0, 0.0], [-0.99, -0.14]])
    pairs = OPMS().mine(F.normalize(x, dim=1), labels, 1.0)
    assert len(pairs) == 0  # every positive is tight and every negative is beyond the margin


def test_outliers_are_dropped_early_and_kept_late() -> None:
    x, labels = batch(1)
    early = OPMS(outlier_fraction=0.2, min_negative_fraction=1.0).mine(x, labels, 0.0)
    late = OPMS(outlier_fraction=0.2, min_negative_fraction=1.0).mine(x, labels, 1.0)
    hardest_early = pair_distance(x, early.a, early.b)[early.similar].max()
    hardest_late = pair_distance(x, late.a, late.b)[late.similar].max()
    assert early.num_similar < late.num_similar
    assert hardest_early < hardest_late


def test_pairs_come_sorted_easy_to_hard() -> None:
    x, labels = batch(2)
    pairs = OPMS().mine(x, labels, 0.7)
    losses = contrastive_pair_losses(pair_distance(x, pairs.a, pairs.b), pairs.similar)
    assert bool((losses[1:] >= losses[:-1] - 1e-6).all())


def test_random_candidate_negatives_are_capped_and_seeded() -> None:
    x, labels = batch(0)
    first = OPMS(max_negatives=50, seed=7).mine(x, labels, 1.0)
    again = OPMS(max_negatives=50, seed=7).mine(x, labels, 1.0)
    assert int((~first.similar).sum()) <= 50
    assert torch.equal(first.a, again.a) and torch.equal(first.b, again.b)


def test_lambda_schedule_follows_algorithm_1() -> None:
    s = LambdaSchedule(epochs=4)
    assert [s(e) for e in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    capped = LambdaSchedule(epochs=4, lambda_max=0.5)
    assert [capped(e) for e in range(4)] == pytest.approx([0.25, 0.5, 0.5, 0.5])
    assert LambdaSchedule(epochs=10, start=0.2, step=0.1)(0) == pytest.approx(0.3)
    assert math.isclose(LambdaSchedule(epochs=3)(10), 1.0)


def test_bad_lambda_is_refused() -> None:
    x, labels = batch(0)
    with pytest.raises(ValueError):
        OPMS().mine(x, labels, 1.5)


def test_without_negative_pruning_every_negative_is_kept_at_lambda_one() -> None:
    x, labels = batch(3)
    _, neg = candidate_pairs(labels)
    kept = OPMS(margin=1.0, outlier_fraction=0.0, prune_negatives=False).mine(x, labels, 1.0)
    pruned = OPMS(margin=1.0, outlier_fraction=0.0).mine(x, labels, 1.0)
    n_kept = int((~kept.similar).sum())
    assert n_kept == len(neg)  # every candidate, including those beyond the margin
    beyond = int((pair_distance(x, neg.a, neg.b) >= 1.0).sum())
    assert beyond > 0 and int((~pruned.similar).sum()) == len(neg) - beyond


@pytest.mark.parametrize("metric", METRICS)
def test_opms_judges_pairs_by_the_losss_metric(metric: str) -> None:
    """At λ = 1 with no outliers dropped, the negatives kept are those within the margin
    under the metric, and the positives kept are those the pair constraint does not yet
    hold for, each distance written out by hand."""
    x, labels = batch(2, b=24, classes=4)
    margin = 0.8
    pairs = OPMS(margin=margin, metric=metric, outlier_fraction=0.0).mine(x, labels, 1.0)
    rows, n = x.tolist(), len(labels)
    d = [[loop_distance(rows[i], rows[j], metric) for j in range(n)] for i in range(n)]
    pos, neg = candidate_pairs(labels)
    near = {(a, b) for a, b in zip(neg.a.tolist(), neg.b.tolist(), strict=True) if d[a][b] < margin}

    def nearest(q: int) -> float:
        return min(d[q][m] for m in range(n) if labels[m] != labels[q])

    open_pos = {
        (a, b)
        for a, b in zip(pos.a.tolist(), pos.b.tolist(), strict=True)
        if not d[a][b] ** 2 + margin < min(nearest(a), nearest(b)) ** 2
    }
    got = set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
    assert {p for p in got if labels[p[0]] != labels[p[1]]} == near
    assert {p for p in got if labels[p[0]] == labels[p[1]]} == open_pos
