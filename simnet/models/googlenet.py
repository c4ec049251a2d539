"""GoogLeNet (Inception v1, the paper's future work): the pooled 1024-D features are the output."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn

from simnet.models.pretrained import TorchvisionBackbone, read_state_dict, torchvision_model
from simnet.models.registry import register_backbone


@register_backbone("googlenet")
def googlenet(
    pretrained: bool = False, weights: str | Path | None = None, **_: object
) -> TorchvisionBackbone:
    """A layer is one of the three stem convs or one inception module (9 of them)."""
    # torchvision's ImageNet weights carry the auxiliary classifiers, and were trained on
    # inputs it re-normalises first (transform_input); a state dict saved from its model
    # has the auxiliary heads exactly when that model had them.
    import torchvision

    has_weights = pretrained or weights is not None
    aux = has_weights and (
        weights is None or any(k.startswith("aux1.") for k in read_state_dict(weights))
    )
    build = partial(
        torchvision.models.googlenet, aux_logits=aux, transform_input=has_weights, init_weights=True
    )
    net = torchvision_model("googlenet", pretrained, weights, build=build)
    net.aux_logits, net.aux1, net.aux2 = False, None, None
    net.fc = nn.Identity()
    stem = [[net.conv1], [net.conv2], [net.conv3]]
    names = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
    inceptions = [[getattr(net, f"inception{n}")] for n in names]
    return TorchvisionBackbone(net, 1024, [*stem, *inceptions])
