"""Where labelled images come from: a class-folder tree, a tar of one, a CSV, a pairs CSV,
or CIFAR-10.

A source lists records (a display path, a label and, when the source defines one, a split)
and streams each record's payload: encoded image bytes, or an already decoded array for
the CIFAR-10 batches. Decoding and caching happen in :mod:`simnet.data.cache`; splitting a
pairs CSV's pairs and batching them, in :mod:`simnet.data.pairs`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import lzma
import os
import pickle
import tarfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from simnet.data.images import is_image_name, max_image_bytes, read_image_file
from simnet.errors import ImageError, ImageTooLarge, SimNetError
from simnet.storage import MAX_TABLE_BYTES, MIB, human_bytes, open_regular, read_text_limited

log = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test"}
PAIR_COLUMNS = ("path_a", "path_b", "similar")  # the header that makes a CSV a pairs CSV
SIMILAR = {"1", "true", "yes", "similar", "y", "t"}  # values of ``similar`` meaning yes
DISSIMILAR = {"0", "false", "no", "dissimilar", "n", "f"}


@dataclass(frozen=True)
class Record:
    key: str  # a path a person can read; for archives "archive.tar.gz::member"
    label: str  # "" for an unlabelled image (one directly in a folder's root)
    split: str | None  # "train", "test", or None when the source defines no split


Payload = bytes | np.ndarray  # encoded image bytes, or a decoded (H, W, 3) uint8 array
# What a source yields for a record it cannot read: why (an ImageError naming the record), or
# None for no particular reason.
Unreadable = ImageError | None
MAX_CIFAR_BYTES = 256 * MIB  # a CIFAR-10 python batch is about 30 MB
MAX_TAR_HEADER_BYTES = MIB  # a long name or PAX header inside a tar (a path is far shorter)


class Source(ABC):
    """A set of labelled images."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the source's content may have changed."""

    @abstractmethod
    def stream(self) -> Iterator[tuple[Record, Payload | Unreadable]]:
        """Yields each record with its payload, or with why it cannot be read (an
        :class:`ImageError`, or None)."""


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _split_and_label(parts: tuple[str, ...]) -> tuple[str, str | None]:
    """Maps the directory parts above a file to (label, split); "" labels a file in no class."""
    if not parts:
        return "", None
    for i, part in enumerate(parts[:-1]):
        if part.lower() in SPLIT_NAMES:
            return parts[-1], SPLIT_NAMES[part.lower()] if i == len(parts) - 2 else None
    return parts[-1], None


class FileListSource(Source):
    """A source that is a list of image files, each with its record.

    A subclass sets ``_files`` and says in :meth:`_origin` what else (the folder, the CSV)
    its fingerprint must cover.
    """

    _files: list[tuple[Path, Record]]

    @property
    def records(self) -> list[Record]:
        """Each file's record, in the source's order (without reading any file)."""
        return [record for _, record in self._files]

    def _origin(self) -> str:
        """What, besides the files, the fingerprint must cover."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        parts = [self._origin()]
        for path, _ in self._files:
            try:
                parts.append(_stat_key(path))
            except OSError:
                parts.append(f"{path}|unreadable")
        return _digest(parts)

    def stream(self) -> Iterator[tuple[Record, Payload | Unreadable]]:
        for path, record in self._files:
            try:  # only a regular file, only as many bytes as an allowed image takes
                yield record, read_image_file(path)
            except ImageError as exc:
                yield record, exc


def walk_tree(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` top-down in name order, following links to folders but entering each
    real folder once: a link back up the tree (a loop) or to a folder already read is
    skipped with a warning instead of walked forever or read twice."""
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here, kept = os.path.realpath(dirpath), []
        for name in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, name))
            if here == real or here.startswith(real + os.sep):
                log.warning("skipped %s: a link back up the tree (a loop)", Path(dirpath) / name)
                continue
            if real in seen:
                log.warning("skipped %s: a link to a folder already read", Path(dirpath) / name)
                continue
            seen.add(real)
            kept.append(name)
        dirnames[:] = kept
        yield dirpath, dirnames, filenames


