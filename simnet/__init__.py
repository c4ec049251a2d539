"""simnet: image similarity with SimNet (multi-scale Siamese CNN, contrastive loss, OPMS).

The Python API mirrors the command line::

    run = simnet.train(simnet.load_config(overrides=["data.source=photos/"]), "runs/photos")
    metrics = simnet.evaluate(run)
    net = simnet.SimNet.load(run)
    index = simnet.Index.build(net, "photos/")

and for package designs::

    simnet.generate_packages("designs", 600, renders=4)
    run = simnet.train(simnet.load_config(preset="packages", overrides=[...]), "runs/designs")
    result = simnet.compare(simnet.SimNet.load(run), "designs/fcbga/fcbga-0000", "...")
"""

from simnet.compare import compare  # binds the function over the module of the same name
from simnet.config import Config, load_config
from simnet.errors import SimNetError
from simnet.eval import evaluate
from simnet.index import Index, add_to_index, remove_from_index
from simnet.inference import SimNet
from simnet.packages.generate import generate_packages
from simnet.train import train  # binds the function over the subpackage of the same name

__version__ = "0.1.0"
__all__ = [
    "Config",
    "Index",
    "SimNet",
    "SimNetError",
    "__version__",
    "add_to_index",
    "compare",
    "evaluate",
    "generate_packages",
    "load_config",
    "remove_from_index",
    "train",
]
