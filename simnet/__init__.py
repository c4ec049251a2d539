"""simnet: image similarity with SimNet (multi-scale Siamese CNN, contrastive loss, OPMS).

The Python API mirrors the command line::

    run = simnet.train(simnet.load_config(overrides=["data.source=photos/"]), "runs/photos")
    metrics = simnet.evaluate(run)
    net = simnet.SimNet.load(run)
    index = simnet.build_index(net, "photos/", model_path=run)

and for package designs::

    simnet.generate_packages("designs", 600, renders=4)
    run = simnet.train(simnet.load_config(preset="packages", overrides=[...]), "runs/designs")
    result = simnet.compare(simnet.SimNet.load(run), "designs/fcbga/fcbga-0000", "...")
    found = simnet.explain(simnet.SimNet.load(run), "designs/a", "designs/b")  # and why
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simnet.compare import compare, explain
    from simnet.config import Config, load_config
    from simnet.data.sampler import ClassBalancedBatchSampler
    from simnet.errors import SimNetError
    from simnet.eval import evaluate
    from simnet.index import Index, SearchIndex, add_to_index, build_index, remove_from_index
    from simnet.inference import SimNet
    from simnet.losses import ContrastiveLoss
    from simnet.mining import OPMS, AllPairs, HardestNegatives, LambdaSchedule, RandomPairs
    from simnet.packages.generate import generate_packages
    from simnet.train import train

# The public names and the modules that define them, imported on first use: the command
# line (``simnet --help`` above all) starts without importing torch.
_WHERE = {
    "compare": "simnet.compare",
    "explain": "simnet.compare",
    "Config": "simnet.config",
    "load_config": "simnet.config",
    "SimNetError": "simnet.errors",
    "evaluate": "simnet.eval",
    "Index": "simnet.index",
    "SearchIndex": "simnet.index",
    "build_index": "simnet.index",
    "add_to_index": "simnet.index",
    "remove_from_index": "simnet.index",
    "SimNet": "simnet.inference",
    "generate_packages": "simnet.packages.generate",
    "train": "simnet.train",
    # SimNet's own parts, for a training loop of your own
    "OPMS": "simnet.mining",
    "RandomPairs": "simnet.mining",
    "HardestNegatives": "simnet.mining",
    "AllPairs": "simnet.mining",
    "LambdaSchedule": "simnet.mining",
    "ContrastiveLoss": "simnet.losses",
    "ClassBalancedBatchSampler": "simnet.data.sampler",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:  # a subpackage, such as simnet.index, imported on first use
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'simnet' has no attribute {name!r}") from None
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """``simnet.compare`` and ``simnet.train`` are the functions, not the submodules of the
    same name, even after those submodules are imported (which binds them here)."""

    def __getattribute__(self, name: str) -> Any:
        if name in ("compare", "train"):
            return getattr(import_module(f"simnet.{name}"), name)
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package


__version__ = "0.1.0"
__all__ = [
    "OPMS",
    "AllPairs",
    "ClassBalancedBatchSampler",
    "Config",
    "ContrastiveLoss",
    "HardestNegatives",
    "LambdaSchedule",
    "RandomPairs",
    "Index",
    "SearchIndex",
    "SimNet",
    "SimNetError",
    "__version__",
    "add_to_index",
    "build_index",
    "compare",
    "evaluate",
    "explain",
    "generate_packages",
    "load_config",
    "remove_from_index",
    "train",
]
