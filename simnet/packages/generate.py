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
from PIL import Image
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
    """One design to write, with up to ``variants`` one-change copies beside it."""

    family: str
    seed: int
    folder: str
    size: int
    styles: tuple[str, ...]
    renders: int
    bottom: bool
    variants: int = 0


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
    _save_views(render(st, size, style, bottom=bottom), folder)
    return drawing_info(st, size, style)


def _save_views(views: dict[str, Image.Image], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for view, image in views.items():
        tmp = folder / f".{view}.png.tmp"
        image.save(tmp, format="PNG")
        tmp.replace(folder / f"{view}.png")


def _write_group(task: Task) -> list[str]:
    """Builds, draws and writes a design and its one-change copies (each a change that
    shows in the design's own drawing, :func:`shows`); returns their folders."""
    spec = sample(task.family, task.seed)
    own = _write_one(task, spec, Path(task.folder))
    style = _own_style(task)
    made: list[tuple[str, tuple[dict, object, object], dict[str, Image.Image]]] = []
    for change in _candidates(task, spec):
        if len(made) == task.variants:
            break
        changed = one_change(task.family, spec, change, random.Random(task.seed + 3))
        if changed is None:
            continue
        drawn = render(build_spec(task.family, changed[0]), task.size, style, bottom=task.bottom)
        if _differ(own, drawn):
            made.append((change, changed, drawn))
    folders = [task.folder]
    name = Path(task.folder).name
    for change, (copy, before, after), drawn in sorted(made, key=lambda m: m[0]):
        folder = Path(task.folder).with_name(f"{name}-{change}")
        variant_of = {"design": name, "change": change, "from": before, "to": after}
        _write_one(task, copy, folder, variant_of, drawn)
        folders.append(str(folder))
    return folders


def _write_one(
    task: Task,
    spec: dict,
    folder: Path,
    variant_of: dict | None = None,
    own: dict[str, Image.Image] | None = None,
) -> dict[str, Image.Image]:
    """Writes one design folder (its drawings and params.json); returns the views of its
    own drawing (``own`` where they are drawn already)."""
    st = build_spec(task.family, spec)
    drawings = []
    for k, (name, style_seed) in enumerate(drawing_styles(task.seed, task.styles, task.renders)):
        style = Style.make(name, style_seed)
        views = own if k == 0 and own is not None else render(st, task.size, style, task.bottom)
        own = views if k == 0 else own
        _save_views(views, folder if k == 0 else folder / RENDERS_DIR / str(k))
        info = drawing_info(st, task.size, style)
        drawings.append({"path": "." if k == 0 else f"{RENDERS_DIR}/{k}", **info})
    params = design_params(st, folder.name, task.seed, drawings, variant_of)
    atomic_write_text(folder / "params.json", json.dumps(params, indent=1) + "\n")
    assert own is not None
    return own


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
    tasks = []
    for i in range(designs):
        family, index = names[i % len(names)], i // len(names)
        folder = str(root / family / design_name(family, index))
        s = design_seed(seed, family, index)
        tasks.append(Task(family, s, folder, size, style_names, renders, bottom, variants))
    folders = [Path(f) for group in _run(tasks, workers, progress) for f in group]
    log.info("wrote %d designs (%s) to %s", len(folders), ", ".join(names), root)
    return folders


def _candidates(task: Task, spec: dict) -> list[str]:
    """The changes a design's copies are tried with, in a seeded order."""
    if task.variants <= 0:
        return []
    possible = [
        c
        for c in FAMILIES[task.family].changes
        if one_change(task.family, spec, c, random.Random(0)) is not None
    ]
    random.Random(task.seed + 5).shuffle(possible)
    return possible


def _own_style(task: Task) -> Style:
    """The style of a design's own drawing (its first)."""
    name, style_seed = drawing_styles(task.seed, task.styles, 1)[0]
    return Style.make(name, style_seed)


def shows(task: Task, spec: dict, copy: dict) -> bool:
    """Whether a one-change copy looks different from its original in the design's own
    drawing (its first style and look, at the library's size): :func:`_differ`."""
    style = _own_style(task)
    a = render(build_spec(task.family, spec), task.size, style)
    b = render(build_spec(task.family, copy), task.size, style)
    return _differ(a, b)


def _differ(a: dict[str, Image.Image], b: dict[str, Image.Image]) -> bool:
    """Some view of ``b`` differs from ``a``'s (:func:`changed_share`) in at least
    :data:`VISIBLE_SHARE` of its pixels. Some changes hide inside a package (the logic
    dies of an InFO-PoP under its memory package, the dies of a PoP's top package stacked
    or staggered); a copy that cannot be told from its original is no test of a model, so
    it is not made."""
    return changed_share(a, b) >= VISIBLE_SHARE


def changed_share(a: dict[str, Image.Image], b: dict[str, Image.Image]) -> float:
    """The largest share of a view's pixels that differ between two drawings of a design
    (the same views, as images), by more than :data:`VISIBLE_LEVELS` in a channel; 1.0
    where a view's size differs."""
    shares = [0.0]
    for view in VIEWS:
        pa = np.asarray(a[view].convert("RGB"), dtype=np.int16)
        pb = np.asarray(b[view].convert("RGB"), dtype=np.int16)
        if pa.shape != pb.shape:
            return 1.0
        shares.append(float((np.abs(pa - pb) > VISIBLE_LEVELS).any(axis=2).mean()))
    return max(shares)


def _run(tasks: list[Task], workers: int | None, progress: bool) -> list[list[str]]:
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(tasks), desc="generating designs", unit="design", disable=not progress)
    written = []
    if workers > 1 and len(tasks) >= 8:
        with ProcessPoolExecutor(workers) as pool:
            for folders in pool.map(_write_group, tasks, chunksize=4):
                written.append(folders)
                bar.update()
    else:
        for task in tasks:
            written.append(_write_group(task))
            bar.update()
    bar.close()
    return written


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
    "changed_share",
    "stackup_from_params",
    "VIEWS",
    "BOTTOM",
]
