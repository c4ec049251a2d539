"""The web service: search an index by uploaded image, compare two images, see the matches,
and have the difference between the query and a match explained.

``create_app(index_file)`` builds a FastAPI app; ``simnet serve`` runs it with uvicorn
(:func:`server_config`). Uploads are limited in bytes (413), pixels (413) and type (415);
an upload that is an image but cannot be decoded, or a missing field, is a 422. Images
(and the views of an indexed design) are served only by the id the index gave them, never
by a path from the request, and only while they are regular files in the folders the
index named; answers name images by their path relative to the indexed root.

No request can stall the others (:mod:`simnet.serve.guards`): images are decoded on a
few worker threads with a bounded queue, embedded by one batching thread with a bounded
queue (either full: 503 with Retry-After), the index file is watched and reloaded on a
thread of its own, an archive's images are read once, on a thread of their own, and
request heads and bodies that do not arrive in time close their connection.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import os
import queue
import tarfile
import threading
import time
import warnings
import weakref
from concurrent.futures import Future
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from simnet.compare import Explanation, explain_arrays
from simnet.data.designs import view_files
from simnet.data.images import MAX_PIXELS, decode_image, is_image_name
from simnet.errors import ImageError, ImageTooLarge, NotAnImage
from simnet.index import Match, SearchIndex, load_index
from simnet.inference import SimNet, open_model
from simnet.serve.guards import (
    RETRY_AFTER,
    BodyGuard,
    Busy,
    PixelBudget,
    Refused,
    TooLarge,
    Workers,
    guarded_protocol,
    read_regular,
    return_freed_memory,
)

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
}
MAX_K = 100
# A difference map drawn over its view: 'magma' colours, as opaque as the map is strong
# (up to OVERLAY_ALPHA), clear where it is weaker than OVERLAY_FLOOR.
OVERLAY_ALPHA = 0.75
OVERLAY_FLOOR = 0.15
RELOAD_POLL = 0.25  # seconds between looks at the index file's stamp
ARCHIVE_WAIT = 20.0  # seconds a request waits for an archive being read; then 503


@dataclass(frozen=True)
class Limits:
    """What one request may carry, and what the service takes on at once."""

    max_bytes: int = 10 * 1024 * 1024  # the whole request body
    max_pixels: int = 40_000_000  # per image, read from its header before decoding
    max_archive_bytes: int = 512 * 1024 * 1024  # archive members held to serve them
    max_image_bytes: int = 64 * 1024 * 1024  # an indexed file read to serve or explain it
    workers: int = 2  # threads decoding images (each holds one decoded image at a time)
    decode_pixels: int = 0  # pixels decoded at once by all workers; 0: max_pixels
    queue: int = 16  # decoding jobs waiting for a thread; more: 503
    batch_queue: int = 64  # requests waiting to be embedded; more: 503
    body_timeout: float = 60.0  # seconds for a request body to arrive whole; then 408
    header_timeout: float = 10.0  # seconds for a request head to arrive whole (server)
    max_connections: int = 1000  # connections open at once; more get 503 (server)
    body_budget: int = 0  # bytes all bodies in flight may hold; 0: 4x max_bytes, >= 64 MiB

    @property
    def bodies(self) -> int:
        return self.body_budget or max(4 * self.max_bytes, 64 * 1024 * 1024)


@dataclass
class Snapshot:
    """One loaded index and what serving it needs: the folders its files may be read from
    (resolved when it was loaded), the root its paths are shown relative to, and the
    members of its archives once read."""

    index: SearchIndex
    stamp: tuple[int, int, int]
    folders: frozenset[str]
    root: str | None
    archives: dict[str, Future[dict[str, bytes]]] = field(default_factory=dict)

    @classmethod
    def of(cls, index: SearchIndex, stamp: tuple[int, int, int], designs: bool) -> Snapshot:
        """``designs``: each path is a design folder, whose view files are served."""
        places, parents = set(), set()
        for key in index.paths:
            path = key.split("::", 1)[0] if "::" in key else key
            if not os.path.isabs(path):
                continue
            folder = path if designs and "::" not in key else os.path.dirname(path)
            places.add(folder)
            parents.add(os.path.dirname(path))
        folders = frozenset(os.path.realpath(p) for p in places)
        try:
            root = os.path.commonpath(sorted(parents)) if parents else None
        except ValueError:
            root = None
        return cls(index, stamp, folders, root)

    def show(self, key: str) -> str:
        """An indexed path as an answer names it: relative to the indexed root, with any
        bytes that are not UTF-8 shown as ``\\xNN``."""
        if self.root is not None:
            path, sep, member = key.partition("::")
            inside = (path + os.sep).startswith(self.root.rstrip(os.sep) + os.sep)
            if os.path.isabs(path) and inside:
                key = os.path.relpath(path, self.root) + sep + member
        return _text(key)

    def matches(self, found: list[Match]) -> list[dict[str, Any]]:
        return [_shown(m, self.show(m.path)) for m in found]


class Service:
    """The model and the index behind the app. The index file is watched (by a thread of
    its own): when it is replaced (``simnet index --add`` writes atomically), the new one
    is loaded beside the old, which serves until the new one is whole and checked; one
    that cannot be loaded or does not fit the model is logged and the old one kept. Each
    request takes one :class:`Snapshot` and answers from it alone."""

    def __init__(
        self,
        index_file: str | Path,
        model: str | Path | None = None,
        engine: str = "auto",
        limits: Limits | None = None,
    ):
        self.index_file = Path(index_file)
        self.limits = limits or Limits()
        stamp = self._file_stamp()
        index = load_index(self.index_file)
        self.net = open_model(model, recorded=index.model, engine=engine)
        index.check_model(self.net.model_id, self.net.dim, self.net.preprocessing)
        self.current = Snapshot.of(index, stamp, bool(self.net.views))
        self._refused = stamp  # the stamp of a file last refused: not tried again
        self._archives_lock = threading.Lock()  # guards only the dict of futures
        _watch(self)

    @property
    def index(self) -> SearchIndex:
        """The index now served."""
        return self.current.index

    def _file_stamp(self) -> tuple[int, int, int]:
        st = self.index_file.stat()
        return st.st_mtime_ns, st.st_ino, st.st_size

    def reload(self) -> bool:
        """Loads the index file if it changed since it was last loaded (or refused); True
        when a new index is served. A file that cannot be used is logged, once."""
        try:
            stamp = self._file_stamp()
        except OSError as exc:
            if self._refused != (0, 0, 0):
                log.warning("kept the loaded index: %s", exc)
                self._refused = (0, 0, 0)
            return False
        if stamp in (self.current.stamp, self._refused):
            return False
        try:
            index = load_index(self.index_file)
            index.check_model(self.net.model_id, self.net.dim, self.net.preprocessing)
            snapshot = Snapshot.of(index, stamp, bool(self.net.views))
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the old one serves
            self._refused = stamp
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("kept the loaded index: %s cannot be loaded: %s", self.index_file, reason)
            return False
        self.current = snapshot
        log.info("reloaded %s: %d images", self.index_file, len(index))
        return True

    def read_file(self, snapshot: Snapshot, key: str, view: str | None = None) -> bytes:
        """The bytes of an indexed image file; of an indexed design, the file of ``view``
        (one of the model's views; default: the first). Only a regular file in the folders
        the index named, as they were resolved when it was loaded (:func:`read_regular`)."""
        path = key
        if self.net.views:  # a design: one of its views' files
            files = view_files(Path(key), self.net.views)
            if files is None:
                raise FileNotFoundError(f"{key} lacks a view")
            path = str(files[view or self.net.views[0]])
        return read_regular(path, snapshot.folders, self.limits.max_image_bytes)

    def archive(self, snapshot: Snapshot, archive: str) -> Future[dict[str, bytes]]:
        """The indexed members of an archive, read once per loaded index on a thread of
        their own (a request waits for them without holding anything)."""
        with self._archives_lock:
            found = snapshot.archives.get(archive)
            if found is None:
                found = snapshot.archives[archive] = Future()
                found.set_running_or_notify_cancel()  # a waiter that goes cannot cancel it
                threading.Thread(
                    target=self._read_archive,
                    args=(snapshot, archive, found),
                    name="simnet-archive",
                    daemon=True,
                ).start()
        return found

    def _read_archive(self, snapshot: Snapshot, archive: str, into: Future) -> None:
        try:
            into.set_result(self._load_archive(snapshot, archive))
        except Exception as exc:  # noqa: BLE001 - its images are answered 404, with the reason logged
            log.warning("cannot serve the images of %s: %s", archive, exc)
            into.set_exception(FileNotFoundError(f"{archive} cannot be read"))

    def _load_archive(self, snapshot: Snapshot, archive: str) -> dict[str, bytes]:
        """The indexed members of an archive, read in one pass (archives have no index):
        only regular members, each at most the size of an image served, all together at
        most ``max_archive_bytes``. The archive must be a regular file where it was."""
        limits = self.limits
        prefix = archive + "::"
        wanted = {p[len(prefix) :] for p in snapshot.index.paths if p.startswith(prefix)}
        real = os.path.realpath(archive)
        if os.path.dirname(real) not in snapshot.folders:
            raise Refused(f"{archive} resolves outside the indexed folders")
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        if not _is_regular(fd):
            os.close(fd)
            raise Refused(f"{archive} is not a regular file")
        found: dict[str, bytes] = {}
        total = 0
        with os.fdopen(fd, "rb") as handle, tarfile.open(fileobj=handle, mode="r|*") as tar:
            for member in tar:
                if member.name not in wanted or not member.isfile():
                    continue
                if member.size > limits.max_image_bytes:
                    log.warning("%s::%s is too large to serve", archive, member.name)
                    continue
                if total + member.size > limits.max_archive_bytes:
                    log.warning("%s is too large to serve all its images", archive)
                    break
                reader = tar.extractfile(member)
                if reader is not None:
                    found[member.name] = reader.read(member.size)
                    total += len(found[member.name])
        return found


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _watch(service: Service) -> None:
    """Looks at the index file's stamp every :data:`RELOAD_POLL` seconds, on a thread that
    ends with the service."""
    ref = weakref.ref(service)

    def run() -> None:
        while True:
            time.sleep(RELOAD_POLL)
            alive = ref()
            if alive is None:
                return
            try:
                alive.reload()
            except Exception:  # noqa: BLE001 - the watcher never stops on a bad file
                log.exception("the index watcher failed")
            del alive

    threading.Thread(target=run, name="simnet-index-watch", daemon=True).start()


class Batcher:
    """Embeds and searches the queries of concurrent requests together, on one thread.

    Requests queue their images (at most ``waiting`` requests: then :class:`Busy`); the
    worker takes every request waiting (up to ``max_batch``), embeds all their images in
    one forward pass and searches all their queries in one FAISS call, on one snapshot of
    the index, which it hands back with the matches. An idle service answers a lone
    request at once; a busy one amortises each pass over many requests.
    """

    def __init__(self, service: Service, max_batch: int = 64, waiting: int = 64):
        self.service, self.max_batch = service, max_batch
        self._queue: queue.Queue[tuple[list[np.ndarray], int, Future]] = queue.Queue(waiting)
        threading.Thread(target=self._run, name="simnet-batcher", daemon=True).start()

    async def submit(
        self, items: list[np.ndarray], k: int = 0
    ) -> tuple[np.ndarray, list[Match] | None, Snapshot]:
        """Embeds ``items``; with ``k``, also searches the first. Returns
        ``(vectors, matches, snapshot searched)``."""
        future: Future = Future()
        try:
            self._queue.put_nowait((items, k, future))
        except queue.Full:
            raise Busy("the service is busy: try again in a moment") from None
        return await asyncio.wrap_future(future)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch = [job for job in batch if job[2].set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                results = self._answer(batch)
            except Exception as exc:  # a bug: each waiting request gets it, as a 500
                log.exception("batch failed")
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
            del batch, results

    def _answer(self, batch: list[tuple[list[np.ndarray], int, Future]]) -> list:
        net = self.service.net
        snapshot = self.service.current
        vectors = net.embed_array(np.stack([item for items, _, _ in batch for item in items]))
        starts = np.cumsum([0] + [len(items) for items, _, _ in batch])
        searching = [i for i, (_, k, _) in enumerate(batch) if k]
        found: dict[int, list] = {}
        if searching:
            k = max(batch[i][1] for i in searching)
            results = snapshot.index.search(vectors[starts[searching]], k)
            found = {i: r[: batch[i][1]] for i, r in zip(searching, results, strict=True)}
        return [
            (vectors[starts[i] : starts[i + 1]], found.get(i), snapshot) for i in range(len(batch))
        ]


class TokenGate:
    """ASGI middleware: every request but the page (``/``) and ``/health`` must carry the
    token, as ``Authorization: Bearer TOKEN`` or (for the images a page shows, where no
    header can go) ``?token=TOKEN``; others are answered 401."""

    OPEN = frozenset({"/", "/health"})

    def __init__(self, app: ASGIApp, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.OPEN or self._carries(scope):
            await self.app(scope, receive, send)
            return
        refused = JSONResponse(
            {"detail": "this service needs its token: Authorization: Bearer TOKEN"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await refused(scope, receive, send)

    def _carries(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return True
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return any(hmac.compare_digest(t.encode(), self.token) for t in query.get("token", []))


def _detail(what: str) -> dict[str, Any]:
    body = {"type": "object", "properties": {"detail": {"type": "string"}}}
    return {"description": what, "content": {"application/json": {"schema": body}}}


# What a request can do wrong, each answered with {"detail": "..."}.
ERRORS: dict[int | str, dict[str, Any]] = {
    413: _detail("the body or an image is larger than allowed"),
    415: _detail("a file is not an image"),
    422: _detail("a field is missing or wrong, or an image cannot be decoded"),
    503: _detail("the service is busy (see Retry-After) or receiving too many uploads"),
}


def _form(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI for a multipart form: the fields a handler reads from the raw request."""
    schema = {"type": "object", "properties": fields, "required": required}
    content = {"multipart/form-data": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def _field_names(views: tuple[str, ...], prefix: str) -> list[str]:
    if not views:
        return [prefix]
    return [f"{prefix}.{v}" if prefix else v for v in views]


async def _read_upload(form: Any, name: str, limits: Limits) -> tuple[str, bytes]:
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, f"missing image file field {name!r}")
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and not (declared.startswith("image/") or declared == "application/octet-stream"):
        raise HTTPException(415, f"{name}: {declared} is not an image type")
    data = await upload.read()
    if not data:
        raise HTTPException(422, f"{name}: empty file")
    return upload.filename or name, data


def _decode_array(net: SimNet, data: bytes, max_pixels: int) -> np.ndarray:
    """An image as the model takes it: ``(S, S, 3)`` uint8 at its size; a design's view
    as the index's designs were (:meth:`SimNet.decode`): padded to a square, not
    stretched (but past ``data.max_aspect``), and cropped to its drawing first where the
    model trims (``data.trim``)."""
    size, views = net.config.data.image_size, bool(net.views)
    trim = views and net.config.data.trim
    keep_aspect = views or net.config.data.keep_aspect
    most = net.config.data.max_aspect if views else None
    return decode_image(
        data, size, max_pixels=max_pixels, keep_aspect=keep_aspect, trim=trim, max_aspect=most
    )


def _decode(net: SimNet, data: bytes, name: str, limits: Limits) -> np.ndarray:
    """An uploaded image decoded (:func:`_decode_array`), or the 4xx that says why not."""
    try:
        return _decode_array(net, data, limits.max_pixels)
    except ImageTooLarge as exc:
        raise HTTPException(413, f"{name}: {exc}") from None
    except NotAnImage:
        raise HTTPException(415, f"{name}: not an image") from None
    except ImageError as exc:
        raise HTTPException(422, f"{name}: {str(exc).removeprefix('image data: ')}") from None


def _parse_k(raw: Any) -> int:
    try:
        k = int(raw)
    except (TypeError, ValueError):
        raise HTTPException(422, f"k must be a whole number from 1 to {MAX_K}") from None
    if not 1 <= k <= MAX_K:
        raise HTTPException(422, f"k must be a whole number from 1 to {MAX_K}")
    return k


def _parse_id(raw: Any) -> int:
    if raw is None:
        raise HTTPException(422, "missing field 'match': the id of a match from /search")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise HTTPException(422, "match must be the id of an indexed image") from None


def _data_url(pixels: np.ndarray) -> str:
    """A uint8 RGB or RGBA array as a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _overlay(heat: np.ndarray) -> str:
    """A difference map ``(S, S)`` in [0, 1] as a PNG data URL to lay over its view: the
    'magma' colours, alpha in proportion to the map, clear where it is under the floor."""
    from matplotlib import colormaps

    rgba = colormaps["magma"](heat)
    rgba[..., 3] = np.where(heat < OVERLAY_FLOOR, 0.0, OVERLAY_ALPHA * heat)
    return _data_url((rgba * 255).round().astype(np.uint8))


def create_app(
    index_file: str | Path,
    model: str | Path | None = None,
    limits: Limits | None = None,
    engine: str = "auto",
    token: str | None = None,
    docs: bool = True,
) -> FastAPI:
    """The service over one index file (its model from the index unless ``model`` is
    given; ``engine`` runs it, see :class:`~simnet.inference.SimNet`). With ``token``,
    every request but the page and ``/health`` must carry it (:class:`TokenGate`).
    ``docs=False``: no ``/docs``, ``/redoc`` or ``/openapi.json`` (404)."""
    limits = limits or Limits()
    return_freed_memory()  # a decoded image's memory goes back when it is freed
    service = Service(index_file, model, engine, limits)
    hidden: dict[str, Any] = {} if docs else {"docs_url": None, "redoc_url": None}
    app = FastAPI(
        title="simnet",
        summary="Search a repository of images by similarity.",
        version="1",
        openapi_url="/openapi.json" if docs else None,
        **hidden,
    )
    app.state.service = service
    app.state.limits = limits
    app.add_middleware(
        BodyGuard, max_bytes=limits.max_bytes, timeout=limits.body_timeout, budget=limits.bodies
    )
    if token:
        app.add_middleware(TokenGate, token=token)  # outermost: refused before anything
    app.add_exception_handler(Busy, _busy)
    batcher = Batcher(service, waiting=limits.batch_queue)
    _register(app, Routes(service, batcher, limits))
    return app


async def _busy(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": RETRY_AFTER})


def server_config(
    app: FastAPI, limits: Limits | None = None, log_level: str = "info", access_log: bool = True
) -> Any:
    """The uvicorn configuration that serves ``app`` within ``limits``: request heads
    timed, and answers a client does not read (the body timeout;
    :func:`~simnet.serve.guards.guarded_protocol`), connections capped (503 beyond), idle
    keep-alive connections closed after 5 s, and a SIGTERM that ends the server within
    10 s whatever requests are still open."""
    import uvicorn

    limits = limits or getattr(app.state, "limits", None) or Limits()
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits.header_timeout, limits.body_timeout),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
    )


class Routes:
    """The app's endpoints over one service: each handler reads its request, has the
    images decoded by the workers, asks the batcher to embed and search, and answers.
    Nothing slow runs on the event loop."""

    def __init__(self, service: Service, batcher: Batcher, limits: Limits):
        self.service, self.batcher, self.limits = service, batcher, limits
        self.net = service.net
        self.views = service.net.views
        self.workers = Workers(limits.workers, limits.queue, "simnet-decode")
        self.pixels = PixelBudget(limits.decode_pixels or limits.max_pixels)
        # one explanation at a time, one more waiting: each is heavy
        self.explainer = Workers(1, 1, "simnet-explain")
        self._page = resources.files("simnet.serve").joinpath("page.html").read_text()

    async def read_item(self, form: Any, prefix: str) -> list[tuple[str, bytes]]:
        """The uploads of one query item: an image, or a design (one image per view)."""
        return [
            await _read_upload(form, field, self.limits)
            for field in _field_names(self.views, prefix)
        ]

    def decode_item(self, uploads: list[tuple[str, bytes]]) -> tuple[str, np.ndarray]:
        """One query item decoded (on a worker): ``(name, (S, S, 3) or (V, S, S, 3))``."""
        arrays = []
        for name, data in uploads:
            with self.pixels.hold(_pixels(data, self.limits.max_pixels)):
                arrays.append(_decode(self.net, data, name, self.limits))
        names = [name for name, _ in uploads]
        if not self.views:
            return names[0], arrays[0]
        return "+".join(names), np.stack(arrays)

    async def page(self) -> HTMLResponse:
        return HTMLResponse(self._page)

    async def health(self) -> dict[str, Any]:
        """The service is up: the index's size and the model it answers with."""
        index = self.service.index
        return {
            "status": "ok",
            "images": len(index),
            "index": index.kind,
            "dim": index.dim,
            "model": self.net.model_id,
            "views": list(self.views),
            "max_bytes": self.limits.max_bytes,
        }

    async def search(self, request: Request) -> dict[str, Any]:
        """Multipart upload: ``image`` (a multi-view model: one field per view, e.g.
        ``top``, ``front``, ``side``) and optionally ``k`` (default 10) -> the k nearest
        indexed images, nearest first, each with the URL of its picture and its path
        relative to the indexed root."""
        form = await request.form()
        k = _parse_k(form.get("k", request.query_params.get("k", 10)))
        uploads = await self.read_item(form, "" if self.views else "image")
        name, item = await self.workers.run(self.decode_item, uploads)
        _, matches, snapshot = await self.batcher.submit([item], k)
        return {"query": name, "matches": snapshot.matches(matches or [])}

    async def compare(self, request: Request) -> dict[str, Any]:
        """Multipart upload: ``a`` and ``b`` (a multi-view model: ``a.top``, ``b.top``, ...)
        -> their embedding distance and cosine similarity."""
        form = await request.form()
        uploads = [await self.read_item(form, "a"), await self.read_item(form, "b")]
        (_, a), (_, b) = await self.workers.run(lambda: [self.decode_item(u) for u in uploads])
        vectors, _, _ = await self.batcher.submit([a, b])
        distance = float(np.linalg.norm(vectors[0] - vectors[1]))
        return {"distance": distance, "similarity": 1.0 - distance**2 / 2.0}

    async def explain(self, request: Request) -> dict[str, Any]:
        """Multipart upload: the query as for /search (``image``, or one field per view)
        and ``match``, the id of an indexed image (a match /search gave) -> how the two
        differ: ``a`` is the query and ``b`` the match, with the similarity, the verdict
        (None: the model is not calibrated), the summary sentence, both sides' predicted
        attributes (``attribute_labels`` names them in words) and the differing ones,
        the coarse difference maps, and ``overlays``: per side and view, the full map as
        a translucent PNG data URL to draw over that view's picture, which
        ``match.view_urls`` serves for the match. A model that trims its views to their
        drawing (``data.trim``) or stretches long ones (``data.max_aspect``) maps the views
        it saw, not the files: its answer adds ``pictures``, per side and view the image
        the model saw, to draw the map over."""
        form = await request.form()
        image_id = _parse_id(form.get("match"))
        snapshot = self.service.current
        entry = snapshot.index.entry(image_id)
        if entry is None:
            raise HTTPException(404, f"no image {image_id} in the index")
        uploads = await self.read_item(form, "" if self.views else "image")
        stored = [
            await self._indexed_bytes(snapshot, image_id, entry.path, view)
            for view in (self.views or (None,))
        ]
        name, query = await self.workers.run(self.decode_item, uploads)
        match = await self.workers.run(self._decode_indexed, image_id, stored)
        shown = snapshot.show(entry.path)
        body = await self.explainer.run(self._explain, np.stack([query, match]), name, shown)
        url = f"/images/{image_id}"
        views = body["views"]
        return {
            **body,
            "match": {
                "id": image_id,
                "path": shown,
                "label": _text(entry.label),
                "url": url,
                "view_urls": {v: f"{url}?view={v}" if self.views else url for v in views},
            },
        }

    def _explain(self, arrays: np.ndarray, a: str, b: str) -> dict[str, Any]:
        """The explanation of a query and a match, with its pictures drawn (on a worker)."""
        found: Explanation = explain_arrays(self.net, arrays, a, b)
        views = list(self.views) or ["image"]
        pictures = {}
        framed = self.net.config.data.trim or self.net.config.data.max_aspect
        if self.views and framed:  # the maps lie over the views as the model framed them
            pictures["pictures"] = {
                side: {v: _data_url(arrays[s, i]) for i, v in enumerate(views)}
                for s, side in enumerate("ab")
            }
        return {
            **pictures,
            **found.to_dict(),
            "views": views,
            "attribute_labels": _labels(found),
            "overlays": {
                side: {v: _overlay(found.maps[s, i]) for i, v in enumerate(views)}
                for s, side in enumerate("ab")
            },
        }

    async def _indexed_bytes(
        self, snapshot: Snapshot, image_id: int, key: str, view: str | None
    ) -> bytes:
        """The stored bytes of an indexed image (of a design: of ``view``), or the 4xx that
        says why they cannot be served: 404 gone, 403 no longer a regular file in the
        indexed folders, 413 too large. Archive members come from the archive's cache."""
        try:
            if "::" in key:
                archive, member = key.split("::", 1)
                reading = asyncio.wrap_future(self.service.archive(snapshot, archive))
                try:
                    members = await asyncio.wait_for(asyncio.shield(reading), ARCHIVE_WAIT)
                except TimeoutError:
                    raise Busy("the images of this archive are still being read") from None
                if member not in members:
                    raise FileNotFoundError(key)
                return members[member]
            return await self.workers.run(self.service.read_file, snapshot, key, view)
        except Refused:
            raise HTTPException(
                403, f"image {image_id} is no longer a regular file in the indexed folders"
            ) from None
        except TooLarge:
            raise HTTPException(413, f"image {image_id} is too large to serve") from None
        except OSError:
            raise HTTPException(404, f"image {image_id} is no longer readable") from None

    def _decode_indexed(self, image_id: int, stored: list[bytes]) -> np.ndarray:
        """An indexed image (a design: each view) decoded as a query is; 404 when it no
        longer decodes (on a worker)."""
        arrays = []
        try:
            for data in stored:
                with self.pixels.hold(_pixels(data, MAX_PIXELS)):
                    arrays.append(_decode_array(self.net, data, MAX_PIXELS))
        except ImageError:
            raise HTTPException(404, f"image {image_id} is no longer readable") from None
        return np.stack(arrays) if self.views else arrays[0]

    async def image(self, image_id: int, view: str | None = None) -> Response:
        """The picture of an indexed image, by the id a search gave; of a design, its first
        view, or ``view`` (one of the model's views). Nothing else is served: only a
        regular file in the indexed folders (403 otherwise), of an image format whose
        header is within the pixel limit (else 404 or 413)."""
        if view is not None and view not in self.views:
            allowed = ", ".join(self.views) if self.views else "none: this model takes images"
            raise HTTPException(422, f"view must be one of the model's views ({allowed})")
        snapshot = self.service.current
        entry = snapshot.index.entry(image_id)
        if entry is None:
            raise HTTPException(404, f"no image {image_id} in the index")
        data = await self._indexed_bytes(snapshot, image_id, entry.path, view)
        media = await self.workers.run(_media_type, data)
        if media == "too large":
            raise HTTPException(413, f"image {image_id} has more pixels than are served")
        if media is None or not (is_image_name(entry.path) or self.views):
            raise HTTPException(404, f"image {image_id} is not an image file")
        return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})


