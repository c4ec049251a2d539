"""Atomic file writes: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
