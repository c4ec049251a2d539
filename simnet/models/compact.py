"""A compact CNN1 for 32x32 inputs that trains fast on a CPU.

Four stages in the style of the fast CIFAR-10 recipes: a stem conv, then three blocks of
(conv, 2x2 max-pool, batch-norm, GELU, conv, batch-norm, GELU) halving the resolution
each time, and a global max-pool. Almost all of its time is in the convolutions, which
bf16 autocast with channels-last memory runs about 3x faster than fp32 on a CPU with bf16
units (``benchmarks/train_throughput.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from simnet.models.registry import register_backbone


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


class ConvBlock(nn.Module):
    """``(B, c_in, H, W)`` -> ``(B, c_out, H/2, W/2)``."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(c_out),
            nn.GELU(),
            *_conv_bn(c_out, c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class CompactNet(nn.Module):
    """``(B, 3, H, W)`` -> ``(B, 8 * width)`` features.

    Args:
        width: channels of the stem; the three blocks use 2x, 4x and 8x as many.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        w = width
        self.stem = nn.Sequential(*_conv_bn(3, w))
        self.blocks = nn.Sequential(
            ConvBlock(w, 2 * w), ConvBlock(2 * w, 4 * w), ConvBlock(4 * w, 8 * w)
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.out_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x))).flatten(1)  # (B, 8w)


@register_backbone("compact")
def compact(width: int = 32, **_: object) -> CompactNet:
    return CompactNet(width)
