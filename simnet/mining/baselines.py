"""The baseline pair strategies OPMS is measured against (SimNet, Table 2).

- ``all``: every pair of the batch, as a plain Siamese network trained on all pairs.
- ``random``: random positives and negatives at a fixed ratio, the way pairs are usually
  drawn for a Siamese network (the paper's 78.1% row).
- ``hardest``: every positive and the hardest (closest) negatives from the first step, with
  no curriculum and no pruning.

None of them looks at λ.
"""

from __future__ import annotations

import math

import torch

from simnet.distances import check_metric, pairwise_distances
from simnet.mining.base import PairMiner, candidate_pairs
from simnet.pairs import Pairs

Candidates = tuple[Pairs, Pairs]


def _candidates(labels: torch.Tensor, candidates: Candidates | None) -> Candidates:
    return candidates if candidates is not None else candidate_pairs(labels.cpu())


class AllPairs(PairMiner):
    """Every candidate pair, positives first."""

    def mine(self, embeddings, labels, lam, candidates=None) -> Pairs:
        pos, neg = _candidates(labels, candidates)
        pairs = Pairs.cat([pos, neg])
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": len(pairs)}
        return pairs


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

    def mine(self, embeddings, labels, lam, candidates=None) -> Pairs:
        pos, neg = _candidates(labels, candidates)
        if self.pairs is None:
            n_pos = len(pos)
        else:
            n_pos = min(len(pos), max(1, round(self.pairs / (1.0 + self.ratio))))
        n_neg = min(len(neg), math.ceil(n_pos * self.ratio))
        pos = pos.select(torch.randperm(len(pos), generator=self.gen)[:n_pos])
        neg = neg.select(torch.randperm(len(neg), generator=self.gen)[:n_neg])
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": n_pos + n_neg}
        return Pairs.cat([pos, neg])


class HardestNegatives(PairMiner):
    """Every positive and the ``negatives_per_positive`` x positives closest negatives,
    hardest first: hard mining with no curriculum, no pruning and no outlier guard."""

    def __init__(self, negatives_per_positive: float = 1.0, metric: str = "euclidean"):
        super().__init__()
        if negatives_per_positive <= 0:
            raise ValueError(f"negatives_per_positive must be positive: {negatives_per_positive}")
        self.ratio, self.metric = negatives_per_positive, check_metric(metric)

    def mine(self, embeddings, labels, lam, candidates=None) -> Pairs:
        pos, neg = _candidates(labels, candidates)
        dist = pairwise_distances(embeddings.detach().float().cpu(), self.metric)
        count = min(len(neg), math.ceil(len(pos) * self.ratio))
        hardest = torch.argsort(dist[neg.a, neg.b], stable=True)[:count]
        neg = neg.select(hardest)
        self.last_stats = {"positives": len(pos), "negatives": len(neg), "pairs": len(pos) + count}
        return Pairs.cat([pos, neg])