def _register(app: FastAPI, routes: Routes) -> None:
    """Routes each path to its handler, with the OpenAPI of the forms the handlers read
    from the raw request (their fields depend on the model's views)."""
    views = routes.views
    image_field = {"type": "string", "format": "binary"}
    k_field = {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}
    search_form = {name: image_field for name in _field_names(views, "" if views else "image")}
    compare_form = {f: image_field for p in "ab" for f in _field_names(views, p)}
    get, post = ["GET"], ["POST"]
    app.add_api_route(
        "/", routes.page, methods=get, response_class=HTMLResponse, include_in_schema=False
    )
    app.add_api_route("/health", routes.health, methods=get)
    search_extra = _form({**search_form, "k": k_field}, list(search_form))
    app.add_api_route(
        "/search", routes.search, methods=post, openapi_extra=search_extra, responses=ERRORS
    )
    compare_extra = _form(compare_form, list(compare_form))
    app.add_api_route(
        "/compare", routes.compare, methods=post, openapi_extra=compare_extra, responses=ERRORS
    )
    match_field = {"type": "integer", "description": "the id of a match from /search"}
    explain_extra = _form({**search_form, "match": match_field}, [*search_form, "match"])
    explain_responses = {
        **ERRORS,
        403: _detail("the match is no longer a file the service serves"),
        404: _detail("no such image in the index"),
    }
    app.add_api_route(
        "/explain",
        routes.explain,
        methods=post,
        openapi_extra=explain_extra,
        responses=explain_responses,
    )
    image_responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"image/*": {}}},
        403: _detail("the image is no longer a file the service serves"),
        404: _detail("no such image in the index"),
        413: _detail("the image is larger than the service serves"),
        503: ERRORS[503],
    }
    app.add_api_route(
        "/images/{image_id}",
        routes.image,
        methods=get,
        response_class=Response,
        responses=image_responses,
    )


