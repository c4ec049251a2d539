"""Batched, seeded augmentation on tensors (never one PIL image at a time).

Every random draw is per image and comes from a ``torch.Generator``, so a seeded run sees
the same augmented batches. Crops and flips work on uint8 pixels; the geometric and
photometric options (rotation, zoom, shear, noise, brightness, contrast) run on floats
only when switched on.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from simnet.config import AugmentConfig

MEAN = (0.4914, 0.4822, 0.4465)  # per-channel pixel statistics used to normalise inputs
STD = (0.2470, 0.2435, 0.2616)


def to_input(images: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> normalised ``(B, 3, H, W)`` float32 (channels-last memory).

    Designs ``(B, V, H, W, 3)`` give ``(B, V, 3, H, W)``.
    """
    if images.dim() == 5:
        return to_input(images.flatten(0, 1)).unflatten(0, images.shape[:2])
    return normalize(images.permute(0, 3, 1, 2).float().div_(255.0))


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` pixels in ``[0, 1]`` -> zero mean, unit variance per channel."""
    mean = torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def random_crop(images: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop of each image after zero padding: a translation by up to ``padding`` px.

    Args:
        images: ``(B, H, W, C)``.
    """
    if padding <= 0:
        return images
    b, h, w, _ = images.shape
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))  # (B, H+2p, W+2p, C)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    rows = (torch.arange(h)[None, :] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b)[:, None, None], rows, cols]  # (B, H, W, C)


def random_hflip(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirrors a random half of ``(B, H, W, C)`` images left to right."""
    flip = torch.rand(images.shape[0], generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(2), images)


def random_turn(
    images: torch.Tensor, p: float, quarters: bool, gen: torch.Generator
) -> torch.Tensor:
    """A random share ``p`` of square ``(B, S, S, C)`` images turned: by a random quarter
    (90, 180 or 270 degrees) with ``quarters``, else upside down."""
    b = images.shape[0]
    turns = torch.randint(1, 4, (b,), generator=gen) if quarters else torch.full((b,), 2)
    turns = torch.where(torch.rand(b, generator=gen) < p, turns, torch.zeros_like(turns))
    out = images
    for k in (1, 2, 3):
        chosen = (turns == k)[:, None, None, None]
        if chosen.any():
            out = torch.where(chosen, torch.rot90(images, k, (1, 2)), out)
    return out


def random_affine(
    x: torch.Tensor, rotation: float, zoom: float, shear: float, gen: torch.Generator
) -> torch.Tensor:
    """Per-image rotation, zoom and shear of ``(B, C, H, W)`` floats; outside is zero."""
    b = x.shape[0]

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(b, generator=gen) * 2 - 1) * limit

    angle = uniform(math.radians(rotation))
    scale = 1.0 + uniform(zoom)
    sh = torch.tan(uniform(math.radians(shear)))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + sh * cos
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos + sh * sin
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_photometric(
    x: torch.Tensor, brightness: float, contrast: float, noise_std: float, gen: torch.Generator
) -> torch.Tensor:
    """Per-image brightness and contrast, then Gaussian noise, on ``[0, 1]`` floats."""
    b = x.shape[0]
    if contrast > 0:
        c = 1.0 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * contrast
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean
    if brightness > 0:
        x = x + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * brightness
    if noise_std > 0:
        x = x + torch.randn(x.shape, generator=gen) * noise_std
    return x.clamp(0.0, 1.0)


_PERMUTATIONS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def random_look(
    x: torch.Tensor, greyscale: float, shuffle: float, invert: float, gen: torch.Generator
) -> torch.Tensor:
    """Redraws ``(B, 3, H, W)`` pixels in ``[0, 1]`` in another look, each with its own
    probability per image: colour channels swapped, greyscale, inverted."""
    b = x.shape[0]
    if shuffle:
        pick = torch.randint(0, len(_PERMUTATIONS), (b,), generator=gen)
        pick = torch.where(torch.rand(b, generator=gen) < shuffle, pick, torch.zeros_like(pick))
        x = torch.gather(x, 1, _PERMUTATIONS[pick][:, :, None, None].expand_as(x))
    if greyscale:
        grey = (x * _LUMA).sum(1, keepdim=True).expand_as(x)
        x = torch.where((torch.rand(b, generator=gen) < greyscale)[:, None, None, None], grey, x)
    if invert:
        x = torch.where((torch.rand(b, generator=gen) < invert)[:, None, None, None], 1 - x, x)
    return x


def paper(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, 1, 1)``: the median colour of each image's border, a drawing's paper."""
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)
    return border.median(dim=2).values[:, :, None, None]


def random_frame(
    x: torch.Tensor, frame: float, stretch: float, gen: torch.Generator
) -> torch.Tensor:
    """Each ``(B, C, H, W)`` drawing shrunk to a random share of its frame (down to
    ``1 - frame``), its width and height scaled apart by up to ``stretch``, and placed
    anywhere in the frame on its own paper colour."""
    b = x.shape[0]
    scale = 1.0 - torch.rand(b, generator=gen) * frame
    aspect = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * stretch
    sx, sy = scale * torch.clamp(aspect, max=1.0), scale / torch.clamp(aspect, min=1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = 1 / sx, 1 / sy
    # the shifts that keep the whole drawing inside the frame
    theta[:, 0, 2] = (torch.rand(b, generator=gen) * 2 - 1) * (1 / sx - 1)
    theta[:, 1, 2] = (torch.rand(b, generator=gen) * 2 - 1) * (1 / sy - 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ground = paper(x)
    moved = F.grid_sample(x - ground, grid, mode="bilinear", align_corners=False)
    return (moved + ground).clamp(0.0, 1.0)


def random_stroke(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Lines thicker or thinner in a random share ``p`` of ``(B, C, H, W)`` drawings: a
    3x3 minimum (dark lines grow) or maximum (light lines grow), half and half."""
    b = x.shape[0]
    pick = torch.rand(b, generator=gen)
    grow_dark = -F.max_pool2d(-x, 3, 1, 1)
    grow_light = F.max_pool2d(x, 3, 1, 1)
    out = torch.where((pick < p / 2)[:, None, None, None], grow_dark, x)
    return torch.where(((pick >= p / 2) & (pick < p))[:, None, None, None], grow_light, out)


def random_blur(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of sigma 0 to ``sigma`` px per ``(B, C, H, W)`` image."""
    b, c = x.shape[:2]
    radius = max(1, math.ceil(2 * sigma))
    s = (torch.rand(b, generator=gen) * sigma).clamp(min=1e-3)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(taps[None, :] ** 2) / (2 * s[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, K)
    k = kernel.repeat_interleave(c, 0)  # (B*C, K)
    flat = F.pad(x.reshape(1, b * c, *x.shape[2:]), (radius,) * 4, mode="replicate")
    flat = F.conv2d(flat, k[:, None, None, :], groups=b * c)
    flat = F.conv2d(flat, k[:, None, :, None], groups=b * c)
    return flat.view_as(x)


def random_jpeg(x: torch.Tensor, p: float, lowest: int, gen: torch.Generator) -> torch.Tensor:
    """A JPEG round trip (Pillow) at a random quality (``lowest`` to 95) for a random
    share ``p`` of ``(B, 3, H, W)`` images."""
    import io

    from PIL import Image

    b = x.shape[0]
    chosen = torch.nonzero(torch.rand(b, generator=gen) < p).flatten().tolist()
    quality = torch.randint(lowest, 96, (b,), generator=gen).tolist()
    if not chosen:
        return x
    out = x.clone()
    pixels = (x[chosen] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for row, i in enumerate(chosen):
        buffer = io.BytesIO()
        Image.fromarray(pixels[row]).save(buffer, format="JPEG", quality=quality[i])
        with Image.open(buffer) as decoded:
            out[i] = torch.from_numpy(np.asarray(decoded.convert("RGB")).copy()).permute(2, 0, 1)
    out[chosen] = out[chosen] / 255.0
    return out


class BatchAugment:
    """Applies the switched-on augmentations of an :class:`AugmentConfig` to a batch.

    Call with ``(B, H, W, 3)`` uint8 images; returns normalised ``(B, 3, H, W)`` floats.
    Designs ``(B, V, H, W, 3)`` give ``(B, V, 3, H, W)``, each view augmented on its own.
    """

    def __init__(self, config: AugmentConfig, seed: int = 0, views: tuple[str, ...] = ()):
        self.config = config
        self.gen = torch.Generator().manual_seed(seed)
        self.views = tuple(views)  # the design views, in the order of a batch's axis 1

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config
        if images.dim() == 5:
            if c.turn:
                images = torch.stack(
                    [self.turn(images[:, v], v) for v in range(images.shape[1])], 1
                )
            return self.augment(images.flatten(0, 1)).unflatten(0, images.shape[:2])
        if c.turn:
            images = random_turn(images, c.turn, True, self.gen)
        return self.augment(images)

    def turn(self, view: torch.Tensor, index: int) -> torch.Tensor:
        """One view of a design batch turned as ``augment.turn_views`` says."""
        named = self.config.turn_views
        quarters = named is None or (index < len(self.views) and self.views[index] in named)
        return random_turn(view, self.config.turn, quarters, self.gen)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """Everything but the turns, on ``(B, H, W, 3)`` uint8 images."""
        c = self.config
        images = random_crop(images, c.crop_padding, self.gen)
        if c.hflip:
            images = random_hflip(images, self.gen)
        looks = c.greyscale or c.channel_shuffle or c.invert
        drawing = c.frame or c.stretch or c.stroke or c.blur or c.jpeg
        if not (
            c.rotation
            or c.zoom
            or c.shear
            or c.noise_std
            or c.brightness
            or c.contrast
            or looks
            or drawing
        ):
            return to_input(images)
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        if c.frame or c.stretch:
            x = random_frame(x, c.frame, c.stretch, self.gen)
        if c.stroke:
            x = random_stroke(x, c.stroke, self.gen)
        if looks:
            x = random_look(x, c.greyscale, c.channel_shuffle, c.invert, self.gen)
        if c.rotation or c.zoom or c.shear:
            x = random_affine(x, c.rotation, c.zoom, c.shear, self.gen)
        if c.blur:
            x = random_blur(x, c.blur, self.gen)
        if c.jpeg:
            x = random_jpeg(x, c.jpeg, c.jpeg_quality, self.gen)
        x = random_photometric(x, c.brightness, c.contrast, c.noise_std, self.gen)
        return normalize(x)
