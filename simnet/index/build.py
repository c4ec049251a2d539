"""Embedding a repository of images into an :class:`Index`, and keeping it up to date."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from simnet.data.designs import DesignSource, is_design, is_primary
from simnet.data.images import is_image_name, max_image_bytes, skip_reason
from simnet.data.loading import load_all, load_data
from simnet.data.sources import FolderSource, tar_images
from simnet.errors import ImageError, SimNetError
from simnet.index.embeddings import rows_file
from simnet.index.index import Index
from simnet.inference import SimNet
from simnet.storage import atomic_path, atomic_write_text, open_regular

log = logging.getLogger(__name__)

SPLITS = ("all", "train", "test")
ADD_CHUNK = 1000  # images decoded and embedded at a time when adding
Item = TypeVar("Item", bound=tuple)


def model_info(net: SimNet, model_path: str | Path | None) -> dict:
    return {
        "id": net.model_id,
        "dim": net.dim,
        "preprocessing": net.preprocessing,
        "path": str(Path(model_path).resolve()) if model_path else None,
        **({"backbone": net.backbone} if net.backbone else {}),
    }


def build_index(
    net: SimNet,
    data: str | Path,
    split: str = "all",
    model_path: str | Path | None = None,
    kind: str = "auto",
    progress: bool = False,
) -> Index:
    """Embeds every image of a folder, archive or CSV (or one split of it) into an index;
    for a multi-view model, every design of a design library."""
    if split not in SPLITS:
        raise SimNetError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    config = net.config
    views = config.model.views
    if split == "all":
        images = load_all(data, config.data, views)
    else:
        dataset = load_data(data, config.data, views)
        images = dataset.train if split == "train" else dataset.test
    if len(images) == 0:
        raise SimNetError(f"no images in the {split} split of {data}")
    vectors = net.embed_array(images.images, config.eval.batch_size, progress=progress)
    labels = [images.classes[i] for i in np.asarray(images.labels)]
    sizes, hashes = zip(*content_facts(images.keys), strict=True)
    return Index(
        vectors,
        images.keys,
        labels,
        model_info(net, model_path),
        sizes=list(sizes),
        hashes=list(hashes),
        kind=kind,
    )


# -- content facts -----------------------------------------------------------------------
def _digest(chunks: Iterable[bytes]) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return size, h.hexdigest()[:32]


def _chunks(path: Path) -> Iterator[bytes]:
    """An image file's bytes a MiB at a time: a regular file of at most an allowed image's
    size (:func:`~simnet.data.images.read_image_file`'s rules), never a FIFO or a device."""
    with open_regular(path, max_image_bytes(), "an image", ImageError) as (handle, _):
        while chunk := handle.read(1 << 20):
            yield chunk


def file_facts(path: str | Path) -> tuple[int, str]:
    """``(bytes, content hash)`` of an image file, or of a design folder's view files.

    Raises:
        ImageError: a file that is not a regular file, too large, or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_image_name(p.name))
        return _digest(chunk for p in files for chunk in _chunks(p))
    return _digest(_chunks(path))


def content_facts(keys: list[str]) -> Iterator[tuple[int, str]]:
    """``(bytes, content hash)`` for each key, in order: files and design folders are read,
    members of an archive (``archive::member``) come from one pass over their archive (the
    rules of :func:`~simnet.data.sources.tar_images`: the first member of a name);
    ``(-1, "")`` where the key names nothing readable."""
    members: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        if "::" in key:
            archive, name = key.split("::", 1)
            members[archive].add(name)
    from_archives: dict[str, tuple[int, str]] = {}
    for archive, wanted in members.items():
        try:
            for member, data in tar_images(Path(archive), wanted):
                key = f"{archive}::{member.name}"
                if isinstance(data, bytes) and key not in from_archives:
                    from_archives[key] = _digest([data])
        except SimNetError as exc:
            log.warning("could not hash the images of %s: %s", archive, exc)
    for key in keys:
        if key in from_archives:
            yield from_archives[key]
            continue
        try:
            yield file_facts(key)
        except (OSError, SimNetError):
            yield -1, ""


# -- incremental updates -----------------------------------------------------------------
@dataclass
class AddReport:
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def expand_paths(
    paths: list[str | Path], views: tuple[str, ...], as_given: bool = False
) -> list[tuple[str, str]]:
    """``(path, label)`` of every image (every design, for a multi-view model) under the
    given files and folders; labels come from class folders, as when training.

    Paths are made absolute, as an index keeps them; with ``as_given``, a file keeps the
    name it was given and a missing path is passed on, for its reader to report.
    """
    found: list[tuple[str, str]] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            if as_given:
                found.append((str(given), ""))
                continue
            raise SimNetError(f"not found: {given}")
        if views:
            if is_design(path, views):
                found.append((str(given) if as_given else str(path.resolve()), path.parent.name))
                continue
            if not path.is_dir():
                if as_given:
                    found.append((str(given), ""))
                    continue
                raise SimNetError(f"{given} is not a design folder or a folder of designs")
            source = DesignSource(path, views)
            designs = {
                str(Path(r.key).parent): r.label.split("\t")[0]
                for r in source.records
                if is_primary(str(Path(r.key).parent))  # a design, not one of its renders
            }
            found.extend(designs.items())
        elif path.is_dir():
            found.extend((r.key, r.label) for r in FolderSource(path).records)
        else:
            found.append((str(given) if as_given else str(path.resolve()), ""))
    return found


def add_to_index(
    index: Index,
    net: SimNet,
    paths: list[str | Path],
    progress: bool = False,
    on_chunk: Callable[[], None] | None = None,
) -> AddReport:
    """Embeds the images (or designs) under ``paths`` into ``index`` in place: new paths are
    added, paths whose content changed are replaced, unchanged ones are left as they are,
    unreadable ones are skipped and reported. ``on_chunk`` is called after each chunk is
    added (to save the work so far)."""
    report = AddReport()
    todo: list[tuple[str, str, int, str]] = []
    for path, label in expand_paths(paths, net.views):
        try:
            size, digest = file_facts(path)
        except OSError as exc:
            report.skipped.append((path, f"not a readable file ({exc.strerror or exc})"))
            continue
        except SimNetError as exc:  # not a regular file, too large
            report.skipped.append((path, skip_reason(path, exc)))
            continue
        old = index.entry_for(path)
        if old is not None and old.hash == digest:
            report.unchanged += 1
            continue
        todo.append((path, label, size, digest))
    for vectors, kept, skipped in embed_in_chunks(net, todo, progress):
        report.skipped += skipped
        if not kept:
            continue
        replaced = sum(p in index for p, *_ in kept)
        report.replaced += replaced
        report.added += len(kept) - replaced
        paths_, labels, sizes, hashes = (list(c) for c in zip(*kept, strict=True))
        index.add(vectors, paths_, labels, sizes, hashes)
        if on_chunk is not None:
            on_chunk()
    return report


def embed_in_chunks(
    net: SimNet, items: list[Item], progress: bool = False, chunk: int = ADD_CHUNK
) -> Iterator[tuple[np.ndarray, list[Item], list[tuple[str, str]]]]:
    """Decodes and embeds ``items`` (tuples whose first field is a path) ``chunk`` at a time,
    so memory holds one chunk of images whatever their number. Yields each chunk's
    embeddings, the items they belong to, and ``(path, reason)`` for those unreadable."""
    bar = tqdm(total=len(items), unit="img", desc="embedding", disable=not progress)
    for start in range(0, len(items), chunk):
        arrays, kept, skipped = [], [], []
        for item in items[start : start + chunk]:
            try:
                arrays.append(net.decode(item[0]))
                kept.append(item)
            except ImageError as exc:
                skipped.append((item[0], skip_reason(item[0], exc)))
        if kept:
            vectors = net.embed_array(np.stack(arrays), net.config.eval.batch_size)
        else:
            vectors = np.zeros((0, net.dim), np.float32)
        bar.update(len(arrays) + len(skipped))
        yield vectors, kept, skipped
    bar.close()


def embed_to_file(
    net: SimNet,
    paths: list[str | Path],
    out: str | Path,
    model_path: str | Path | None = None,
    progress: bool = False,
) -> AddReport:
    """Embeds every image (every design, for a multi-view model) under ``paths`` into an
    ``(N, D)`` float32 ``.npy`` file, a chunk at a time (memory holds one chunk however many
    images there are), with a JSON file beside it naming each row's path and label and the
    model (:func:`simnet.index.large.rows_file`). Both are written atomically; unreadable
    images are skipped and reported. ``simnet index --embeddings`` builds an index from them.
    """
    out = Path(out)
    if out.suffix not in (".npy", ".parquet"):
        raise SimNetError(f"embeddings are written to a .npy or .parquet file, not {out.name}")
    items = expand_paths(paths, net.views)
    if not items:
        raise SimNetError(f"no images under {', '.join(str(p) for p in paths)}")
    if out.suffix == ".parquet":
        return _embed_to_parquet(net, items, out, model_path, progress)
    report, rows = AddReport(), list[tuple[str, str]]()
    with atomic_path(out) as tmp:
        # Rows go to a scratch file by plain writes (a full disk is then an error, where a
        # memory map's pages would kill the process), then behind the .npy header.
        scratch = tmp.with_name(tmp.name.removesuffix(".tmp") + ".rows.tmp")
        try:
            with scratch.open("wb") as sink:
                for vectors, kept, skipped in embed_in_chunks(net, items, progress):
                    sink.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
                    rows += kept
                    report.skipped += skipped
            if not rows:
                raise SimNetError(f"no readable image: {': '.join(report.skipped[0])}")
            with tmp.open("wb") as target, scratch.open("rb") as source:
                shape = (len(rows), net.dim)
                header = {"descr": "<f4", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(target, header)
                shutil.copyfileobj(source, target, 1 << 24)
        finally:
            scratch.unlink(missing_ok=True)
    report.added = len(rows)
    facts = {
        "model": model_info(net, model_path),
        "paths": [path for path, _ in rows],
        "labels": [label for _, label in rows],
    }
    atomic_write_text(rows_file(out), json.dumps(facts))
    return report


def _embed_to_parquet(
    net: SimNet,
    items: list[tuple[str, str]],
    out: Path,
    model_path: str | Path | None,
    progress: bool,
) -> AddReport:
    """:func:`embed_to_file` into a parquet table: a row group per chunk."""
    from simnet.index.embeddings import write_parquet

    report = AddReport()

    def chunks() -> Iterator[tuple[np.ndarray, list[tuple[str, str]]]]:
        for vectors, kept, skipped in embed_in_chunks(net, items, progress):
            report.skipped += skipped
            yield vectors, kept

    with atomic_path(out) as tmp, tmp.open("wb") as sink:
        report.added = write_parquet(sink, chunks(), net.dim, model_info(net, model_path))
        if not report.added:
            raise SimNetError(f"no readable image: {': '.join(report.skipped[0])}")
    return report


def remove_from_index(index: Index, paths: list[str | Path]) -> tuple[int, list[str]]:
    """Removes these paths (a folder: every indexed path under it). Returns the count
    removed and the given paths that matched nothing."""
    indexed = index.paths
    targets, missing = [], []
    for given in paths:
        key = str(Path(given).resolve()) if "::" not in str(given) else str(given)
        under = [p for p in indexed if p == key or p.startswith(key.rstrip("/") + "/")]
        if not under and str(given) in index:
            under = [str(given)]
        if under:
            targets.extend(under)
        else:
            missing.append(str(given))
    return index.remove(targets), missing
