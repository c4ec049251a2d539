"""CNN1 from torchvision: building a model, its weights, and the wrapper every such backbone
shares.

Weights come from one of two places, and never silently from neither: torchvision's ImageNet
weights (its own cache, or a download where there is a network), or a local file holding a
torchvision state dict (``.pth``/``.pt``, read with ``weights_only``, or ``.safetensors``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simnet.data.augment import MEAN, STD
from simnet.errors import SimNetError
from simnet.storage import open_regular

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionBackbone(nn.Module):
    """A torchvision classifier without its last (class) layer, fed simnet's inputs.

    simnet normalises every image with its own per-channel statistics (``MEAN``, ``STD``);
    ImageNet weights expect ImageNet's. The first operation maps one to the other exactly,
    so the wrapped network sees the input torchvision's model would see for the same image.

    Args:
        net: the torchvision model, its class layer already removed.
        out_dim: size of its output.
        layers: its layers in order from input to output, each a list of modules; "fine-tune
            the top N layers" counts from the end of this list.
        mean, std: the per-channel normalisation its weights expect (default: ImageNet's).
        input_size: the resolution its weights were trained at, where known.
    """

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        out_dim: int,
        layers: Sequence[Sequence[nn.Module]],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        input_size: int | None = 224,
    ):
        super().__init__()
        self.net = net
        self.out_dim = int(out_dim)
        self.input_size = input_size
        self._layers = [list(layer) for layer in layers]  # a plain list: net owns the modules
        scale = torch.tensor(STD) / torch.tensor(std)
        shift = (torch.tensor(MEAN) - torch.tensor(mean)) / torch.tensor(std)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)

    def layers(self) -> list[list[nn.Module]]:
        return [list(layer) for layer in self._layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` simnet-normalised images -> ``(B, out_dim)``."""
        x = x * self.scale.to(x.dtype) + self.shift.to(x.dtype)  # the weights' normalisation
        return self.net(x).flatten(1)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, without running code from it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SimNetError(f"weights file not found: {path}")
    with open_regular(path, None, "a weights file"):  # a FIFO or a device: refused, not read
        pass
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file, or one that would need arbitrary code
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SimNetError(f"cannot read weights file {path}: {first}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # the common {"state_dict": ...} wrapping
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SimNetError(f"weights file {path} does not hold a state dict (names to tensors)")
    return state


def imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's default ImageNet weights for ``name``, from its cache or a download."""
    import torchvision  # here, not at the top: it costs seconds, and compact needs none of it

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # offline (URLError), a proxy, a half-written cache file ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SimNetError(
            f"cannot get torchvision's ImageNet weights for {name} ({reason}); "
            f"without a network, pass --weights FILE: a state dict saved from "
            f"torchvision.models.{name}(weights='{weights.name}') on a machine that has one"
        ) from None


def torchvision_model(
    name: str,
    pretrained: bool = False,
    weights: str | Path | None = None,
    build: Callable[..., nn.Module] | None = None,
    **kwargs: Any,
) -> Any:  # a torchvision model of the named class
    """Builds torchvision's ``name`` and loads the requested weights.

    Args:
        name: a torchvision model name (``vgg16``, ``resnet18`` ...).
        pretrained: load torchvision's ImageNet weights (an error if they cannot be had).
        weights: load this local state dict instead; takes precedence over ``pretrained``.
        build: the builder to call with ``weights=None`` (default: torchvision's ``name``).
        kwargs: passed to the builder.
    """
    import torchvision

    build = build or getattr(torchvision.models, name)
    if weights is None and not pretrained:
        return build(weights=None, **kwargs)
    state = read_state_dict(weights) if weights is not None else imagenet_state_dict(name)
    net = build(weights=None, **kwargs)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        where = weights if weights is not None else f"torchvision's {name} weights"
        detail = " ".join(str(exc).split())[:300]
        raise SimNetError(f"{where} do not fit the {name} backbone: {detail}") from None
    return net


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TorchvisionBackbone",
    "imagenet_state_dict",
    "read_state_dict",
    "torchvision_model",
]
