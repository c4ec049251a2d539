import numpy as np
import pytest

from simnet.eval.metrics import (
    knn_accuracy,
    knn_vote,
    map_at_r,
    precision_at_1,
    sample_pairs,
    verification,
)

REF = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]], dtype=np.float32)
REF_LABELS = np.array([0, 0, 1, 1, 1])


def test_knn_accuracy_on_a_worked_example() -> None:
    queries = np.array([[0.4], [1.9], [10.6]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    # 1-NN: 0.4 -> ref 0 (label 0, right); 1.9 -> ref 2 (label 1, wrong); 10.6 -> 11 (right).
    # 3-NN: 0.4 -> {0,1,2} labels 0,0,1 -> 0 right; 1.9 -> {2,1,0} -> 0 right; 10.6 -> 1 right.
    acc = knn_accuracy(REF, REF_LABELS, queries, labels, [1, 3])
    assert acc[1] == pytest.approx(2 / 3)
    assert acc[3] == pytest.approx(1.0)
    assert precision_at_1(REF, REF_LABELS, queries, labels) == pytest.approx(2 / 3)


def test_knn_vote_breaks_ties_towards_the_nearer_class() -> None:
    assert knn_vote(np.array([[2, 1], [1, 2]]), 3).tolist() == [2, 1]


def test_map_at_r_on_a_worked_example() -> None:
    # Query 0.9 with label 0: R = 2 references of class 0. Ranking: 1 (0), 0 (0)... ->
    # AP = (1/1 + 2/2) / 2 = 1. Query 1.6 with label 0: ranking 2 (1), 1 (0) -> AP = (0 + 1/2)/2.
    queries = np.array([[0.9], [1.6]], dtype=np.float32)
    labels = np.array([0, 0])
    assert map_at_r(REF, REF_LABELS, queries, labels) == pytest.approx((1.0 + 0.25) / 2)


def test_verification_finds_the_best_threshold() -> None:
    d = np.array([0.1, 0.2, 0.35, 0.3, 0.8, 0.9])
    similar = np.array([True, True, True, False, False, False])
    out = verification(d, similar)
    assert out["verification_accuracy"] == pytest.approx(5 / 6)
    assert out["roc_auc"] == pytest.approx(8 / 9)
    perfect = verification(np.array([0.1, 0.2, 0.8]), np.array([True, True, False]))
    assert perfect["verification_accuracy"] == 1.0 and 0.2 <= perfect["threshold"] < 0.8


def test_sampled_pairs_are_half_similar_and_never_self() -> None:
    labels = np.repeat(np.arange(5), 20)
    a, b, similar = sample_pairs(labels, 400, seed=1)
    assert len(a) == 400 and similar.sum() == 200
    assert (a != b).all()
    assert ((labels[a] == labels[b]) == similar).all()


def test_pairs_of_few_images_are_each_taken_once() -> None:
    labels = np.repeat(np.arange(3), 3)  # 9 test images: 36 pairs, 9 of them similar
    a, b, similar = sample_pairs(labels, 20000)
    assert len(a) == 36 and similar.sum() == 9
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == 36 and (a < b).all()
    assert ((labels[a] == labels[b]) == similar).all()
    many = np.concatenate([np.zeros(5, int), np.arange(1, 996)])  # 10 similar pairs among many
    a, b, similar = sample_pairs(many, 2000)
    assert similar.sum() == 10 and (~similar).sum() == 1000
    assert len(set(zip(a[similar].tolist(), b[similar].tolist(), strict=True))) == 10


def test_recall_at_k_by_hand() -> None:
    from simnet.eval.metrics import recall_at_k

    reference = np.array([[0.0], [1.0], [2.0], [10.0]], dtype=np.float32)
    ref_labels = np.array([0, 1, 1, 0])
    # Query 0 at 0.1: neighbours 0 (label 0), 1, 2 -> hit at rank 1.
    # Query 1 at 0.2 with label 1: neighbours 0 (0), 1 (1) -> first hit at rank 2.
    # Query 2 at 9.0 with label 1: neighbours 3 (0), 2 (1) -> rank 2.
    # Query 3 at 0.0 with label 2: no reference has label 2 -> never.
    queries = np.array([[0.1], [0.2], [9.0], [0.0]], dtype=np.float32)
    q_labels = np.array([0, 1, 1, 2])
    assert recall_at_k(reference, ref_labels, queries, q_labels, [1, 2, 4]) == {
        1: 0.25,
        2: 0.75,
        4: 0.75,
    }


def test_verification_with_a_given_threshold_and_average_precision() -> None:
    from sklearn.metrics import average_precision_score

    d = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    similar = np.array([True, True, False, True, False])
    fixed = verification(d, similar, threshold=0.4)  # calls 0.1, 0.3 similar
    assert fixed["verification_accuracy"] == pytest.approx(4 / 5)
    assert fixed["threshold"] == 0.4
    # Ranking by closeness: S S D S D -> precision at each similar: 1, 1, 3/4.
    assert fixed["average_precision"] == pytest.approx((1 + 1 + 0.75) / 3)
    assert fixed["average_precision"] == pytest.approx(average_precision_score(similar, -d))
    best = verification(d, similar)
    assert best["verification_accuracy"] == pytest.approx(4 / 5)
