"""The web service: search an index by uploaded image, compare two images, see the matches,
and have the difference between the query and a match explained.

``create_app(index_file)`` builds a FastAPI app; ``simnet serve`` runs it with uvicorn.
Uploads are limited in bytes (413), pixels (413) and type (415); an upload that is an
image but cannot be decoded, or a missing field, is a 422. Images (and the views of an
indexed design) are served only by the id the index gave them, never by a path from the
request.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import queue
import tarfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simnet.compare import Explanation, explain_arrays
from simnet.data.designs import view_files
from simnet.data.images import MAX_PIXELS, decode_image, is_image_name
from simnet.errors import ImageError, ImageTooLarge, NotAnImage, SimNetError
from simnet.index import Match, SearchIndex, load_index
from simnet.inference import SimNet, open_model

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


@dataclass(frozen=True)
class Limits:
    """What one request may carry."""

    max_bytes: int = 10 * 1024 * 1024  # the whole request body
    max_pixels: int = 40_000_000  # per image, read from its header before decoding
    max_archive_bytes: int = 512 * 1024 * 1024  # archive members held to serve them


class Service:
    """The model and the index behind the app. The index file is watched: when it is
    replaced (``simnet index --add`` writes atomically), the next request loads the new
    one, and each request searches one whole index, old or new, never a mix."""

    def __init__(
        self, index_file: str | Path, model: str | Path | None = None, engine: str = "auto"
    ):
        self.index_file = Path(index_file)
        index = load_index(self.index_file)
        self.net = open_model(model, recorded=index.model, engine=engine)
        index.check_model(self.net.model_id, self.net.dim, self.net.preprocessing)
        self._index, self._stamp = index, self._file_stamp()
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._archives: dict[str, dict[str, bytes]] = {}

    def _file_stamp(self) -> tuple[int, int]:
        st = self.index_file.stat()
        return st.st_mtime_ns, st.st_ino

    @property
    def index(self) -> SearchIndex:
        """The current index (reloaded at most once a second when its file changed)."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return self._index
        with self._lock:
            self._checked = now
            try:
                stamp = self._file_stamp()
                if stamp != self._stamp:
                    index = load_index(self.index_file)
                    index.check_model(self.net.model_id, self.net.dim, self.net.preprocessing)
                    self._index, self._stamp = index, stamp
                    log.info("reloaded %s: %d images", self.index_file, len(index))
            except (OSError, SimNetError) as exc:
                log.warning("kept the loaded index: %s", exc)
        return self._index

    def read_image(self, key: str, limits: Limits, view: str | None = None) -> bytes:
        """The bytes of an indexed image: its file, or its member of an archive; of an
        indexed design, the file of ``view`` (one of the model's views; default: the
        first)."""
        if "::" in key:
            archive, member = key.split("::", 1)
            if archive not in self._archives:
                self._archives[archive] = self._load_archive(archive, limits)
            if member not in self._archives[archive]:
                raise FileNotFoundError(key)
            return self._archives[archive][member]
        path = Path(key)
        if path.is_dir() and self.net.views:  # a design: one of its views' files
            files = view_files(path, self.net.views)
            if files is None:
                raise FileNotFoundError(f"{key} lacks a view")
            path = files[view or self.net.views[0]]
        return path.read_bytes()

    def _load_archive(self, archive: str, limits: Limits) -> dict[str, bytes]:
        """The indexed members of an archive, read in one pass (archives have no index)."""
        wanted = {p.split("::", 1)[1] for p in self.index.paths if p.startswith(archive + "::")}
        found, total = {}, 0
        with self._lock, tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                if member.name in wanted and (handle := tar.extractfile(member)):
                    data = handle.read()
                    total += len(data)
                    if total > limits.max_archive_bytes:
                        log.warning("%s is too large to serve its images from memory", archive)
                        break
                    found[member.name] = data
        return found


