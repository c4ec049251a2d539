"""Fault injection for the files simnet reads (issue 22, classes 1 and 2).

Local inputs without bounds: special files (a FIFO, a link to /dev/zero, a socket, a
folder, a 50 GB sparse file) wherever an image, a CSV, an archive or an embeddings file is
read; tar archives whose members are huge, duplicated or not regular files. Untrusted index
and model files: a valid file mutated field by field (every field given every wrong type,
lists of other lengths, null, deep nesting), arrays whose headers lie, zip bombs, another
run's weights. Every case ends in a counted skip or one :class:`SimNetError` line: never
another exception, a hang or a large allocation. Inputs are generated (sparse files,
hand-written tar headers), so the module stays fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import socket
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from simnet.data.cache import load_images
from simnet.data.images import decode_image, max_image_bytes
from simnet.data.sources import CsvSource, FolderSource, TarSource, open_source
from simnet.errors import ImageError, SimNetError
from simnet.index import Index
from simnet.index.embeddings import read_embeddings
from simnet.index.large import LargeIndex
from simnet.index.load import load_index
from simnet.inference import SimNet
from simnet.packages.generate import check_request, generate_packages
from simnet.storage import GIB, MIB, read_limited
from simnet.train.checkpoint import load_state
from tests.helpers import assert_one_line_error, simnet

SECONDS = 20  # what any single case may take before it counts as a hang
HUGE = 50 * GIB  # the sparse "image"


class Hang(BaseException):
    """A case ran past its deadline (not an OSError, which the code under test may catch)."""


@contextlib.contextmanager
def deadline(seconds: int = SECONDS) -> Iterator[None]:
    """Fails the block (:class:`Hang`) if it runs past ``seconds``: a hang is a failure."""

    def expired(*_: object) -> None:
        raise Hang(f"still running after {seconds} s")

    before = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def bounded_memory(mib: float = 1024) -> Iterator[None]:
    """Fails unless the block raises this process's peak memory by less than ``mib``."""
    before = peak_mib()
    yield
    assert peak_mib() - before < mib, f"peak memory grew by {peak_mib() - before:.0f} MiB"


def one_line(exc: BaseException, *fragments: str) -> None:
    text = str(exc)
    assert "\n" not in text and text, repr(text)
    for fragment in fragments:
        assert fragment in text, text


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


# -- special files: generated, one of each kind --------------------------------------------
def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_zero_link(path: Path) -> None:
    os.symlink("/dev/zero", path)


