"""Package stack-ups as 3-D geometry: boxes, interconnect arrays and wires, in millimetres.

Axes: ``x`` runs left to right in the top and front views, ``y`` is depth (down the top
view, left to right in the side view) and ``z`` is height above the board (the bottom of
the lowest solder ball or lead). Every family builder in :mod:`simnet.packages.families`
returns a :class:`Stackup`; :mod:`simnet.packages.render` projects it to the views and
:mod:`simnet.packages.check` checks it, from its params.json alone.

Every part has a ``name`` (unique in its design) and names the part it is mounted on
(``parent``) and how (``mount``):

- ``on``: it stands on the parent's top face (a die on its substrate, joined by ``joint``,
  the interconnect array between them);
- ``in``: it lies inside the parent (copper layers and the core in a substrate, TSVs in a
  die, a bridge die embedded in a substrate);
- ``under``: it hangs under the parent's bottom face (the ball grid under a substrate).

Features finer than a pixel (a 40 um micro-bump field, a 1 mm ball grid at 128 px) are one
:class:`Array` each: the true pitch, diameter and count, drawn as a pattern when a pitch
is below a few pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

# What each part is made of; the renderer colours and hatches by material.
MATERIAL = {
    "substrate": "laminate",  # organic build-up dielectric
    "core": "core",  # glass-fibre substrate core
    "layer": "copper",  # a copper layer in a substrate, interposer or RDL
    "rdl": "polyimide",  # redistribution layers of a fan-out package or RDL interposer
    "interposer": "silicon",
    "bridge": "silicon",  # a silicon bridge die (EMIB, LSI)
    "die": "silicon",  # logic, I/O or base die
    "memory": "silicon",  # memory die (HBM core die, DRAM, flash)
    "ball": "solder",  # BGA / CSP solder ball
    "c4": "solder",  # flip-chip C4 bump / copper pillar
    "micro-bump": "solder",
    "hybrid": "copper",  # Cu-Cu hybrid bond interface
    "tsv": "copper",  # through-silicon via
    "tmv": "copper",  # through-mould / through-InFO via
    "underfill": "epoxy",
    "mould": "epoxy",
    "attach": "epoxy",  # die-attach film
    "lid": "metal",
    "shield": "metal",  # conformal EMI shield
    "leadframe": "metal",  # die paddle and leads of a lead-frame package
    "lead": "metal",
    "pad": "metal",  # bond finger
    "wire": "gold",
    "passive": "ceramic",  # chip capacitor or resistor
}
KINDS = tuple(MATERIAL)
ARRAY_KINDS = frozenset({"ball", "c4", "micro-bump", "hybrid", "tsv", "tmv"})
# Fill materials that surround other parts; the only parts allowed to overlap solids.
ENCLOSURES = frozenset({"mould", "underfill"})
# Drawn as outlines in the top view so that what they cover shows (a drawing convention).
SEE_THROUGH = frozenset({"mould", "lid", "shield"})
MOUNTS = ("on", "in", "under")


@dataclass(frozen=True)
class Box:
    """A rectangular block; ``taper`` insets its top face on every side (an underfill
    fillet: the base spreads ``taper`` mm beyond the die, the top meets the die's side)."""

    kind: str
    x0: float
    y0: float
    z0: float
    x1: float
    y1: float
    z1: float
    name: str = ""
    parent: str = ""
    mount: str = "on"
    joint: str = ""
    group: str = ""  # parts of one unit: "hbm0", "lid", "stack"
    taper: float = 0.0

    @property
    def top(self) -> float:
        return self.z1

    @property
    def level(self) -> float:
        """Height used to order parts seen from above."""
        return self.z1

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        return self.x0, self.y0, self.z0, self.x1, self.y1, self.z1


@dataclass(frozen=True)
class Array:
    """A regular grid of balls, bumps or vias inside ``(x0, y0, x1, y1)`` spanning
    ``z0..z1``. ``rows`` > 0 keeps only that many perimeter rows (a depopulated centre)."""

    kind: str
    x0: float
    y0: float
    z0: float
    x1: float
    y1: float
    z1: float
    pitch: float
    diameter: float
    rows: int = 0
    name: str = ""
    parent: str = ""
    mount: str = "on"
    group: str = ""

    @property
    def top(self) -> float:
        return self.z1

    @property
    def level(self) -> float:  # a ball's cap sinks into the pad above it
        return (self.z0 + self.z1) / 2

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        return self.x0, self.y0, self.z0, self.x1, self.y1, self.z1

    def along(self, lo: float, hi: float) -> int:
        """How many fit along one axis at ``pitch`` with the whole ball inside."""
        return max(1, math.floor((hi - lo - self.diameter) / self.pitch + 1e-9) + 1)

    def axis(self, lo: float, hi: float) -> list[float]:
        """Centres along one axis, centred in ``lo..hi``."""
        n = self.along(lo, hi)
        start = (lo + hi) / 2 - (n - 1) * self.pitch / 2
        return [start + i * self.pitch for i in range(n)]

    def grid(self) -> tuple[list[float], list[float]]:
        return self.axis(self.x0, self.x1), self.axis(self.y0, self.y1)

    @property
    def count(self) -> int:
        nx, ny = self.along(self.x0, self.x1), self.along(self.y0, self.y1)
        if self.rows <= 0 or 2 * self.rows >= min(nx, ny):
            return nx * ny
        return nx * ny - (nx - 2 * self.rows) * (ny - 2 * self.rows)

    def centres(self) -> list[tuple[float, float]]:
        xs, ys = self.grid()
        out = []
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                ring = min(i, j, len(xs) - 1 - i, len(ys) - 1 - j)
                if self.rows <= 0 or ring < self.rows:
                    out.append((x, y))
        return out


@dataclass(frozen=True)
class Wire:
    """A bond wire (or a gull-wing lead) through ``points``, ``width`` mm thick. A bond
    wire starts on its ``parent`` die and lands on the bond finger named ``finger``."""

    kind: str
    points: tuple[tuple[float, float, float], ...]
    width: float = 0.025
    name: str = ""
    parent: str = ""
    finger: str = ""
    group: str = ""

    @property
    def top(self) -> float:
        return max(p[2] for p in self.points)

    @property
    def level(self) -> float:
        return self.top

    def bounds(self) -> tuple[float, float, float, float, float, float]:
        xs, ys, zs = zip(*self.points, strict=True)
        return min(xs), min(ys), min(zs), max(xs), max(ys), max(zs)


Part = Box | Array | Wire
_TYPES: dict[str, type] = {"box": Box, "array": Array, "wire": Wire}
_TYPE_NAMES = {cls: name for name, cls in _TYPES.items()}
# Fields left out of params.json where they hold their default.
_OPTIONAL = {
    "name": "",
    "parent": "",
    "mount": "on",
    "joint": "",
    "group": "",
    "taper": 0.0,
    "rows": 0,
    "finger": "",
}


def part_to_dict(part: Part) -> dict:
    """A part as params.json holds it: lengths rounded to 0.1 um, defaults left out."""
    out: dict = {"type": _TYPE_NAMES[type(part)]}
    for f in fields(part):
        value = getattr(part, f.name)
        if f.name in _OPTIONAL and value == _OPTIONAL[f.name]:
            continue
        out[f.name] = _round(value)
    return out


def part_from_dict(data: dict) -> Part:
    data = dict(data)
    cls = _TYPES[data.pop("type")]
    if cls is Wire:
        data["points"] = tuple(tuple(p) for p in data["points"])
    return cls(**data)  # type: ignore[no-any-return]


def _round(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


@dataclass
class Stackup:
    """One package design: its family and variant, its parts and its summary fields
    (the params.json fields other than the parts; see :mod:`simnet.packages.schema`)."""

    family: str
    variant: str = ""
    parts: list[Part] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def add(self, *parts: Part) -> None:
        self.parts.extend(parts)

    def part(self, name: str) -> Part:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(name)

    def extent(self) -> tuple[float, float, float, float, float, float]:
        """``(x0, y0, z0, x1, y1, z1)`` of everything."""
        b = [p.bounds() for p in self.parts]
        return (
            min(q[0] for q in b),
            min(q[1] for q in b),
            min(q[2] for q in b),
            max(q[3] for q in b),
            max(q[4] for q in b),
            max(q[5] for q in b),
        )

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.parts:
            out[p.kind] = out.get(p.kind, 0) + (p.count if isinstance(p, Array) else 1)
        return out
