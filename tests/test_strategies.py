"""Every pair strategy behind the one interface: labels, counts, ordering, seeding, and
the given candidates of a pairs CSV."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from simnet.config import MiningConfig, one_of
from simnet.distances import METRICS
from simnet.errors import SimNetError
from simnet.mining import (
    OPMS,
    AllPairs,
    HardestNegatives,
    PairMiner,
    RandomPairs,
    create_miner,
    list_miners,
)
from simnet.mining.base import candidate_pairs
from simnet.pairs import Pairs
from tests.test_distances import loop_distance

STRATEGIES = list_miners()


def batch(seed: int = 0, b: int = 40, classes: int = 5, dim: int = 8):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(b // classes)
    x = (
        torch.randn(classes, dim, generator=g)[labels] * 0.6
        + torch.randn(b, dim, generator=g) * 0.5
    )
    return F.normalize(x, dim=1), labels


def keys(pairs: Pairs) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, b in zip(pairs.a.tolist(), pairs.b.tolist(), strict=True)}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", range(3))
def test_every_strategy_labels_pairs_right_and_never_pairs_an_image_with_itself(
    strategy: str, seed: int
) -> None:
    x, labels = batch(seed)
    miner = create_miner(MiningConfig(strategy=strategy), 1.0, "euclidean", seed)
    pairs = miner.mine(x, labels, 0.5)
    assert len(pairs) > 0
    assert bool((pairs.a != pairs.b).all())
    assert torch.equal(pairs.similar, labels[pairs.a] == labels[pairs.b])
    assert len(keys(pairs)) == len(pairs)  # no pair twice
    stats = miner.last_stats
    assert stats["positives"] == pairs.num_similar
    assert stats["negatives"] == len(pairs) - pairs.num_similar


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_keeps_to_given_candidates(strategy: str) -> None:
    x, labels = batch(1)
    pos, neg = candidate_pairs(labels)
    given = (pos.select(torch.arange(0, len(pos), 3)), neg.select(torch.arange(0, len(neg), 7)))
    miner = create_miner(MiningConfig(strategy=strategy), 1.0, "euclidean", 0)
    pairs = miner.mine(x, labels, 1.0, given)
    assert keys(pairs) <= keys(given[0]) | keys(given[1])
    assert len(pairs) > 0


def test_all_pairs_is_every_pair() -> None:
    x, labels = batch(0)
    pairs = AllPairs().mine(x, labels, 0.0)
    assert len(pairs) == 40 * 39 // 2
    assert pairs.num_similar == 5 * (8 * 7 // 2)


@pytest.mark.parametrize(
    ("budget", "ratio", "expected"), [(40, 1.0, (20, 20)), (40, 3.0, (10, 30))]
)
def test_random_pairs_follow_budget_and_ratio(budget: int, ratio: float, expected) -> None:
    x, labels = batch(0)
    first = RandomPairs(budget, ratio, seed=3).mine(x, labels, 0.0)
    assert (first.num_similar, len(first) - first.num_similar) == expected
    again = RandomPairs(budget, ratio, seed=3).mine(x, labels, 1.0)  # λ changes nothing
    assert torch.equal(first.a, again.a) and torch.equal(first.b, again.b)
    other = RandomPairs(budget, ratio, seed=4).mine(x, labels, 0.0)
    assert not (torch.equal(first.a, other.a) and torch.equal(first.b, other.b))


def test_random_pairs_default_to_every_positive_and_as_many_negatives() -> None:
    x, labels = batch(0)
    pairs = RandomPairs(None, 1.0).mine(x, labels, 0.0)
    assert pairs.num_similar == 140 and len(pairs) == 280


def test_hardest_negatives_are_the_closest_and_come_hardest_first() -> None:
    x, labels = batch(2)
    pos, neg = candidate_pairs(labels)
    pairs = HardestNegatives(negatives_per_positive=2.0).mine(x, labels, 0.0)
    kept = pairs.select(~pairs.similar)
    assert pairs.num_similar == len(pos) and len(kept) == 2 * len(pos)
    d_kept = (x[kept.a] - x[kept.b]).norm(dim=1)
    assert bool((d_kept[1:] >= d_kept[:-1] - 1e-6).all())  # hardest (closest) first
    dropped = keys(neg) - keys(kept)
    d_all = {k: float((x[k[0]] - x[k[1]]).norm()) for k in keys(neg)}
    assert max(d_kept.tolist()) <= min(d_all[k] for k in dropped) + 1e-6
    assert keys(pairs) == keys(HardestNegatives(2.0).mine(x, labels, 1.0))  # no curriculum


def test_offline_mining_pairs_each_image_with_its_nearest_other_class_images() -> None:
    import numpy as np

    from simnet.mining.offline import mine_pool

    x, labels = batch(4)
    emb, lab = x.numpy(), labels.numpy()
    pairs = mine_pool(emb, lab, positives=2, negatives=3, rng=np.random.default_rng(0))
    assert bool((pairs.a < pairs.b).all())  # never an image with itself, each pair once
    assert len(set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))) == len(pairs)
    assert np.array_equal(pairs.similar, lab[pairs.a] == lab[pairs.b])
    dist = torch.cdist(x, x).numpy()
    kept = set(zip(pairs.a.tolist(), pairs.b.tolist(), strict=True))
    for i in range(len(lab)):
        others = np.flatnonzero(lab != lab[i])
        for j in others[np.argsort(dist[i, others], kind="stable")[:3]]:
            assert (min(i, j), max(i, j)) in kept
    assert int(pairs.similar.sum()) >= len(lab)  # at least one positive for each image


def test_offline_pairs_survive_a_round_trip_through_disk(tmp_path) -> None:
    import numpy as np

    from simnet.data.pairs import PairList
    from simnet.mining.offline import load_pairs_file, save_pairs

    pairs = PairList(np.array([0, 3, 5]), np.array([1, 4, 9]), np.array([True, False, True]))
    save_pairs(tmp_path / "p.npz", pairs)
    back = load_pairs_file(tmp_path / "p.npz")
    for field in ("a", "b", "similar"):
        assert np.array_equal(getattr(back, field), getattr(pairs, field))
        assert getattr(back, field).dtype == getattr(pairs, field).dtype


def test_the_registry_holds_the_papers_strategies_by_their_config_names() -> None:
    expected = {
        "all": AllPairs,
        "hardest": HardestNegatives,
        "offline": AllPairs,  # its batches come from OfflineSampler; each is used whole
        "opms": OPMS,
        "random": RandomPairs,
    }
    for name, kind in expected.items():
        assert type(create_miner(MiningConfig(strategy=name), 1.0, "euclidean", 0)) is kind


def test_create_miner_passes_the_settings_on() -> None:
    config = MiningConfig(
        strategy="opms",
        max_negatives=7,
        min_negative_fraction=0.3,
        outlier_fraction=0.1,
        prune_positives=False,
        prune_negatives=False,
        pairs_per_batch=12,
        negatives_per_positive=3.0,
    )
    opms = create_miner(config, 0.7, "cosine", 0)
    assert isinstance(opms, OPMS)
    assert (opms.margin, opms.metric, opms.max_negatives) == (0.7, "cosine", 7)
    assert (opms.min_negative_fraction, opms.outlier_fraction) == (0.3, 0.1)
    assert (opms.prune_positives, opms.prune_negatives) == (False, False)
    random = create_miner(dataclasses.replace(config, strategy="random"), 0.7, "cosine", 0)
    assert isinstance(random, RandomPairs) and (random.pairs, random.ratio) == (12, 3.0)
    hardest = create_miner(dataclasses.replace(config, strategy="hardest"), 0.7, "l1", 0)
    assert isinstance(hardest, HardestNegatives) and (hardest.ratio, hardest.metric) == (3.0, "l1")


def test_an_unknown_strategy_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(SimNetError) as error:
        create_miner(MiningConfig(strategy="bogus"), 1.0, "euclidean", 0)
    message = str(error.value)
    assert message == f"config: mining.strategy must be {one_of(STRATEGIES)}, not 'bogus'"
    assert all(name in message for name in ("opms", "random", "all", "hardest", "offline"))


def test_every_strategy_the_experiments_name_is_registered() -> None:
    from simnet.experiments.table1 import TABLE1_ROWS
    from simnet.experiments.table2 import TABLE2_ROWS

    overrides = [o for rows in TABLE2_ROWS.values() for o in rows]
    overrides += [o for _, rows, _ in TABLE1_ROWS.values() for o in rows]
    named = {o.partition("=")[2] for o in overrides if o.startswith("mining.strategy=")}
    assert named and named <= set(STRATEGIES)


def draws(miner: PairMiner, steps: int = 3) -> list[tuple[list[int], list[int]]]:
    out = []
    for step in range(steps):
        x, labels = batch(step)
        pairs = miner.mine(x, labels, 0.5)
        out.append((pairs.a.tolist(), pairs.b.tolist()))
    return out


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_miner_restored_from_its_state_dict_draws_what_the_original_would(strategy) -> None:
    config = MiningConfig(strategy=strategy, max_negatives=30, pairs_per_batch=20)
    original = create_miner(config, 1.0, "euclidean", seed=5)
    draws(original, 2)  # some draws made before the checkpoint
    state = original.state_dict()
    if strategy in ("opms", "random"):  # the ones that draw at random
        assert list(state) == ["generator"] and state["generator"].dtype == torch.uint8
    else:
        assert state == {}
    restored = create_miner(config, 1.0, "euclidean", seed=99)  # seeded otherwise
    restored.load_state_dict(state)
    assert draws(restored) == draws(original)


def test_a_state_dict_is_a_snapshot_and_a_wrong_one_is_refused() -> None:
    miner = RandomPairs(20, seed=1)
    state = miner.state_dict()
    first = draws(miner, 1)
    miner.load_state_dict(state)  # back to before the draw
    assert draws(miner, 1) == first
    with pytest.raises(ValueError, match="generator"):
        miner.load_state_dict({})
    with pytest.raises(ValueError, match="generator"):
        AllPairs().load_state_dict(state)


@pytest.mark.parametrize("metric", METRICS)
def test_hardest_negatives_are_the_closest_under_the_losss_metric(metric: str) -> None:
    x, labels = batch(3, b=20)
    _, neg = candidate_pairs(labels)
    pairs = HardestNegatives(negatives_per_positive=1.5, metric=metric).mine(x, labels, 0.0)
    kept = pairs.select(~pairs.similar)
    rows = x.tolist()
    by_hand = sorted(
        (loop_distance(rows[a], rows[b], metric), (a, b))
        for a, b in zip(neg.a.tolist(), neg.b.tolist(), strict=True)
    )
    got = [
        loop_distance(rows[a], rows[b], metric)
        for a, b in zip(kept.a.tolist(), kept.b.tolist(), strict=True)
    ]
    assert got == pytest.approx([d for d, _ in by_hand[: len(kept)]], abs=1e-5)