class Batcher:
    """Embeds and searches the queries of concurrent requests together, on one thread.

    Requests queue their images; the worker takes every request waiting (up to
    ``max_batch``), embeds all their images in one forward pass and searches all their
    queries in one FAISS call. An idle service answers a lone request at once; a busy
    one amortises each pass over many requests.
    """

    def __init__(self, service: Service, max_batch: int = 64):
        self.service, self.max_batch = service, max_batch
        self._queue: queue.Queue[tuple[list[np.ndarray], int, Future]] = queue.Queue()
        threading.Thread(target=self._run, name="simnet-batcher", daemon=True).start()

    async def submit(self, items: list[np.ndarray], k: int = 0) -> tuple[np.ndarray, list]:
        """Embeds ``items``; with ``k``, also searches the first. Returns
        ``(vectors, matches)``."""
        future: Future = Future()
        self._queue.put((items, k, future))
        return await asyncio.wrap_future(future)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self._answer(batch)
            except Exception as exc:  # a bug: each waiting request gets it, as a 500
                log.exception("batch failed")
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def _answer(self, batch: list[tuple[list[np.ndarray], int, Future]]) -> list:
        net = self.service.net
        vectors = net.embed_array(np.stack([item for items, _, _ in batch for item in items]))
        starts = np.cumsum([0] + [len(items) for items, _, _ in batch])
        searching = [i for i, (_, k, _) in enumerate(batch) if k]
        found: dict[int, list] = {}
        if searching:
            k = max(batch[i][1] for i in searching)
            results = self.service.index.search(vectors[starts[searching]], k)
            found = {i: r[: batch[i][1]] for i, r in zip(searching, results, strict=True)}
        return [(vectors[starts[i] : starts[i + 1]], found.get(i)) for i in range(len(batch))]


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


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 before any of
    it reaches the app (by its Content-Length, or by counting a chunked body)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = JSONResponse(
            {"detail": f"request body is larger than {self.max_bytes:,} bytes"}, 413
        )
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode() or "0"
        if not length.isdigit() or int(length) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            if total > self.max_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _detail(what: str) -> dict[str, Any]:
    body = {"type": "object", "properties": {"detail": {"type": "string"}}}
    return {"description": what, "content": {"application/json": {"schema": body}}}


