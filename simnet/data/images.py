"""Decoding one image file to a fixed-size RGB uint8 array.

Grayscale, palette, RGBA, CMYK and 16-bit images are converted to 8-bit RGB; EXIF
orientation is applied; anything that cannot be decoded raises :class:`ImageError`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from simnet.errors import ImageError, ImageTooLarge, NotAnImage

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_PIXELS = 64_000_000  # larger images are refused as decompression bombs


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float images: scale the full range to 8 bits.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        image = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become black, as zero padding does.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def decode_image(data: bytes | str | Path, size: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decodes image bytes (or a file path) to a ``(size, size, 3)`` uint8 RGB array.

    Raises:
        NotAnImage: no image format recognises the data.
        ImageTooLarge: more than ``max_pixels`` pixels (checked before decoding).
        ImageError: any other reason the image cannot be read.
    """
    name = str(data) if isinstance(data, str | Path) else "image data"
    try:
        if isinstance(data, str | Path):
            data = Path(data).read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                opened = Image.open(io.BytesIO(data))
            except Image.UnidentifiedImageError:
                raise NotAnImage(f"{name}: not an image (no image format recognises it)") from None
            with opened:
                if opened.width * opened.height > max_pixels:
                    raise ImageTooLarge(
                        f"{name}: {opened.width}x{opened.height} pixels is more than "
                        f"the {max_pixels:,} allowed"
                    )
                opened.seek(0)  # first frame of animations
                image = _to_rgb(ImageOps.exif_transpose(opened))
                if image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.BICUBIC)
                return np.asarray(image, dtype=np.uint8).copy()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{name}: too many pixels ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{name}: not a readable image ({reason})") from None
