"""The shallow branches CNN2 and CNN3: small conv nets on down-sampled copies of the input,
which carry colour and coarse shape that a deep backbone tends to discard (SimNet, Fig. 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from simnet.distances import widen


class ShallowBranch(nn.Module):
    """Down-samples by ``factor``, then two convs, a global average pool and a linear layer.

    ``(B, 3, H, W)`` -> ``(B, out_dim)``, L2-normalised.

    Args:
        factor: down-sampling factor of the input (paper: 4 and 8 for a 224 input).
        width: channels of the first conv; the second has twice as many.
        out_dim: output size (paper: 512 for CNN2, 1024 for CNN3).
    """

    def __init__(self, factor: int, width: int = 32, out_dim: int = 64):
        super().__init__()
        if factor < 1 or width < 1 or out_dim < 1:
            raise ValueError(
                f"factor, width and out_dim must be positive: {factor}, {width}, {out_dim}"
            )
        self.factor = factor
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width, out_dim)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, self.factor)  # (B, 3, H/f, W/f)
        return F.normalize(widen(self.fc(self.features(x))), dim=1)  # (B, out_dim)
