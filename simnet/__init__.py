"""simnet: image similarity with SimNet (multi-scale Siamese CNN, contrastive loss, OPMS)."""

from simnet.config import Config, load_config
from simnet.errors import SimNetError

__version__ = "0.1.0"
__all__ = ["Config", "SimNetError", "load_config", "__version__"]
