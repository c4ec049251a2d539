"""Decoding one image file to a fixed-size RGB uint8 array.

Grayscale, palette, RGBA, CMYK and 16-bit images are converted to 8-bit RGB; EXIF
orientation is applied; anything that cannot be decoded raises :class:`ImageError`.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from simnet.errors import ImageError, ImageTooLarge, NotAnImage
from simnet.storage import MIB, read_limited

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_PIXELS = 64_000_000  # larger images are refused as decompression bombs
UPRIGHT = 1.5  # limit_aspect: a view this many times taller than wide is laid flat
STRETCH_SIDE = 4096  # limit_aspect: the longest side it leaves (data.image_size's most)
# The most bytes an image file is read for: an uncompressed file of MAX_PIXELS pixels at the
# widest (16-bit RGBA, 8 bytes a pixel) plus slack for headers, EXIF, ICC and thumbnails. A
# larger file (a 50 GB sparse file named x.png, /dev/zero behind a link) is refused unread.
BYTES_PER_PIXEL = 8
IMAGE_SLACK_BYTES = 16 * MIB


def max_image_bytes(max_pixels: int = MAX_PIXELS) -> int:
    """The largest image file read (:data:`BYTES_PER_PIXEL` per allowed pixel, plus slack)."""
    return max_pixels * BYTES_PER_PIXEL + IMAGE_SLACK_BYTES


def read_image_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> bytes:
    """The bytes of an image file: a regular file (after links) of at most
    :func:`max_image_bytes`, opened without blocking.

    Raises:
        ImageError: ``"<path>: <why>"``: not a regular file (a FIFO, a device, a folder),
            too large, missing or unreadable.
    """
    return read_limited(path, max_image_bytes(max_pixels), "an image", ImageError)


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
    return image if image.mode == "RGB" else image.convert("RGB")


def border_colour(pixels: np.ndarray) -> np.ndarray:
    """The median colour ``(3,)`` of an ``(H, W, 3)`` image's outermost pixels: a
    drawing's paper."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return np.median(border, axis=0)


def pad_square(image: Image.Image) -> Image.Image:
    """``image`` centred on a square of its border's colour."""
    colour = tuple(int(c) for c in border_colour(np.asarray(image)))
    side = max(image.size)
    square = Image.new("RGB", (side, side), colour)
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def limit_aspect(image: Image.Image, most: float) -> Image.Image:
    """``image`` laid flat and stretched along its shorter side until its longer side is
    at most ``most`` times the shorter. A package's section is drawn many times wider than
    tall, by a vertical exaggeration that differs from drawing to drawing; padded to a
    square, it would keep a few rows of the model's input. Stretched to at most ``most``
    : 1, it keeps more rows, and two exaggerations of one section look alike. A view more
    than :data:`UPRIGHT` times taller than wide is first turned a quarter (clockwise) to
    lie flat, so that a section drawn upright frames as one drawn across (turned the
    other way, it comes out upside down); a view about square, such as most top views,
    keeps its orientation, which a frame or a title line would otherwise decide. The
    longer side is kept, up to :data:`STRETCH_SIDE` (a 40,000 x 1 upload is not grown to
    40,000 squared)."""
    if image.height > UPRIGHT * image.width:
        image = image.transpose(Image.Transpose.ROTATE_270)
    w, h = image.size
    long = min(max(w, h), STRETCH_SIDE)
    if w > most * h:
        return image.resize((long, max(1, round(long / most))), Image.Resampling.BICUBIC)
    if h > most * w:  # taller than wide, but not enough to be laid flat
        return image.resize((max(1, round(long / most)), long), Image.Resampling.BICUBIC)
    return image