# What a request can do wrong, each answered with {"detail": "..."}.
ERRORS: dict[int | str, dict[str, Any]] = {
    413: _detail("the body or an image is larger than allowed"),
    415: _detail("a file is not an image"),
    422: _detail("a field is missing or wrong, or an image cannot be decoded"),
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
    stretched, and cropped to its drawing first where the model trims (``data.trim``)."""
    size, views = net.config.data.image_size, bool(net.views)
    trim = views and net.config.data.trim
    keep_aspect = views or net.config.data.keep_aspect
    return decode_image(data, size, max_pixels=max_pixels, keep_aspect=keep_aspect, trim=trim)


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
) -> FastAPI:
    """The service over one index file (its model from the index unless ``model`` is
    given; ``engine`` runs it, see :class:`~simnet.inference.SimNet`). With ``token``,
    every request but the page and ``/health`` must carry it (:class:`TokenGate`)."""
    limits = limits or Limits()
    service = Service(index_file, model, engine)
    app = FastAPI(
        title="simnet",
        summary="Search a repository of images by similarity.",
        version="1",
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes)
    if token:
        app.add_middleware(TokenGate, token=token)  # outermost: refused before anything
    _register(app, Routes(service, Batcher(service), limits))
    return app


class Routes:
    """The app's endpoints over one service: each handler reads its request, asks the
    service (through the batcher, for embedding and search) and answers."""

    def __init__(self, service: Service, batcher: Batcher, limits: Limits):
        self.service, self.batcher, self.limits = service, batcher, limits
        self.net = service.net
        self.views = service.net.views
        self._explaining = threading.Lock()  # one explanation at a time: each is heavy

    async def read_item(self, form: Any, prefix: str) -> tuple[str, np.ndarray]:
        """One query item: an image, or a design (one image per view)."""
        arrays, names = [], []
        for field in _field_names(self.views, prefix):
            name, data = await _read_upload(form, field, self.limits)
            arrays.append(_decode(self.net, data, name, self.limits))
            names.append(name)
        if not self.views:
            return names[0], arrays[0]
        return "+".join(names), np.stack(arrays)

    def page(self) -> str:
        return resources.files("simnet.serve").joinpath("page.html").read_text()

    def health(self) -> dict[str, Any]:
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
        indexed images, nearest first, each with the URL of its picture."""
        form = await request.form()
        k = _parse_k(form.get("k", request.query_params.get("k", 10)))
        name, item = await self.read_item(form, "" if self.views else "image")
        _, matches = await self.batcher.submit([item], k)
        return {
            "query": name,
            "matches": [_shown(m) for m in matches],
        }

    async def compare(self, request: Request) -> dict[str, Any]:
        """Multipart upload: ``a`` and ``b`` (a multi-view model: ``a.top``, ``b.top``, ...)
        -> their embedding distance and cosine similarity."""
        form = await request.form()
        _, a = await self.read_item(form, "a")
        _, b = await self.read_item(form, "b")
        vectors, _ = await self.batcher.submit([a, b])
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
        drawing (``data.trim``) maps the trimmed views, not the files: its answer adds
        ``pictures``, per side and view the image the model saw, to draw the map over."""
        form = await request.form()
        image_id = _parse_id(form.get("match"))
        entry = self.service.index.entry(image_id)
        if entry is None:
            raise HTTPException(404, f"no image {image_id} in the index")
        name, query = await self.read_item(form, "" if self.views else "image")
        arrays = np.stack([query, self._read_indexed(image_id, entry.path)])
        found = await asyncio.to_thread(self._explain, arrays, name, _text(entry.path))
        views = list(self.views) or ["image"]
        url = f"/images/{image_id}"
        pictures = {}
        if self.views and self.net.config.data.trim:  # the maps lie over the trimmed views
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
            "match": {
                "id": image_id,
                "path": _text(entry.path),
                "label": _text(entry.label),
                "url": url,
                "view_urls": {v: f"{url}?view={v}" if self.views else url for v in views},
            },
        }

    def _explain(self, arrays: np.ndarray, a: str, b: str) -> Explanation:
        with self._explaining:
            return explain_arrays(self.net, arrays, a, b)

    def _read_indexed(self, image_id: int, key: str) -> np.ndarray:
        """An indexed image (a design: each view) decoded as a query is; 404 when it can
        no longer be read."""

        def read(view: str | None) -> np.ndarray:
            data = self.service.read_image(key, self.limits, view)
            return _decode_array(self.net, data, MAX_PIXELS)  # as it was indexed

        try:
            return np.stack([read(v) for v in self.views]) if self.views else read(None)
        except (OSError, ImageError):
            raise HTTPException(404, f"image {image_id} is no longer readable") from None

    def image(self, image_id: int, view: str | None = None) -> Response:
        """The picture of an indexed image, by the id a search gave; of a design, its first
        view, or ``view`` (one of the model's views). Nothing else is served."""
        if view is not None and view not in self.views:
            allowed = ", ".join(self.views) if self.views else "none: this model takes images"
            raise HTTPException(422, f"view must be one of the model's views ({allowed})")
        entry = self.service.index.entry(image_id)
        if entry is None:
            raise HTTPException(404, f"no image {image_id} in the index")
        try:
            data = self.service.read_image(entry.path, self.limits, view)
        except OSError:
            raise HTTPException(404, f"image {image_id} is no longer readable") from None
        media = _media_type(data)
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
    explain_responses = {**ERRORS, 404: _detail("no such image in the index")}
    app.add_api_route(
        "/explain",
        routes.explain,
        methods=post,
        openapi_extra=explain_extra,
        responses=explain_responses,
    )
    image_responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"image/*": {}}},
        404: _detail("no such image in the index"),
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


def _shown(match: Match) -> dict[str, Any]:
    """A match as JSON: its names as text (:func:`_text`), and the URL that serves the
    picture whatever its name."""
    found = {**match.to_dict(), "path": _text(match.path), "label": _text(match.label)}
    return {**found, "url": f"/images/{match.id}"}


def _labels(found: Explanation) -> dict[str, str]:
    """The explained attributes' names in words."""
    from simnet.packages.attributes import LABELS

    return {name: LABELS.get(name, name.replace("_", " ")) for name in found.attributes[0]}


def _media_type(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return MEDIA_TYPES.get(img.format or "")
    except (OSError, ValueError):
        return None
