"""Package stack-ups as 3-D geometry: boxes, balls and wires, in millimetres.

Axes: ``x`` runs left to right in the top and front views, ``y`` is depth (down the top
view, left to right in the side view) and ``z`` is height above the bottom of the
lowest solder ball. Every family builder in :mod:`simnet.packages.families` returns a
:class:`Stackup`; :mod:`simnet.packages.render` projects it to the three views.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What each part is; the renderer gives every kind its own colour.
KINDS = (
    "substrate",  # organic build-up substrate core
    "layer",  # a copper layer inside a substrate, interposer or RDL
    "ball",  # BGA solder ball
    "bump",  # C4 / micro bump
    "interposer",  # silicon interposer
    "die",  # logic die
    "memory",  # memory die (HBM or wire-bonded DRAM/flash)
    "tsv",  # through-silicon via
    "underfill",
    "mould",
    "lid",
    "rdl",  # redistribution layers of a fan-out package
    "attach",  # die-attach film
    "wire",  # bond wire
    "pad",  # bond finger / pad
)

# Enclosures are drawn first in the front and side views and as outlines in the top view,
# so that what they cover stays visible (engineering drawings do the same).
ENCLOSURES = frozenset({"mould", "lid", "underfill"})


@dataclass(frozen=True)
class Box:
    kind: str
    x0: float
    y0: float
    z0: float
    x1: float
    y1: float
    z1: float

    @property
    def top(self) -> float:
        return self.z1

    @property
    def level(self) -> float:
        """Height used to order parts seen from above."""
        return self.z1


@dataclass(frozen=True)
class Ball:
    kind: str
    x: float
    y: float
    z: float  # centre
    r: float

    @property
    def top(self) -> float:
        return self.z + self.r

    @property
    def level(self) -> float:  # a ball's cap sinks into the pad above it
        return self.z


@dataclass(frozen=True)
class Wire:
    kind: str
    points: tuple[tuple[float, float, float], ...]

    @property
    def top(self) -> float:
        return max(p[2] for p in self.points)

    @property
    def level(self) -> float:
        return self.top


Part = Box | Ball | Wire


@dataclass
class Stackup:
    """One package design: its family, its parts and the parameters that made them."""

    family: str
    parts: list[Part] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def add(self, *parts: Part) -> None:
        self.parts.extend(parts)

    def extent(self) -> tuple[float, float, float, float, float, float]:
        """``(x0, y0, z0, x1, y1, z1)`` of everything."""
        xs, ys, zs = [], [], []
        for p in self.parts:
            if isinstance(p, Box):
                xs += [p.x0, p.x1]
                ys += [p.y0, p.y1]
                zs += [p.z0, p.z1]
            elif isinstance(p, Ball):
                xs += [p.x - p.r, p.x + p.r]
                ys += [p.y - p.r, p.y + p.r]
                zs += [p.z - p.r, p.z + p.r]
            else:
                xs += [q[0] for q in p.points]
                ys += [q[1] for q in p.points]
                zs += [q[2] for q in p.points]
        return min(xs), min(ys), min(zs), max(xs), max(ys), max(zs)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.parts:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out
