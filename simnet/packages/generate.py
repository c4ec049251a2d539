"""``simnet generate-packages``: a library of synthetic package designs on disk.

Layout: ``OUT/<family>/<design>/{top,front,side}.png`` and ``params.json`` (the design's
ground truth: :mod:`simnet.packages.schema`). With ``renders > 1`` each design also gets
``renders/<k>/{top,front,side}.png``: the same design drawn in other styles, which training
uses as positives of the design (``data.labels=design``). With ``variants > 0`` each design
gets one-change copies beside it, ``<design>-<change>/``: the same design with one
attribute changed (a die or a memory stack more or fewer, the lid, the stack height, the
bonding, the variant), drawn in the same styles, recorded in their params.json
(``variant_of``). Only changes that show in the design's drawing are made (:func:`shows`).

Everything is a function of ``seed``: the same call writes the same files, byte for byte,
whatever the number of worker processes.
"""

from __future__ import annotations

import json
import logging
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simnet.data.designs import RENDERS_DIR
from simnet.errors import SimNetError
from simnet.packages.families import FAMILIES, build_spec, one_change, sample
from simnet.packages.geometry import Stackup
from simnet.packages.params import design_params, stackup_from_params
from simnet.packages.render import BOTTOM, DEFAULT_STYLE, STYLES, VIEWS, Style, drawing_info, render
from simnet.packages.schema import VERSION
from simnet.storage import MAX_META_BYTES, atomic_write_text, read_json_limited

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_DESIGNS = 1_000_000  # designs in one library
MAX_RENDERS = 64  # drawings of one design
MAX_VARIANTS = 64  # one-change copies of one design (fewer where fewer changes exist)
# A one-change copy shows when a view of it differs from its original's in at least this
# share of the pixels (25 of a 128 x 128 view), by more than this many levels
VISIBLE_SHARE, VISIBLE_LEVELS = 0.0015, 24


def design_seed(seed: int, family: str, index: int) -> int:
    """A stable per-design seed (independent of how many designs are generated)."""
    return random.Random(f"{seed}|{family}|{index}").getrandbits(48)


def design_name(family: str, index: int) -> str:
    return f"{family}-{index:04d}"


@dataclass(frozen=True)
class Task:
    """One design folder to write: a design, or a one-change copy of one."""

    family: str
    seed: int
    folder: str
    size: int
    styles: tuple[str, ...]
    renders: int
    bottom: bool
    change: str = ""  # "" for the design itself
    of: str = ""  # the original design's folder name


def drawing_styles(seed: int, styles: tuple[str, ...], renders: int) -> list[tuple[str, int]]:
    """(style, style seed) of each of a design's drawings: the first in the first style
    named, the others through the rest in a seeded order."""
    rng = random.Random(seed + 7)
    rest = list(styles[1:]) or list(styles)
    rng.shuffle(rest)
    chosen = [styles[0]] + [rest[(k - 1) % len(rest)] for k in range(1, renders)]
    return [(name, seed + 1 + k) for k, name in enumerate(chosen)]


def write_design(st: Stackup, folder: Path, style: Style, size: int, bottom: bool = False) -> dict:
    """Writes one drawing of a design (its views) into ``folder``; returns its record."""
    folder.mkdir(parents=True, exist_ok=True)
    for view, image in render(st, size, style, bottom=bottom).items():
        tmp = folder / f".{view}.png.tmp"
        image.save(tmp, format="PNG")
        tmp.replace(folder / f"{view}.png")
    return drawing_info(st, size, style)


def _write_one(task: Task) -> tuple[str, dict]:
    """Builds, draws and writes one design folder; returns it and its params."""
    spec = sample(task.family, task.seed)
    variant_of = None
    if task.change:
        changed = one_change(task.family, spec, task.change, random.Random(task.seed + 3))
        assert changed is not None
        spec, before, after = changed
        variant_of = {"design": task.of, "change": task.change, "from": before, "to": after}
    st = build_spec(task.family, spec)
    folder = Path(task.folder)
    drawings = []
    for k, (name, style_seed) in enumerate(drawing_styles(task.seed, task.styles, task.renders)):
        where = folder if k == 0 else folder / RENDERS_DIR / str(k)
        info = write_design(st, where, Style.make(name, style_seed), task.size, task.bottom)
        drawings.append({"path": "." if k == 0 else f"{RENDERS_DIR}/{k}", **info})
    params = design_params(st, folder.name, task.seed, drawings, variant_of)
    atomic_write_text(folder / "params.json", json.dumps(params, indent=1) + "\n")
    return task.folder, params


