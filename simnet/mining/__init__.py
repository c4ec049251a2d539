"""Pair mining: OPMS and, behind the same interface, the baseline strategies.

Importing this package imports each of its files, so a strategy registers itself
(``@register_miner``) by being a file here: adding one is one new file. Never imports
models: miners see embeddings and labels only.
"""

import importlib
import pkgutil

from simnet.mining.all_pairs import AllPairs
from simnet.mining.base import PairMiner, candidate_pairs
from simnet.mining.hardest_negatives import HardestNegatives
from simnet.mining.opms import OPMS
from simnet.mining.random_pairs import RandomPairs
from simnet.mining.registry import create_miner, get_miner, list_miners, register_miner
from simnet.mining.schedule import LambdaSchedule
from simnet.pairs import Pairs

__all__ = [
    "OPMS",
    "AllPairs",
    "HardestNegatives",
    "LambdaSchedule",
    "PairMiner",
    "Pairs",
    "RandomPairs",
    "candidate_pairs",
    "create_miner",
    "get_miner",
    "list_miners",
    "register_miner",
]

for strategy in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{strategy.name}")
del strategy
