"""Perceptual hashes, computed as imagededup computes them, and as vectors that join a
network's features in one descriptor.

pHash: the image in greyscale at 32x32, its 2-D DCT, the 8x8 lowest frequencies, each bit
whether a coefficient lies above their median (the DC term left out of the median). dHash:
the image in greyscale at 9x8, each bit whether a pixel is brighter than its right-hand
neighbour. Both survive recompression, blur and colour changes and fail under crops and
rotations, where a network's features hold: :func:`copy_descriptors` puts the two kinds of
evidence in one vector, so that FAISS searches both at once.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_BITS = 64


def _grey(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(h, w)`` uint8 greyscale at ``size`` (width, height): scaled
    (Lanczos) in colour, then made grey, in imagededup's order."""
    small = Image.fromarray(np.asarray(image, np.uint8)).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(small.convert("L"), np.uint8)


def phash(image: np.ndarray) -> np.ndarray:
    """64 bits (bool) of an ``(H, W, 3)`` uint8 image's perceptual hash."""
    from scipy.fft import dct

    pixels = _grey(image, (32, 32)).astype(np.float64)
    coefficients = dct(dct(pixels, axis=0), axis=1)[:8, :8].ravel()
    return coefficients >= np.median(coefficients[1:])


def dhash(image: np.ndarray) -> np.ndarray:
    """64 bits (bool) of an ``(H, W, 3)`` uint8 image's difference hash."""
    pixels = _grey(image, (9, 8)).astype(np.int16)
    return (pixels[:, 1:] > pixels[:, :-1]).ravel()


def hex_digest(bits: np.ndarray) -> str:
    """The 16-hex-digit spelling of 64 bits (imagededup's)."""
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def hash_vectors(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 -> ``(N, 128)`` float32: each image's pHash and dHash bits as
    +-1/8 (each half has unit length), so that the squared L2 distance of two rows is a
    sixteenth of their Hamming distance over the 128 bits."""
    bits = np.stack([np.concatenate([phash(a), dhash(a)]) for a in images])
    return np.where(bits, 0.125, -0.125).astype(np.float32)


def copy_descriptors(features: np.ndarray, images: np.ndarray, hash_weight: float) -> np.ndarray:
    """Unit-norm ``(N, D)`` features and the images' hashes in one unit-norm descriptor:
    ``[f, hash_weight * pHash, hash_weight * dHash]`` rescaled, so that its squared distance
    is the feature distance squared plus ``hash_weight**2`` times the hashes' (normalised)."""
    hashes = hash_vectors(images) * hash_weight
    joined = np.concatenate([np.asarray(features, np.float32), hashes], axis=1)
    return joined / np.sqrt(1.0 + 2.0 * hash_weight**2)
