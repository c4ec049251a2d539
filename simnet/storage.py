"""Atomic file writes (a reader sees the old file or the new one, never a partial one), and
bounded reads (only regular files, only as many bytes as they should hold)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock, Timeout

from simnet.errors import SimNetError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success it is synced and renamed over it.
    A write that fails (a full disk, say) raises :class:`SimNetError` and leaves ``path``
    as it was. Write whole bytes from Python (not a library's own file writer), so that
    every failure surfaces as an ``OSError``."""
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; keep the usual permissions
        yield tmp_path
        with tmp_path.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        _sync_dir(path.parent)
    except OSError as exc:  # a full disk, a quota, a read-only or vanished folder
        raise SimNetError(
            f"could not write {path} ({exc.strerror or exc}); what was there before is unchanged"
        ) from None
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive(path: str | Path, wait: bool = True) -> Iterator[None]:
    """Holds the write lock of ``path`` (a file, or a folder such as a run folder) for a
    block: one writer at a time, waiting its turn (or refused at once when ``wait`` is
    false). The operating system releases the lock when its process dies, however it dies
    (``filelock``: ``flock`` on Unix, ``LockFileEx`` on Windows). Once it is held, temporary
    files that a killed writer left behind are removed."""
    path = Path(path)
    if path.is_dir():
        lock = path / ".lock"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(f".{path.name}.lock")
    held = FileLock(lock, timeout=-1 if wait else 0, thread_local=False)
    try:
        held.acquire()
    except Timeout:
        raise SimNetError(f"another process is writing {path}") from None
    try:
        pattern = ".*.tmp" if path.is_dir() else f".{path.name}.*.tmp"
        stale = list((path if path.is_dir() else path.parent).glob(pattern))
        for leftover in stale:
            leftover.unlink(missing_ok=True)
        yield
    finally:
        held.release()


def remove_if_empty(folder: str | Path) -> None:
    """Removes ``folder`` if it holds nothing but its lock file (:func:`exclusive`'s)."""
    folder = Path(folder)
    with contextlib.suppress(OSError):
        if {p.name for p in folder.iterdir()} <= {".lock"}:
            (folder / ".lock").unlink(missing_ok=True)
            folder.rmdir()