def skew_angle(image: Image.Image, most: float = 8.0, gain: float = 1.005) -> float:
    """The angle in degrees (anticlockwise, within ``most`` either way) by which a
    drawing's lines are turned from the image's rows and columns: a scanned or
    photographed sheet's skew. It is the angle at which the drawn pixels' profiles across
    rows and across columns are sharpest (the classic projection-profile deskew), searched
    in whole degrees and then in quarters; 0 where no angle is sharper than level by
    ``gain`` (a drawing made level is never turned)."""
    ys, xs = np.nonzero(drawn(np.asarray(image)))
    if len(ys) < 50:
        return 0.0
    step = max(1, len(ys) // 10_000)
    y, x = ys[::step].astype(np.float64), xs[::step].astype(np.float64)

    def sharpness(degrees: float) -> float:
        # sheared, not rotated: a level drawing's rows and columns stay on whole pixels,
        # where a rotation's cosine would squeeze two columns into one bin now and then
        t = np.tan(np.radians(degrees))
        across = [y + x * t, x - y * t]
        return float(
            sum((np.bincount(np.round(a - a.min()).astype(np.int64)) ** 2).sum() for a in across)
        )

    coarse = max(np.arange(-most, most + 0.5), key=sharpness)
    best, fine = max((sharpness(a), a) for a in np.arange(coarse - 0.75, coarse + 0.8, 0.25))
    return float(fine) if best > gain * sharpness(0.0) else 0.0


def erase_rulings(image: Image.Image, tolerance: int = 24, span: float = 0.9) -> Image.Image:
    """``image`` with the rulings of ruled or graph paper painted out: thin lines across at
    least ``span`` of the sheet, at least three of them one way, none beside another. A
    drawing sits inside a margin, so no line of its own crosses the whole sheet; a drawing
    cropped to its edges fills whole rows, but side by side. A ruling's pixels (those of its
    colour, found in the margins) take the paper's colour where either side of them is
    paper, and the colour beside them where the ruling crosses a part; the drawing's own
    ink on a ruling stays."""
    pixels = np.asarray(image)
    step = max(1, round((pixels.shape[0] * pixels.shape[1] / 65_536) ** 0.5))
    sample = pixels[::step, ::step].reshape(-1, 3)  # a large photo need not be sorted whole
    bins = (sample.astype(np.int32) // 8 * [1024, 32, 1]).sum(axis=1)  # 32 levels a channel
    commonest = bins == np.argmax(np.bincount(bins))
    paper = np.median(sample[commonest], axis=0).astype(np.int16)  # the commonest colour
    ink = ~_near(pixels, paper, tolerance)
    out = pixels.copy()
    for axis in (0, 1):  # rows, then columns
        lines = ink.mean(axis=1 - axis) >= span
        beside = np.zeros_like(lines)  # a line before or after (no wrapping round)
        beside[1:] |= lines[:-1]
        beside[:-1] |= lines[1:]
        lone = lines & ~beside
        if lone.sum() < 3 or lone.sum() != lines.sum():
            continue
        view = out if axis == 0 else out.transpose(1, 0, 2)  # rulings as rows
        edge = max(1, view.shape[1] // 10)  # the margins, where a ruling crosses paper only
        found = np.flatnonzero(lone)
        ruling = np.median(
            np.concatenate([view[found, :edge], view[found, -edge:]]).reshape(-1, 3), axis=0
        )
        last = len(view) - 1
        for r in found:
            before, after = view[r - 1 if r else r + 1], view[r + 1 if r < last else r - 1]
            on = _near(view[r], ruling, tolerance)
            # paper where either side is paper (the edge of a part stays where it was),
            # else the ink beside it (a ruling crossing a part)
            paper_beside = _near(before, paper, tolerance) | _near(after, paper, tolerance)
            view[r, on & paper_beside] = paper
            view[r, on & ~paper_beside] = before[on & ~paper_beside]
    return Image.fromarray(out) if (out != pixels).any() else image


def _near(pixels: np.ndarray, colour: np.ndarray, tolerance: int) -> np.ndarray:
    """``(..., 3)`` pixels within ``tolerance`` of ``colour`` in every channel."""
    return (np.abs(pixels.astype(np.int16) - colour) <= tolerance).all(axis=-1)


def level_drawing(image: Image.Image) -> Image.Image:
    """``image`` turned back by its :func:`skew_angle`, on its paper's colour."""
    angle = skew_angle(image)
    if not angle:
        return image
    paper = tuple(int(c) for c in border_colour(np.asarray(image)))
    return image.rotate(-angle, Image.Resampling.BICUBIC, expand=True, fillcolor=paper)


def frame_drawing(
    image: Image.Image, trim: bool = False, max_aspect: float | None = None
) -> Image.Image:
    """``image`` cropped to its drawing (``trim``, :func:`trim_to_content`) and stretched
    to at most ``max_aspect`` : 1 (:func:`limit_aspect`), as a design model frames a view
    before it is padded square and scaled. Where ``max_aspect`` is set, a skewed drawing
    is first made level (:func:`level_drawing`): stretched, a section's skew of a few
    degrees would shear it by its aspect times as much. Before that, the rulings of ruled
    or graph paper are painted out (:func:`erase_rulings`)."""
    if max_aspect:
        image = level_drawing(erase_rulings(image))
    if trim:
        return trim_to_content(image, max_aspect=max_aspect)
    return limit_aspect(image, max_aspect) if max_aspect else image


def drawn(pixels: np.ndarray, tolerance: int = 24) -> np.ndarray:
    """``(H, W)``: the pixels of an ``(H, W, 3)`` drawing that differ from its paper (the
    border's colour) by more than ``tolerance`` in a channel, specks left out."""
    paper = border_colour(pixels)
    return without_specks((np.abs(pixels.astype(np.int16) - paper) > tolerance).any(axis=2))


def without_specks(ink: np.ndarray, smallest: int = 3) -> np.ndarray:
    """An ``(H, W)`` mask of drawn pixels without its specks: the 8-connected groups of
    fewer than ``smallest`` pixels, the dust and toner of a scan or a copy, which would
    otherwise join up the whole sheet into one drawing. A line, however thin, is kept."""
    from scipy import ndimage

    groups, count = ndimage.label(ink, structure=np.ones((3, 3)))
    if not count:
        return ink
    sizes = np.bincount(groups.ravel())
    sizes[0] = 0  # the paper
    return sizes[groups] >= smallest


def trim_to_content(
    image: Image.Image, margin: float = 0.04, tolerance: int = 24, max_aspect: float | None = None
) -> Image.Image:
    """``image`` cropped to its drawing: the box of the main group of drawn pixels (those
    that differ from the border's colour by more than ``tolerance`` in a channel; pixels
    within 3% of the side of each other are one group), grown by ``margin`` of its longer
    side. The main group is the one with the most drawn pixels in the middle half of the
    image (a drawing is centred; a scale bar or a title block is not), or, with none
    there, the largest, together with the groups drawn around it (:func:`_enclosing`: a
    line drawing's outline, whose pixels lie outside the middle half when the parts it
    holds are small). Where nothing is drawn the whole image is kept. ``max_aspect``:
    the drawing is stretched (:func:`limit_aspect`) before its margin is added, so that
    the margin is the same share of its frame however flat it was drawn."""
    from scipy import ndimage

    pixels = np.asarray(image)
    paper = border_colour(pixels)
    ink = drawn(pixels, tolerance)
    if not ink.any():
        return limit_aspect(image, max_aspect) if max_aspect else image
    reach = max(1, round(0.03 * max(image.size)))
    groups, count = ndimage.label(ndimage.binary_dilation(ink, iterations=reach))
    middle = np.zeros_like(ink)
    h, w = ink.shape
    middle[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    sizes = ndimage.sum(ink & middle, groups, index=np.arange(1, count + 1))
    if not sizes.max() > 0:
        sizes = ndimage.sum(ink, groups, index=np.arange(1, count + 1))
    main = 1 + int(np.argmax(sizes))
    chosen = [main, *_enclosing(groups, main, reach)]
    rows, cols = np.nonzero(ink & np.isin(groups, chosen))
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    if max_aspect:
        drawing = limit_aspect(image.crop((left, top, right + 1, bottom + 1)), max_aspect)
        pad = round(margin * max(drawing.size))
        size = (drawing.width + 2 * pad, drawing.height + 2 * pad)
        framed = Image.new("RGB", size, tuple(int(c) for c in paper))
        framed.paste(drawing, (pad, pad))
        return framed
    pad = round(margin * max(bottom - top, right - left))
    box = (
        max(0, left - pad),
        max(0, top - pad),
        min(image.width, right + 1 + pad),
        min(image.height, bottom + 1 + pad),
    )
    return image.crop(box)


def _enclosing(groups: np.ndarray, main: int, edge: int) -> list[int]:
    """The labels of the groups that surround group ``main``: an outline drawn around it
    (a line drawing's package edge, far from the parts inside it), each holding ``main``'s
    centre once its holes are filled. A group reaching within ``edge`` pixels of all four
    sides of the image is the sheet's frame, not the drawing's, and is left out."""
    from scipy import ndimage

    boxes = ndimage.find_objects(groups)
    inner = boxes[main - 1]
    assert inner is not None
    middle = [(s.start + s.stop) // 2 for s in inner]
    h, w = groups.shape
    found = []
    for label, box in enumerate(boxes, 1):
        if label == main or box is None:
            continue
        (top, bottom), (left, right) = ((s.start, s.stop) for s in box)
        spans = zip(box, inner, strict=True)
        around = all(o.start <= i.start and o.stop >= i.stop for o, i in spans)
        sheet = top <= edge and left <= edge and bottom >= h - edge and right >= w - edge
        if not around or sheet:
            continue
        filled = ndimage.binary_fill_holes(groups[box] == label)
        if filled[middle[0] - top, middle[1] - left]:
            found.append(label)
    return found


def decode_image(
    data: bytes | str | Path,
    size: int,
    max_pixels: int = MAX_PIXELS,
    keep_aspect: bool = False,
    trim: bool = False,
    max_aspect: float | None = None,
) -> np.ndarray:
    """Decodes image bytes (or a file path) to a ``(size, size, 3)`` uint8 RGB array.

    ``keep_aspect``: a non-square image is first padded to a square with its border's
    colour (a drawing's background), so that it is scaled, not stretched. ``trim``: a
    drawing is first cropped to its content (:func:`trim_to_content`), so that how much
    of its frame it fills does not matter; implies ``keep_aspect``. ``max_aspect``: an
    image longer than that many times its width (or height) is stretched across until it
    is not (:func:`limit_aspect`), before it is padded.

    Raises:
        NotAnImage: no image format recognises the data.
        ImageTooLarge: more than ``max_pixels`` pixels (checked before decoding).
        ImageError: any other reason the image cannot be read.
    """
    name = str(data) if isinstance(data, str | Path) else "image data"

    def fail(kind: type[ImageError], reason: str) -> ImageError:
        return kind(f"{name}: {reason}")

    try:
        if isinstance(data, str | Path):
            data = read_image_file(data, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                opened = Image.open(io.BytesIO(data))
            except Image.UnidentifiedImageError:
                raise fail(NotAnImage, "not an image (no image format recognises it)") from None
            with opened:
                if opened.width * opened.height > max_pixels:
                    raise fail(
                        ImageTooLarge,
                        f"too large ({opened.width}x{opened.height} pixels, more than the "
                        f"{max_pixels:,} allowed)",
                    )
                opened.seek(0)  # first frame of animations
                return prepare_image(opened, size, keep_aspect, trim, max_aspect)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise fail(ImageTooLarge, f"too large ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(ImageError, f"not a readable image ({detail})") from None


def prepare_image(
    image: Image.Image,
    size: int,
    keep_aspect: bool = False,
    trim: bool = False,
    max_aspect: float | None = None,
) -> np.ndarray:
    """An opened image (turned upright by its EXIF tag, in RGB) as a ``(size, size, 3)``
    uint8 array, as :func:`decode_image` makes it from a file."""
    # Copies only where needed: a 40-megapixel upload costs one full copy, not three.
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    image = _to_rgb(image)
    image = frame_drawing(image, trim, max_aspect)
    if (keep_aspect or trim) and image.width != image.height:
        image = pad_square(image)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).copy()


def skip_reason(path: str | Path, exc: Exception) -> str:
    """Why ``path`` could not be read: the error's message without the name it starts with."""
    text, name = str(exc), f"{path}: "
    return text[len(name) :] if text.startswith(name) else text


def report_skipped(skipped: Sequence[tuple[str, str]], total: int, what: str = "images") -> None:
    """Logs each skipped file with why, then one line counting them by reason; ``skipped``
    holds ``(path, reason)`` pairs, ``total`` how many ``what`` were tried."""
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    if skipped:
        kinds = Counter(reason.split(" (")[0] for _, reason in skipped)
        counts = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        log.warning("skipped %d of %d %s: %s", len(skipped), total, what, counts)
