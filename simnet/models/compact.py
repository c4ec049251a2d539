"""A compact CNN1 for 32x32 inputs that trains fast on a CPU.

The layout of the fast CIFAR-10 recipes (airbench, Jordan 2024): a 2x2 stem conv, then
three blocks of (conv, 2x2 max-pool, batch-norm, GELU, conv, batch-norm, GELU) that halve
the resolution, and a global max-pool. Most channels sit at low resolution, where convs
are large matrix products: on this project's 2-core CPU the default widths train faster
than a 32-64-128-256 pyramid with the same parameter count and learn faster per step
(``benchmarks/train_throughput.py``; BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from torch import nn

from simnet.errors import SimNetError
from simnet.models.pretrained import read_state_dict
from simnet.models.registry import register_backbone
from simnet.models.whitening import whiten_conv_


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
    """``(B, 3, H, W)`` -> ``(B, widths[-1])`` features.

    Args:
        widths: channels of the stem, then of each block (each block halves the resolution).
        stem_stride: the stem's stride. 2 reads a 64 px image as non-overlapping 2x2 patches
            onto a 32 x 32 map: the 12 numbers of each patch, all kept by the whitened
            stem's 24 channels, so the blocks see the finer drawing at the 32 px cost.
        pool_grid: the last map is max-pooled onto a ``pool_grid`` x ``pool_grid`` grid
            and flattened: 1, a global max-pool, keeps what is drawn but not where; 2
            keeps which quarter of the picture each feature peaks in (a die's place in a
            package), at 4x the features.
        pool_mean: the means of the last ``pool_mean`` blocks' maps are added beside the
            max. A max-pool says that a part is drawn, not how often: a package with one
            memory stack fewer keeps every maximum; a mean over the map keeps the count. On
            the design benchmark it changed nothing (BENCHMARKS.md, session 20).
    """

    def __init__(
        self,
        widths: Sequence[int] = (24, 48, 192, 256),
        stem_stride: int = 1,
        pool_grid: int = 1,
        pool_mean: int = 0,
    ):
        super().__init__()
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths must be a stem width and block widths, got {widths}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        if pool_grid < 1:
            raise ValueError(f"pool_grid must be positive, got {pool_grid}")
        if not 0 <= pool_mean <= len(widths) - 1:
            raise ValueError(f"pool_mean must be 0 to {len(widths) - 1} blocks, got {pool_mean}")
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 2, stride=stem_stride, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.GELU(),
        )
        self.blocks = nn.Sequential(
            *[ConvBlock(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )
        self.pool_grid = pool_grid
        self.pool = nn.AdaptiveMaxPool2d(pool_grid)
        self.pool_mean = pool_mean
        means = sum(widths[len(widths) - pool_mean :])  # one per channel of each map
        self.out_dim = int(widths[-1]) * pool_grid * pool_grid + means

    def init_from_data(self, images: torch.Tensor) -> None:
        """Makes the 2x2 stem conv a frozen patch-whitening layer for these (normalised)
        training images; the default 24 stem channels hold all 12 directions, both signs."""
        conv = self.stem[0]
        assert isinstance(conv, nn.Conv2d)
        whiten_conv_(conv, images)

    def layers(self) -> list[list[nn.Module]]:
        """Each conv with its batch-norm, from the stem up."""
        convs: list[list[nn.Module]] = [[self.stem[0], self.stem[1]]]
        for block in self.blocks:
            layers = cast(ConvBlock, block).layers
            convs += [[layers[0], layers[2]], [layers[4], layers[5]]]
        return convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        means = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i >= len(self.blocks) - self.pool_mean:
                means.append(x.mean((2, 3)))  # (B, C_i)
        return torch.cat([self.grid_max(x).flatten(1), *means], 1)  # (B, out_dim)

    def grid_max(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, g, g)``: the maximum of each cell of a g x g grid,
        the cells of an adaptive max-pool (they overlap where g does not divide the map:
        a 32 px view ends as a 3 x 3 map). Taken as slices, rows then columns, which
        ONNX exports; its exporter has no adaptive max-pool to cells that overlap."""
        g = self.pool_grid
        if g == 1:
            return self.pool(x)
        for dim in (2, 3):
            n = x.shape[dim]
            starts = [i * n // g for i in range(g)]
            ends = [((i + 1) * n + g - 1) // g for i in range(g)]  # no negative division:
            # traced for ONNX, whose integer division truncates where Python's floors
            cells = [
                x.narrow(dim, a, b - a).amax(dim, keepdim=True)
                for a, b in zip(starts, ends, strict=True)
            ]
            x = torch.cat(cells, dim)
        return x


@register_backbone("compact")
def compact(
    widths: Sequence[int] = (24, 48, 192, 256),
    stem_stride: int = 1,
    pool_grid: int = 1,
    pool_mean: int = 0,
    pretrained: bool = False,
    weights: str | Path | None = None,
    **_: object,
) -> CompactNet:
    if pretrained:
        raise SimNetError(
            "the compact backbone has no ImageNet weights: train it from scratch, or pass "
            "--weights FILE with a compact backbone's state dict"
        )
    net = CompactNet(widths, stem_stride, pool_grid, pool_mean)
    if weights is not None:
        try:
            net.load_state_dict(read_state_dict(weights))
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise SimNetError(f"{weights} does not fit the compact backbone: {detail}") from None
    return net
