"""The decode cache: every image decoded once into a memory-mapped uint8 array.

A cache entry is keyed by the source's fingerprint and the image size, so a changed
source is decoded again. Entries are written to a temporary folder and renamed into
place, so an interrupted decode never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simnet.data.images import decode_image, report_skipped, skip_reason
from simnet.data.sources import Source
from simnet.errors import ImageError, SimNetError

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bumped when what an entry stores changes (2: absolute keys)
TRAIN, TEST = 0, 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("SIMNET_CACHE", Path.home() / ".cache" / "simnet"))


@dataclass
class ImageSet:
    """Images with integer labels; ``images`` may be a read-only memory map."""

    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray  # (N,) int64, indices into classes
    classes: list[str]
    keys: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason) not decoded
    groups: np.ndarray | None = None  # (N,) int64 group of each label (designs: family)
    # Designs: (N, A) int64 attribute values (-1: unknown), simnet.packages.attributes.
    attributes: np.ndarray | None = None
    origins: np.ndarray | None = None  # (N,) int64: a one-change copy shares its original's

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ImageSet:
        index = np.asarray(index)
        return ImageSet(
            self.images[index],
            self.labels[index],
            self.classes,
            [self.keys[i] for i in index],
            self.skipped,
            None if self.groups is None else self.groups[index],
            None if self.attributes is None else self.attributes[index],
            None if self.origins is None else self.origins[index],
        )

    @property
    def num_classes_present(self) -> int:
        return len(np.unique(self.labels))


@dataclass
class Dataset:
    """A decoded source with its fixed train/test split and what was skipped."""

    train: ImageSet
    test: ImageSet
    skipped: list[tuple[str, str]]  # (key, reason)

    @property
    def classes(self) -> list[str]:
        return self.train.classes


def hash_split(key: str, test_fraction: float) -> int:
    """TRAIN or TEST for ``key``, fixed by a hash of it, for sources that define no split:
    stable when images are added (about ``test_fraction`` of keys fall on TEST)."""
    return (
        TEST
        if zlib.crc32(key.encode("utf-8", "surrogateescape")) % 10_000 < test_fraction * 10_000
        else TRAIN
    )


def _decode_into(source: Source, size: int, folder: Path, keep_aspect: bool = False) -> dict:
    """Decodes every record into ``folder``; returns the entry's metadata."""
    labels: list[str] = []
    keys: list[str] = []
    splits: list[str | None] = []
    skipped: list[tuple[str, str]] = []
    # drawings (and photos, where asked): padded square and scaled, not stretched
    keep_aspect = keep_aspect or getattr(source, "keep_aspect", False)
    trim = getattr(source, "trim", False)  # ... and cropped to their content
    max_aspect = getattr(source, "max_aspect", None)  # ... and long ones stretched across
    with (folder / "images.u8").open("wb") as out:  # (N, S, S, 3) uint8, streamed
        for record, payload in tqdm(
            source.stream(),
            desc="decoding images",
            unit="img",
            leave=False,
            mininterval=1.0,
            disable=None if log.isEnabledFor(logging.INFO) else True,  # quiet: no bar
        ):
            if payload is None:
                skipped.append((record.key, "not a readable file"))
                continue
            if isinstance(payload, ImageError):  # why the source could not read it
                skipped.append((record.key, skip_reason(record.key, payload)))
                continue
            try:
                if isinstance(payload, np.ndarray):
                    same = payload.shape[:2] == (size, size)
                    image = payload if same else decode_resized(payload, size)
                else:
                    image = decode_image(
                        payload, size, keep_aspect=keep_aspect, trim=trim, max_aspect=max_aspect
                    )
            except ImageError as exc:
                skipped.append((record.key, skip_reason("image data", exc)))
                continue
            out.write(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
            labels.append(record.label)
            keys.append(record.key)
            splits.append(record.split)
    if not keys:
        return {"count": 0, "size": size, "skipped": skipped}
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    np.save(folder / "labels.npy", np.array([index[c] for c in labels], dtype=np.int64))
    return {
        "count": len(keys),
        "size": size,
        "classes": classes,
        "keys": keys,
        "record_splits": splits,
        "skipped": skipped,
    }


def decode_resized(array: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.BICUBIC))


def _entry(source: Source, size: int, cache_dir: Path, keep_aspect: bool = False) -> Path:
    padded = "|keep_aspect" if keep_aspect else ""
    key = f"{CACHE_VERSION}|{size}|{source.fingerprint()}{padded}"
    key = hashlib.sha256(key.encode()).hexdigest()
    folder = cache_dir / key[:32]
    if (folder / "meta.json").is_file():
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".decode-", dir=cache_dir))
    try:
        meta = _decode_into(source, size, tmp, keep_aspect)
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _open_entry(
    source: Source, image_size: int, cache_dir: str | Path | None, keep_aspect: bool = False
) -> tuple[ImageSet, list[str | None]]:
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = _entry(source, image_size, root, keep_aspect)
    meta = json.loads((folder / "meta.json").read_text())
    skipped = [(str(k), str(r)) for k, r in meta["skipped"]]
    report_skipped(skipped, meta["count"] + len(skipped))
    if meta["count"] == 0:
        raise SimNetError(
            "no readable images found in the data (expected class folders of .jpg/.png files)"
        )
    size = meta["size"]
    images = np.memmap(
        folder / "images.u8", dtype=np.uint8, mode="r", shape=(meta["count"], size, size, 3)
    )
    labels = np.load(folder / "labels.npy")
    whole = ImageSet(images, labels, meta["classes"], meta["keys"], skipped)
    return whole, meta["record_splits"]


def load_images(
    source: Source,
    image_size: int,
    cache_dir: str | Path | None = None,
    keep_aspect: bool = False,
) -> ImageSet:
    """Every readable image of a source, labelled or not, decoded once and cached
    (``keep_aspect``: padded square with the border's colour, not stretched)."""
    return _open_entry(source, image_size, cache_dir, keep_aspect)[0]


def load_dataset(
    source: Source,
    image_size: int,
    test_fraction: float = 0.2,
    cache_dir: str | Path | None = None,
    keep_aspect: bool = False,
) -> Dataset:
    """Decodes (or reuses the cache of) a source and splits its labelled images into
    train and test (``keep_aspect``: as :func:`load_images`).

    Raises:
        SimNetError: the source holds no readable labelled image.
    """
    whole, record_splits = _open_entry(source, image_size, cache_dir, keep_aspect)
    labelled = np.array([whole.classes[i] != "" for i in whole.labels], dtype=bool)
    if not labelled.any():
        raise SimNetError(
            "no labelled images found (put each class's images in a folder named after the class)"
        )
    if any(s is not None for s in record_splits):
        split = np.array([TEST if s == "test" else TRAIN for s in record_splits])
    else:
        split = np.array([hash_split(k, test_fraction) for k in whole.keys])
    train = np.flatnonzero((split == TRAIN) & labelled)
    test = np.flatnonzero((split == TEST) & labelled)
    return Dataset(_view(whole, train), _view(whole, test), whole.skipped)


def _view(whole: ImageSet, index: np.ndarray) -> ImageSet:
    """A subset that keeps the images memory-mapped when it is a contiguous run."""
    if len(index) and index[-1] - index[0] + 1 == len(index):
        lo, hi = int(index[0]), int(index[-1]) + 1
        return ImageSet(
            whole.images[lo:hi],
            whole.labels[lo:hi],
            whole.classes,
            whole.keys[lo:hi],
            whole.skipped,
            None if whole.groups is None else whole.groups[lo:hi],
        )
    return whole.subset(index)
