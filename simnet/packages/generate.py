"""``simnet generate-packages``: a library of synthetic package designs on disk.

Layout: ``OUT/<family>/<design>/{top,front,side}.png`` and ``params.json`` (the family,
the seed, the drawing style and every design parameter). With ``renders > 1`` each design
also gets ``renders/<k>/{top,front,side}.png``: the same design drawn in other styles,
which training can use as positives of the design (``data.labels=design``).

Everything is a function of ``seed``: the same call writes the same files.
"""

from __future__ import annotations

import json
import logging
import os
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from simnet.data.designs import RENDERS_DIR
from simnet.errors import SimNetError
from simnet.packages.families import FAMILIES, build
from simnet.packages.geometry import Stackup
from simnet.packages.render import VIEWS, Z_EXAGGERATION, Style, render
from simnet.storage import atomic_write_text

log = logging.getLogger(__name__)


def design_seed(seed: int, family: str, index: int) -> int:
    """A stable per-design seed (independent of how many designs are generated)."""
    return random.Random(f"{seed}|{family}|{index}").getrandbits(48)


def design_name(family: str, index: int) -> str:
    return f"{family}-{index:04d}"


def write_design(st: Stackup, folder: Path, style: Style, size: int) -> None:
    """Writes the three views of a design into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for view, image in render(st, size, style).items():
        tmp = folder / f".{view}.png.tmp"
        image.save(tmp, format="PNG")
        tmp.replace(folder / f"{view}.png")


def _write_one(task: tuple[str, int, str, int, int]) -> tuple[str, dict]:
    """Builds, draws and writes one design; returns its folder and parameters."""
    family, s, folder_name, size, renders = task
    folder = Path(folder_name)
    st = build(family, s)
    style = Style.random(s + 1)
    write_design(st, folder, style, size)
    for k in range(1, renders):
        write_design(st, folder / RENDERS_DIR / str(k), Style.random(s + 1 + k), size)
    params = {
        "family": family,
        "design": folder.name,
        "seed": s,
        "size_px": size,
        "z_exaggeration": Z_EXAGGERATION,
        "style_seed": style.seed,
        "renders": renders,
        "parts": st.counts(),
        **st.params,
    }
    atomic_write_text(folder / "params.json", json.dumps(params, indent=1) + "\n")
    return folder_name, params


def generate_packages(
    out: str | Path,
    designs: int,
    seed: int = 0,
    size: int = 128,
    renders: int = 1,
    families: list[str] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> list[Path]:
    """Generates ``designs`` designs spread evenly over the families.

    Args:
        out: the library folder (created; must not already hold designs).
        designs: how many designs in all.
        seed: the seed everything derives from.
        size: pixels per side of each view.
        renders: drawings per design (1 = just the design's own style).
        families: a subset of the family names (default: all).
        workers: processes drawing in parallel (default: one per core; the files do
            not depend on it).
    Returns:
        The design folders.
    """
    names = families or list(FAMILIES)
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise SimNetError(f"unknown family {unknown[0]!r} (available: {', '.join(FAMILIES)})")
    if designs < 1 or renders < 1 or size < 16:
        raise SimNetError("designs and renders must be at least 1 and size at least 16")
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise SimNetError(f"{root} is not empty: choose a new folder for the library")
    tasks = []
    for i in range(designs):
        family, index = names[i % len(names)], i // len(names)
        folder = root / family / design_name(family, index)
        tasks.append((family, design_seed(seed, family, index), str(folder), size, renders))
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=designs, desc="generating designs", unit="design", disable=not progress)
    if workers > 1 and designs >= 8:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_one, tasks, chunksize=4):
                bar.update()
    else:
        for task in tasks:
            _write_one(task)
            bar.update()
    bar.close()
    log.info("wrote %d designs (%s) to %s", designs, ", ".join(names), root)
    return [Path(t[2]) for t in tasks]


def rerender(design_folder: str | Path, style_seed: int, out: str | Path, size: int = 128) -> Path:
    """Draws a generated design again in another style (the re-identification query)."""
    params_path = Path(design_folder) / "params.json"
    if not params_path.is_file():
        raise SimNetError(f"{design_folder} has no params.json: not a generated design")
    params = json.loads(params_path.read_text())
    st = build(params["family"], int(params["seed"]))
    write_design(st, Path(out), Style.random(style_seed), size)
    return Path(out)


__all__ = ["generate_packages", "rerender", "design_seed", "VIEWS"]
