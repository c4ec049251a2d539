"""simnet: image similarity with SimNet (multi-scale Siamese CNN, contrastive loss, OPMS).

The Python API mirrors the command line::

    run = simnet.train(simnet.load_config(overrides=["data.source=photos/"]), "runs/photos")
    metrics = simnet.evaluate(run)
    net = simnet.SimNet.load(run)
    index = simnet.Index.build(net, "photos/")
"""

from typing import Any

from simnet.config import Config, load_config
from simnet.errors import SimNetError

__version__ = "0.1.0"
__all__ = [
    "Config",
    "Index",
    "SimNet",
    "SimNetError",
    "__version__",
    "evaluate",
    "load_config",
    "train",
]

_LAZY = {
    "train": ("simnet.train", "train"),
    "evaluate": ("simnet.eval", "evaluate"),
    "SimNet": ("simnet.inference", "SimNet"),
    "Index": ("simnet.index", "Index"),
}


def __getattr__(name: str) -> Any:
    """Imports the heavier parts (torch, FAISS) only when they are first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'simnet' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
