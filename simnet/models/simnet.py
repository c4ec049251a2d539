"""The multi-scale Siamese embedding network ``f(I; θ)`` (SimNet, Section 3, Fig. 7).

One network embeds every image (Siamese = shared weights): CNN1 (a registered backbone)
plus shallow branches on down-sampled copies; each branch output is L2-normalised, the
outputs are concatenated, passed through dropout and a linear projection, and the result
is L2-normalised. Images are first resized to the model's input size when it has one (the
paper preset's 224x224), so any data set feeds any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from simnet.config import ModelConfig
from simnet.distances import widen
from simnet.errors import SimNetError
from simnet.models.branches import ShallowBranch
from simnet.models.registry import create_backbone


class SimNetModel(nn.Module):
    """``(B, 3, H, W)`` images -> ``(B, embedding_dim)`` unit-norm embeddings.

    Args:
        backbone: CNN1, any module with an ``out_dim``.
        branches: the shallow branches (empty for single-scale mode).
        embedding_dim: size of the final embedding.
        dropout: dropout probability before the fusion layer.
        branch_scale: initial weight of each (unit-norm) branch output in the fusion.
        views: images per sample: 1, or e.g. 3 for a design's top, front and side views.
        view_fusion: how a design embedding is made from its view embeddings:
            ``"concat"`` (scaled by ``1/sqrt(views)``, so unit norm) or ``"mean"``
            (re-normalised).
        input_size: images are resized to ``input_size x input_size`` first (None: as given).
        classes: when positive, a cosine classifier over the embedding (trained with
            cross-entropy, for the classifier baseline); the embedding is unchanged.
        attributes: attribute name -> number of values: a linear head per attribute that
            predicts it from the (design) embedding.
    """

    def __init__(
        self,
        backbone: nn.Module,
        branches: Sequence[nn.Module],
        embedding_dim: int,
        dropout: float = 0.0,
        branch_scale: float = 0.25,
        views: int = 1,
        view_fusion: str = "concat",
        input_size: int | None = None,
        classes: int = 0,
        attributes: dict[str, int] | None = None,
    ):
        super().__init__()
        if embedding_dim < 0:
            raise ValueError(
                f"embedding_dim must be positive (or 0: no projection), got {embedding_dim}"
            )
        if views < 1 or view_fusion not in VIEW_FUSIONS:
            raise ValueError(f"views must be >= 1 and view_fusion one of {VIEW_FUSIONS}")
        self.backbone = backbone
        self.branches = nn.ModuleList(branches)
        fused = _out_dim(backbone) + sum(_out_dim(b) for b in branches)
        # One learnable weight per shallow branch, applied after its L2 normalisation: the
        # branches start quiet so they do not drown CNN1 early in training (on a 10k-image
        # proxy, unweighted branches cost 3 points of 1-NN accuracy), and grow as useful.
        self.branch_scale = nn.Parameter(torch.full((len(branches),), branch_scale))
        self.dropout = nn.Dropout(dropout)
        # embedding_dim 0: no projection, the features are the embedding (a pretrained
        # backbone used as it is, with no training).
        self.project: nn.Module = (
            nn.Linear(fused, embedding_dim) if embedding_dim else nn.Identity()
        )
        embedding_dim = embedding_dim or fused
        self.view_dim = embedding_dim  # one image's embedding
        self.views = views
        self.view_fusion = view_fusion
        self.input_size = input_size
        self.embedding_dim = embedding_dim * views if view_fusion == "concat" else embedding_dim
        # over the (design) embedding, as the attribute heads
        self.classifier = nn.Linear(self.embedding_dim, classes, bias=False) if classes else None
        self.attribute_heads = nn.ModuleDict(
            {
                name: nn.Linear(self.embedding_dim, n, bias=False)
                for name, n in (attributes or {}).items()
            }
        )

    def init_from_data(self, images: torch.Tensor) -> bool:
        """Data-dependent initialisation of the backbone, where it has one (the compact
        backbone whitens its stem). Returns whether anything was initialised."""
        init = getattr(self.backbone, "init_from_data", None)
        if init is None:
            return False
        init(images)
        return True

    def train(self, mode: bool = True) -> SimNetModel:
        """As ``nn.Module.train``, but a frozen layer's batch-norm keeps its statistics."""
        super().train(mode)
        for module in self.backbone.modules():
            params = list(module.parameters(recurse=False))
            frozen = params and not any(p.requires_grad for p in params)
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and frozen:
                module.eval()
        return self

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, 3, input_size, input_size)`` (bilinear, antialiased)."""
        size = self.input_size
        if size is None or tuple(x.shape[-2:]) == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)

    def head(self, features: torch.Tensor, branch_outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The fusion: CNN1 features ``(B, out_dim)`` and unit-norm branch outputs ->
        ``(B, view_dim)`` unit-norm embeddings."""
        parts = [F.normalize(widen(features), dim=1)]  # (B, out_dim)
        parts += [s * b for s, b in zip(self.branch_scale, branch_outputs, strict=True)]
        fused = self.dropout(torch.cat(parts, dim=1))  # (B, fused)
        return F.normalize(widen(self.project(fused)), dim=1)  # (B, view_dim)

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, view_dim)`` unit-norm image embeddings."""
        x = self.resize(x)
        return self.head(self.backbone(x), [branch(x) for branch in self.branches])

    def describe_images(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> unit-norm multi-scale descriptors: CNN1's features and the
        branches' outputs, each half L2-normalised, before the projection. The projection
        is trained to make a whole class alike; these keep what tells two images of a
        class apart, which near-duplicate search needs."""
        x = self.resize(x)
        parts = [F.normalize(widen(self.backbone(x)), dim=1)]
        if self.branches:
            branches = [widen(branch(x)) for branch in self.branches]
            parts.append(F.normalize(torch.cat(branches, dim=1), dim=1))
        return F.normalize(torch.cat(parts, dim=1), dim=1)

    def logits(self, embeddings: torch.Tensor, scale: float = 16.0) -> torch.Tensor:
        """``(B, embedding_dim)`` unit-norm embeddings -> ``(B, classes)`` class scores:
        ``scale`` times the cosine with each class's weight vector (NormFace)."""
        if self.classifier is None:
            raise ValueError("this model has no classifier (model.classes = 0)")
        return scale * embeddings @ F.normalize(self.classifier.weight, dim=1).T

    def attribute_logits(
        self, embeddings: torch.Tensor, scale: float = 16.0
    ) -> dict[str, torch.Tensor]:
        """``(B, embedding_dim)`` unit-norm embeddings -> attribute -> ``(B, values)``
        scores: ``scale`` times the cosine with each value's weight vector. Bounded
        scores keep the heads' loss from swamping the embedding's (plain linear heads
        on this learning rate diverged: a loss of 24 against the contrastive 0.8)."""
        heads = cast(dict[str, nn.Linear], dict(self.attribute_heads.items()))
        return {
            name: scale * embeddings @ F.normalize(head.weight, dim=1).T
            for name, head in heads.items()
        }

    def embed_views(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3, H, W)`` designs -> ``(B, V, view_dim)`` per-view embeddings."""
        b, v = x.shape[:2]
        return self.embed_images(x.flatten(0, 1)).view(b, v, -1)

    def fuse(self, views: torch.Tensor) -> torch.Tensor:
        """``(B, V, view_dim)`` -> ``(B, embedding_dim)`` unit-norm design embeddings."""
        if self.view_fusion == "concat":
            return views.flatten(1) / views.shape[1] ** 0.5
        return F.normalize(views.mean(1), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` or designs ``(B, V, 3, H, W)`` -> ``(B, embedding_dim)``."""
        if x.dim() == 5:
            if x.shape[1] != self.views:
                raise ValueError(f"the model takes {self.views} views, got {x.shape[1]}")
            return self.fuse(self.embed_views(x))
        if self.views != 1:
            raise ValueError(f"the model takes designs of {self.views} views: (B, V, 3, H, W)")
        return self.embed_images(x)