class FolderSource(FileListSource):
    """``root/<label>/*.jpg``, or ``root/{train,test}/<label>/*.jpg`` with a fixed split.

    Images directly in ``root`` are unlabelled: indexed and searched, never trained on.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()  # keys are absolute, however the path was given
        if not self.root.is_dir():
            raise SimNetError(f"data folder not found: {root}")
        self._files = self._scan()

    def _scan(self) -> list[tuple[Path, Record]]:
        found = []
        for dirpath, dirnames, filenames in walk_tree(self.root):
            rel = Path(dirpath).relative_to(self.root).parts
            images = sorted(name for name in filenames if is_image_name(name))
            if rel and not dirnames and not images:
                log.warning("%s holds no images: no class is made of it", dirpath)
            for name in images:
                label, split = _split_and_label(rel)
                path = Path(dirpath) / name
                found.append((path, Record(str(path), label, split)))
        return found

    def _origin(self) -> str:
        return f"folder|{self.root}"


class _HeaderTooLarge(tarfile.TarError):
    """A tar header extension larger than :data:`MAX_TAR_HEADER_BYTES`."""


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose long-name and PAX extensions are refused past
    :data:`MAX_TAR_HEADER_BYTES` (``tarfile`` reads them whole into memory)."""

    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._check_extension()
        return super()._proc_gnulong(tarfile_)  # type: ignore[misc]

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._check_extension()
        return super()._proc_pax(tarfile_)  # type: ignore[misc]

    def _check_extension(self) -> None:
        if self.size > MAX_TAR_HEADER_BYTES:
            raise _HeaderTooLarge(
                f"a header extension of {human_bytes(self.size)} (more than "
                f"{human_bytes(MAX_TAR_HEADER_BYTES)})"
            )


TarMode = Literal["r:", "r:gz", "r:bz2", "r:xz"]


def _tar_mode(handle: BinaryIO) -> TarMode:
    """The ``tarfile`` mode of an archive from its first bytes: gzip, bzip2, xz or plain.
    (``r:*`` tries each decompressor in turn, and xz's reads a file of zeros to its end.)"""
    start = handle.read(6)
    handle.seek(0)
    if start.startswith(b"\x1f\x8b"):
        return "r:gz"
    if start.startswith(b"BZh"):
        return "r:bz2"
    if start.startswith(b"\xfd7zXZ\x00"):
        return "r:xz"
    return "r:"


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.isdir():
        return "a folder"
    if member.isfifo():
        return "a FIFO"
    if member.ischr() or member.isblk():
        return "a device"
    return "not a regular file"


def tar_images(
    path: Path, wanted: set[str] | None = None
) -> Iterator[tuple[tarfile.TarInfo, bytes | ImageError]]:
    """Each image member of a tar archive (``wanted``: only those names) with its bytes, or
    with why it is not read: a member that is not a regular file (a link, a device, a
    FIFO), one larger than an allowed image (:func:`max_image_bytes`, from its header, so it
    is never read), or a second member of a name already read (the first one counts).

    Raises:
        SimNetError: the archive is damaged, or not a regular file.
    """
    limit = max_image_bytes()
    seen: set[str] = set()
    try:
        with (
            open_regular(path, None, "an archive") as (handle, _),
            tarfile.open(
                fileobj=handle, mode=_tar_mode(handle), tarinfo=_BoundedTarInfo
            ) as archive,
        ):
            for member in archive:
                if not is_image_name(member.name):
                    continue
                if wanted is not None and member.name not in wanted:
                    continue
                key = f"{path}::{member.name}"
                name = os.path.normpath(member.name)
                if not member.isfile():
                    yield member, ImageError(f"{key}: not a regular file ({_member_kind(member)})")
                elif member.size > limit:
                    yield (
                        member,
                        ImageTooLarge(
                            f"{key}: too large ({human_bytes(member.size)}, more than the "
                            f"{human_bytes(limit)} allowed for an image)"
                        ),
                    )
                elif name in seen:
                    yield (
                        member,
                        ImageError(
                            f"{key}: a duplicate member name (the first of that name is used)"
                        ),
                    )
                else:
                    seen.add(name)
                    handle_ = archive.extractfile(member)
                    data = handle_.read(limit + 1) if handle_ is not None else b""
                    if len(data) != member.size:
                        raise tarfile.ReadError(f"member {member.name} is cut short")
                    yield member, data
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise SimNetError(f"archive {path} is damaged: {exc}") from None