def make_sparse(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(HUGE)  # 50 GB that take no disk


def make_folder(path: Path) -> None:
    path.mkdir()


def make_socket(path: Path) -> Any:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    return server


def make_dangling(path: Path) -> None:
    os.symlink(path.parent / "nothing-here", path)


def make_link_to_fifo(path: Path) -> None:
    os.mkfifo(path.with_name(path.name + ".target"))
    os.symlink(path.with_name(path.name + ".target"), path)


def make_loop(path: Path) -> None:
    os.symlink(path.name, path)  # a link to itself


SPECIAL: dict[str, Callable[[Path], Any]] = {
    "fifo": make_fifo,
    "zero-link": make_zero_link,
    "sparse-50GB": make_sparse,
    "folder": make_folder,
    "socket": make_socket,
    "dangling-link": make_dangling,
    "link-to-fifo": make_link_to_fifo,
    "self-link": make_loop,
}
EXPECTED_REASON = {
    "fifo": "FIFO",
    "zero-link": "character device",
    "sparse-50GB": "too large",
    "folder": "folder",
    "socket": "socket",
    "dangling-link": "cannot read",
    "link-to-fifo": "FIFO",
    "self-link": "cannot read",
}


def special_files(folder: Path, suffix: str = ".png") -> dict[str, Path]:
    """One file of each special kind in ``folder``, named ``<kind><suffix>``; sockets are
    kept open (as a server holds them) until the folder's test ends."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind, make in SPECIAL.items():
        path = folder / f"{kind}{suffix}"
        keep = make(path)
        if keep is not None:
            _OPEN.append(keep)
        made[kind] = path
    return made


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_a_special_file_given_as_an_image_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = special_files(tmp_path)[kind]
    with deadline(), bounded_memory(), pytest.raises(ImageError) as caught:
        decode_image(path, 32)
    one_line(caught.value, str(path), EXPECTED_REASON[kind])


@pytest.mark.parametrize("what", ["a metadata file", "an image"])
def test_bounded_reads_refuse_a_file_past_the_limit_and_take_one_at_it(
    tmp_path: Path, what: str
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert read_limited(path, 1000, what) == b"x" * 1000
    with pytest.raises(SimNetError) as caught:
        read_limited(path, 999, what)
    one_line(caught.value, "too large", what)


def test_a_name_with_a_nul_byte_is_an_image_error(tmp_path: Path) -> None:
    csv_file = tmp_path / "list.csv"
    csv_file.write_bytes(b"path,label\nx\0y.png,a\n")
    (read,) = [value for _, value in CsvSource(csv_file).stream()]
    assert isinstance(read, ImageError)
    one_line(read, "embedded null byte")


def test_the_image_byte_limit_follows_the_pixel_limit() -> None:
    assert max_image_bytes(1000) < max_image_bytes(2000)
    assert max_image_bytes() < HUGE


def test_a_data_folder_of_special_files_is_read_with_each_counted_as_a_skip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    made = special_files(data / "circle")
    (data / "circle" / "good.png").write_bytes(png())
    (data / "square").mkdir()
    (data / "square" / "good.png").write_bytes(png((20, 20, 200)))
    with deadline(), bounded_memory():
        images = load_images(FolderSource(data), 16, tmp_path / "cache")
    assert sorted(Path(k).name for k in images.keys) == ["good.png", "good.png"]
    skipped = dict(images.skipped)
    for kind, path in made.items():
        if kind == "folder":  # a folder named x.png is a folder: walked, not read
            continue
        assert EXPECTED_REASON[kind] in skipped[str(path)], skipped
    assert f"skipped {len(skipped)} of {len(skipped) + 2} images" in caplog.text


# -- tar archives: members that are huge, repeated or not files ----------------------------
def tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = size, kind, link
    return info.tobuf(format=tarfile.GNU_FORMAT)


def write_tar(path: Path, members: list[tuple[bytes, bytes | int]]) -> None:
    """A plain tar of ``(header, data)``: ``data`` as bytes, or a size to leave sparse."""
    with path.open("wb") as out:
        for header, data in members:
            out.write(header)
            if isinstance(data, int):
                out.seek(data + (-data % 512), os.SEEK_CUR)
            else:
                out.write(data + b"\0" * (-len(data) % 512))
        out.write(b"\0" * 1024)


def test_a_tar_member_of_3_gib_is_skipped_unread_and_the_rest_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "big.tar"
    good = png()
    write_tar(
        archive,
        [
            (tar_header("circle/huge.png", 3 * GIB), 3 * GIB),  # sparse: no disk, no reading
            (tar_header("circle/good.png", len(good)), good),
        ],
    )
    with deadline(), bounded_memory():
        read = dict(TarSource(archive).stream())
    by_name = {r.key.split("::")[1]: v for r, v in read.items()}
    assert by_name["circle/good.png"] == good
    assert isinstance(by_name["circle/huge.png"], ImageError)
    one_line(by_name["circle/huge.png"], "too large", "3.0 GiB")


def test_a_compressed_tar_whose_header_claims_3_gib_ends_in_one_line(tmp_path: Path) -> None:
    import gzip

    archive = tmp_path / "claims.tar.gz"
    archive.write_bytes(gzip.compress(tar_header("circle/huge.png", 3 * GIB) + b"\0" * 4096))
    with deadline(), bounded_memory():
        try:
            read = list(TarSource(archive).stream())
        except SimNetError as exc:
            one_line(exc, str(archive))
        else:
            assert all(isinstance(v, ImageError) for _, v in read)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (lambda: tar_header("c/link.png", 0, tarfile.SYMTYPE, "/dev/zero"), "symbolic link"),
        (lambda: tar_header("c/hard.png", 0, tarfile.LNKTYPE, "c/good.png"), "hard link"),
        (lambda: tar_header("c/fifo.png", 0, tarfile.FIFOTYPE), "FIFO"),
        (lambda: tar_header("c/dev.png", 0, tarfile.CHRTYPE), "device"),
        (lambda: tar_header("c/dir.png", 0, tarfile.DIRTYPE), "folder"),
    ],
)
def test_a_tar_member_that_is_not_a_regular_file_is_skipped(
    tmp_path: Path, header: Callable[[], bytes], reason: str
) -> None:
    archive = tmp_path / "special.tar"
    good = png()
    write_tar(archive, [(tar_header("c/good.png", len(good)), good), (header(), b"")])
    with deadline():
        read = [(r.key, v) for r, v in TarSource(archive).stream()]
    assert read[0][1] == good and isinstance(read[1][1], ImageError)
    one_line(read[1][1], reason)


def test_a_repeated_tar_member_name_is_read_once_the_first_and_the_rest_counted(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "dup.tar.gz"
    first, second = png((250, 0, 0)), png((0, 0, 250))
    with tarfile.open(archive, "w:gz") as tar:
        for data in (first, second, second):
            info = tarfile.TarInfo("circle/same.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    images = load_images(TarSource(archive), 16, tmp_path / "cache")
    assert len(images) == 1 and images.images[0][8, 8, 0] > 200  # the first: red
    assert len(images.skipped) == 2 and all("duplicate" in r for _, r in images.skipped)


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_tar_header_extension_of_gigabytes_is_refused_unread(tmp_path: Path, kind: bytes) -> None:
    archive = tmp_path / "ext.tar"
    write_tar(archive, [(tar_header("././@LongLink", 2 * GIB, kind), 2 * GIB)])
    with deadline(), bounded_memory(), pytest.raises(SimNetError) as caught:
        list(TarSource(archive).stream())
    one_line(caught.value, "damaged")


@pytest.mark.parametrize("kind", ["fifo", "zero-link", "sparse-50GB", "socket"])
def test_a_special_file_given_as_an_archive_or_csv_is_refused(tmp_path: Path, kind: str) -> None:
    for suffix in (".tar.gz", ".csv"):
        path = special_files(tmp_path / suffix.strip("."), suffix)[kind]
        with deadline(), bounded_memory(), pytest.raises(SimNetError) as caught:
            load_images(open_source(path), 16, tmp_path / "cache")
        one_line(caught.value)  # the file refused, or (50 GB of zeros: an empty tar) no images
        assert str(path) in str(caught.value) or "no readable images" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("path,label\ncafé.png,a\n".encode("latin-1"), "not UTF-8"),
        (b"path,label\n" + b'"' + b"x" * (200 << 10) + b'",a\n', "not a readable CSV"),
    ],
)
def test_a_csv_that_is_not_text_is_one_line(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(SimNetError) as caught:
        CsvSource(path)
    one_line(caught.value, fragment)


# -- index files: a valid one, mutated field by field --------------------------------------
BAD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    "text",
    [],
    [1],
    [None],
    {},
    {"a": 1},
    ["x"] * 7,  # a list of another length than the rows
]


def deep(levels: int = 100_000) -> str:
    return "[" * levels + "]" * levels


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, members: dict[str, bytes], compress: bool = False) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def load_is_clean(load: Callable[[Path], Any], path: Path) -> Any:
    """Loads ``path``: a result, or one SimNetError line naming the file; nothing else."""
    with deadline(), bounded_memory():
        try:
            return load(path)
        except SimNetError as exc:
            one_line(exc, str(path))
            return None


@pytest.fixture(scope="module")
def saved_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    model = {
        "id": "abc",
        "dim": 8,
        "preprocessing": {"image_size": 32},
        "path": "/run",
        "backbone": {"name": "resnet18", "pretrained": True, "weights": None, "image_size": 64},
    }
    index = Index(
        rng.normal(size=(5, 8)).astype(np.float32),
        [f"/d/{i}.png" for i in range(5)],
        ["a", "b", "a", "b", "a"],
        model,
        sizes=[1, 2, 3, 4, 5],
        hashes=["h"] * 5,
        kind="hnsw",
    )
    path = tmp_path_factory.mktemp("index") / "good.index"
    index.save(path)
    return path


def meta_mutations(meta: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """Every field (and every field of its objects) given every bad value, removed, and
    the whole file made deeply nested; as ``(what, new meta or raw text)``."""
    for key in list(meta):
        for bad in BAD_VALUES:
            yield f"{key}={bad!r}", {**meta, key: bad}
        yield f"no {key}", {k: v for k, v in meta.items() if k != key}
        yield f"{key} deep", {**meta, key: json.loads("[" * 50 + "]" * 50)}
        if isinstance(meta[key], dict):
            for inner_key, inner in meta_mutations(meta[key]):
                yield f"{key}.{inner_key}", {**meta, key: inner}
    yield "deep file", deep()
    yield "a list", "[1, 2]"
    yield "not JSON", "{"


def test_every_index_field_given_every_wrong_value_is_one_line(
    saved_index: Path, tmp_path: Path
) -> None:
    members = zip_members(saved_index)
    meta = json.loads(members["meta.json"])
    tried = refused = 0
    for what, mutated in meta_mutations(meta):
        path = tmp_path / "m.index"
        text = mutated if isinstance(mutated, str) else json.dumps(mutated)
        write_zip(path, {**members, "meta.json": text.encode()})
        for load in (Index.load, load_index):
            loaded = load_is_clean(load, path)
            tried += 1
            refused += loaded is None
            if loaded is not None:  # accepted: then it must be whole and searchable
                assert len(loaded) == 5, what
                loaded.search(np.zeros((1, 8), np.float32), 2)
    assert tried > 300 and refused > tried // 2


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def lying_npy(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy header declaring ``shape`` over a few bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + b"\0" * 64


ARRAY_MUTATIONS: dict[str, Callable[[np.ndarray], bytes]] = {
    "huge shape": lambda a: lying_npy((1 << 40, a.shape[-1] if a.ndim > 1 else 1)),
    "huge 1-D": lambda a: lying_npy((1 << 50,)),
    "negative": lambda a: lying_npy((-5, 8)),
    "objects": lambda a: npy(np.array([object()] * len(a), dtype=object)),
    "strings": lambda a: npy(np.array(["x"] * len(a))),
    "fewer rows": lambda a: npy(a[:-1]),
    "more rows": lambda a: npy(np.concatenate([a, a[:1]])),
    "another rank": lambda a: npy(a.reshape(-1)[:, None, None] if a.size else a),
    "cut short": lambda a: npy(a)[:-3],
    "not npy": lambda a: b"hello",
    "nan": lambda a: npy(np.full_like(a, np.nan)) if a.dtype.kind == "f" else npy(a),
    "repeated": lambda a: npy(np.zeros_like(a)),
}


@pytest.mark.parametrize(
    "member", ["vectors.npy", "ids.npy", "alive.npy", "sizes.npy", "graph.npy"]
)
def test_every_index_array_given_every_wrong_content_is_one_line(
    saved_index: Path, tmp_path: Path, member: str
) -> None:
    members = zip_members(saved_index)
    original = np.load(io.BytesIO(members[member]))
    for what, mutate in ARRAY_MUTATIONS.items():
        path = tmp_path / f"{what}.index"
        write_zip(path, {**members, member: mutate(original)})
        loaded = load_is_clean(Index.load, path)
        if loaded is not None:
            loaded.search(np.zeros((1, 8), np.float32), 2)
    write_zip(path, {k: v for k, v in members.items() if k != member})
    load_is_clean(Index.load, path)


def test_an_index_whose_metadata_unpacks_to_gigabytes_is_refused_unread(
    saved_index: Path, tmp_path: Path
) -> None:
    members = zip_members(saved_index)
    bomb = tmp_path / "bomb.index"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            if name != "meta.json":
                archive.writestr(name, data)
        with archive.open("meta.json", "w", force_zip64=True) as out:
            chunk = b" " * (64 * MIB)
            for _ in range(24):  # 1.5 GB of spaces, compressed to about 1.5 MB
                out.write(chunk)
    assert bomb.stat().st_size < 8 * MIB
    with deadline(), bounded_memory(256), pytest.raises(SimNetError) as caught:
        load_index(bomb)
    one_line(caught.value, str(bomb), "meta.json")


def test_an_index_compressed_by_hand_still_loads(saved_index: Path, tmp_path: Path) -> None:
    path = tmp_path / "zipped.index"
    write_zip(path, zip_members(saved_index), compress=True)
    assert len(Index.load(path)) == 5


@pytest.mark.parametrize("kind", ["fifo", "zero-link", "sparse-50GB", "folder", "socket"])
def test_a_special_file_given_as_an_index_is_refused(tmp_path: Path, kind: str) -> None:
    path = special_files(tmp_path, ".index")[kind]
    for load in (Index.load, LargeIndex.load, load_index):
        with deadline(), bounded_memory(), pytest.raises(SimNetError) as caught:
            load(path)
        one_line(caught.value, str(path))


# -- large indexes and embeddings files ----------------------------------------------------
@pytest.fixture(scope="module")
def saved_large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large")
    vectors = np.random.default_rng(1).normal(size=(40, 8)).astype(np.float32)
    np.save(root / "e.npy", vectors)
    rows = {"paths": [f"p{i}" for i in range(40)], "labels": [""] * 40, "model": {"id": "x"}}
    (root / "e.json").write_text(json.dumps(rows))
    LargeIndex.from_embeddings(root / "e.npy", "exact", shards=2).save(root / "large.index")
    return root / "large.index"


def test_every_large_index_field_given_every_wrong_value_is_one_line(
    saved_large: Path, tmp_path: Path
) -> None:
    members = zip_members(saved_large)
    meta = json.loads(members["meta.json"])
    for what, mutated in meta_mutations(meta):
        path = tmp_path / "m.index"
        text = mutated if isinstance(mutated, str) else json.dumps(mutated)
        write_zip(path, {**members, "meta.json": text.encode()})
        loaded = load_is_clean(load_index, path)
        if loaded is not None:
            assert len(loaded) == 40, what
            loaded.search(np.zeros((1, 8), np.float32), 2)


def faiss_with_huge_vector(rows: int = 3, dim: int = 4) -> bytes:
    """A serialised exact index whose vector of codes claims 2 Gi entries (8 GiB)."""
    import faiss

    flat = faiss.IndexFlatL2(dim)
    flat.add(np.zeros((rows, dim), np.float32))
    data = bytearray(faiss.serialize_index(flat).tobytes())
    at = data.find(struct.pack("<Q", rows * dim))
    assert at > 0
    data[at : at + 8] = struct.pack("<Q", 2 << 30)
    return bytes(data)


def test_a_shard_claiming_a_huge_vector_is_refused_without_allocating(
    saved_large: Path, tmp_path: Path
) -> None:
    import faiss

    members = zip_members(saved_large)
    other = faiss.serialize_index(faiss.IndexFlatL2(5)).tobytes()
    for what, shard in {
        "huge": faiss_with_huge_vector(),
        "other width": other,
        "garbage": b"IxF2" + b"\xff" * 64,
        "empty": b"",
    }.items():
        path = tmp_path / f"{what}.index"
        write_zip(path, {**members, "shard-001.faiss": shard})
        with deadline(), bounded_memory(512), pytest.raises(SimNetError) as caught:
            load_index(path)
        one_line(caught.value, str(path))


def test_an_embeddings_file_with_a_lying_header_or_rows_is_one_line(tmp_path: Path) -> None:
    vectors = tmp_path / "e.npy"
    vectors.write_bytes(lying_npy((1 << 40, 8)))
    with deadline(), pytest.raises(SimNetError) as caught:
        read_embeddings(vectors)
    one_line(caught.value, "declares the shape")
    np.save(vectors, np.zeros((3, 4), np.float32))
    rows = {"paths": ["a", "b", "c"], "labels": ["", "", ""], "model": {}}
    for key in rows:
        for bad in BAD_VALUES:
            (tmp_path / "e.json").write_text(json.dumps({**rows, key: bad}))
            try:
                read_embeddings(vectors)
            except SimNetError as exc:
                one_line(exc, "e.json")
    (tmp_path / "e.json").write_text(deep())
    with pytest.raises(SimNetError, match="nested too deeply"):
        read_embeddings(vectors)
    (tmp_path / "e.json").unlink()
    for kind, path in special_files(tmp_path / "specials", ".npy").items():
        with deadline(), pytest.raises(SimNetError):
            read_embeddings(path)
        with deadline(), pytest.raises(SimNetError):
            read_embeddings(vectors, paths_file=path)
        assert kind


# -- model files ---------------------------------------------------------------------------
@pytest.fixture
def run_copy(tiny_run: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(tiny_run[1], copy)
    return copy


def test_every_model_json_field_given_every_wrong_value_is_one_line(run_copy: Path) -> None:
    meta_path = run_copy / "model.json"
    meta = json.loads(meta_path.read_text())
    mutations: list[tuple[str, Any]] = list(meta_mutations({"config": {}, **meta}))
    for section, values in meta["config"].items():
        for bad in BAD_VALUES:
            mutations.append((section, {**meta, "config": {**meta["config"], section: bad}}))
        for key in list(values)[:12]:
            for bad in BAD_VALUES:
                changed = {**meta["config"], section: {**values, key: bad}}
                mutations.append((f"{section}.{key}", {**meta, "config": changed}))
    refused = 0
    for _, mutated in mutations:
        meta_path.write_text(mutated if isinstance(mutated, str) else json.dumps(mutated))
        refused += load_is_clean(SimNet.load, run_copy) is None
    assert refused > len(mutations) // 3


def test_another_runs_weights_in_a_run_folder_are_one_line(run_copy: Path) -> None:
    weights = load_file(str(run_copy / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.ndim == 2)
    variants = {
        "other shape": {**weights, name: torch.zeros(3, 3)},
        "missing": {k: v for k, v in weights.items() if k != name},
        "extra": {**weights, "head.extra": torch.zeros(2)},
        "foreign": {"layer.weight": torch.zeros(4, 4)},
        "not finite": {**weights, name: torch.full_like(weights[name], float("nan"))},
    }
    for what, tensors in variants.items():
        save_file(tensors, str(run_copy / "model.safetensors"))
        with pytest.raises(SimNetError) as caught:
            SimNet.load(run_copy)
        one_line(caught.value, "model.safetensors")
        assert what


@pytest.mark.parametrize("kind", ["fifo", "zero-link", "sparse-50GB", "socket", "folder"])
def test_special_model_and_checkpoint_files_are_refused(run_copy: Path, kind: str) -> None:
    for name in ("model.json", "model.safetensors", "checkpoint.pt"):
        target = run_copy / name
        if target.exists():
            saved = target.read_bytes()
            target.unlink()
        else:
            saved = None
        SPECIAL[kind](target)
        with deadline(), bounded_memory(), pytest.raises(SimNetError) as caught:
            if name == "checkpoint.pt":
                load_state(run_copy)
            else:
                SimNet.load(run_copy)
        one_line(caught.value)
        for sock in _OPEN:
            sock.close()
        if target.is_dir() and not target.is_symlink():
            target.rmdir()
        else:
            target.unlink()
        for extra in run_copy.glob(f"{name}.target"):
            extra.unlink()
        if saved is not None:
            target.write_bytes(saved)


def test_a_checkpoint_that_unpacks_to_gigabytes_is_refused_unread(run_copy: Path) -> None:
    with (
        zipfile.ZipFile(run_copy / "checkpoint.pt", "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("archive/data/0", "w", force_zip64=True) as out,
    ):
        for _ in range(16):
            out.write(b"\0" * (64 * MIB))
    with deadline(), bounded_memory(256), pytest.raises(SimNetError) as caught:
        load_state(run_copy)
    one_line(caught.value, "checkpoint.pt")


# -- generator sizes -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"size": 100_000}, "--size must be 64 to 2048"),
        ({"size": 8}, "--size must be 64 to 2048"),
        ({"designs": 10**9}, "--designs must be at most"),
        ({"renders": 10**6}, "--renders must be at most"),
        ({"variants": 10**6}, "--variants must be at most"),
        ({"designs": True}, "--designs must be a whole number"),
    ],
)
def test_generator_sizes_are_bounded(tmp_path: Path, options: dict, fragment: str) -> None:
    with deadline(5), pytest.raises(SimNetError) as caught:
        generate_packages(tmp_path / "lib", **{"designs": 1, **options}, progress=False)
    one_line(caught.value, fragment)
    assert not (tmp_path / "lib").exists()
    with pytest.raises(SimNetError):
        check_request(tmp_path / "lib", 1, 100_000, 1, ["qfn"], ["filled"])


# -- the command line: index, search, dedup, embed over special files ----------------------
def test_commands_skip_or_refuse_special_files_without_hanging(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    data, run = tiny_run
    messy = tmp_path / "data"
    shutil.copytree(data / "circle", messy / "circle")
    made = special_files(messy / "circle")
    built = simnet(
        "index", "--model", run, "--data", messy, "--out", tmp_path / "x.index", timeout=120
    )
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr and "skipped" in built.stderr
    for kind in ("fifo", "zero-link", "sparse-50GB"):
        found = simnet("search", made[kind], "--index", tmp_path / "x.index", timeout=60)
        assert found.returncode == 2 and "Traceback" not in found.stderr, found.stderr
        assert EXPECTED_REASON[kind] in found.stderr
    grouped = simnet("dedup", "--model", run, "--data", messy, "--json", timeout=120)
    assert grouped.returncode == 0 and "Traceback" not in grouped.stderr, grouped.stderr
    embedded = simnet(
        "embed", "--model", run, "--data", messy, "--out", tmp_path / "e.npy", timeout=120
    )
    assert embedded.returncode == 0 and "Traceback" not in embedded.stderr, embedded.stderr
    bomb = tmp_path / "bomb.index"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data_ in zip_members(tmp_path / "x.index").items():
            archive.writestr(name, data_ if name != "meta.json" else b" " * (256 * MIB))
    found = simnet("search", data / "circle" / "000.png", "--index", bomb, timeout=60)
    assert_one_line_error(found, "unpack to")
