"""The pair-strategy interface: given a batch's embeddings and labels, choose the pairs.

OPMS, the baseline strategies (random, all, hardest-first, offline) and background mining
plug in here; the training step only ever sees a :class:`PairMiner`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Self

import torch

from simnet.config import MiningConfig
from simnet.pairs import Pairs

Candidates = tuple[Pairs, Pairs]  # (positives, negatives)


def candidate_pairs(labels: torch.Tensor) -> Candidates:
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


def given_or_every_pair(labels: torch.Tensor, candidates: Candidates | None) -> Candidates:
    """``candidates`` when given (a pairs CSV's), else every pair of the batch by label."""
    return candidates if candidates is not None else candidate_pairs(labels.cpu())


class PairMiner(ABC):
    """Chooses training pairs from one batch.

    ``last_stats`` holds counts from the latest call, for logging. A strategy that draws at
    random sets ``gen``, its own seeded generator, which :meth:`state_dict` saves; the
    others have no ``gen`` at all.
    """

    curriculum = False  # whether λ changes what the strategy picks
    gen: torch.Generator  # set only by strategies that draw at random

    def __init__(self) -> None:
        self.last_stats: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: MiningConfig, margin: float, metric: str, seed: int) -> Self:
        """The miner the ``mining`` settings describe; ``margin`` and ``metric`` are the
        loss's and ``seed`` the run's. Strategies with settings override this."""
        return cls()

    @abstractmethod
    def mine(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        lam: float,
        candidates: Candidates | None = None,
    ) -> Pairs:
        """``(B, D)`` embeddings (not differentiated), ``(B,)`` labels and the curriculum
        parameter λ in [0, 1] -> pairs into the batch.

        ``candidates`` (positives, negatives) restricts the choice to given pairs (training
        from a pairs CSV); None: every pair of the batch, split by label.
        """

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps, as torch modules do: ``{"generator": <its state>}`` for
        a strategy that draws at random, ``{}`` for one that does not."""
        gen: torch.Generator | None = getattr(self, "gen", None)
        return {} if gen is None else {"generator": gen.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restores :meth:`state_dict`'s result: the next draws are those the saved miner
        would have made."""
        expected = sorted(self.state_dict())
        if sorted(state) != expected:
            raise ValueError(f"{type(self).__name__} keeps state {expected}, not {sorted(state)}")
        if state:
            self.gen.set_state(state["generator"])