# -- bounded reads -------------------------------------------------------------------------
# Every file simnet reads is a regular file (after following links), opened without blocking
# and read up to a limit chosen from what it should hold: a FIFO, a device (/dev/zero), a
# socket or a folder is refused unread, and so is a file larger than its limit.
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
MAX_META_BYTES = 4 * MIB  # a small JSON/YAML file: model.json, params.json, a calibration
MAX_TABLE_BYTES = 64 * MIB  # a CSV of images or pairs (about a million rows)
MAX_ROW_BYTES = 8 * KIB  # per row of a file naming rows (a path of up to 4096 bytes, a label)

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words (for one that is not a regular file)."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def human_bytes(count: float) -> str:
    """``count`` bytes as a person reads it: ``3.0 GiB``, ``512.0 KiB``, ``12 bytes``."""
    for unit, size in (("TiB", GIB << 10), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def _fail(error: type[SimNetError], path: str | Path, reason: str) -> SimNetError:
    return error(f"{path}: {reason}")


@contextlib.contextmanager
def open_regular(
    path: str | Path,
    limit: int | None,
    what: str = "this file",
    error: type[SimNetError] = SimNetError,
) -> Iterator[tuple[BinaryIO, int]]:
    """Opens ``path`` for reading if, after following links, it is a regular file of at most
    ``limit`` bytes (None: any size); yields the binary file and its size.

    ``os.stat`` is checked before anything is opened (a FIFO is never opened, so a reader
    never waits for a writer), the open does not block (``O_NONBLOCK``), and the opened file
    is checked again (``fstat``), so a file swapped for a FIFO or a device in between is
    refused too.

    Raises:
        ``error`` (a :class:`SimNetError`): ``"<path>: <why>"``, one line; missing or
        unreadable files as well (their ``OSError`` reason).
    """
    try:
        before = os.stat(path)
    except ValueError as exc:  # a NUL byte in the name
        raise _fail(error, repr(str(path)), f"cannot read it ({exc})") from None
    except OSError as exc:
        raise _fail(error, path, f"cannot read it ({exc.strerror or exc})") from None
    _check_stat(path, before, limit, what, error)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _fail(error, path, f"cannot read it ({exc.strerror or exc})") from None
    try:
        after = os.fstat(fd)
        _check_stat(path, after, limit, what, error)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: reads never wait anyway
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, after.st_size


def _check_stat(
    path: str | Path, st: os.stat_result, limit: int | None, what: str, error: type[SimNetError]
) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _fail(error, path, f"not a regular file ({file_kind(st.st_mode)})")
    if limit is not None and st.st_size > limit:
        raise _fail(
            error,
            path,
            f"too large ({human_bytes(st.st_size)}, more than the {human_bytes(limit)} "
            f"allowed for {what})",
        )


def read_limited(
    path: str | Path,
    limit: int,
    what: str = "this file",
    error: type[SimNetError] = SimNetError,
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (:func:`open_regular`); a
    file that grows past the limit while it is read is refused as well."""
    with open_regular(path, limit, what, error) as (handle, _):
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _fail(error, path, f"cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise _fail(error, path, f"too large (more than the {human_bytes(limit)} allowed)")
    return data


def read_text_limited(
    path: str | Path, limit: int = MAX_META_BYTES, what: str = "this file"
) -> str:
    """A regular UTF-8 text file of at most ``limit`` bytes (:func:`read_limited`)."""
    data = read_limited(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start} is {data[exc.start]:#04x}"
        raise SimNetError(f"{path}: not UTF-8 text ({where})") from None


def read_json_limited(
    path: str | Path, limit: int = MAX_META_BYTES, what: str = "a JSON file"
) -> Any:
    """A JSON file's value, read with :func:`read_text_limited`; deep nesting and bad JSON
    are one-line errors."""
    text = read_text_limited(path, limit, what)
    return parse_json(text, path)


def parse_json(text: str | bytes, name: str | Path) -> Any:
    """``json.loads`` whose every failure (bad JSON, nesting too deep) is a one-line
    :class:`SimNetError` naming ``name``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise SimNetError(f"{name}: JSON nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise SimNetError(f"{name}: not valid JSON ({str(exc).splitlines()[0]})") from None


def hash_file(path: str | Path, limit: int | None, what: str = "this file") -> tuple[int, str]:
    """``(bytes, SHA-256 hex digest)`` of a regular file of at most ``limit`` bytes, read a
    chunk at a time (:func:`open_regular`)."""
    digest, size = hashlib.sha256(), 0
    with open_regular(path, limit, what) as (handle, _):
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise _fail(SimNetError, path, f"too large (more than {human_bytes(limit)})")
    return size, digest.hexdigest()


# -- zip archives (index files, checkpoints) -----------------------------------------------
ZIP_FLOOR_BYTES = 64 * MIB  # what any zip member may unpack to, however small the file
# ... plus this many times the file's size: simnet writes its zips uncompressed (ratio 1),
# and a file recompressed by hand shrinks its text a few times, never a thousand.
ZIP_UNPACK_RATIO = 8


# What reading a damaged zip can raise, beyond SimNetError: the caller names the file.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # a compression method zipfile does not know
)


@contextlib.contextmanager
def open_zip(path: str | Path, what: str) -> Iterator[zipfile.ZipFile]:
    """A regular file (:func:`open_regular`) opened as a zip whose members unpack to no
    more than :func:`zip_budget` allows; other damage raises one of :data:`ZIP_ERRORS`."""
    with open_regular(path, None, what) as (handle, _), zipfile.ZipFile(handle) as archive:
        zip_budget(path, archive)
        yield archive


def zip_budget(path: str | Path, archive: zipfile.ZipFile) -> int:
    """The most bytes the members of ``archive`` (the zip file at ``path``) may unpack to,
    together: :data:`ZIP_FLOOR_BYTES` plus :data:`ZIP_UNPACK_RATIO` times the file's size.

    Raises:
        SimNetError: the members declare more (a zip bomb), naming the largest.
    """
    budget = ZIP_FLOOR_BYTES + ZIP_UNPACK_RATIO * os.stat(path).st_size
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    if total > budget:
        largest = max(infos, key=lambda info: info.file_size)
        raise SimNetError(
            f"{path}: its members unpack to {human_bytes(total)} ({largest.filename}: "
            f"{human_bytes(largest.file_size)}), more than the {human_bytes(budget)} a file of "
            f"{human_bytes(os.stat(path).st_size)} may hold"
        )
    return budget
