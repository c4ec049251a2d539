"""Pairs of images in a batch, each marked similar or not (never a bare 0/1 label)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Pairs:
    """Index pairs into a batch.

    Attributes:
        a: ``(P,)`` long, first image of each pair.
        b: ``(P,)`` long, second image of each pair.
        similar: ``(P,)`` bool, True for a positive (same-class) pair.
    """

    a: torch.Tensor
    b: torch.Tensor
    similar: torch.Tensor

    def __post_init__(self) -> None:
        if not (self.a.shape == self.b.shape == self.similar.shape) or self.a.dim() != 1:
            raise ValueError("a, b and similar must be 1-D tensors of one length")
        if self.similar.dtype != torch.bool:
            raise ValueError("similar must be a bool tensor")

    def __len__(self) -> int:
        return int(self.a.numel())

    @property
    def num_similar(self) -> int:
        return int(self.similar.sum())

    def to(self, device: torch.device) -> Pairs:
        return Pairs(self.a.to(device), self.b.to(device), self.similar.to(device))

    def select(self, keep: torch.Tensor) -> Pairs:
        """The pairs at a bool mask or index tensor ``keep``."""
        return Pairs(self.a[keep], self.b[keep], self.similar[keep])

    @staticmethod
    def cat(parts: list[Pairs]) -> Pairs:
        return Pairs(
            torch.cat([p.a for p in parts]),
            torch.cat([p.b for p in parts]),
            torch.cat([p.similar for p in parts]),
        )