VIEW_FUSIONS = ("concat", "mean")


def _out_dim(module: nn.Module) -> int:
    dim = getattr(module, "out_dim", None)
    if not isinstance(dim, int):
        raise TypeError(f"{type(module).__name__} must expose an integer out_dim")
    return dim


def freeze_backbone(backbone: nn.Module, trainable_layers: int) -> None:
    """Freezes every parameter of ``backbone`` but those of its top ``trainable_layers``
    layers (``backbone.layers()``, input to output). Parameters frozen before stay frozen."""
    layers = getattr(backbone, "layers", None)
    if layers is None:
        raise SimNetError(
            f"the {type(backbone).__name__} backbone does not list its layers, "
            "so model.finetune_layers cannot be applied to it"
        )
    layers = layers()
    if trainable_layers > len(layers):
        raise SimNetError(
            f"model.finetune_layers is {trainable_layers} but the backbone has {len(layers)} layers"
        )
    keep = {
        id(p)
        for layer in layers[len(layers) - trainable_layers :]
        for module in layer
        for p in module.parameters()
        if p.requires_grad
    }
    for p in backbone.parameters():
        p.requires_grad_(id(p) in keep)


def _per_branch(values: int | Sequence[int], count: int) -> list[int]:
    """One size per branch from one value (for every branch) or one per branch."""
    values = [values] if isinstance(values, int) else list(values)
    if len(values) not in (1, count):
        raise SimNetError(f"model: {count} branches but {len(values)} sizes: {values}")
    return values * count if len(values) == 1 else values


