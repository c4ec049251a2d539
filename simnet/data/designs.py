"""Multi-view designs: a folder per design holding its ``top``, ``front`` and ``side`` views.

A library is ``root/<family>/<design>/{top,front,side}.<png|jpg|...>``, optionally under
``root/{train,test}/``. A design folder may hold ``renders/<k>/`` with the same design
drawn again (other line widths, colours, noise): with ``labels="design"`` those drawings
are the design's own samples, the positives that teach the network what "the same design"
means; with ``labels="family"`` every drawing is a sample of its family.

The views are decoded through the same cache as single images, then grouped into
``(N, V, S, S, 3)`` arrays. A design with a missing or unreadable view is skipped and
counted, like a corrupt image.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import numpy as np

from simnet.data.cache import TEST, TRAIN, Dataset, ImageSet, hash_split, load_images
from simnet.data.images import IMAGE_SUFFIXES, UPRIGHT, decode_image, report_skipped
from simnet.data.sources import SPLIT_NAMES, FileListSource, Record, walk_tree
from simnet.errors import ImageError, SimNetError

log = logging.getLogger(__name__)

VIEWS = ("top", "front", "side")
RENDERS_DIR = "renders"
LABEL_LEVELS = ("family", "design")


def view_files(folder: Path, views: tuple[str, ...] = VIEWS) -> dict[str, Path] | None:
    """The view images of a design folder, or None when a view is missing."""
    found = {}
    for view in views:
        matches = [folder / f"{view}{s}" for s in sorted(IMAGE_SUFFIXES)]
        matches = [m for m in matches if m.is_file()]
        if not matches:
            return None
        found[view] = matches[0]
    return found


def is_design(folder: str | Path, views: tuple[str, ...] = VIEWS) -> bool:
    return Path(folder).is_dir() and view_files(Path(folder), views) is not None


def _identity(rel: tuple[str, ...]) -> tuple[str, str, str | None]:
    """(design, family, split) of a design folder from its path parts under the root.

    ``a/b/renders/3`` is a drawing of design ``a/b``; the family is the design's parent
    folder (``""`` for a design directly in the root or in a split folder).
    """
    parts = list(rel)
    if len(parts) >= 3 and parts[-2] == RENDERS_DIR:
        parts = parts[:-2]
    split = None
    for i, part in enumerate(parts[:-1]):
        if part.lower() in SPLIT_NAMES:
            split = SPLIT_NAMES[part.lower()]
            parts = parts[:i] + parts[i + 1 :]
            break
    family = parts[-2] if len(parts) >= 2 else ""
    return "/".join(parts), family, split


class DesignSource(FileListSource):
    """Every view file of every design folder under ``root``, in design order.

    The record label is ``"<family>\\t<design>"``; :func:`load_designs` picks the level.
    Views that are not square are padded to a square, not stretched; with ``trim`` they
    are first cropped to their content.
    """

    keep_aspect = True

    def __init__(
        self,
        root: str | Path,
        views: tuple[str, ...] = VIEWS,
        trim: bool = False,
        max_aspect: float | None = None,
    ):
        self.root = Path(root).resolve()
        self.views = tuple(views)
        self.trim = trim
        self.max_aspect = max_aspect
        if not self.root.is_dir():
            raise SimNetError(f"design folder not found: {root}")
        self._files = self._scan()
        if not self._files:
            raise SimNetError(
                f"no designs found in {root} (a design is a folder with "
                f"{', '.join(v + '.png' for v in self.views)})"
            )

    def _scan(self) -> list[tuple[Path, Record]]:
        found = []
        self.incomplete: list[tuple[str, str]] = []  # (folder, reason): some views, not all
        for dirpath, _, _ in walk_tree(self.root):
            folder = Path(dirpath)
            files = view_files(folder, self.views)
            if files is None:
                missing = [v for v in self.views if view_files(folder, (v,)) is None]
                if len(missing) < len(self.views):
                    self.incomplete.append((str(folder), "no " + ", ".join(missing)))
                continue
            design, family, split = _identity(folder.relative_to(self.root).parts)
            for path in files.values():
                found.append((path, Record(str(path), f"{family}\t{design}", split)))
        return found

    def _origin(self) -> str:  # "around": trimmed to a drawing with its outline
        stretch = ""
        if self.max_aspect:  # framed: rulings erased, levelled, laid flat, specks ignored
            stretch = f"|aspect<={self.max_aspect:g}|flat>{UPRIGHT:g}|level|specks|tall|rulings"
        trim = "|trim|around" if self.trim else ""
        return f"designs|{self.root}|{','.join(self.views)}|aspect{trim}{stretch}"


def load_all_designs(
    root: str | Path,
    image_size: int,
    test_fraction: float,
    cache_dir: str | Path | None,
    labels: str,
    views: tuple[str, ...],
    trim: bool = False,
    max_aspect: float | None = None,
) -> tuple[ImageSet, np.ndarray]:
    """Every readable design under ``root``, drawings under ``renders/`` and unlabelled ones
    included, and the split of each, ``(N,)`` TRAIN or TEST (all drawings of a design on
    one side). :func:`load_designs` and :func:`load_library` choose from it."""
    if labels not in LABEL_LEVELS:
        raise SimNetError(f"data.labels must be one of {LABEL_LEVELS}, got {labels!r}")
    source = DesignSource(root, views, trim, max_aspect)
    flat = load_images(source, image_size, cache_dir)
    by_folder: dict[str, dict[str, int]] = {}  # design folder -> view -> flat index
    for i, key in enumerate(flat.keys):
        path = Path(key)
        by_folder.setdefault(str(path.parent), {})[path.stem] = i
    complete = {k: g for k, g in by_folder.items() if all(v in g for v in views)}
    broken = [
        (folder, "no readable " + ", ".join(v for v in views if v not in g))
        for folder, g in by_folder.items()
        if folder not in complete
    ]
    broken += source.incomplete
    report_skipped(broken, len(by_folder) + len(source.incomplete), "design folders")
    if not complete:
        raise SimNetError(f"no readable designs in {root}")
    keys = sorted(complete)
    index = np.array([[complete[k][v] for v in views] for k in keys])  # (N, V)
    images = cast(np.ndarray, DesignViews(flat.images, index))  # read when indexed
    family_design = [flat.classes[flat.labels[complete[k][views[0]]]].split("\t") for k in keys]
    names = [fd[0] if labels == "family" else fd[1] for fd in family_design]
    if labels == "design":  # a design directly in the root has no family: unlabelled
        names = [d if f else "" for f, d in family_design]
    classes = sorted(set(names))
    lookup = {c: i for i, c in enumerate(classes)}
    label_array = np.array([lookup[n] for n in names], dtype=np.int64)
    folder_split = {str(Path(r.key).parent): r.split for r in source.records}
    attributes, origin_names = _design_facts(keys, [fd[1] for fd in family_design])
    if any(s is not None for s in folder_split.values()):
        split = np.array([TEST if folder_split[k] == "test" else TRAIN for k in keys])
    else:  # by original design: its drawings and its one-change copies on one side
        split = np.array([hash_split(o, test_fraction) for o in origin_names])
    family_names = sorted({fd[0] for fd in family_design})
    family_ids = np.array([family_names.index(fd[0]) for fd in family_design], dtype=np.int64)
    groups = family_ids if labels == "design" else None  # designs of one family are alike
    lookup_origin = {o: i for i, o in enumerate(sorted(set(origin_names)))}
    origins = np.array([lookup_origin[o] for o in origin_names], dtype=np.int64)
    whole = ImageSet(images, label_array, classes, keys, flat.skipped, groups, attributes, origins)
    return whole, split


class DesignViews:
    """``(N, V, S, S, 3)`` uint8 designs gathered from the flat, memory-mapped cache of
    their view images when indexed, so that a library is never decoded into memory whole:
    a slice or an index array gives an array of those designs only (what batches and
    :meth:`ImageSet.subset` read)."""

    def __init__(self, flat: np.ndarray, index: np.ndarray):
        self.flat, self.index = flat, index  # (M, S, S, 3) and (N, V) rows of it
        self.shape = (*index.shape, *flat.shape[1:])
        self.ndim, self.dtype = len(self.shape), flat.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.index[key]  # (V,) for one design, (n, V) for several
        return np.asarray(self.flat[rows.reshape(-1)]).reshape(*rows.shape, *self.shape[2:])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def _design_facts(keys: list[str], designs: list[str]) -> tuple[np.ndarray, list[str]]:
    """What each design's params.json says, where it has one: its attributes ``(N, A)``
    (-1 where unknown) and its original design (a one-change copy's original; itself
    for the rest)."""
    from simnet.packages.attributes import ATTRIBUTES, encode, origin_of, read_params

    names = tuple(ATTRIBUTES)
    cache: dict[str, dict | None] = {}
    rows, origin_names = [], []
    for key, design in zip(keys, designs, strict=True):
        folder = Path(key).parent.parent if not is_primary(key) else Path(key)
        if str(folder) not in cache:
            cache[str(folder)] = read_params(folder)
        params = cache[str(folder)]
        rows.append(encode(params, names))
        origin_names.append(origin_of(params, design))
    return np.stack(rows).reshape(len(keys), len(names)), origin_names


def load_designs(
    root: str | Path,
    image_size: int,
    test_fraction: float = 0.2,
    cache_dir: str | Path | None = None,
    labels: str = "family",
    views: tuple[str, ...] = VIEWS,
    trim: bool = False,
    max_aspect: float | None = None,
) -> Dataset:
    """A design library as a :class:`Dataset` whose images are ``(N, V, S, S, 3)``.

    Keys are the design folders (a drawing under ``renders/`` keeps its own folder). The
    train/test split is by design (all drawings of a design fall on the same side), and
    the test split holds each design's own drawing only.

    Args:
        labels: ``"family"`` (the design's parent folder) or ``"design"``.
    """
    whole, split = load_all_designs(
        root, image_size, test_fraction, cache_dir, labels, views, trim, max_aspect
    )
    labelled = np.array([whole.classes[i] != "" for i in whole.labels])
    primary = np.array([is_primary(k) for k in whole.keys])
    train = whole.subset(np.flatnonzero((split == TRAIN) & labelled))
    test = whole.subset(np.flatnonzero((split == TEST) & labelled & primary))
    if not len(train) and not len(test):
        raise SimNetError(f"no labelled designs in {root} (put designs in family folders)")
    return Dataset(train, test, whole.skipped)


def load_library(
    root: str | Path,
    image_size: int,
    cache_dir: str | Path | None = None,
    views: tuple[str, ...] = VIEWS,
    trim: bool = False,
    max_aspect: float | None = None,
) -> ImageSet:
    """Every design under ``root`` (its own drawing, not ``renders/``), labelled by family
    where it has one: what an index of a design library holds."""
    whole, _ = load_all_designs(root, image_size, 0.0, cache_dir, "family", views, trim, max_aspect)
    return whole.subset(np.flatnonzero([is_primary(k) for k in whole.keys]))


def decode_design(
    folder: str | Path,
    image_size: int,
    views: tuple[str, ...] = VIEWS,
    trim: bool = False,
    max_aspect: float | None = None,
) -> np.ndarray:
    """The views of one design folder as ``(V, S, S, 3)`` uint8 (aspect kept up to
    ``max_aspect``; ``trim``: each cropped to its content first).

    Raises:
        ImageError: a view is missing or unreadable.
    """
    files = view_files(Path(folder), views)
    if files is None:
        raise ImageError(
            f"{folder} is not a design folder (it needs {', '.join(v + '.png' for v in views)})"
        )
    return np.stack(
        [
            decode_image(files[v], image_size, keep_aspect=True, trim=trim, max_aspect=max_aspect)
            for v in views
        ]
    )


def is_primary(key: str) -> bool:
    """Whether a design key is a design's own drawing, not one of its ``renders/``."""
    return Path(key).parent.name != RENDERS_DIR


__all__ = [
    "VIEWS",
    "DesignSource",
    "load_designs",
    "load_library",
    "load_all_designs",
    "decode_design",
    "is_design",
    "view_files",
]
