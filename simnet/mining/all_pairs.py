"""``mining.strategy=all``: every pair of the batch, as a plain Siamese network trained on
all pairs (a baseline of SimNet's Table 2). It does not look at λ."""

from __future__ import annotations

import torch

from simnet.mining.base import Candidates, PairMiner, given_or_every_pair
from simnet.mining.registry import register_miner
from simnet.pairs import Pairs


@register_miner("all")
class AllPairs(PairMiner):
    """Every candidate pair, positives first."""

    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: Candidates | None = None,
    ) -> Pairs:
        pos, neg = given_or_every_pair(labels, candidates)
        pairs = Pairs.cat([pos, neg])
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": len(pairs)}
        return pairs
