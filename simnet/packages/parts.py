"""The building blocks of package stack-ups: substrates, ball grids, flip-chip dies with
their bumps and underfill fillets, lids, moulds, wire-bonded dies and die stacks.

A :class:`Design` collects a stack-up's parts under unique names, and the summary fields
of params.json (dies, memory stacks, interconnects, ...), so that what a builder draws and
what it declares come from one call. Dimensions are millimetres; the ranges they are drawn
from are in :mod:`simnet.packages.facts`, with their sources.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from simnet.packages.geometry import Array, Box, Stackup, Wire

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1

CU = 0.015  # one copper layer (substrate, interposer, RDL)
BUILDUP = 0.035  # one build-up layer: dielectric and its copper
DAF = 0.02  # die-attach film
PAD = 0.015  # a bond finger's copper


def _r(v: float) -> float:
    """Lengths are kept to 0.1 um, as params.json writes them, so that what is checked
    from the file is exactly what was drawn."""
    return round(float(v), 4)


def centred(cx: float, cy: float, w: float, d: float) -> Rect:
    return cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2


def inset(rect: Rect, by: float) -> Rect:
    return rect[0] + by, rect[1] + by, rect[2] - by, rect[3] - by


def width(rect: Rect) -> float:
    return rect[2] - rect[0]


def depth(rect: Rect) -> float:
    return rect[3] - rect[1]


def row(rect: Rect, n: int, gap: float, along: str = "x") -> list[Rect]:
    """``rect`` split into ``n`` equal parts ``gap`` apart, along x or y."""
    x0, y0, x1, y1 = rect
    if along == "x":
        w = (x1 - x0 - (n - 1) * gap) / n
        return [(x0 + k * (w + gap), y0, x0 + k * (w + gap) + w, y1) for k in range(n)]
    d = (y1 - y0 - (n - 1) * gap) / n
    return [(x0, y0 + k * (d + gap), x1, y0 + k * (d + gap) + d) for k in range(n)]


@dataclass
class Design:
    """A stack-up under construction, and the summary it declares."""

    family: str
    variant: str
    st: Stackup = field(init=False)
    dies: list[dict] = field(default_factory=list)
    stacks: list[dict] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    _names: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.st = Stackup(self.family, self.variant)

    def name(self, kind: str) -> str:
        k = self._names.get(kind, 0)
        self._names[kind] = k + 1
        return f"{kind}{k}"

    def box(self, kind: str, rect: Rect, z0: float, z1: float, **how) -> Box:
        x0, y0, x1, y1 = (_r(v) for v in rect)
        b = Box(kind, x0, y0, _r(z0), x1, y1, _r(z1), name=self.name(kind), **how)
        self.st.add(b)
        return b

    def array(
        self, kind: str, rect: Rect, z0: float, z1: float, pitch: float, dia: float, **how
    ) -> Array:
        x0, y0, x1, y1 = (_r(v) for v in rect)
        a = Array(
            kind, x0, y0, _r(z0), x1, y1, _r(z1), _r(pitch), _r(dia), name=self.name(kind), **how
        )
        self.st.add(a)
        return a

    def wire(self, kind: str, points, width: float, **how) -> Wire:
        pts = tuple(tuple(_r(v) for v in p) for p in points)
        w = Wire(kind, pts, _r(width), name=self.name(kind), **how)  # type: ignore[arg-type]
        self.st.add(w)
        return w

    def die(self, role: str, b: Box) -> Box:
        self.dies.append(
            {"name": b.name, "role": role, "size_mm": [b.x1 - b.x0, b.y1 - b.y0, b.z1 - b.z0]}
        )
        return b

    def stack(self, kind: str, dies: int, parts: list[Box]) -> None:
        x0 = min(p.x0 for p in parts)
        x1 = max(p.x1 for p in parts)
        y0 = min(p.y0 for p in parts)
        y1 = max(p.y1 for p in parts)
        z0, z1 = min(p.z0 for p in parts), max(p.z1 for p in parts)
        self.stacks.append(
            {"kind": kind, "dies": dies, "height_mm": z1 - z0, "footprint_mm": [x1 - x0, y1 - y0]}
        )


# -- substrates and ball grids --------------------------------------------------------------


def organic_substrate(
    d: Design, rect: Rect, z0: float, core: float, per_side: int, parent: str = "", mount="on"
) -> Box:
    """A cored build-up substrate: ``core`` mm of glass-fibre core with a copper layer on
    each face, and ``per_side`` build-up layers above and below it."""
    thick = core + 2 * per_side * BUILDUP
    sub = d.box("substrate", rect, z0, z0 + thick, parent=parent, mount=mount)
    c0 = z0 + per_side * BUILDUP
    d.box("core", rect, c0, c0 + core, parent=sub.name, mount="in")
    for z in (c0, c0 + core - CU):
        d.box("layer", rect, z, z + CU, parent=sub.name, mount="in")
    for k in range(per_side):
        below = z0 + k * BUILDUP
        above = c0 + core + (k + 1) * BUILDUP - CU
        d.box("layer", rect, below, below + CU, parent=sub.name, mount="in")
        d.box("layer", rect, above, above + CU, parent=sub.name, mount="in")
    d.fields["substrate"] = {
        "kind": "organic",
        "thickness_mm": thick,
        "core_mm": core,
        "buildup_per_side": per_side,
        "layers": 2 + 2 * per_side,
    }
    return sub


def ball_height(pitch: float, ratio: float = 0.6) -> tuple[float, float]:
    """(diameter, collapsed height) of a solder ball at ``pitch``."""
    dia = pitch * ratio
    return dia, dia * 0.8


def balls_under(d: Design, body: Box, pitch: float, rows: int = 0, edge: float = 0.5) -> Array:
    """The ball grid under ``body``, its balls ``edge`` mm in from the body's sides."""
    dia, h = ball_height(pitch)
    rect = inset((body.x0, body.y0, body.x1, body.y1), edge)
    return d.array(
        "ball", rect, body.z0 - h, body.z0, pitch, dia, rows=rows, parent=body.name, mount="under"
    )


