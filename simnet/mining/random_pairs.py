"""``mining.strategy=random``: random positives and negatives at a fixed ratio, the way
pairs are usually drawn for a Siamese network (the 78.1% row of SimNet's Table 2). It does
not look at λ."""

from __future__ import annotations

import math
from typing import Self

import torch

from simnet.config import MiningConfig
from simnet.mining.base import Candidates, PairMiner, given_or_every_pair
from simnet.mining.registry import register_miner
from simnet.pairs import Pairs


@register_miner("random")
class RandomPairs(PairMiner):
    """Random pairs: ``pairs`` per batch, ``negatives_per_positive`` negatives for each
    positive (as near as the batch allows).

    Args:
        pairs: pairs per batch; None: every positive plus its share of random negatives.
        negatives_per_positive: the negative:positive ratio.
        seed: seeds the draw.
    """

    def __init__(
        self, pairs: int | None = None, negatives_per_positive: float = 1.0, seed: int = 0
    ):
        super().__init__()
        if pairs is not None and pairs < 2:
            raise ValueError(f"pairs must be at least 2, got {pairs}")
        if negatives_per_positive <= 0:
            raise ValueError(f"negatives_per_positive must be positive: {negatives_per_positive}")
        self.pairs, self.ratio = pairs, negatives_per_positive
        self.gen = torch.Generator().manual_seed(seed)

    @classmethod
    def from_config(cls, config: MiningConfig, margin: float, metric: str, seed: int) -> Self:
        return cls(config.pairs_per_batch, config.negatives_per_positive, seed)

    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: Candidates | None = None,
    ) -> Pairs:
        pos, neg = given_or_every_pair(labels, candidates)
        if self.pairs is None:
            n_pos = len(pos)
        else:
            n_pos = min(len(pos), max(1, round(self.pairs / (1.0 + self.ratio))))
        n_neg = min(len(neg), math.ceil(n_pos * self.ratio))
        pos = pos.select(torch.randperm(len(pos), generator=self.gen)[:n_pos])
        neg = neg.select(torch.randperm(len(neg), generator=self.gen)[:n_neg])
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": n_pos + n_neg}
        return Pairs.cat([pos, neg])
