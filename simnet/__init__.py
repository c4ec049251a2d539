"""simnet: image similarity with SimNet (multi-scale Siamese CNN, contrastive loss, OPMS).

The Python API mirrors the command line::

    run = simnet.train(simnet.load_config(overrides=["data.source=photos/"]), "runs/photos")
    metrics = simnet.evaluate(run)
    net = simnet.SimNet.load(run)
    index = simnet.Index.build(net, "photos/")
"""

from simnet.config import Config, load_config
from simnet.errors import SimNetError
from simnet.eval import evaluate
from simnet.index import Index
from simnet.inference import SimNet
from simnet.train import train  # binds the function over the subpackage of the same name

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
