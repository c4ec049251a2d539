"""A corpus of the inputs real image folders hold besides good images, generated on demand.

:func:`write_bad_inputs` writes each into a folder (a class folder of a data tree, usually)
and returns what a reader must do with it: ``convert`` (decode it to an RGB image) or
``skip`` (count it and name it in a warning). Nothing here is committed as binary data.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

# name -> what every command must do with it
CONVERT, SKIP = "convert", "skip"


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims ``width x height`` pixels (10 gigapixels by default) in a
    few dozen bytes: decoding it would take tens of GB; a reader must refuse it unread."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    body = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def rotated_jpeg() -> bytes:
    """A 40x20 JPEG, red on its left half and blue on its right, whose EXIF orientation (6)
    says: turn it 90 degrees clockwise to view it, which puts red on top."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg(image, exif=exif.tobytes(), quality=95)


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Writes the corpus into ``folder``; returns each entry's name and what to expect.

    Names are file names in ``folder``, except ``loop`` (a symlink to the folder's parent, a
    loop for a reader that follows links) and the non-UTF-8 name, whose ``str`` carries
    surrogate escapes, as ``os.listdir`` gives it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}
    good = Image.new("RGB", (48, 32), (30, 160, 90))
    good_jpeg = _jpeg(good)

    def put(name: str, data: bytes, what: str) -> None:
        (folder / name).write_bytes(data)
        expect[name] = what

    put("zero-bytes.jpg", b"", SKIP)
    put("truncated.jpg", good_jpeg[: len(good_jpeg) // 3], SKIP)
    put("text-named.jpg", b"this is a text file, not a picture\n" * 20, SKIP)
    put("bomb.png", bomb_png(), SKIP)
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(buffer, "PNG")
    put("one-pixel.png", buffer.getvalue(), CONVERT)
    put("cmyk.jpg", _jpeg(Image.new("CMYK", (32, 32), (0, 200, 200, 0))), CONVERT)
    buffer = io.BytesIO()
    Image.frombytes("I;16", (32, 32), bytes(range(256)) * 8).save(buffer, "PNG")
    put("16-bit.png", buffer.getvalue(), CONVERT)
    buffer = io.BytesIO()
    palette = Image.new("P", (32, 32), 1)
    palette.putpalette([0, 0, 0, 250, 200, 0] + [0] * 762)
    palette.paste(0, (0, 0, 16, 32))
    palette.save(buffer, "PNG", transparency=0)
    put("palette-transparent.png", buffer.getvalue(), CONVERT)
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("animated.gif", buffer.getvalue(), CONVERT)
    put("exif-rotated.jpg", rotated_jpeg(), CONVERT)
    # Unreadable: no permission (which root ignores: then it is simply read) and a link to
    # nothing (which nobody can read).
    put("no-permission.jpg", good_jpeg, SKIP if os.geteuid() != 0 else CONVERT)
    os.chmod(folder / "no-permission.jpg", 0)
    os.symlink(folder / "gone.jpg", folder / "dangling-link.jpg")
    expect["dangling-link.jpg"] = SKIP
    os.symlink("..", folder / "loop")
    expect["loop"] = SKIP  # a link to a folder: not followed, so no loop and no images
    odd = os.fsdecode(b"caf\xe9-latin1.jpg")  # not UTF-8: surrogate escapes in str
    (folder / odd).write_bytes(good_jpeg)
    expect[odd] = CONVERT
    return expect


def unlock(folder: Path) -> None:
    """Gives the no-permission file its permissions back, so a temporary folder can go."""
    path = folder / "no-permission.jpg"
    if path.exists():
        os.chmod(path, 0o644)
