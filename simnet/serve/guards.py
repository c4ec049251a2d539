"""What keeps the service answering whatever its clients and its files do.

- :class:`Workers`: decoding (and any other slow work) runs on a few threads with a
  bounded queue, never on the event loop; a full queue is :class:`Busy`, answered 503
  with ``Retry-After``.
- :class:`PixelBudget`: the pixels decoded at once are bounded, so concurrent uploads of
  the largest image allowed decode one after another, not all in memory together.
- :class:`BodyGuard`: a request body must arrive whole within a deadline (else 408), be
  no larger than the limit (413), and fit in the bytes all bodies in flight may hold
  (else 503); each of these answers closes the connection.
- :func:`guarded_protocol`: uvicorn's HTTP/1.1 protocol with a deadline on the request
  head (uvicorn has none: a client that sends half a request line and stops would hold
  its connection for ever), the head's bytes bounded (h11's own limit), and a deadline
  on a client that stops reading its answer.
- :func:`read_regular`: an indexed file read only if it is, once every link is resolved,
  a regular file in one of the folders the index named, and no larger than a limit;
  opened without blocking (a FIFO put in its place is refused, not waited on).
- :func:`bind`: the listening sockets, bound before the server starts so that a port in
  use is one line, not the server library's traceback.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import queue
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from simnet.errors import SimNetError

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_AFTER = "1"  # seconds a client told 503 should wait


class Busy(Exception):
    """The service has more work queued than it takes: answered 503 with Retry-After."""


class Refused(OSError):
    """An indexed file that is no longer one the service may serve (a link out of the
    indexed folders, a FIFO, a device, a folder)."""


class TooLarge(OSError):
    """An indexed file larger than the service reads."""


class Workers:
    """``threads`` daemon threads taking jobs from a queue of at most ``waiting``; a job
    submitted to a full queue raises :class:`Busy` at once. Daemon threads: a job that
    never ends cannot keep the process from exiting on SIGTERM."""

    def __init__(self, threads: int, waiting: int, name: str):
        if threads < 1 or waiting < 1:
            raise ValueError("a worker pool needs at least one thread and one place")
        self._jobs: queue.Queue[tuple[Future, Callable[..., Any], tuple]] = queue.Queue(waiting)
        for i in range(threads):
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True).start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            self._jobs.put_nowait((future, fn, args))
        except queue.Full:
            raise Busy("the service is busy: try again in a moment") from None
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread, awaited; a request that goes away before its
        job starts takes the job with it."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _run(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the request that asked, not lost
                future.set_exception(exc)
            else:
                future.set_result(result)
            del future, fn, args  # the job's data is not held until the next job


class PixelBudget:
    """The pixels the workers may decode at once: a job holds its image's pixels (read
    from its header) while it decodes, waiting while others hold too many. Decoding an
    image takes a few bytes per pixel, so this bounds the memory of concurrent decodes:
    many small images decode side by side, a largest one alone."""

    def __init__(self, total: int):
        self.total = self.free = max(1, total)
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = max(0, min(pixels, self.total))
        with self._changed:
            self._changed.wait_for(lambda: self.free >= pixels)
            self.free -= pixels
        try:
            yield
        finally:
            with self._changed:
                self.free += pixels
                self._changed.notify_all()


def _refusal(status: int, detail: str, retry: bool = False) -> JSONResponse:
    headers = {"Connection": "close"}
    if retry:
        headers["Retry-After"] = RETRY_AFTER
    return JSONResponse({"detail": detail}, status, headers=headers)


class BodyGuard:
    """ASGI middleware: reads a request's whole body before the app sees it.

    - declared (Content-Length) or counted over ``max_bytes``: 413, before reading more;
    - not whole within ``timeout`` seconds of the request head: 408 (a client that
      stalls mid-upload holds its connection that long at most);
    - the bodies being received or handled together would hold more than ``budget``
      bytes: 503 with Retry-After (so stalled uploads cannot fill the memory).

    A request without a body goes straight to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float, budget: int):
        self.app, self.max_bytes, self.timeout, self.budget = app, max_bytes, timeout, budget
        self.held = 0  # bytes of the bodies in flight
        self._lock = threading.Lock()  # a test client runs each request on its own loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if not length and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        if length and (not length.isdigit() or int(length) > self.max_bytes):
            too_large = f"request body is larger than {self.max_bytes:,} bytes"
            await _refusal(413, too_large)(scope, receive, send)
            return
        counted = [0]  # bytes of this body in self.held, given back when the request ends
        try:
            body = await self._read(receive, counted)
            if isinstance(body, JSONResponse):
                await body(scope, receive, send)
            elif body is not None:
                await self.app(scope, _replay(body, receive), send)
        finally:
            with self._lock:
                self.held -= counted[0]

    async def _read(self, receive: Receive, counted: list[int]) -> bytes | JSONResponse | None:
        """The whole body, the refusal to send instead, or None: the client went away."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        chunks: list[bytes] = []
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                return _refusal(408, f"request body not received within {self.timeout:g} s")
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if counted[0] + len(chunk) > self.max_bytes:
                return _refusal(413, f"request body is larger than {self.max_bytes:,} bytes")
            with self._lock:
                if self.held + len(chunk) > self.budget:
                    return _refusal(503, "the service is receiving too many uploads", retry=True)
                self.held += len(chunk)
                counted[0] += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the bounds of :func:`guarded_protocol`."""

    header_timeout = 10.0
    send_timeout = 60.0
    _head_timer: asyncio.TimerHandle | None = None
    _send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_head():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _not_reading(self) -> None:
        self._send_timer = None
        log.debug("dropped a connection whose client did not read its answer")
        self.transport.abort()  # close() would wait for the unread answer to drain

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            log.debug("closed a connection whose request head did not come in time")
            self.transport.close()


