"""``mining.strategy=hardest``: every positive and the hardest (closest) negatives from the
first step, with no curriculum and no pruning (a baseline of SimNet's Table 2). It does not
look at λ."""

from __future__ import annotations

import math
from typing import Self

import torch

from simnet.config import MiningConfig
from simnet.distances import check_metric, pairwise_distances
from simnet.mining.base import Candidates, PairMiner, given_or_every_pair
from simnet.mining.registry import register_miner
from simnet.pairs import Pairs


@register_miner("hardest")
class HardestNegatives(PairMiner):
    """Every positive and the ``negatives_per_positive`` x positives closest negatives,
    hardest first: hard mining with no curriculum, no pruning and no outlier guard."""

    def __init__(self, negatives_per_positive: float = 1.0, metric: str = "euclidean"):
        super().__init__()
        if negatives_per_positive <= 0:
            raise ValueError(f"negatives_per_positive must be positive: {negatives_per_positive}")
        self.ratio, self.metric = negatives_per_positive, check_metric(metric)

    @classmethod
    def from_config(cls, config: MiningConfig, margin: float, metric: str, seed: int) -> Self:
        return cls(config.negatives_per_positive, metric)

    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: Candidates | None = None,
    ) -> Pairs:
        pos, neg = given_or_every_pair(labels, candidates)
        dist = pairwise_distances(embeddings.detach().float().cpu(), self.metric)  # (B, B)
        count = min(len(neg), math.ceil(len(pos) * self.ratio))
        hardest = torch.argsort(dist[neg.a, neg.b], stable=True)[:count]
        neg = neg.select(hardest)
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": len(pos) + count}
        return Pairs.cat([pos, neg])
