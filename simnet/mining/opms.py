"""Online Pair Mining Strategy (OPMS), SimNet's Algorithm 1.

Per mini-batch: embed once; take every positive pair and the (optionally random) candidate
negatives; prune pairs that carry no training signal under the pair constraint (Eq. 2);
guard against outliers early on; keep a λ-controlled share of the negatives, easiest
first; and return the pairs ordered easy to hard.
"""

from __future__ import annotations

import math
from typing import Self

import torch

from simnet.config import MiningConfig
from simnet.distances import check_metric, pairwise_distances
from simnet.losses.contrastive_loss import contrastive_pair_losses
from simnet.mining.base import Candidates, PairMiner, given_or_every_pair
from simnet.mining.registry import register_miner
from simnet.pairs import Pairs


def nearest_negative(dist: torch.Tensor, neg: Pairs) -> torch.Tensor:
    """``(B,)`` distance from each image to its nearest negative partner (inf: none)."""
    nearest = torch.full((dist.shape[0],), math.inf)
    d = dist[neg.a, neg.b]
    nearest.scatter_reduce_(0, neg.a, d, "amin")
    return nearest.scatter_reduce_(0, neg.b, d, "amin")


@register_miner("opms")
class OPMS(PairMiner):
    """Curriculum pair mining (``mining.strategy=opms``).

    Args:
        margin: m of the contrastive loss and of the pair constraint.
        metric: distance used to judge pairs (the loss's metric).
        max_negatives: when set, that many candidate negatives are drawn at random per
            batch (the paper's generateRandomNegativePairs); None takes all of them.
        min_negative_fraction: share of the surviving negatives kept at λ = 0; the share
            grows linearly to 1 at λ = 1.
        outlier_fraction: share of the hardest surviving positives and negatives dropped at
            λ = 0 (they may be label noise); the share shrinks linearly to 0 at λ = 1.
        prune_positives: drop positives that already satisfy the pair constraint.
        prune_negatives: drop negatives at or beyond the margin. They cost nothing either
            way, but kept they count in the mean of a balanced loss.
        seed: seeds the random choice of candidate negatives.
    """

    def __init__(
        self,
        margin: float = 1.0,
        metric: str = "euclidean",
        max_negatives: int | None = None,
        min_negative_fraction: float = 0.1,
        outlier_fraction: float = 0.02,
        prune_positives: bool = True,
        seed: int = 0,
        prune_negatives: bool = True,
    ):
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        if not 0.0 < min_negative_fraction <= 1.0:
            raise ValueError(
                f"min_negative_fraction must be in (0, 1], got {min_negative_fraction}"
            )
        if not 0.0 <= outlier_fraction < 0.5:
            raise ValueError(f"outlier_fraction must be in [0, 0.5), got {outlier_fraction}")
        if max_negatives is not None and max_negatives < 1:
            raise ValueError(f"max_negatives must be positive, got {max_negatives}")
        self.margin, self.metric = margin, check_metric(metric)
        self.max_negatives = max_negatives
        self.min_negative_fraction = min_negative_fraction
        self.outlier_fraction = outlier_fraction
        self.prune_positives = prune_positives
        self.prune_negatives = prune_negatives
        self.gen = torch.Generator().manual_seed(seed)

    curriculum = True

    @classmethod
    def from_config(cls, config: MiningConfig, margin: float, metric: str, seed: int) -> Self:
        return cls(
            margin=margin,
            metric=metric,
            max_negatives=config.max_negatives,
            min_negative_fraction=config.min_negative_fraction,
            outlier_fraction=config.outlier_fraction,
            prune_positives=config.prune_positives,
            prune_negatives=config.prune_negatives,
            seed=seed,
        )

    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: Candidates | None = None,
    ) -> Pairs:
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lambda must be in [0, 1], got {lam}")
        dist = pairwise_distances(embeddings.detach().float().cpu(), self.metric)  # (B, B)
        pos, neg = given_or_every_pair(labels, candidates)
        nearest = nearest_negative(dist, neg)  # from every candidate negative
        if self.max_negatives is not None and len(neg) > self.max_negatives:
            neg = neg.select(torch.randperm(len(neg), generator=self.gen)[: self.max_negatives])
        pos_keep, neg_keep = self.prune(dist, nearest, pos, neg)
        pos, neg = pos.select(pos_keep), neg.select(neg_keep)
        pos = self.drop_outliers(pos, dist[pos.a, pos.b], hardest_last=True, lam=lam)
        neg = self.drop_outliers(neg, dist[neg.a, neg.b], hardest_last=False, lam=lam)
        neg = self.sample_negatives(neg, dist[neg.a, neg.b], lam)
        pairs = self.curriculum_sort(Pairs.cat([pos, neg]), dist)
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": len(pairs)}
        return pairs

    def prune(
        self, dist: torch.Tensor, nearest_neg: torch.Tensor, pos: Pairs, neg: Pairs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks of the pairs that still carry training signal (Eq. 2).

        A negative at or beyond the margin costs nothing. A positive whose squared distance
        plus the margin is below the squared distance from each of its two images to that
        image's nearest negative in the batch (``nearest_neg``, ``(B,)``) already satisfies
        the pair constraint.
        """
        neg_keep = dist[neg.a, neg.b] < self.margin
        if not self.prune_negatives:
            neg_keep = torch.ones_like(neg_keep)
        if not self.prune_positives or len(pos) == 0:
            return torch.ones(len(pos), dtype=torch.bool), neg_keep
        bound = torch.minimum(nearest_neg[pos.a], nearest_neg[pos.b]).pow(2)
        satisfied = dist[pos.a, pos.b].pow(2) + self.margin < bound
        return ~satisfied, neg_keep

    def drop_outliers(
        self, pairs: Pairs, dist: torch.Tensor, hardest_last: bool, lam: float
    ) -> Pairs:
        """Drops the hardest ``outlier_fraction * (1 - λ)`` of the pairs.

        Hardest means farthest for positives (``hardest_last``), nearest for negatives.
        """
        drop = math.floor(len(pairs) * self.outlier_fraction * (1.0 - lam))
        if drop == 0:
            return pairs
        order = torch.argsort(dist, descending=not hardest_last, stable=True)
        return pairs.select(order[: len(pairs) - drop].sort().values)

    def sample_negatives(self, neg: Pairs, dist: torch.Tensor, lam: float) -> Pairs:
        """Keeps a λ-controlled share of the negatives, easiest (farthest) first.

        The share grows from ``min_negative_fraction`` at λ = 0 to all at λ = 1, so as λ
        rises the kept set only grows, by adding harder negatives: their count never falls
        and their mean distance never rises.
        """
        if len(neg) == 0:
            return neg
        share = self.min_negative_fraction + (1.0 - self.min_negative_fraction) * lam
        count = min(len(neg), max(1, math.ceil(share * len(neg) - 1e-9)))
        order = torch.argsort(dist, descending=True, stable=True)
        return neg.select(order[:count])

    def curriculum_sort(self, pairs: Pairs, dist: torch.Tensor) -> Pairs:
        """Orders pairs easy to hard, by their contrastive loss."""
        losses = contrastive_pair_losses(dist[pairs.a, pairs.b], pairs.similar, self.margin)
        return pairs.select(torch.argsort(losses, stable=True))
