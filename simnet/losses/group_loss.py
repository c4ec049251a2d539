"""A second level of similarity: classes that belong to groups (designs in families).

Trained on design labels alone, a model learns to tell designs apart but not that two
designs of one family are alike; trained on family labels alone, it learns families and
forgets designs. The group loss adds the family structure to design-level training, as a
band on the distances between different classes:

- two classes of one group are pulled to within ``radius``: ``½·max(0, D − radius)²``;
- classes of different groups are pushed beyond ``margin``: ``½·max(0, margin − D)²``.

With the contrastive loss on the classes (same class to 0, different classes beyond its
margin, which should be below ``radius``), distances come out ordered: same design, then
same family, then other families. Positives and negatives are averaged separately.
"""

from __future__ import annotations

import torch
from torch import nn

from simnet.distances import check_metric, pairwise_distances


class GroupLoss(nn.Module):
    """Args:
    radius: same-group pairs of different classes cost nothing within this distance.
    margin: different-group pairs cost nothing beyond this distance (> radius).
    metric: euclidean (default), cosine or l1.
    """

    def __init__(self, radius: float = 0.8, margin: float = 1.2, metric: str = "euclidean"):
        super().__init__()
        if not 0 <= radius < margin:
            raise ValueError(f"need 0 <= radius < margin, got {radius} and {margin}")
        self.radius, self.margin, self.metric = radius, margin, check_metric(metric)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor
    ) -> torch.Tensor:
        """``(B, D)`` embeddings, ``(B,)`` class labels and ``(B,)`` groups -> scalar."""
        d = pairwise_distances(embeddings, self.metric)  # (B, B)
        upper = torch.ones_like(d, dtype=torch.bool).triu(1)
        same_group = (groups[:, None] == groups[None, :]) & upper
        near = same_group & (labels[:, None] != labels[None, :])
        far = ~(groups[:, None] == groups[None, :]) & upper
        total = embeddings.sum() * 0.0
        if near.any():
            total = total + 0.5 * (d[near] - self.radius).clamp_min(0.0).pow(2).mean()
        if far.any():
            total = total + 0.5 * (self.margin - d[far]).clamp_min(0.0).pow(2).mean()
        return total
