"""Contrastive loss (Hadsell, Chopra & LeCun, 2006), the loss SimNet trains with."""

from __future__ import annotations

import torch
from torch import nn

from simnet.distances import check_metric, pair_distances, pairwise_distances
from simnet.pairs import Pairs


def contrastive_pair_losses(
    distances: torch.Tensor, similar: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Per-pair loss: ``½·D²`` for a similar pair, ``½·max(0, m − D)²`` for a dissimilar one.

    Args:
        distances: ``(P,)`` distances between the two embeddings of each pair.
        similar: ``(P,)`` bool.
        margin: m.
    Returns:
        ``(P,)`` losses.
    """
    pull = 0.5 * distances.pow(2)
    push = 0.5 * (margin - distances).clamp_min(0.0).pow(2)
    return torch.where(similar, pull, push)


class ContrastiveLoss(nn.Module):
    """Mean contrastive loss over mined pairs of a batch of embeddings.

    Args:
        margin: m, the distance beyond which a dissimilar pair costs nothing (paper: 1).
        metric: distance between embeddings: euclidean (default), cosine or l1.
        balance: when True the loss is the mean over similar pairs plus the mean over
            dissimilar pairs, so that the (usually far more numerous) negatives do not
            drown the positives; when False, the plain mean over all pairs.
    """

    def __init__(self, margin: float = 1.0, metric: str = "euclidean", balance: bool = False):
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin, self.metric, self.balance = margin, check_metric(metric), balance

    def forward(self, embeddings: torch.Tensor, pairs: Pairs) -> torch.Tensor:
        """``(B, D)`` embeddings and pairs into the batch -> scalar loss (0 for no pairs)."""
        if len(pairs) == 0:
            return embeddings.sum() * 0.0
        if len(pairs) > embeddings.shape[0]:
            # Many pairs: one (B, B) matrix is cheaper than P gathered differences.
            d = pairwise_distances(embeddings, self.metric)[pairs.a, pairs.b]  # (P,)
        else:
            d = pair_distances(embeddings, pairs.a, pairs.b, self.metric)  # (P,)
        losses = contrastive_pair_losses(d, pairs.similar, self.margin)
        if not self.balance:
            return losses.mean()
        total = embeddings.sum() * 0.0
        for mask in (pairs.similar, ~pairs.similar):
            if mask.any():
                total = total + losses[mask].mean()
        return total
