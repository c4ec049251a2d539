"""The package families and their random variation.

Each builder draws its design parameters from ``rng`` (dimensions, counts, placement,
options such as a lid) and returns the :class:`Stackup`. Dimensions are in millimetres and
follow real packages' orders of magnitude: a 0.8-1.0 mm BGA pitch, 0.1-0.7 mm thick dies,
0.7-1 mm tall HBM stacks, 0.1 mm interposers, 0.4-0.5 mm fan-out ball pitch.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simnet.packages.geometry import Ball, Box, Stackup, Wire

Builder = Callable[[random.Random], Stackup]
FAMILIES: dict[str, Builder] = {}


def family(name: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        FAMILIES[name] = builder
        return builder

    return add


# -- shared parts ---------------------------------------------------------------------------


def _grid(x0: float, x1: float, pitch: float) -> list[float]:
    """Centres of as many pitch-spaced positions as fit in ``[x0, x1]``, centred."""
    n = max(1, int((x1 - x0) / pitch))
    start = (x0 + x1) / 2 - (n - 1) * pitch / 2
    return [start + i * pitch for i in range(n)]


def ball_array(
    st: Stackup,
    rect: tuple[float, float, float, float],
    pitch: float,
    z: float,
    r: float,
    kind: str = "ball",
    rows: int | None = None,
) -> int:
    """Solder balls (or bumps) on a grid inside ``rect``; ``rows`` keeps only that many
    perimeter rows (a depopulated centre). Returns the count."""
    x0, y0, x1, y1 = rect
    xs, ys = _grid(x0, x1, pitch), _grid(y0, y1, pitch)
    n = 0
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            ring = min(i, j, len(xs) - 1 - i, len(ys) - 1 - j)
            if rows is None or ring < rows:
                st.add(Ball(kind, x, y, z, r))
                n += 1
    return n


def substrate(
    st: Stackup, rect: tuple[float, float, float, float], z0: float, thick: float, layers: int
) -> float:
    """A build-up substrate with ``layers`` copper layers; returns its top."""
    x0, y0, x1, y1 = rect
    st.add(Box("substrate", x0, y0, z0, x1, y1, z0 + thick))
    for k in range(1, layers + 1):
        z = z0 + thick * k / (layers + 1)
        st.add(Box("layer", x0, y0, z - 0.012, x1, y1, z + 0.012))
    return z0 + thick


def centred(cx: float, cy: float, w: float, d: float) -> tuple[float, float, float, float]:
    return cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2


def flip_chip(
    st: Stackup, rect: tuple[float, float, float, float], z: float, thick: float, kind: str, rng
) -> float:
    """A die on a bump array with an underfill fillet; returns the die's top."""
    x0, y0, x1, y1 = rect
    bump = rng.uniform(0.06, 0.09)
    per_side = rng.randint(6, 14)
    pitch = (x1 - x0) / per_side
    st.add(Box("underfill", x0 - 0.3, y0 - 0.3, z, x1 + 0.3, y1 + 0.3, z + 2 * bump + 0.05))
    ball_array(st, rect, pitch, z + bump, bump, kind="bump")
    top = z + 2 * bump + thick
    st.add(Box(kind, x0, y0, z + 2 * bump, x1, y1, top))
    return top


def lid(st: Stackup, rect: tuple[float, float, float, float], z: float, height: float) -> None:
    """A hat-shaped metal lid: a plate on four walls."""
    x0, y0, x1, y1 = rect
    wall, plate = 1.5, 0.4
    st.add(Box("lid", x0, y0, z + height - plate, x1, y1, z + height))
    for box in (
        (x0, y0, x0 + wall, y1),
        (x1 - wall, y0, x1, y1),
        (x0, y0, x1, y0 + wall),
        (x0, y1 - wall, x1, y1),
    ):
        st.add(Box("lid", box[0], box[1], z, box[2], box[3], z + height - plate))


def bga_base(st: Stackup, rng, size: tuple[float, float], pitch: tuple[float, float]) -> float:
    """Substrate with a BGA underneath; returns the substrate's top."""
    w, d = size
    p = rng.uniform(*pitch)
    r = p * rng.uniform(0.28, 0.34)
    rows = rng.choice([None, None, rng.randint(3, 6)])
    n = ball_array(st, (0.6, 0.6, w - 0.6, d - 0.6), p, r, r, rows=rows)
    layers = rng.randint(4, 10)
    top = substrate(st, (0.0, 0.0, w, d), 1.6 * r, rng.uniform(0.8, 1.6), layers)
    st.params.update(ball_pitch=round(p, 3), balls=n, ball_rows=rows, substrate_layers=layers)
    return top


