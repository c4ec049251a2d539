import pytest
import torch

from simnet.distances import METRICS
from simnet.losses import ContrastiveLoss, contrastive_pair_losses
from simnet.pairs import Pairs
from tests.test_distances import loop_distance


def loop_loss(
    x: torch.Tensor, pairs: list[tuple[int, int, bool]], margin: float, metric: str = "euclidean"
) -> float:
    """The contrastive loss written out pair by pair, as in Hadsell et al. (2006)."""
    total = 0.0
    for a, b, similar in pairs:
        d = loop_distance(x[a].tolist(), x[b].tolist(), metric)
        total += 0.5 * d * d if similar else 0.5 * max(0.0, margin - d) ** 2
    return total / len(pairs)


def as_pairs(pairs: list[tuple[int, int, bool]]) -> Pairs:
    a, b, s = zip(*pairs, strict=True)
    return Pairs(torch.tensor(a), torch.tensor(b), torch.tensor(s))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("count", [3, 40])  # both the gathered and the matrix path
def test_contrastive_loss_matches_a_plain_loop(count: int, metric: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=g) * 0.4
    idx = torch.randint(0, 12, (count, 2), generator=g)
    idx = idx[idx[:, 0] != idx[:, 1]]
    pairs = [(int(a), int(b), bool(i % 2)) for i, (a, b) in enumerate(idx)]
    for margin in (0.5, 1.0, 2.0):
        got = ContrastiveLoss(margin=margin, metric=metric)(x, as_pairs(pairs))
        assert got.item() == pytest.approx(loop_loss(x, pairs, margin, metric), rel=1e-5)


def test_balanced_loss_weighs_each_kind_equally() -> None:
    x = torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.0, 0.4], [0.1, 0.1]])
    pairs = [(0, 1, True), (0, 2, False), (1, 2, False), (2, 3, False)]
    pos = loop_loss(x, pairs[:1], 1.0)
    neg = loop_loss(x, pairs[1:], 1.0)
    got = ContrastiveLoss(balance=True)(x, as_pairs(pairs))
    assert got.item() == pytest.approx(pos + neg, rel=1e-5)


def test_pair_losses_follow_the_similar_flag() -> None:
    d = torch.tensor([0.5, 0.5, 1.5])
    similar = torch.tensor([True, False, False])
    assert contrastive_pair_losses(d, similar, 1.0).tolist() == pytest.approx([0.125, 0.125, 0.0])


def test_loss_gradient_is_correct() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(6, 4, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    pairs = as_pairs([(0, 1, True), (2, 3, False), (4, 5, False), (1, 4, True)])
    loss = ContrastiveLoss(margin=1.0)
    assert torch.autograd.gradcheck(lambda e: loss(e, pairs), (x,))


def test_no_pairs_gives_zero_loss_with_a_gradient() -> None:
    x = torch.randn(3, 2, requires_grad=True)
    empty = Pairs(
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.bool),
    )
    loss = ContrastiveLoss()(x, empty)
    loss.backward()
    assert loss.item() == 0.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        ContrastiveLoss(margin=0)
    with pytest.raises(ValueError):
        ContrastiveLoss(metric="hamming")
    with pytest.raises(ValueError):
        Pairs(torch.tensor([0]), torch.tensor([1]), torch.tensor([1]))  # a bare 0/1 label


@pytest.mark.parametrize("metric", METRICS)
def test_group_loss_matches_a_plain_loop_over_pairs(metric: str) -> None:
    from simnet.losses import GroupLoss

    gen = torch.Generator().manual_seed(3)
    emb = torch.nn.functional.normalize(torch.randn(12, 8, generator=gen), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])  # designs
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])  # families
    radius, margin = 0.6, 1.3
    near, far = [], []
    for i in range(12):
        for j in range(i + 1, 12):
            d = loop_distance(emb[i].tolist(), emb[j].tolist(), metric)
            if groups[i] == groups[j] and labels[i] != labels[j]:
                near.append(0.5 * max(0.0, d - radius) ** 2)
            elif groups[i] != groups[j]:
                far.append(0.5 * max(0.0, margin - d) ** 2)
    expected = sum(near) / len(near) + sum(far) / len(far)
    got = GroupLoss(radius, margin, metric)(emb, labels, groups)
    assert abs(float(got) - expected) < 1e-5
    # same-design pairs are the contrastive loss's business, not the group loss's
    one_group = GroupLoss(radius, margin)(emb[:2], labels[:2], groups[:2])
    assert float(one_group) == 0.0
    with pytest.raises(ValueError):
        GroupLoss(1.0, 0.5)
