"""Pair mining: OPMS (and, behind the same interface, the baseline strategies).

Never imports models: miners see embeddings and labels only.
"""

from simnet.config import MiningConfig
from simnet.errors import SimNetError
from simnet.mining.base import PairMiner, candidate_pairs
from simnet.mining.baselines import AllPairs, HardestNegatives, RandomPairs
from simnet.mining.opms import OPMS
from simnet.mining.schedule import LambdaSchedule
from simnet.pairs import Pairs

__all__ = [
    "OPMS",
    "STRATEGIES",
    "AllPairs",
    "HardestNegatives",
    "LambdaSchedule",
    "PairMiner",
    "Pairs",
    "RandomPairs",
    "candidate_pairs",
    "create_miner",
]


STRATEGIES = ("opms", "random", "all", "hardest", "offline")


def create_miner(config: MiningConfig, margin: float, metric: str, seed: int) -> PairMiner:
    """The miner a :class:`simnet.config.MiningConfig` names."""
    if config.strategy in ("all", "offline"):  # offline: the pairs are the batch's candidates
        return AllPairs()
    if config.strategy == "random":
        return RandomPairs(config.pairs_per_batch, config.negatives_per_positive, seed)
    if config.strategy == "hardest":
        return HardestNegatives(config.negatives_per_positive, metric)
    if config.strategy != "opms":
        raise SimNetError(
            f"unknown mining strategy {config.strategy!r} (available: {', '.join(STRATEGIES)})"
        )
    return OPMS(
        margin=margin,
        metric=metric,
        max_negatives=config.max_negatives,
        min_negative_fraction=config.min_negative_fraction,
        outlier_fraction=config.outlier_fraction,
        prune_positives=config.prune_positives,
        prune_negatives=config.prune_negatives,
        seed=seed,
    )