def _text(name: str) -> str:
    """A name that is not UTF-8 (a file from another system's encoding) with its odd
    bytes shown as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _shown(match: Match, path: str) -> dict[str, Any]:
    """A match as JSON: its path as shown (:meth:`Snapshot.show`), its label as text
    (:func:`_text`), and the URL that serves the picture whatever its name."""
    found = {**match.to_dict(), "path": path, "label": _text(match.label)}
    return {**found, "url": f"/images/{match.id}"}


def _labels(found: Explanation) -> dict[str, str]:
    """The explained attributes' names in words."""
    from simnet.packages.attributes import LABELS

    return {name: LABELS.get(name, name.replace("_", " ")) for name in found.attributes[0]}


def _pixels(data: bytes, most: int) -> int:
    """The pixels an image's header declares (nothing decoded); 0 when it has none, or
    more than ``most`` (decoding refuses it before it takes any memory)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                pixels = img.width * img.height
    except Exception:  # noqa: BLE001 - decoding will say what is wrong with it
        return 0
    return pixels if pixels <= most else 0


def _media_type(data: bytes) -> str | None:
    """The media type of an image by its header (nothing is decoded); None: not an image
    format served; ``"too large"``: its header claims more pixels than any image indexed
    may have (a decompression bomb put in an indexed file's place)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    return "too large"
                return MEDIA_TYPES.get(img.format or "")
    except Image.DecompressionBombError:
        return "too large"
    except Exception:  # noqa: BLE001 - whatever the bytes are, they are not served
        return None