def ring(
    d: Design, kind: str, outer: Rect, inner: Rect, z0: float, z1: float, pitch, dia, parent: str
) -> list[Array]:
    """Interconnects in the frame between ``outer`` and ``inner`` (four strips, so that no
    strip's area covers what sits inside the frame)."""
    ox0, oy0, ox1, oy1 = outer
    ix0, iy0, ix1, iy1 = inner
    strips = [
        (ox0, oy0, ix0, oy1),
        (ix1, oy0, ox1, oy1),
        (ix0, oy0, ix1, iy0),
        (ix0, iy1, ix1, oy1),
    ]
    return [
        d.array(kind, s, z0, z1, pitch, dia, parent=parent)
        for s in strips
        if min(width(s), depth(s)) >= dia
    ]


# -- dies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bumps:
    """A die's interconnect to what it sits on."""

    kind: str  # c4, micro-bump, hybrid
    pitch: float
    dia: float
    height: float


def c4(rng: random.Random) -> Bumps:
    pitch = rng.choice([0.13, 0.15, 0.15, 0.18, 0.2])
    return Bumps("c4", pitch, pitch * 0.55, pitch * rng.uniform(0.4, 0.5))


def micro_bumps(rng: random.Random) -> Bumps:
    pitch = rng.choice([0.036, 0.04, 0.045, 0.055])
    return Bumps("micro-bump", pitch, pitch * 0.5, rng.uniform(0.015, 0.025))


def hybrid_bond(rng: random.Random) -> Bumps:
    pitch = rng.choice([0.003, 0.006, 0.009])
    return Bumps("hybrid", pitch, pitch * 0.5, 0.002)


def flip_chip(
    d: Design,
    parent: Box,
    rect: Rect,
    thick: float,
    bumps: Bumps,
    kind: str = "die",
    fillet: tuple[float, float] | None = (0.5, 0.7),
    group: str = "",
) -> Box:
    """A die flipped onto ``parent``'s top on ``bumps``, with an underfill fillet
    (``fillet``: its width beyond the die and the share of the die's side it climbs)."""
    z = parent.z1
    joint = d.array(
        bumps.kind,
        inset(rect, bumps.dia),
        z,
        z + bumps.height,
        bumps.pitch,
        bumps.dia,
        parent=parent.name,
        group=group,
    )
    die = d.box(
        kind,
        rect,
        z + bumps.height,
        z + bumps.height + thick,
        parent=parent.name,
        joint=joint.name,
        group=group,
    )
    if fillet is not None:
        spread, climb = fillet
        d.box(
            "underfill",
            inset(rect, -spread),
            z,
            die.z0 + climb * thick,
            parent=parent.name,
            taper=spread,
            group=group or die.name,
        )
        d.fields["underfill"] = True
    return die


def tsvs(d: Design, die: Box, pitch: float, dia: float = 0.006, margin: float = 0.3) -> Array:
    """A field of through-silicon vias across ``die``'s height."""
    rect = inset((die.x0, die.y0, die.x1, die.y1), min(margin, width_of(die) / 4))
    return d.array("tsv", rect, die.z0, die.z1, pitch, dia, parent=die.name, mount="in")


def width_of(b: Box) -> float:
    return min(b.x1 - b.x0, b.y1 - b.y0)


