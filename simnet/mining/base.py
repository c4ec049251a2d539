"""The pair-strategy interface: given a batch's embeddings and labels, choose the pairs.

Baseline strategies (random, all, hardest-first, offline) and background mining plug in
here; the training step only ever sees a :class:`PairMiner`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from simnet.pairs import Pairs


def candidate_pairs(labels: torch.Tensor) -> tuple[Pairs, Pairs]:
    """Every unordered pair ``i < j`` of a batch, split into (positives, negatives).

    Args:
        labels: ``(B,)`` integer labels.
    """
    b = labels.shape[0]
    i, j = torch.triu_indices(b, b, offset=1)
    same = labels[i] == labels[j]
    return (
        Pairs(i[same], j[same], torch.ones(int(same.sum()), dtype=torch.bool)),
        Pairs(i[~same], j[~same], torch.zeros(int((~same).sum()), dtype=torch.bool)),
    )


class PairMiner(ABC):
    """Chooses training pairs from one batch.

    ``last_stats`` holds counts from the latest call, for logging.
    """

    def __init__(self) -> None:
        self.last_stats: dict[str, int] = {}

    curriculum = False  # whether λ changes what the strategy picks

    @abstractmethod
    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: tuple[Pairs, Pairs] | None = None,
    ) -> Pairs:
        """``(B, D)`` embeddings (not differentiated), ``(B,)`` labels and the curriculum
        parameter λ in [0, 1] -> pairs into the batch.

        ``candidates`` (positives, negatives) restricts the choice to given pairs (training
        from a pairs CSV); None: every pair of the batch, split by label.
        """
