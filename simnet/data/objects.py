"""Training data given as a Python object: any map-style dataset of ``(image, label)``
items (torchvision's ``ImageFolder`` or ``CIFAR10``, a list of pairs, your own class),
decoded once into an :class:`~simnet.data.cache.ImageSet` at the model's image size.

Images may be PIL images, uint8 arrays ``(H, W, 3)`` or ``(H, W)``, or tensors: float
``(3, H, W)`` in ``[0, 1]`` (torchvision's ``ToTensor``) or uint8 ``(3, H, W)``. Labels may
be class indices (named by the dataset's ``classes`` when it has them) or names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from simnet.data.cache import ImageSet
from simnet.data.images import prepare_image
from simnet.errors import SimNetError


def describe(dataset: Any) -> str:
    """What a dataset object is, for the run's records: ``ClassName (N items)``."""
    return f"{type(dataset).__name__} ({len(dataset)} items)"


def _pil(image: Any, index: int) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if hasattr(image, "detach"):  # a tensor, channels first
        image = image.detach().cpu()
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255).round().to(dtype=torch.uint8)
        array = image.numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3):
            array = array.transpose(1, 2, 0)
    else:
        array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if (
        array.dtype != np.uint8
        or array.ndim not in (2, 3)
        or (array.ndim == 3 and array.shape[-1] != 3)
    ):
        raise SimNetError(
            f"dataset item {index}: an image is a PIL image, a uint8 (H, W, 3) array or a "
            f"(3, H, W) tensor, not {type(image).__name__} {array.dtype} {array.shape}"
        )
    return Image.fromarray(array)


def imageset_from(dataset: Any, size: int, keep_aspect: bool = False) -> ImageSet:
    """Every ``(image, label)`` item of ``dataset`` decoded as ``size x size`` RGB.

    Raises:
        SimNetError: not a sized, indexable dataset; an item that is not an image and a
            label; fewer than 2 classes.
    """
    if isinstance(dataset, ImageSet):
        return dataset
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise SimNetError(
            f"a dataset object has a length and items (a map-style dataset), "
            f"not {type(dataset).__name__}"
        )
    names = getattr(dataset, "classes", None)
    samples = getattr(dataset, "samples", None)  # ImageFolder: (path, label) per item
    images, labels = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        if not isinstance(item, tuple | list) or len(item) < 2:
            raise SimNetError(
                f"dataset item {i} is a {type(item).__name__}: items are (image, label) pairs"
            )
        image, label = item[0], item[1]
        images.append(prepare_image(_pil(image, i), size, keep_aspect))
        labels.append(label.item() if hasattr(label, "item") else label)
    if not labels:
        raise SimNetError("the dataset object is empty")
    if all(isinstance(x, int | np.integer) for x in labels) and names and len(names) > max(labels):
        classes, index = [str(n) for n in names], np.asarray(labels, dtype=np.int64)
    else:
        classes = sorted({str(x) for x in labels})
        position = {c: k for k, c in enumerate(classes)}
        index = np.asarray([position[str(x)] for x in labels], dtype=np.int64)
    if samples is not None and len(samples) == len(labels):
        keys = [str(s[0]) for s in samples]
    else:
        keys = [f"{type(dataset).__name__}[{i}]" for i in range(len(labels))]
    return ImageSet(np.stack(images), index, classes, keys)