def die_stack(
    d: Design,
    base: Box,
    rect: Rect,
    count: int,
    bond: Bumps,
    thick: float,
    top_thick: float,
    tsv_pitch: float,
    group: str = "",
) -> list[Box]:
    """``count`` dies stacked face-to-back on ``base`` with ``bond`` between them; every die
    that carries another (and the base) has TSVs."""
    dies, below = [], base
    tsvs(d, base, tsv_pitch)
    for k in range(count):
        t = top_thick if k == count - 1 else thick
        joint = d.array(
            bond.kind,
            inset(rect, max(bond.dia, 0.05)),
            below.z1,
            below.z1 + bond.height,
            bond.pitch,
            bond.dia,
            parent=below.name,
            group=group,
        )
        z = below.z1 + bond.height
        die = d.box("memory", rect, z, z + t, parent=below.name, joint=joint.name, group=group)
        if k < count - 1:
            tsvs(d, die, tsv_pitch)
        dies.append(die)
        below = die
    return dies


def lid(d: Design, sub: Box, rect: Rect, covered_top: float, rng: random.Random) -> float:
    """A hat lid on ``sub``: a plate over ``covered_top`` with a TIM gap, on four walls.
    Returns the lid's top."""
    wall = rng.uniform(2.0, 3.0)
    plate = rng.uniform(0.5, 1.0)
    tim = rng.uniform(0.03, 0.08)
    z0, z1 = sub.z1, covered_top + tim
    x0, y0, x1, y1 = rect
    for r in (
        (x0, y0, x0 + wall, y1),
        (x1 - wall, y0, x1, y1),
        (x0 + wall, y0, x1 - wall, y0 + wall),
        (x0 + wall, y1 - wall, x1 - wall, y1),
    ):
        d.box("lid", r, z0, z1, parent=sub.name, group="lid")
    d.box("lid", rect, z1, z1 + plate, parent=sub.name, group="lid")
    d.fields["lid"] = True
    d.fields["lid_wall_mm"] = wall
    return z1 + plate


def mould(d: Design, parent: Box, rect: Rect, covered_top: float, cap: float) -> Box:
    d.fields["mould"] = True
    return d.box("mould", rect, parent.z1, covered_top + cap, parent=parent.name)


def passives(d: Design, sub: Box, spots: list[tuple[float, float]], size: tuple) -> int:
    """Chip capacitors (``size``: length, width, height) centred on ``spots``."""
    length, wide, high = size
    for x, y in spots:
        d.box("passive", centred(x, y, length, wide), sub.z1, sub.z1 + high, parent=sub.name)
    d.fields["passives"] = d.fields.get("passives", 0) + len(spots)
    return len(spots)


# -- wire bonding ---------------------------------------------------------------------------


def bond_wires(
    d: Design,
    die: Box,
    sub: Box,
    sides: str,
    pitch: float,
    reach: float,
    phase: float = 0.0,
    loop: float = 0.15,
    wire: float = 0.025,
    finger: tuple[float, float] = (0.07, 0.2),
) -> int:
    """Wires from pads along ``die``'s ``sides`` (any of "LRTB") straight out to one bond
    finger each on ``sub``, ``reach`` mm beyond the die's edge. Pads sit on one lattice of
    ``pitch`` shared by the whole package, shifted by ``phase`` (a share of the pitch):
    the dies of a stack use different phases, so their wires interleave and never meet."""
    fw, fd = finger
    zf = sub.z1
    n = 0
    for side in sides:
        horizontal = side in "LR"  # wires run along x
        lo, hi = (die.y0, die.y1) if horizontal else (die.x0, die.x1)
        first = math.ceil((lo + 0.3) / pitch - phase)
        last = math.floor((hi - 0.3) / pitch - phase)
        for k in range(first, last + 1):
            t = (k + phase) * pitch
            if side == "L":
                a, b = (die.x0 + 0.08, t), (die.x0 - reach, t)
                rect = centred(b[0] - fd / 2 + 0.05, t, fd, fw)
            elif side == "R":
                a, b = (die.x1 - 0.08, t), (die.x1 + reach, t)
                rect = centred(b[0] + fd / 2 - 0.05, t, fd, fw)
            elif side == "T":
                a, b = (t, die.y0 + 0.08), (t, die.y0 - reach)
                rect = centred(t, b[1] - fd / 2 + 0.05, fw, fd)
            else:
                a, b = (t, die.y1 - 0.08), (t, die.y1 + reach)
                rect = centred(t, b[1] + fd / 2 - 0.05, fw, fd)
            pad = d.box("pad", rect, zf, zf + PAD, parent=sub.name)
            top = die.z1 + loop
            mid = (a[0] + 0.35 * (b[0] - a[0]), a[1] + 0.35 * (b[1] - a[1]))
            points = ((*a, die.z1), (*a, top), (*mid, top), (*b, pad.z1))
            d.wire("wire", points, wire, parent=die.name, finger=pad.name)
            n += 1
    return n


def attached(
    d: Design, parent: Box, rect: Rect, thick: float, kind: str = "die", group: str = ""
) -> Box:
    """A die glued face-up on ``parent`` with die-attach film."""
    film = d.box("attach", rect, parent.z1, parent.z1 + DAF, parent=parent.name, group=group)
    return d.box(kind, rect, film.z1, film.z1 + thick, parent=film.name, group=group)