OBJECT_PREFIX = "object:"  # model.backbone of a run trained on a model object


class ObjectBackbone(nn.Module):
    """A module given as CNN1: ``(B, 3, S, S)`` normalised images -> ``(B, ...)`` features,
    flattened; ``out_dim`` is its own, or measured on one forward pass."""

    def __init__(self, net: nn.Module, image_size: int):
        super().__init__()
        self.net = net
        dim = getattr(net, "out_dim", None)
        if not isinstance(dim, int):
            was_training = net.training
            try:
                with torch.no_grad():
                    dim = self.forward(
                        torch.zeros(2, 3, image_size, image_size).to(
                            next(net.parameters(), torch.zeros(0)).device
                        )
                    ).shape[1]
            except Exception as exc:  # the user's module: any failure is theirs to see
                raise SimNetError(
                    f"the model object ({type(net).__name__}) fails on a (2, 3, {image_size}, "
                    f"{image_size}) batch of images: {exc}"
                ) from None
            finally:
                net.train(was_training)
        self.out_dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if not isinstance(out, torch.Tensor):
            raise SimNetError(f"the model object returns a {type(out).__name__}, not a tensor")
        return out.flatten(1)

    def layers(self) -> list[list[nn.Module]]:
        inner = getattr(self.net, "layers", None)
        return inner() if callable(inner) else [[self.net]]


def object_name(module: nn.Module) -> str:
    kind = type(module)
    return f"{OBJECT_PREFIX}{kind.__module__}.{kind.__qualname__}"


def model_from_object(module: Any, config: ModelConfig, image_size: int) -> SimNetModel:
    """The network of a model object given to training (or to load a run trained on one):
    a :class:`SimNetModel` as it is; any other ``nn.Module`` becomes CNN1, with the config's
    shallow branches, projection and heads around it."""
    if isinstance(module, SimNetModel):
        return module
    if not isinstance(module, nn.Module):
        raise SimNetError(f"a model object is a torch.nn.Module, not {type(module).__name__}")
    return build_model(config, backbone=ObjectBackbone(module, image_size))


def build_model(
    config: ModelConfig, load_weights: bool = True, backbone: nn.Module | None = None
) -> SimNetModel:
    """Builds the network a :class:`ModelConfig` describes.

    Args:
        config: the model section of a config.
        load_weights: load the pretrained or file weights the config names into CNN1 (off
            when a saved model's own weights are about to replace them).
        backbone: CNN1 itself, instead of the one ``config.backbone`` names.
    """
    if backbone is None and config.backbone.startswith(OBJECT_PREFIX):
        name = config.backbone[len(OBJECT_PREFIX) :]
        raise SimNetError(
            f"this model was trained from a model object ({name}): load it with "
            f"simnet.SimNet.load(RUN, model=...), giving a new one of the same architecture"
        )
    if backbone is None:
        weights = {"pretrained": config.pretrained, "weights": config.weights}
        backbone = create_backbone(
            config.backbone,
            widths=config.widths,
            stem_stride=config.stem_stride,
            pool_grid=config.pool_grid,
            pool_mean=config.pool_mean,
            **(weights if load_weights else {}),
        )
    if config.finetune_layers is not None:
        freeze_backbone(backbone, config.finetune_layers)
    n = len(config.scales)
    widths, dims = _per_branch(config.branch_width, n), _per_branch(config.branch_dim, n)
    branches = [ShallowBranch(f, w, d) for f, w, d in zip(config.scales, widths, dims, strict=True)]
    return SimNetModel(
        backbone,
        branches,
        config.embedding_dim,
        config.dropout,
        config.branch_scale,
        views=max(1, len(config.views)),
        view_fusion=config.view_fusion,
        input_size=config.input_size,
        classes=config.classes,
        attributes=_attribute_sizes(config.attributes),
    )


def _attribute_sizes(names: Sequence[str]) -> dict[str, int]:
    from simnet.packages.attributes import ATTRIBUTES

    return {name: len(ATTRIBUTES[name]) for name in names}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
