"""Data-dependent initialisation of a first conv as a patch-whitening filter bank.

From the fast CIFAR-10 recipes (airbench, Jordan 2024): the first conv's filters are set to
the eigenvectors of the covariance of ``k x k`` input patches, each scaled by the inverse
square root of its eigenvalue, in a positive and a negative copy so a following GELU keeps
both signs. The layer then outputs decorrelated, unit-variance features from step one, and
is kept frozen: the rest of the network learns faster on whitened input.
"""

from __future__ import annotations

import torch
from torch import nn


def patch_covariance(images: torch.Tensor, size: int) -> torch.Tensor:
    """Covariance ``(C*k*k, C*k*k)`` of every ``size x size`` patch of ``(N, C, H, W)``."""
    c = images.shape[1]
    patches = images.float().unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H', W', k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size)
    patches = patches - patches.mean(0)
    return patches.T @ patches / len(patches)


@torch.no_grad()
def whiten_conv_(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Sets ``conv``'s weights to a whitening filter bank for ``images`` and freezes them.

    The strongest ``ceil(out_channels / 2)`` directions are used, each as a positive and a
    negative filter; an ``out_channels`` of twice ``in_channels * k * k`` uses all of them.

    Args:
        conv: a square-kernel, stride-any conv taking the images' channels.
        images: ``(N, C, H, W)`` normalised training images (a few thousand suffice).
        eps: added to each eigenvalue so flat directions are not blown up.
    """
    size = conv.kernel_size[0]
    if conv.kernel_size != (size, size) or conv.groups != 1 or conv.in_channels != images.shape[1]:
        raise ValueError("whitening needs a square, ungrouped conv over the images' channels")
    values, vectors = torch.linalg.eigh(patch_covariance(images, size))  # ascending
    values, vectors = values.flip(0), vectors.T.flip(0)  # strongest first, one per row
    filters = vectors / torch.sqrt(values.clamp_min(0) + eps)[:, None]
    filters = filters.reshape(-1, conv.in_channels, size, size)
    half = -(-conv.out_channels // 2)
    bank = torch.cat([filters[:half], -filters[:half]])[: conv.out_channels]
    if len(bank) < conv.out_channels:  # more channels than directions: keep the rest as is
        conv.weight[: len(bank)] = bank.to(conv.weight.dtype)
    else:
        conv.weight.copy_(bank.to(conv.weight.dtype))
    conv.weight.requires_grad_(False)
    if conv.bias is not None:
        conv.bias.zero_()
