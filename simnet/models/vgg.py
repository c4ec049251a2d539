"""VGG16, the paper's CNN1: its 4096-D second fully-connected layer (fc7) is the output."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from simnet.models.pretrained import TorchvisionBackbone, torchvision_model
from simnet.models.registry import register_backbone


@register_backbone("vgg16")
def vgg16(
    pretrained: bool = False, weights: str | Path | None = None, **_: object
) -> TorchvisionBackbone:
    """13 convs (3x3, zero padding (1, 1)), fc6 and fc7; a layer is one conv or fc layer."""
    net = torchvision_model("vgg16", pretrained, weights)
    net.classifier = net.classifier[:-1]  # drop the 1000-way class layer: fc7 (4096-D) is out
    weight_layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    return TorchvisionBackbone(net, 4096, [[m] for m in weight_layers])
