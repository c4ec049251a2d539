"""ResNet-18 and ResNet-50 (the paper's future work): the pooled features are the output."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from simnet.models.pretrained import TorchvisionBackbone, torchvision_model
from simnet.models.registry import register_backbone


def _resnet(name: str, pretrained: bool, weights: str | Path | None) -> TorchvisionBackbone:
    net = torchvision_model(name, pretrained, weights)
    out_dim = net.fc.in_features
    net.fc = nn.Identity()
    stages = (net.layer1, net.layer2, net.layer3, net.layer4)
    blocks = [[block] for stage in stages for block in stage]
    return TorchvisionBackbone(net, out_dim, [[net.conv1, net.bn1], *blocks])


@register_backbone("resnet18")
def resnet18(
    pretrained: bool = False, weights: str | Path | None = None, **_: object
) -> TorchvisionBackbone:
    """512-D output; a layer is the stem or one residual block (8 of them)."""
    return _resnet("resnet18", pretrained, weights)


@register_backbone("resnet50")
def resnet50(
    pretrained: bool = False, weights: str | Path | None = None, **_: object
) -> TorchvisionBackbone:
    """2048-D output; a layer is the stem or one bottleneck block (16 of them)."""
    return _resnet("resnet50", pretrained, weights)
