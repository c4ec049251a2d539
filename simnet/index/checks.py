"""What every index checks before it answers (that queries fit it, and that a model is the
one that built it), and what it checks of an index or embeddings file before using it: the
type, shape and length of every field, each refusal one line naming the file and field."""

from __future__ import annotations

import contextlib
import math
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from simnet.errors import SimNetError
from simnet.storage import human_bytes


def check_queries(queries: np.ndarray, dim: int, k: int, rows: int) -> tuple[np.ndarray, int]:
    """``(Q, D)`` query embeddings for an index of ``rows`` ``dim``-D vectors, as FAISS
    takes them (contiguous float32), and the ``k`` it can answer (at most ``rows``; below 1
    when there is nothing to find).

    Raises:
        SimNetError: the queries are not ``(Q, dim)``.
    """
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise SimNetError(f"query embeddings have size {queries.shape[-1]}, index has {dim}")
    return np.ascontiguousarray(queries, dtype=np.float32), min(k, rows)


def check_model(
    built_by: dict[str, Any], index_dim: int, model_id: str, dim: int, preprocessing: dict
) -> None:
    """Raises :class:`SimNetError` unless an index (made by ``built_by``, of ``index_dim``
    vectors) was built by the model with this id, size and preprocessing. An index of
    another tool's embeddings (``built_by`` empty) is checked for the size alone."""
    if dim != index_dim:
        raise SimNetError(f"index holds {index_dim}-D embeddings but the model makes {dim}-D ones")
    if not built_by:  # another tool's embeddings: nothing is known of their model but the size
        return
    if preprocessing != built_by.get("preprocessing"):
        raise SimNetError("index was built with different preprocessing than this model uses")
    if model_id != built_by.get("id"):
        raise SimNetError(
            f"index was built with model {built_by.get('id')}, not {model_id}: "
            "rebuild it with simnet index"
        )


# -- the fields of index and embeddings files ----------------------------------------------
MAX_DIM = 1 << 16  # widest embedding an index may hold
MAX_SHARDS = 1024
MAX_DEPTH = 1 << 16  # efSearch / IVF lists probed
_READ_CHUNK = 16 << 20
# IVF-PQ computes a table of (lists x sub-quantisers x 256) floats when it is loaded: 1 GiB
# covers 16,384 lists of 64-byte codes.
FAISS_TABLE_BYTES = 1 << 30


