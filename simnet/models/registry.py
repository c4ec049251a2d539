"""The backbone registry: CNN1 is chosen by name, and adding one is one small file.

A backbone is an ``nn.Module`` mapping ``(B, 3, H, W)`` images to ``(B, out_dim)`` features
and exposing ``out_dim``; its ``layers()`` (input to output, each a list of modules) are what
"fine-tune the top N layers" counts. A factory takes ``pretrained`` and ``weights`` (a local
file) and keyword arguments it may ignore. Registered: ``compact`` (32x32, from scratch on a
CPU), ``vgg16`` (the paper's CNN1), ``resnet18``, ``resnet50``, ``googlenet`` and
``efficientnet_lite0/1/2`` (ImageNet weights from pip packages, no network needed); and any
``timm:<model>`` of timm's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from simnet.errors import SimNetError

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}
_FAMILIES: dict[str, Callable[..., nn.Module]] = {}  # prefix -> factory of the whole name


def register_backbone(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that makes a backbone factory available to :func:`create_backbone`."""

    def add(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is registered twice")
        _BACKBONES[name] = factory
        return factory

    return add


def register_backbone_family(
    prefix: str,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator for a factory of every backbone named ``<prefix><model>`` (``timm:``); it
    receives the whole name."""

    def add(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if prefix in _FAMILIES:
            raise ValueError(f"backbone family {prefix!r} is registered twice")
        _FAMILIES[prefix] = factory
        return factory

    return add


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)


def create_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Builds the backbone registered under ``name`` (or by its family's prefix, such as
    ``timm:<model>``)."""
    family = next((f for prefix, f in _FAMILIES.items() if name.startswith(prefix)), None)
    if family is not None:
        model: nn.Module = family(name, **kwargs)
    elif name not in _BACKBONES:
        families = "".join(f", or {prefix}<model>" for prefix in _FAMILIES)
        raise SimNetError(
            f"unknown backbone {name!r} (available: {', '.join(list_backbones())}{families})"
        )
    else:
        model = _BACKBONES[name](**kwargs)
    if not isinstance(getattr(model, "out_dim", None), int):
        raise TypeError(f"backbone {name!r} must expose an integer out_dim")
    return model
