"""The miner registry: a pair strategy is chosen by name (``mining.strategy``), and adding
one is one new file in this package.

A strategy's file defines a :class:`PairMiner` decorated with ``@register_miner("name")``
(with a ``from_config`` when it has settings); importing :mod:`simnet.mining` imports every
file of the package, so nothing else names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from simnet.config import MiningConfig, bad_choice
from simnet.mining.base import PairMiner

M = TypeVar("M", bound=PairMiner)

_MINERS: dict[str, type[PairMiner]] = {}


def register_miner(name: str) -> Callable[[type[M]], type[M]]:
    """Decorator that makes a :class:`PairMiner` available to :func:`create_miner` as
    ``mining.strategy=name``."""

    def add(miner: type[M]) -> type[M]:
        if name in _MINERS:
            raise ValueError(f"mining strategy {name!r} is registered twice")
        _MINERS[name] = miner
        return miner

    return add


def list_miners() -> list[str]:
    """The names ``mining.strategy`` takes."""
    return sorted(_MINERS)


def get_miner(name: str) -> type[PairMiner]:
    """The class registered as ``name``; a config error naming the choices if none is."""
    if name not in _MINERS:
        raise bad_choice("mining.strategy", name, list_miners())
    return _MINERS[name]


def create_miner(config: MiningConfig, margin: float, metric: str, seed: int) -> PairMiner:
    """The miner a :class:`simnet.config.MiningConfig` names (``margin`` and ``metric``:
    the loss's; ``seed``: the run's)."""
    return get_miner(config.strategy).from_config(config, margin, metric, seed)