def kind_of(value: Any) -> str:
    """A JSON value's type in words: ``null``, ``a string``, ``a list``, ``an object``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


class Fields:
    """Checks the fields of one JSON object from a file, each refusal one line naming the
    file (``where``) and the field: ``<where>: field 'paths' is a string, not a list of
    strings``. ``prefix`` and ``suffix`` wrap the message (an index says it is not one)."""

    def __init__(self, where: str, data: Any, prefix: str = "", suffix: str = ""):
        self.where, self.prefix, self.suffix = where, prefix, suffix
        if not isinstance(data, dict):
            raise self.error(f"holds {kind_of(data)}, not an object")
        self.data: dict[str, Any] = data

    def error(self, problem: str, field: str | None = None) -> SimNetError:
        what = f"field {field!r} " if field else ""
        return SimNetError(f"{self.prefix}{self.where}: {what}{problem}{self.suffix}")

    def _get(self, field: str, default: Any, required: bool) -> Any:
        if field not in self.data:
            if required:
                raise self.error("is missing", field)
            return default
        return self.data[field]

    def string_list(self, field: str, rows: int | None) -> list[str]:
        value = self._get(field, None, True)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            bad = (
                value
                if not isinstance(value, list)
                else next(x for x in value if not isinstance(x, str))
            )
            what = (
                kind_of(value) if not isinstance(value, list) else f"a list holding {kind_of(bad)}"
            )
            raise self.error(f"is {what}, not a list of strings", field)
        if rows is not None and len(value) != rows:
            raise self.error(f"names {len(value)} rows, not {rows} as the vectors hold", field)
        return value

    def integer(self, field: str, low: int, high: int, default: int | None = None) -> int:
        value = self._get(field, default, default is None)
        if type(value) is not int or not low <= value <= high:
            raise self.error(f"is {value!r}, not a whole number from {low} to {high}", field)
        return value

    def choice(self, field: str, choices: tuple[Any, ...], default: Any = None) -> Any:
        value = self._get(field, default, default is None)
        if isinstance(value, bool) or value not in choices or isinstance(value, list | dict):
            raise self.error(
                f"is {value!r}, not one of {', '.join(repr(c) for c in choices)}", field
            )
        return value

    def object(self, field: str, required: bool = True) -> dict[str, Any] | None:
        value = self._get(field, None, required)
        if value is None and field not in self.data:
            return None
        if not isinstance(value, dict):
            raise self.error(f"is {kind_of(value)}, not an object", field)
        return value

    def optional(self, field: str, types: tuple[type, ...], words: str) -> Any:
        value = self.data.get(field)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise self.error(f"is {kind_of(value)}, not {words}", field)
        return value


def check_model_record(
    where: str, model: Any, prefix: str = "", suffix: str = ""
) -> dict[str, Any]:
    """An index's (or an embeddings file's) ``model`` field: an object, empty for another
    tool's embeddings; where given, ``id`` is a string, ``dim`` a width, ``preprocessing``
    an object, ``path`` a string or null, and ``backbone`` an object naming a backbone as
    :func:`simnet.inference.open_model` builds it again. Returns it."""
    fields = Fields(where, {"model": model}, prefix, suffix)
    record = fields.object("model") or {}
    if not record:
        return record
    inner = Fields(f"{where}: model", record, prefix, suffix)
    if "id" in record and not isinstance(record["id"], str):
        raise inner.error(f"is {kind_of(record['id'])}, not a string", "id")
    if "dim" in record:
        inner.integer("dim", 1, MAX_DIM)
    inner.object("preprocessing", required=False)
    inner.optional("path", (str,), "a string or null")
    backbone = inner.object("backbone", required=False)
    if backbone:  # what a pretrained backbone is built again from
        named = Fields(f"{where}: model: backbone", backbone, prefix, suffix)
        if not isinstance(backbone.get("name"), str):
            raise named.error(f"is {kind_of(backbone.get('name'))}, not a string", "name")
        if not isinstance(backbone.get("pretrained"), bool):
            raise named.error(
                f"is {kind_of(backbone.get('pretrained'))}, not true/false", "pretrained"
            )
        named.optional("weights", (str,), "a string or null")
        if backbone.get("image_size") is not None:
            named.integer("image_size", 8, 4096)
        for key in ("weights", "image_size"):
            if key not in backbone:
                raise named.error("is missing", key)
    return record


def read_npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """A ``.npy`` file's ``(shape, fortran_order, dtype)``, the file left at its data.

    Raises:
        ValueError, EOFError, SyntaxError or TypeError: not a ``.npy`` header numpy reads.
    """
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"npy version {version[0]}.{version[1]}")


def read_npy_member(
    archive: zipfile.ZipFile, name: str, fail: Callable[[str], SimNetError]
) -> np.ndarray:
    """A ``.npy`` member of a zip as a (writable) array, its header checked before anything
    is allocated: numbers only (no objects, so no pickles), and a shape whose bytes are
    exactly what the member holds (a huge shape in a small member is refused unread).
    ``fail(why)`` makes the error, naming the file."""
    info = archive.getinfo(name)
    with archive.open(info) as member:
        try:
            shape, fortran, dtype = read_npy_header(member)
        except (ValueError, EOFError, SyntaxError, TypeError) as exc:
            raise fail(f"{name} is not a .npy array: {str(exc).splitlines()[0]}") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise fail(f"{name} holds {dtype}, not numbers")
        if any(d < 0 for d in shape):
            raise fail(f"{name} declares the shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        held = info.file_size - member.tell()
        if nbytes != held:
            raise fail(
                f"{name} declares the shape {shape} ({human_bytes(nbytes)}) but holds "
                f"{human_bytes(held)}"
            )
        buffer = bytearray(nbytes)
        view, got = memoryview(buffer), 0
        while got < nbytes:
            read = member.readinto(  # type: ignore[attr-defined]
                view[got : got + _READ_CHUNK]
            )
            if not read:
                raise fail(f"{name} is cut short")
            got += read
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def check_array(
    fail: Callable[[str], SimNetError],
    name: str,
    array: np.ndarray,
    ndim: int,
    kinds: str,
    rows: int | None,
) -> np.ndarray:
    """``array`` (the member ``name``) has ``ndim`` dimensions, a dtype of one of ``kinds``
    (numpy's letters) and ``rows`` rows; else ``fail(why)`` is raised, naming the member."""
    if array.ndim != ndim or array.dtype.kind not in kinds:
        raise fail(f"{name} is {array.dtype} of shape {array.shape}, not {ndim}-D of {kinds!r}")
    if rows is not None and len(array) != rows:
        raise fail(f"{name} has {len(array)} rows, but the vectors have {rows}")
    return array


@contextlib.contextmanager
def faiss_limits(stream_bytes: int) -> Iterator[None]:
    """Inside the block, FAISS refuses to read a vector larger than ``stream_bytes`` (no
    vector in a serialised index can hold more than the bytes it comes from) or than
    :data:`FAISS_TABLE_BYTES` (the tables IVF-PQ computes on load), whichever is more: a
    huge size in a small file is an error, not a terabyte's allocation."""
    import faiss

    before = faiss.get_deserialization_vector_byte_limit()
    faiss.set_deserialization_vector_byte_limit(max(FAISS_TABLE_BYTES, int(stream_bytes)))
    try:
        yield
    finally:
        faiss.set_deserialization_vector_byte_limit(before)