def wires(
    st: Stackup,
    die: tuple[float, float, float, float],
    die_top: float,
    pad_ring: tuple[float, float, float, float],
    pad_z: float,
    per_side: int,
    sides: int,
) -> int:
    """Bond wires from pads along a die's edges to fingers on ``pad_ring``; ``sides`` 2 or 4."""
    x0, y0, x1, y1 = die
    px0, py0, px1, py1 = pad_ring
    n = 0
    edges = [("x", x0, px0), ("x", x1, px1), ("y", y0, py0), ("y", y1, py1)][:sides]
    for axis, edge, outer in edges:
        span = _grid(x0 + 0.3, x1 - 0.3, (x1 - x0) / per_side) if axis == "y" else None
        span = span or _grid(y0 + 0.3, y1 - 0.3, (y1 - y0) / per_side)
        for t in span:
            a = (t, edge, die_top) if axis == "y" else (edge, t, die_top)
            b = (t, outer, pad_z) if axis == "y" else (outer, t, pad_z)
            loop = die_top + 0.15
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, loop * 0.9 + pad_z * 0.1)
            st.add(Wire("wire", (a, (a[0], a[1], loop), mid, b)))
            w = 0.12
            st.add(Box("pad", b[0] - w, b[1] - w, pad_z - 0.02, b[0] + w, b[1] + w, pad_z))
            n += 1
    return n


# -- the families ---------------------------------------------------------------------------


@family("fcbga")
def fcbga(rng: random.Random) -> Stackup:
    """2-D flip-chip BGA: one or two dies flipped onto an organic substrate, maybe a lid."""
    st = Stackup("fcbga")
    w = rng.uniform(15, 45)
    d = w * rng.uniform(0.8, 1.0)
    top = bga_base(st, rng, (w, d), (0.8, 1.0))
    dies = rng.choice([1, 1, 2])
    dw, dd = w * rng.uniform(0.3, 0.5), d * rng.uniform(0.3, 0.5)
    gap = rng.uniform(0.5, 2.0)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, d / 2 + rng.uniform(-0.1, 0.1) * d
    thick = rng.uniform(0.4, 0.8)
    die_top = top
    for k in range(dies):
        x = cx + (k - (dies - 1) / 2) * (dw + gap)
        die_top = flip_chip(st, centred(x, cy, dw, dd), top, thick, "die", rng)
    has_lid = rng.random() < 0.5
    if has_lid:
        lid(st, (1.0, 1.0, w - 1.0, d - 1.0), top, die_top - top + 0.5)
    st.params.update(size=[round(w, 2), round(d, 2)], dies=dies, die=[dw, dd], lid=has_lid)
    return st


@family("interposer-2.5d")
def interposer(rng: random.Random) -> Stackup:
    """2.5-D: a silicon interposer on C4 bumps carrying a logic die and HBM stacks."""
    st = Stackup("interposer-2.5d")
    w = rng.uniform(35, 60)
    d = w * rng.uniform(0.75, 1.0)
    top = bga_base(st, rng, (w, d), (0.9, 1.0))
    iw, id_ = w * rng.uniform(0.55, 0.7), d * rng.uniform(0.45, 0.6)
    ix0, iy0 = (w - iw) / 2, (d - id_) / 2
    c4 = 0.1
    ball_array(
        st, (ix0 + 0.5, iy0 + 0.5, ix0 + iw - 0.5, iy0 + id_ - 0.5), 1.2, top + c4, c4, "bump"
    )
    itop = top + 2 * c4 + 0.1
    st.add(Box("interposer", ix0, iy0, top + 2 * c4, ix0 + iw, iy0 + id_, itop))
    st.add(Box("layer", ix0, iy0, itop - 0.03, ix0 + iw, iy0 + id_, itop - 0.015))
    stacks = rng.choice([2, 4, 4, 6, 8])
    logic = rng.choice([1, 1, 2])
    sw = rng.uniform(7, 11) * iw / 40
    sd = sw * rng.uniform(1.1, 1.4)
    lw = iw - 2 * sw - 3.0
    ld = id_ * rng.uniform(0.6, 0.85)
    dies_top = itop
    cx, cy = w / 2, d / 2
    for k in range(logic):
        each = (ld - (logic - 1) * 0.8) / logic
        y = cy - ld / 2 + each / 2 + k * (each + 0.8)
        dies_top = flip_chip(st, centred(cx, y, lw, each), itop, 0.7, "die", rng)
    layers = rng.choice([4, 8, 12])
    per_col = stacks // 2
    for side in (-1, 1):
        x = cx + side * (lw / 2 + 1.0 + sw / 2)
        for k in range(per_col):
            y = cy + (k - (per_col - 1) / 2) * (id_ - 1.0) / max(per_col, 1)
            x0, y0, x1, y1 = centred(x, y, sw, min(sd, (id_ - 1.5) / per_col))
            z = itop + 0.05
            st.add(Box("die", x0, y0, z, x1, y1, z + 0.1))  # HBM base die
            z += 0.1
            layer_h = 0.7 / layers
            for _ in range(layers):
                st.add(Box("memory", x0, y0, z + 0.01, x1, y1, z + layer_h))
                z += layer_h
            dies_top = max(dies_top, z)
    mould = rng.random() < 0.5
    if mould:
        st.add(Box("mould", ix0, iy0, itop, ix0 + iw, iy0 + id_, dies_top))
    has_lid = rng.random() < 0.6
    if has_lid:
        lid(st, (1.0, 1.0, w - 1.0, d - 1.0), top, dies_top - top + 0.6)
    st.params.update(
        size=[round(w, 2), round(d, 2)],
        interposer=[round(iw, 2), round(id_, 2)],
        hbm_stacks=stacks,
        hbm_layers=layers,
        logic_dies=logic,
        mould=mould,
        lid=has_lid,
    )
    return st