def _check_count(option: str, value: int, low: int, high: int) -> None:
    """Refuses a count outside ``[low, high]``, in one line."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimNetError(f"{option} must be a whole number, got {value!r}")
    if value < low:
        least = "0 or more" if low == 0 else f"at least {low}"
        raise SimNetError(f"{option} must be {least}, got {value}")
    if value > high:
        raise SimNetError(f"{option} must be at most {high:,}, got {value}")


def check_size(size: int) -> None:
    """Refuses a view size outside ``[MIN_SIZE, MAX_SIZE]`` pixels, in one line."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise SimNetError(
            f"--size must be {MIN_SIZE} to {MAX_SIZE} pixels (below {MIN_SIZE} a package "
            f"body cannot be drawn), got {size}"
        )


def check_request(
    out: Path, designs: int, size: int, renders: int, families: list[str], styles: list[str]
) -> None:
    """Refuses a request that cannot make a library, in one line."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise SimNetError(f"unknown family {unknown[0]!r} (available: {', '.join(FAMILIES)})")
    bad = [s for s in styles if s not in STYLES]
    if bad:
        raise SimNetError(f"unknown style {bad[0]!r} (available: {', '.join(STYLES)})")
    _check_count("--designs", designs, 1, MAX_DESIGNS)
    _check_count("--renders", renders, 1, MAX_RENDERS)
    check_size(size)
    if out.exists() and not out.is_dir():
        raise SimNetError(f"{out} is a file: --out must be a new folder for the library")
    if out.exists() and any(out.iterdir()):
        raise SimNetError(f"{out} is not empty: choose a new folder for the library")


def generate_packages(
    out: str | Path,
    designs: int,
    seed: int = 0,
    size: int = 128,
    renders: int = 1,
    families: list[str] | None = None,
    progress: bool = True,
    workers: int | None = None,
    styles: list[str] | None = None,
    variants: int = 0,
    bottom: bool = False,
) -> list[Path]:
    """Generates ``designs`` designs spread evenly over the families.

    Args:
        out: the library folder (created; must not already hold anything).
        designs: how many designs in all (one-change copies come on top).
        seed: the seed everything derives from.
        size: pixels per side of each view (64 to 2048).
        renders: drawings per design (1 = just the design's own drawing).
        families: a subset of the family names (default: all).
        workers: processes drawing in parallel (default: one per core; the files do
            not depend on it).
        styles: the drawing styles to use (default: all, ``filled`` first); a design's
            own drawing is in the first, its other drawings in the rest, in a seeded order.
        variants: one-change copies per design (each a different change).
        bottom: also draw the bottom view (the ball map), ``bottom.png``.
    Returns:
        The design folders (copies included).
    """
    names = families or list(FAMILIES)
    style_names = tuple(styles or (DEFAULT_STYLE, *(s for s in STYLES if s != DEFAULT_STYLE)))
    root = Path(out)
    check_request(root, designs, size, renders, names, list(style_names))
    _check_count("--variants", variants, 0, MAX_VARIANTS)
    bases = []
    for i in range(designs):
        family, index = names[i % len(names)], i // len(names)
        s = design_seed(seed, family, index)
        folder = str(root / family / design_name(family, index))
        bases.append(Task(family, s, folder, size, style_names, renders, bottom))
    tasks = []
    for base, changes in zip(bases, _all_changes(bases, variants, workers), strict=True):
        tasks.append(base)
        name = Path(base.folder).name
        for change in changes:
            folder = str(Path(base.folder).with_name(f"{name}-{change}"))
            tasks.append(Task(**{**base.__dict__, "folder": folder, "change": change, "of": name}))
    _run(tasks, workers, progress)
    log.info("wrote %d designs (%s) to %s", len(tasks), ", ".join(names), root)
    return [Path(t.folder) for t in tasks]


def _all_changes(bases: list[Task], count: int, workers: int | None) -> list[list[str]]:
    """The changes of each design's one-change copies (:func:`_changes`), worked out in
    ``workers`` processes: each candidate is drawn to see that it shows."""
    if count <= 0:
        return [[] for _ in bases]
    jobs = [(base, count) for base in bases]
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(jobs) >= 8:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_changes, jobs, chunksize=8))
    return [_changes(job) for job in jobs]


def _changes(job: tuple[Task, int]) -> list[str]:
    """The changes of a design's one-change copies: ``count`` different ones, seeded, each
    one that shows in the design's own drawing (:func:`shows`); fewer where fewer do."""
    base, count = job
    spec = sample(base.family, base.seed)
    possible = [c for c in FAMILIES[base.family].changes if _copy(base, spec, c) is not None]
    random.Random(base.seed + 5).shuffle(possible)
    chosen: list[str] = []
    for change in possible:
        if len(chosen) == count:
            break
        copy = _copy(base, spec, change)
        if copy is not None and shows(base, spec, copy):
            chosen.append(change)
    return sorted(chosen)


def _copy(base: Task, spec: dict, change: str) -> dict | None:
    """The spec of the one-change copy :func:`_write_one` writes (the same seeded choice)."""
    changed = one_change(base.family, spec, change, random.Random(base.seed + 3))
    return None if changed is None else changed[0]


def shows(base: Task, spec: dict, copy: dict) -> bool:
    """Whether a one-change copy looks different: in the design's own drawing (its first
    style and look, at the library's size) some view of the copy differs from the
    original's in at least :data:`VISIBLE_SHARE` of its pixels, by more than
    :data:`VISIBLE_LEVELS` in a channel. Some changes hide inside a package (the logic dies
    of an InFO-PoP under its memory package, the dies of a PoP's top package stacked or
    staggered); a copy that cannot be told from its original is no test of a model."""
    style_name, style_seed = drawing_styles(base.seed, base.styles, 1)[0]
    style = Style.make(style_name, style_seed)
    a = render(build_spec(base.family, spec), base.size, style)
    b = render(build_spec(base.family, copy), base.size, style)
    for view in VIEWS:
        pa, pb = np.asarray(a[view], dtype=np.int16), np.asarray(b[view], dtype=np.int16)
        if pa.shape != pb.shape:
            return True
        if (np.abs(pa - pb) > VISIBLE_LEVELS).any(axis=2).mean() >= VISIBLE_SHARE:
            return True
    return False


def _run(tasks: list[Task], workers: int | None, progress: bool) -> None:
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(tasks), desc="generating designs", unit="design", disable=not progress)
    if workers > 1 and len(tasks) >= 8:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_one, tasks, chunksize=4):
                bar.update()
    else:
        for task in tasks:
            _write_one(task)
            bar.update()
    bar.close()


def rerender(
    design_folder: str | Path,
    style_seed: int,
    out: str | Path,
    size: int = 128,
    style: str = DEFAULT_STYLE,
) -> Path:
    """Draws a generated design again in another style (the re-identification query),
    from its params.json alone."""
    check_size(size)
    params_path = Path(design_folder) / "params.json"
    if not params_path.exists():
        raise SimNetError(f"{design_folder} has no params.json: not a generated design")
    params = read_json_limited(params_path, MAX_META_BYTES, "params.json")
    if not isinstance(params, dict) or params.get("schema") != VERSION:
        raise SimNetError(f"{params_path} is not a {VERSION} design: generate the library again")
    write_design(stackup_from_params(params), Path(out), Style.make(style, style_seed), size)
    return Path(out)


__all__ = [
    "generate_packages",
    "rerender",
    "design_seed",
    "design_params",
    "shows",
    "stackup_from_params",
    "VIEWS",
    "BOTTOM",
]
