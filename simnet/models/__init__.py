"""Models: the backbone registry, shallow branches and the multi-scale Siamese network.

Nothing here knows about training, losses or mining.
"""

from simnet.models import (  # noqa: F401  (register backbones)
    compact,
    googlenet,
    resnet,
    timm_backbones,
    vgg,
)
from simnet.models.branches import ShallowBranch
from simnet.models.registry import create_backbone, list_backbones, register_backbone
from simnet.models.simnet import SimNetModel, build_model

__all__ = [
    "ShallowBranch",
    "SimNetModel",
    "build_model",
    "create_backbone",
    "list_backbones",
    "register_backbone",
]