@family("stacked-3d")
def stacked(rng: random.Random) -> Stackup:
    """3-D stacked dies on a logic base: hybrid bonding (no gap) or micro-bumps with TSVs."""
    st = Stackup("stacked-3d")
    w = rng.uniform(10, 22)
    d = w * rng.uniform(0.8, 1.0)
    top = bga_base(st, rng, (w, d), (0.65, 0.8))
    bw, bd = w * rng.uniform(0.45, 0.65), d * rng.uniform(0.45, 0.65)
    cx, cy = w / 2, d / 2
    z = flip_chip(st, centred(cx, cy, bw, bd), top, rng.uniform(0.1, 0.2), "die", rng)
    hybrid = rng.random() < 0.5
    count = rng.randint(2, 5)
    shrink = rng.uniform(0.75, 1.0)
    tsv_cols = rng.randint(3, 7)
    dw, dd = bw, bd
    for k in range(count):
        dw, dd = dw * shrink, dd * shrink
        x0, y0, x1, y1 = centred(cx, cy, dw, dd)
        if not hybrid:
            ball_array(st, (x0 + 0.3, y0 + 0.3, x1 - 0.3, y1 - 0.3), dw / 8, z + 0.02, 0.02, "bump")
            z += 0.04
        thick = rng.uniform(0.05, 0.1) if k < count - 1 else rng.uniform(0.1, 0.3)
        st.add(Box("memory" if k else "die", x0, y0, z, x1, y1, z + thick))
        if k < count - 1:
            for x in _grid(x0 + 0.5, x1 - 0.5, (dw - 1.0) / tsv_cols):
                st.add(Box("tsv", x - 0.03, cy - 0.03, z, x + 0.03, cy + 0.03, z + thick))
        z += thick
    st.add(
        Box(
            "mould",
            cx - bw / 2 - 0.5,
            cy - bd / 2 - 0.5,
            top,
            cx + bw / 2 + 0.5,
            cy + bd / 2 + 0.5,
            z + 0.1,
        )
    )
    st.params.update(
        size=[round(w, 2), round(d, 2)],
        stacked_dies=count,
        bonding="hybrid" if hybrid else "micro-bump+TSV",
        shrink=round(shrink, 3),
    )
    return st


@family("fan-out-wlp")
def fan_out(rng: random.Random) -> Stackup:
    """Fan-out wafer-level package: dies in mould compound on redistribution layers, balls
    straight under the RDL, no substrate."""
    st = Stackup("fan-out-wlp")
    w = rng.uniform(5, 15)
    d = w * rng.uniform(0.7, 1.0)
    p = rng.uniform(0.4, 0.5)
    r = p * 0.3
    n = ball_array(st, (0.3, 0.3, w - 0.3, d - 0.3), p, r, r)
    z = 1.6 * r
    layers = rng.randint(1, 4)
    for _ in range(layers):
        st.add(Box("rdl", 0, 0, z, w, d, z + 0.015))
        st.add(Box("layer", 0, 0, z + 0.015, w, d, z + 0.025))
        z += 0.025
    dies = rng.randint(1, 3)
    dw = (w * rng.uniform(0.45, 0.7) - (dies - 1) * 0.5) / dies
    dd = d * rng.uniform(0.4, 0.7)
    thick = rng.uniform(0.15, 0.4)
    for k in range(dies):
        x = w / 2 + (k - (dies - 1) / 2) * (dw + 0.5)
        st.add(
            Box("die", *centred(x, d / 2, dw, dd)[:2], z, *centred(x, d / 2, dw, dd)[2:], z + thick)
        )
    st.add(Box("mould", 0, 0, z, w, d, z + thick + rng.uniform(0.05, 0.2)))
    st.params.update(
        size=[round(w, 2), round(d, 2)],
        balls=n,
        ball_pitch=round(p, 3),
        rdl_layers=layers,
        dies=dies,
    )
    return st