class TarSource(Source):
    """A ``.tar`` / ``.tar.gz`` / ``.tgz`` holding a class-folder tree; read in one pass
    (:func:`tar_images`: regular members only, each bounded, a duplicate name read once)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        if not self.path.exists():
            raise SimNetError(f"archive not found: {path}")
        with open_regular(path, None, "an archive") as (handle, _):
            try:  # tarfile.is_tarfile, with the bounded headers
                tarfile.open(
                    fileobj=handle, mode=_tar_mode(handle), tarinfo=_BoundedTarInfo
                ).close()
            except _HeaderTooLarge as exc:
                raise SimNetError(f"archive {self.path} is damaged: {exc}") from None
            except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError):
                raise SimNetError(f"not a tar archive: {self.path}") from None

    def fingerprint(self) -> str:
        return _digest([f"tar|{_stat_key(self.path)}"])

    def stream(self) -> Iterator[tuple[Record, Payload | Unreadable]]:
        for member, data in tar_images(self.path):
            label, split = _split_and_label(Path(member.name).parts[:-1])
            yield Record(f"{self.path}::{member.name}", label, split), data


class CsvSource(FileListSource):
    """A CSV with a ``path,label`` header (and optionally ``split``); relative paths are
    resolved against the CSV's folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self.given = Path(path)  # the name errors use (not where a link leads)
        if not self.path.exists():
            raise SimNetError(f"CSV file not found: {path}")
        self._files = self._read()

    def _read(self) -> list[tuple[Path, Record]]:
        with _csv_rows(self.given) as reader:
            columns = set(reader.fieldnames or [])
            if {"path_a", "path_b", "similar"} <= columns:
                raise SimNetError(
                    f"{self.path} is a pairs CSV (path_a,path_b,similar); "
                    "open it with open_source, which reads it as pairs"
                )
            if not {"path", "label"} <= columns:
                raise SimNetError(f"{self.path} needs a header with columns path,label")
            rows = []
            for line, row in enumerate(reader, start=2):
                if not row.get("path") or row.get("label") in (None, ""):
                    raise SimNetError(f"{self.path}:{line}: empty path or label")
                path = Path(row["path"])
                if not path.is_absolute():
                    path = self.path.parent / path
                split = SPLIT_NAMES.get((row.get("split") or "").strip().lower())
                rows.append((path, Record(str(path), row["label"], split)))
        return rows

    def _origin(self) -> str:
        return f"csv|{_stat_key(self.path)}"


class PairsCsvSource(FileListSource):
    """The distinct images a pairs CSV names (relative paths: from the CSV's folder); its
    ``rows`` are the pairs, ``(path_a, path_b, similar, split)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self.given = Path(path)  # the name errors use (not where a link leads)
        if not self.path.exists():
            raise SimNetError(f"CSV file not found: {path}")
        self.rows = self._read()
        seen: dict[Path, None] = {}
        for a, b, _, _ in self.rows:
            seen.setdefault(a)
            seen.setdefault(b)
        self._files = [(p, Record(str(p), "", None)) for p in seen]

    def _read(self) -> list[tuple[Path, Path, bool, str | None]]:
        rows = []
        with _csv_rows(self.given) as reader:
            if not set(PAIR_COLUMNS) <= set(reader.fieldnames or []):
                raise SimNetError(f"{self.path} needs a header with columns path_a,path_b,similar")
            for line, row in enumerate(reader, start=2):
                if not row.get("path_a") or not row.get("path_b"):
                    raise SimNetError(f"{self.path}:{line}: empty path_a or path_b")
                flag = (row.get("similar") or "").strip().lower()
                if flag not in SIMILAR | DISSIMILAR:
                    raise SimNetError(
                        f"{self.path}:{line}: similar must be 1/0 or true/false, not {flag!r}"
                    )
                a, b = (self._resolve(row[k]) for k in ("path_a", "path_b"))
                if a == b:
                    raise SimNetError(f"{self.path}:{line}: a pair of an image with itself")
                split = SPLIT_NAMES.get((row.get("split") or "").strip().lower())
                rows.append((a, b, flag in SIMILAR, split))
        if not rows:
            raise SimNetError(f"{self.path} holds no pairs")
        return rows

    def _resolve(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() else self.path.parent / path

    def _origin(self) -> str:
        st = self.path.stat()
        return f"pairs|{self.path}|{st.st_size}|{st.st_mtime_ns}"


def is_pairs_csv(path: str | Path) -> bool:
    """Whether ``path`` is a CSV whose header names ``path_a,path_b,similar``."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".csv":
        return False
    with _csv_rows(path) as reader:
        header = reader.fieldnames or []
    return set(PAIR_COLUMNS) <= {h.strip() for h in header}


