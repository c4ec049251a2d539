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
        views: images per sample: 1, or e.g. 3 for a design's top, front and side views.
        view_fusion: how a design embedding is made from its view embeddings:
            ``"concat"`` (scaled by ``1/sqrt(views)``, so unit norm) or ``"mean"``
            (re-normalised).
    """

    def __init__(
        self,
        backbone: nn.Module,
        branches: Sequence[nn.Module],
        embedding_dim: int,
        dropout: float = 0.0,
        branch_scale: float = 0.25,
        views: int = 1,
        view_fusion: str = "concat",
    ):
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        if views < 1 or view_fusion not in VIEW_FUSIONS:
            raise ValueError(f"views must be >= 1 and view_fusion one of {VIEW_FUSIONS}")
        self.backbone = backbone
        self.branches = nn.ModuleList(branches)
        fused = _out_dim(backbone) + sum(_out_dim(b) for b in branches)
        # One learnable weight per shallow branch, applied after its L2 normalisation: the
        # branches start quiet so they do not drown CNN1 early in training (on a 10k-image
        # proxy, unweighted branches cost 3 points of 1-NN accuracy), and grow as useful.
        self.branch_scale = nn.Parameter(torch.full((len(branches),), branch_scale))
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(fused, embedding_dim)
        self.view_dim = embedding_dim  # one image's embedding
        self.views = views
        self.view_fusion = view_fusion
        self.embedding_dim = embedding_dim * views if view_fusion == "concat" else embedding_dim

    def init_from_data(self, images: torch.Tensor) -> bool:
        """Data-dependent initialisation of the backbone, where it has one (the compact
        backbone whitens its stem). Returns whether anything was initialised."""
        init = getattr(self.backbone, "init_from_data", None)
        if init is None:
            return False
        init(images)
        return True

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, view_dim)`` unit-norm image embeddings."""
        parts = [F.normalize(widen(self.backbone(x)), dim=1)]  # (B, out_dim)
        parts += [s * b(x) for s, b in zip(self.branch_scale, self.branches, strict=True)]
        fused = self.dropout(torch.cat(parts, dim=1))  # (B, fused)
        return F.normalize(widen(self.project(fused)), dim=1)  # (B, view_dim)

    def embed_views(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3, H, W)`` designs -> ``(B, V, view_dim)`` per-view embeddings."""
        b, v = x.shape[:2]
        return self.embed_images(x.flatten(0, 1)).view(b, v, -1)

    def fuse(self, views: torch.Tensor) -> torch.Tensor:
        """``(B, V, view_dim)`` -> ``(B, embedding_dim)`` unit-norm design embeddings."""
        if self.view_fusion == "concat":
            return views.flatten(1) / views.shape[1] ** 0.5
        return F.normalize(views.mean(1), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` or designs ``(B, V, 3, H, W)`` -> ``(B, embedding_dim)``."""
        if x.dim() == 5:
            if x.shape[1] != self.views:
                raise ValueError(f"the model takes {self.views} views, got {x.shape[1]}")
            return self.fuse(self.embed_views(x))
        if self.views != 1:
            raise ValueError(f"the model takes designs of {self.views} views: (B, V, 3, H, W)")
        return self.embed_images(x)


VIEW_FUSIONS = ("concat", "mean")


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
        backbone,
        branches,
        config.embedding_dim,
        config.dropout,
        config.branch_scale,
        views=max(1, len(config.views)),
        view_fusion=config.view_fusion,
    )