def _memory_stack(
    st: Stackup, rng, rect, z: float, count: int, stagger: float
) -> tuple[float, tuple]:
    """Wire-bonded dies stacked with die-attach film, each shifted by ``stagger``."""
    x0, y0, x1, y1 = rect
    for k in range(count):
        st.add(Box("attach", x0 + k * stagger, y0, z, x1 + k * stagger, y1, z + 0.02))
        z += 0.02
        st.add(Box("memory", x0 + k * stagger, y0, z, x1 + k * stagger, y1, z + 0.08))
        z += 0.08
    return z, (x0 + (count - 1) * stagger, y0, x1 + (count - 1) * stagger, y1)


@family("package-on-package")
def pop(rng: random.Random) -> Stackup:
    """Package-on-package: a memory package on a perimeter ball array above a flip-chip
    logic package."""
    st = Stackup("package-on-package")
    w = rng.uniform(10, 16)
    d = w * rng.uniform(0.85, 1.0)
    top = bga_base(st, rng, (w, d), (0.4, 0.5))
    dw, dd = w * rng.uniform(0.35, 0.5), d * rng.uniform(0.35, 0.5)
    die_top = flip_chip(st, centred(w / 2, d / 2, dw, dd), top, 0.15, "die", rng)
    gap = die_top - top + 0.05
    r = gap / 2
    rows = rng.randint(1, 2)
    p = rng.uniform(0.4, 0.65)
    ball_array(st, (0.2, 0.2, w - 0.2, d - 0.2), p, top + r, r, rows=rows)
    up = substrate(st, (0, 0, w, d), top + gap, rng.uniform(0.2, 0.35), rng.randint(2, 4))
    count = rng.randint(1, 4)
    mw, md = w * rng.uniform(0.5, 0.7), d * rng.uniform(0.5, 0.7)
    stagger = rng.choice([0.0, 0.3])
    rect = centred(w / 2 - stagger * (count - 1) / 2, d / 2, mw, md)
    mtop, last = _memory_stack(st, rng, rect, up, count, stagger)
    wires(st, last, mtop, (0.4, 0.4, w - 0.4, d - 0.4), up, rng.randint(4, 8), 2)
    st.add(Box("mould", 0, 0, up, w, d, mtop + 0.25))
    st.params.update(
        size=[round(w, 2), round(d, 2)], interconnect_rows=rows, memory_dies=count, stagger=stagger
    )
    return st


@family("wire-bond")
def wirebond(rng: random.Random) -> Stackup:
    """Wire-bond BGA: dies glued face-up and bonded with gold wires to the substrate,
    under a mould cap."""
    st = Stackup("wire-bond")
    w = rng.uniform(8, 20)
    d = w * rng.uniform(0.7, 1.0)
    top = bga_base(st, rng, (w, d), (0.5, 0.8))
    count = rng.randint(1, 3)
    side_by_side = count > 1 and rng.random() < 0.4
    dw, dd = w * rng.uniform(0.3, 0.5), d * rng.uniform(0.35, 0.55)
    sides = rng.choice([2, 4])
    per_side = rng.randint(4, 9)
    z_max = top
    if side_by_side:
        for k in range(count):
            x = w / 2 + (k - (count - 1) / 2) * (dw / count + 1.0)
            rect = centred(x, d / 2, dw / count, dd)
            z, last = _memory_stack(st, rng, rect, top, 1, 0.0)
            ring = (rect[0] - 0.8, 0.8, rect[2] + 0.8, d - 0.8)
            wires(st, last, z, ring, top, per_side, sides)
            z_max = max(z_max, z)
    else:
        stagger = rng.choice([0.0, 0.4])
        rect = centred(w / 2, d / 2, dw, dd)
        z_max, last = _memory_stack(st, rng, rect, top, count, stagger)
        ring = (rect[0] - 1.2, rect[1] - 1.2, last[2] + 1.2, rect[3] + 1.2)
        wires(st, last, z_max, ring, top, per_side, sides)
    st.add(Box("mould", 0.3, 0.3, top, w - 0.3, d - 0.3, z_max + rng.uniform(0.3, 0.6)))
    st.params.update(
        size=[round(w, 2), round(d, 2)],
        dies=count,
        layout="side-by-side" if side_by_side else "stacked",
        wire_sides=sides,
        wires_per_side=per_side,
    )
    return st


def build(family_name: str, seed: int) -> Stackup:
    """The design a family builder makes for a seed (deterministic)."""
    st = FAMILIES[family_name](random.Random(seed))
    st.params = {k: _round(v) for k, v in st.params.items()}
    return st


def _round(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


__all__ = ["FAMILIES", "build"]