@contextlib.contextmanager
def _csv_rows(path: Path) -> Iterator[csv.DictReader]:
    """A CSV file's rows: a regular UTF-8 file of at most :data:`MAX_TABLE_BYTES`; a row
    the ``csv`` module cannot parse (a NUL byte, a field past its limit) is one line."""
    text = read_text_limited(path, MAX_TABLE_BYTES, "a CSV file")
    try:
        yield csv.DictReader(io.StringIO(text, newline=""))
    except csv.Error as exc:
        raise SimNetError(f"{path}: not a readable CSV ({exc})") from None


class _CifarUnpickler(pickle.Unpickler):
    """Loads the CIFAR-10 python batches without running arbitrary code: only the numpy
    constructors those files need are allowed."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def _load_cifar_batch(path: Path) -> dict:
    try:
        with open_regular(path, MAX_CIFAR_BYTES, "a CIFAR-10 batch") as (handle, _):
            batch = _CifarUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, MemoryError) as exc:
        raise SimNetError(f"{path} is not a CIFAR-10 batch file: {exc}") from None
    if not isinstance(batch, dict):
        raise SimNetError(f"{path} is not a CIFAR-10 batch file")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _cifar_images(path: Path, classes: int) -> tuple[np.ndarray, list[int]]:
    """A CIFAR-10 batch's ``(N, 32, 32, 3)`` images and their labels, checked against
    each other and the ``classes`` named."""
    batch = _load_cifar_batch(path)
    try:
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [int(x) for x in batch["labels"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SimNetError(f"{path} is not a CIFAR-10 batch file ({exc})") from None
    if len(labels) != len(data) or not all(0 <= x < classes for x in labels):
        raise SimNetError(
            f"{path}: {len(labels)} labels (each 0 to {classes - 1}) for {len(data)} images"
        )
    return data.transpose(0, 2, 3, 1), labels  # (N, 32, 32, 3)


class CifarSource(Source):
    """The official CIFAR-10 python release (``cifar-10-batches-py``)."""

    TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
    TEST = ["test_batch"]

    def __init__(self, root: str | Path):
        self.root = Path(root)
        missing = [
            n for n in self.TRAIN + self.TEST + ["batches.meta"] if not (self.root / n).is_file()
        ]
        if missing:
            raise SimNetError(f"{self.root} is missing CIFAR-10 files: {', '.join(missing)}")

    @staticmethod
    def looks_like(root: Path) -> bool:
        return (root / "data_batch_1").is_file() and (root / "batches.meta").is_file()

    def fingerprint(self) -> str:
        names = self.TRAIN + self.TEST + ["batches.meta"]
        return _digest(["cifar"] + [_stat_key(self.root / n) for n in names])

    def stream(self) -> Iterator[tuple[Record, Payload | None]]:
        meta_path = self.root / "batches.meta"
        meta = _load_cifar_batch(meta_path)
        try:
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta["label_names"]]
        except (KeyError, TypeError, UnicodeDecodeError):
            raise SimNetError(f"{meta_path}: no list of label_names") from None
        for split, names in (("train", self.TRAIN), ("test", self.TEST)):
            for name in names:
                data, labels = _cifar_images(self.root / name, len(classes))
                for i, (image, label) in enumerate(zip(data, labels, strict=True)):
                    key = f"{self.root / name}::{i}"
                    yield Record(key, classes[int(label)], split), np.ascontiguousarray(image)


def open_source(path: str | Path) -> Source:
    """Picks the source type for a path: CIFAR batches dir, folder, archive or CSV."""
    path = Path(path)
    if not path.exists():
        raise SimNetError(f"data not found: {path}")
    if path.is_dir():
        for candidate in (path, path / "cifar-10-batches-py"):
            if CifarSource.looks_like(candidate):
                return CifarSource(candidate)
        return FolderSource(path)
    name = path.name.lower()
    if name.endswith(".csv"):
        return PairsCsvSource(path) if is_pairs_csv(path) else CsvSource(path)
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return TarSource(path)
    raise SimNetError(f"unsupported data path {path}: give a folder, a .tar/.tar.gz or a .csv")


__all__ = [
    "Record",
    "Source",
    "FolderSource",
    "TarSource",
    "CsvSource",
    "PairsCsvSource",
    "CifarSource",
    "FileListSource",
    "is_pairs_csv",
    "open_source",
]