def guarded_protocol(header_timeout: float, send_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request head is not whole within
    ``header_timeout`` seconds of the connection or of the head's first byte, and dropping
    one whose client has not taken what was sent for ``send_timeout`` seconds (a client
    that asks for an image and never reads it would hold the image and the request for
    ever: uvicorn waits for the socket to drain without a bound).

    uvicorn times out only an idle connection after a response (``timeout_keep_alive``),
    and stops that clock on the first byte of the next request: a client that sends part
    of a request line and stops holds its connection for ever. Here a clock runs whenever
    the connection is waiting for a request head (from the connection, and from the first
    byte after a response); it stops when uvicorn hands a request to the app, whose body
    :class:`BodyGuard` times."""
    bounds = {"header_timeout": header_timeout, "send_timeout": send_timeout}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), bounds)


def read_regular(path: str, folders: frozenset[str], limit: int) -> bytes:
    """The bytes of ``path`` if, with every link resolved, it is a regular file directly
    in one of ``folders`` (resolved paths) of at most ``limit`` bytes.

    Raises:
        FileNotFoundError: it is gone.
        Refused: it resolves outside ``folders``, or is not a regular file.
        TooLarge: it holds more than ``limit`` bytes.
    """
    real = os.path.realpath(path)
    if os.path.dirname(real) not in folders:
        raise Refused(f"{path} resolves outside the indexed folders")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, socket, folder
            raise Refused(f"{path} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{path} is not a regular file")
        if st.st_size > limit:
            raise TooLarge(f"{path} is larger than {limit:,} bytes")
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        data = handle.read(limit + 1)  # the file may have grown since
    if len(data) > limit:
        raise TooLarge(f"{path} is larger than {limit:,} bytes")
    return data


def return_freed_memory() -> None:
    """Has glibc give every freed block of 1 MiB or more back to the system at once.

    By default glibc raises its mmap threshold after large blocks are freed, so that the
    next ones come from per-thread arenas, which keep them: each decode thread would keep
    the few hundred MB its largest image took. With the threshold fixed, the memory of a
    decoded image is returned when it is freed. Elsewhere than glibc, nothing is done."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(found) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found
    )


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` at ``port``; a port in use, or an
    address this machine does not have, is a :class:`SimNetError`."""
    if not 1 <= port <= 65535:
        raise SimNetError(f"--port must be from 1 to 65535, not {port}")
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise SimNetError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in found:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SimNetError(f"port {port} on {host} is already in use") from None
        raise SimNetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets
