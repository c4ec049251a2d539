"""Is a package design physically faithful? Judged from its params.json alone.

:func:`problems` reads a design's ``parts`` (:func:`simnet.packages.geometry.part_from_dict`)
and its summary fields, never the generator's code, and returns one readable line per
problem (an empty list: faithful). The ranges come from :mod:`simnet.packages.facts`, which
cites a source for each. Lengths are millimetres; ``TOL`` is the slack on every comparison
unless a rule says otherwise.

The rules:

1. Containment: a part mounted ``on`` its parent stands on the parent's top face inside its
   footprint (its ``joint`` array between them, inside both); ``in`` lies inside the
   parent's bounds; ``under`` hangs under the bottom face inside the footprint. Nothing
   reaches below the board (z = 0); parents, joints and fingers exist; a part without a
   parent starts at the bottom of the body stack (the lowest box). A die-attach film on a
   die may overhang that die by :data:`STAGGER_MM` (a staggered, shingled stack).
2. Overlaps: no two solids (boxes and arrays that are not mould or underfill) share volume,
   except a part and its parent, a part and what it lies ``in`` (up the chain of ``in``
   mounts), and a copper plane (``layer``) and whatever else lies in the same parent (the
   planes are drawn whole; the core's copper faces and an embedded bridge's cavity cut
   them).
3. Enclosures clear what they cover: what starts inside a mould ends under its top (flush
   is fine), and bond wires keep :data:`WIRE_CLEARANCE_MM` under it; a lid's plate (its
   highest box) is above everything under it by a TIM gap of 0 to ``lid_standoff`` + 0.05
   mm, and is ``lid_thickness`` thick.
4. Bond wires start on their die's top face and land on their own bond finger's top face
   (within :data:`FACE_TOL`), one wire a finger; seen from above (first to last point) no
   two cross or touch; they are ``wire_diameter`` thick and loop ``wire_loop_height`` above
   the die. Gull-wing leads stay within 2 mm of the body.
5. Realistic ranges: the pitch and diameter of every array by kind (:data:`ARRAY_FACTS`;
   board balls by family, balls between packages at the PoP interconnect pitch, ball
   diameter/pitch and height/diameter), boxes by kind (:data:`BOX_FACTS`: dies, interposer,
   bridge, die attach, lead frame, passives; shields), a lead frame's lead pitch, the body
   and its height (:data:`FAMILY_FACTS`).
6. TSVs in every silicon interposer and in every die that carries another die face to back
   (on micro-bumps or hybrid bonds).
7. Every organic substrate has one core with a copper layer on each face and as many
   build-up layers above it as below, in range; the lowest one matches params.json's
   ``substrate`` (layers = 2 + 2 x build-up per side, thickness).
8. HBM stacks at their generation's JEDEC footprint and height, with an allowed die count;
   the dies of the ``i``-th HBM stack (group ``hbm<i>``) at that footprint and height.
9. With ``underfill`` set, every die (or interposer) on C4 bumps or micro-bumps on a
   substrate or interposer has an underfill fillet: spread ``underfill_fillet_width``
   beyond it on every side, tapered, climbing ``underfill_fillet_height_ratio`` of its side.
10. The summary fields agree with the geometry: die and stack counts, each die's size, the
    lid/mould/shield/underfill flags, passives, interconnect counts per kind (within what
    0.1 um rounding allows, :data:`ROUNDING`) and the outline.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from simnet.packages.facts import FACTS, HBM
from simnet.packages.geometry import (
    ENCLOSURES,
    Array,
    Box,
    Part,
    Wire,
    part_from_dict,
)

TOL = 1e-3  # mm, the slack on every comparison unless a rule names its own
FACE_TOL = 0.01  # a wire's end on a top face, a summary length against the geometry
WIRE_CLEARANCE_MM = 0.05  # mould compound over the highest wire loop
ROUNDING = 3e-4  # mm: params.json rounds lengths to 0.1 um; an array's span may be off by this
HBM_HEIGHT_TOL = 0.05  # mm, an HBM stack's height against JEDEC's
STAGGER_MM = 0.5  # how far a die glued on a die may overhang it (a shingled stack)
DIE_KINDS = frozenset({"die", "memory"})
CARRIER_KINDS = frozenset({"substrate", "interposer", "rdl"})  # what underfilled dies sit on
FACE_TO_BACK = frozenset({"micro-bump", "hybrid"})  # joints of a die on a die with TSVs

BGA = ("bga_pitch",)
CSP = ("csp_ball_pitch", "fanout_ball_pitch")
THICK = ("substrate_thickness",)
THIN = ("substrate_thickness", "pop_bottom_substrate_thickness")


@dataclass(frozen=True)
class FamilyFacts:
    """The facts that bound one family's body (``None``: no published range), the pitch
    of its board-level balls, the thickness of its substrates and its lead pitch."""

    body: str | None
    height: str | None
    balls: tuple[str, ...]
    substrate: tuple[str, ...] = THICK
    leads: tuple[str, ...] = ()


# (family, variant) -> its facts; ``""`` is any other variant of the family.
FAMILY_FACTS: dict[tuple[str, str], FamilyFacts] = {
    ("fcbga", ""): FamilyFacts("fcbga_body", "fcbga_height", BGA),
    ("interposer-2.5d", ""): FamilyFacts("interposer_package_body", None, BGA),
    ("bridge-2.5d", ""): FamilyFacts("interposer_package_body", None, BGA),
    ("3d-on-2.5d", ""): FamilyFacts("interposer_package_body", None, BGA),
    ("stacked-3d", ""): FamilyFacts("stacked_3d_body", None, BGA, THIN),
    ("fan-out-wlp", ""): FamilyFacts("fanout_body", "fanout_height", CSP, THIN),
    ("package-on-package", ""): FamilyFacts("fccsp_body", "pop_total_height", CSP, THIN),
    ("info-pop", ""): FamilyFacts("fanout_body", "info_pop_height", CSP, THIN),
    ("wire-bond", ""): FamilyFacts("wire_bond_body", None, BGA, THIN),
    ("lead-frame", "qfn"): FamilyFacts("qfn_body", "qfn_height", BGA, THIN, ("qfn_pitch",)),
    ("lead-frame", "qfp"): FamilyFacts("qfp_body", "qfp_height", BGA, THIN, ("qfp_pitch",)),
    ("csp", "wlcsp"): FamilyFacts("wlcsp_body", "wlcsp_height", CSP, THIN),
    ("csp", ""): FamilyFacts("fccsp_body", None, CSP, THIN),
    ("sip", ""): FamilyFacts("sip_body", "sip_height", BGA, THIN),
    ("mcm", ""): FamilyFacts("mcm_body", None, BGA),
}
UNKNOWN_FAMILY = FamilyFacts(None, None, BGA + CSP, THIN)

# Array kind -> (pitch facts, diameter facts); any one range of a tuple will do. Balls go by
# family (above), TSVs in a die may also take the base-die pitch.
ARRAY_FACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "c4": (("c4_pitch",), ("c4_diameter",)),
    "micro-bump": (("micro_bump_pitch",), ("micro_bump_diameter",)),
    "hybrid": (("hybrid_bond_pitch",), ()),
    "tsv": (("tsv_pitch",), ("tsv_diameter",)),
    "tmv": (("tmv_pitch",), ("tmv_diameter",)),
}
DIE_THICKNESS = (
    "die_thickness",
    "stacked_die_thickness",
    "hbm_core_die_thickness",
    "hbm_base_die_thickness",
)
# Box kind -> (thickness facts, long-side facts, short-side facts); () leaves it unchecked.
BOX_FACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "die": (DIE_THICKNESS, ("die_side",), ("die_side",)),
    "memory": (DIE_THICKNESS, ("die_side",), ("die_side",)),
    "interposer": (("interposer_thickness",), ("interposer_size",), ("interposer_size",)),
    "bridge": (("bridge_thickness",), ("bridge_length",), ("bridge_width",)),
    "attach": (("die_attach_thickness",), (), ()),
    "leadframe": (("leadframe_thickness",), (), ()),
    "lead": (("leadframe_thickness",), (), ()),
    "passive": (("passive_height",), ("passive_length",), ("passive_width",)),
}


class _Design:
    """A params.json read once: its parts by kind and by parent, their bounds as arrays."""

    def __init__(self, params: dict, parts: list[Part], named: dict[str, Part]) -> None:
        self.params, self.parts, self.named = params, parts, named
        self.boxes = [p for p in parts if isinstance(p, Box)]
        self.arrays = [p for p in parts if isinstance(p, Array)]
        self.wires = [p for p in parts if isinstance(p, Wire)]
        self.children: dict[str, list[Part]] = defaultdict(list)
        for p in parts:
            if p.parent:
                self.children[p.parent].append(p)
        self.blocks: list[Box | Array] = [*self.boxes, *self.arrays]
        self.bounds = np.array([p.bounds() for p in self.blocks], dtype=float).reshape(-1, 6)
        wires = self.wires
        self.wire_bounds = np.array([w.bounds() for w in wires], dtype=float).reshape(-1, 6)
        self.wire_starts = np.array([w.points[0] for w in wires], dtype=float).reshape(-1, 3)
        self.wire_ends = np.array([w.points[-1] for w in wires], dtype=float).reshape(-1, 3)
        self.bond = np.array([w.kind == "wire" for w in wires], dtype=bool)  # (W,) not leads
        family, variant = params.get("family", ""), params.get("variant", "")
        self.facts = FAMILY_FACTS.get(
            (family, variant), FAMILY_FACTS.get((family, ""), UNKNOWN_FAMILY)
        )

    def box(self, name: str) -> Box | None:
        p = self.named.get(name)
        return p if isinstance(p, Box) else None

    def inside(self, parent: Part, kind: str) -> list[Box | Array]:
        """The parts of ``kind`` mounted in ``parent``."""
        return [
            c
            for c in self.children.get(parent.name, [])
            if c.kind == kind and not isinstance(c, Wire) and c.mount == "in"
        ]


# -- formatting ---------------------------------------------------------------------------


def _mm(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _who(p: Part) -> str:
    return f"{p.kind} {p.name!r}"


def _span(bounds: tuple[float, ...], axis: int) -> str:
    return f"{'xyz'[axis]} {_mm(bounds[axis])}-{_mm(bounds[axis + 3])}"


def _ranges(names: Iterable[str]) -> str:
    return " or ".join(f"{n} {_mm(FACTS[n].lo)}-{_mm(FACTS[n].hi)}" for n in names)


@cache
def _spans(names: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    return tuple((FACTS[n].lo, FACTS[n].hi) for n in names)


def _within(value: float, names: tuple[str, ...], tol: float = TOL) -> bool:
    return any(lo - tol <= value <= hi + tol for lo, hi in _spans(names))


def _range_problem(
    what: str, value: float, names: tuple[str, ...], unit: str = " mm", part: Part | None = None
) -> list[str]:
    """``[]`` when ``value`` is within any of the facts ``names``, else the problem line
    (``what``, after ``part``'s kind and name when given)."""
    if not names or _within(value, names):
        return []
    who = f"{_who(part)} {what}" if part is not None else what
    return [f"{who} {_mm(value)}{unit} is outside {_ranges(names)}{unit}"]


# -- 1. containment -------------------------------------------------------------------------


def _outside_xy(inner: tuple[float, ...], outer: tuple[float, ...], slack: float) -> int | None:
    """The first axis (0: x, 1: y) on which ``inner``'s footprint leaves ``outer``'s."""
    for axis in (0, 1):
        if inner[axis] < outer[axis] - slack or inner[axis + 3] > outer[axis + 3] + slack:
            return axis
    return None


def _outside(p: Part, parent: Part, axis: int) -> str:
    b, q = p.bounds(), parent.bounds()
    return f"{_who(p)} ({_span(b, axis)}) is outside its parent {parent.name!r} ({_span(q, axis)})"


def _mounted(d: _Design, p: Box | Array, parent: Box | Array) -> list[str]:
    """Problems of ``p`` against the parent it names, by how it is mounted."""
    b, q = p.bounds(), parent.bounds()
    if p.mount == "in":
        for axis in (0, 1, 2):
            if b[axis] < q[axis] - TOL or b[axis + 3] > q[axis + 3] + TOL:
                return [_outside(p, parent, axis)]
        return []
    if p.mount not in ("on", "under"):
        return [f"{_who(p)} has an unknown mount {p.mount!r}"]
    glued = p.kind == "attach" and parent.kind in DIE_KINDS
    off = _outside_xy(b, q, STAGGER_MM if glued else TOL)
    out = [] if off is None else [_outside(p, parent, off)]
    if p.mount == "on" and b[2] < q[5] - TOL:
        out.append(f"{_who(p)} (z0 {_mm(b[2])}) sinks into {parent.name!r} (top {_mm(q[5])})")
    if p.mount == "under" and b[5] > q[2] + TOL:
        out.append(f"{_who(p)} (z1 {_mm(b[5])}) rises into {parent.name!r} (bottom {_mm(q[2])})")
    if isinstance(p, Box) and p.joint:
        out.extend(_joint(d, p, parent))
    return out


def _joint(d: _Design, p: Box, parent: Box | Array) -> list[str]:
    """A part's joint array lies between it and its parent, inside both footprints."""
    j = d.named.get(p.joint)
    if not isinstance(j, Array):
        return [f"{_who(p)} names an unknown joint {p.joint!r}"]
    out = []
    if abs(j.z0 - parent.z1) > TOL or abs(p.z0 - j.z1) > TOL:
        out.append(
            f"joint {_who(j)} (z {_mm(j.z0)}-{_mm(j.z1)}) is not between {p.name!r} "
            f"(z0 {_mm(p.z0)}) and {parent.name!r} (top {_mm(parent.z1)})"
        )
    for other in (parent, p):
        axis = _outside_xy(j.bounds(), other.bounds(), TOL)
        if axis is not None:
            out.append(
                f"joint {_who(j)} ({_span(j.bounds(), axis)}) is outside {other.name!r} "
                f"({_span(other.bounds(), axis)})"
            )
    return out


def _misplaced(d: _Design) -> np.ndarray:
    """(B,) which blocks break their mount (or name no block as parent); the checks of
    :func:`_mounted`, for all blocks at once."""
    index = {p.name: k for k, p in enumerate(d.blocks)}
    parent = np.array([index.get(p.parent, -1) for p in d.blocks], dtype=int)
    mount = np.array([p.mount for p in d.blocks])
    glued = np.array(
        [
            p.kind == "attach" and d.named[p.parent].kind in DIE_KINDS if k >= 0 else False
            for p, k in zip(d.blocks, parent, strict=True)
        ],
        dtype=bool,
    )
    b, q = d.bounds, d.bounds[parent]  # (B, 6) each; q is junk where parent == -1
    slack = np.where(glued, STAGGER_MM, TOL)[:, None]
    in_xy = np.all((b[:, :2] >= q[:, :2] - slack) & (b[:, 3:5] <= q[:, 3:5] + slack), axis=1)
    in_z = (b[:, 2] >= q[:, 2] - TOL) & (b[:, 5] <= q[:, 5] + TOL)
    ok = np.where(mount == "in", in_xy & in_z, False)
    ok |= (mount == "on") & in_xy & (b[:, 2] >= q[:, 5] - TOL)
    ok |= (mount == "under") & in_xy & (b[:, 5] <= q[:, 2] + TOL)
    has_parent = np.array([bool(p.parent) for p in d.blocks], dtype=bool)
    return has_parent & ((parent < 0) | ~ok)


def _containment(d: _Design) -> list[str]:
    out = []
    base = min((b.z0 for b in d.boxes), default=0.0)
    for w in d.wires:
        if min(pt[2] for pt in w.points) < -TOL:
            out.append(f"{_who(w)} reaches below the board (z {_mm(w.bounds()[2])})")
        if w.parent not in d.named:
            out.append(f"{_who(w)} names an unknown parent {w.parent!r}")
    b = d.bounds
    for k in np.flatnonzero((b[:, 2] < -TOL) | np.any(b[:, 3:] < b[:, :3], axis=1)):
        p = d.blocks[k]
        if p.z0 < -TOL:
            out.append(f"{_who(p)} reaches below the board (z0 {_mm(p.z0)})")
        if p.z1 < p.z0 or p.x1 < p.x0 or p.y1 < p.y0:
            out.append(f"{_who(p)} has negative size")
    for p in d.blocks:
        if not p.parent and p.z0 > base + TOL:
            out.append(
                f"{_who(p)} has no parent but is not a base body "
                f"(z0 {_mm(p.z0)} above the bottom body's {_mm(base)})"
            )
    check = _misplaced(d) | np.array([isinstance(p, Box) and bool(p.joint) for p in d.blocks])
    for k in np.flatnonzero(check):
        p = d.blocks[k]
        parent = d.named.get(p.parent)
        if parent is None or isinstance(parent, Wire):
            out.append(f"{_who(p)} names an unknown parent {p.parent!r}")
        else:
            out.extend(_mounted(d, p, parent))
    return out


# -- 2. overlaps ----------------------------------------------------------------------------


def _in_chain(d: _Design, p: Part) -> set[str]:
    """The names of ``p``'s parent and of what it lies in, up the chain of ``in`` mounts."""
    names = {p.parent}
    while not isinstance(p, Wire) and p.mount == "in" and p.parent in d.named:
        p = d.named[p.parent]
        names.add(p.parent)
    return names


def _exempt(d: _Design, a: Box | Array, b: Box | Array) -> bool:
    if b.name in _in_chain(d, a) or a.name in _in_chain(d, b):
        return True
    same_host = a.mount == b.mount == "in" and a.parent == b.parent
    return same_host and "layer" in (a.kind, b.kind)


def overlapping_pairs(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of boxes ``(N, 6)`` that share volume (every axis by > TOL)."""
    x0, x1 = bounds[:, 0], bounds[:, 3]
    hit = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :]) > TOL
    i, j = np.nonzero(np.triu(hit, 1))  # pairs overlapping in x: few, then y and z on them
    for axis in (1, 2):
        lo = np.maximum(bounds[i, axis], bounds[j, axis])
        keep = np.minimum(bounds[i, axis + 3], bounds[j, axis + 3]) - lo > TOL
        i, j = i[keep], j[keep]
    return i, j


def _overlaps(d: _Design) -> list[str]:
    solid = np.array([p.kind not in ENCLOSURES for p in d.blocks], dtype=bool)
    index = np.flatnonzero(solid)
    if len(index) < 2:
        return []
    bounds = d.bounds[index]
    out = []
    for i, j in zip(*overlapping_pairs(bounds), strict=True):
        a, b = d.blocks[index[i]], d.blocks[index[j]]
        if _exempt(d, a, b):
            continue
        depth = np.minimum(bounds[i, 3:], bounds[j, 3:]) - np.maximum(bounds[i, :3], bounds[j, :3])
        axis = int(np.argmin(depth))  # the axis they overlap least on says most
        out.append(
            f"{_who(a)} ({_span(a.bounds(), axis)}) overlaps {_who(b)} ({_span(b.bounds(), axis)})"
        )
    return out


# -- 3. enclosures --------------------------------------------------------------------------


def _meets(bounds: np.ndarray, b: np.ndarray, by: float = TOL) -> np.ndarray:
    """(N,) whether each footprint of ``bounds`` (N, 6) overlaps ``b``'s (6,) by more than
    ``by`` on both axes (``-TOL``: touching will do, for a straight wire's flat bounds)."""
    wide = np.minimum(bounds[:, 3], b[3]) - np.maximum(bounds[:, 0], b[0]) > by
    deep = np.minimum(bounds[:, 4], b[4]) - np.maximum(bounds[:, 1], b[1]) > by
    return wide & deep


def _moulds(d: _Design) -> list[str]:
    out = []
    for k in (k for k, p in enumerate(d.blocks) if p.kind == "mould"):
        m, name = d.bounds[k], d.blocks[k].name
        starts = (d.bounds[:, 2] >= m[2] - TOL) & (d.bounds[:, 2] < m[5] - TOL)
        poke = _meets(d.bounds, m) & starts & (d.bounds[:, 5] > m[5] + TOL)
        poke[k] = False
        for i in np.flatnonzero(poke):
            p = d.blocks[i]
            out.append(f"{_who(p)} (top {_mm(p.z1)}) pokes out of mould {name!r} (top {_mm(m[5])})")
        if not len(d.wires):
            continue
        z = d.wire_starts[:, 2]
        inside = d.bond & _meets(d.wire_bounds, m, -TOL) & (z >= m[2] - TOL) & (z < m[5])
        for i in np.flatnonzero(inside & (d.wire_bounds[:, 5] > m[5] - WIRE_CLEARANCE_MM + TOL)):
            w = d.wires[i]
            out.append(
                f"{_who(w)} (loop top {_mm(w.top)}) is not {_mm(WIRE_CLEARANCE_MM)} mm under "
                f"the top of mould {name!r} ({_mm(m[5])})"
            )
    return out


def _lids(d: _Design) -> list[str]:
    groups: dict[str, list[int]] = defaultdict(list)
    for k, b in enumerate(d.blocks):
        if b.kind == "lid":
            groups[b.group].append(k)
    out = []
    not_lid = np.array([p.kind != "lid" for p in d.blocks], dtype=bool)
    gap_hi = FACTS["lid_standoff"].hi + 0.05
    for members in groups.values():
        k = max(members, key=lambda i: (d.bounds[i, 2], d.bounds[i, 3] - d.bounds[i, 0]))
        plate, pb = d.blocks[k], d.bounds[k]
        out += _range_problem("thickness", pb[5] - pb[2], ("lid_thickness",), part=plate)
        below = not_lid & (d.bounds[:, 2] < pb[2] - TOL) & _meets(d.bounds, pb)
        under: list[Part] = [d.blocks[i] for i in np.flatnonzero(below)]
        if len(d.wires):
            wires = (d.wire_bounds[:, 2] < pb[2] - TOL) & _meets(d.wire_bounds, pb, -TOL)
            under += [d.wires[i] for i in np.flatnonzero(wires)]
        if not under:
            continue
        top = max(under, key=lambda p: p.top)
        gap = pb[2] - top.top
        if not -TOL <= gap <= gap_hi:
            out.append(
                f"lid plate {plate.name!r} (z0 {_mm(pb[2])}) is {_mm(gap)} mm above "
                f"{_who(top)} (top {_mm(top.top)}); the TIM gap must be 0-{_mm(gap_hi)} mm "
                "(lid_standoff)"
            )
    return out


# -- 4. wires -------------------------------------------------------------------------------


def _on_faces(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(N,) whether each point (N, 3) lies on the top face of its box (N, 6)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    inside = (x >= bounds[:, 0] - TOL) & (x <= bounds[:, 3] + TOL)
    inside &= (y >= bounds[:, 1] - TOL) & (y <= bounds[:, 4] + TOL)
    return inside & (np.abs(z - bounds[:, 5]) <= FACE_TOL)


def _box_bounds(d: _Design, names: list[str]) -> np.ndarray:
    """(N, 6) bounds of the boxes named (rows of NaN for names that are no box)."""
    nan = (np.nan,) * 6
    return np.array([b.bounds() if (b := d.box(n)) else nan for n in names], dtype=float)


def _wire_ends(d: _Design, bonds: list[int]) -> list[str]:
    """Bond wires start on their die and land on their own finger, at a real size."""
    wires = [d.wires[i] for i in bonds]
    parents = _box_bounds(d, [w.parent for w in wires])
    fingers = _box_bounds(d, [w.finger for w in wires])
    starts, ends = d.wire_starts[bonds], d.wire_ends[bonds]
    off_start = ~np.isnan(parents[:, 0]) & ~_on_faces(starts, parents)
    off_finger = ~_on_faces(ends, fingers)
    loop = d.wire_bounds[bonds, 5] - parents[:, 5]
    lo, hi = FACTS["wire_loop_height"].lo - FACE_TOL, FACTS["wire_loop_height"].hi + FACE_TOL
    bad_loop = (loop < lo) | (loop > hi)  # NaN (no parent) compares False
    width = FACTS["wire_diameter"]
    widths = np.array([w.width for w in wires])
    bad_width = (widths < width.lo - TOL) | (widths > width.hi + TOL)
    out = []
    for k in np.flatnonzero(off_start | off_finger | bad_loop | bad_width):
        w = wires[k]
        if off_start[k]:
            out.append(f"{_who(w)} does not start on the top face of {w.parent!r}")
        if off_finger[k]:
            out.append(_off_finger(d, w))
        if bad_loop[k]:
            out.append(
                f"{_who(w)} loops {_mm(loop[k])} mm above {w.parent!r}, outside "
                f"{_ranges(('wire_loop_height',))} mm"
            )
        out += _range_problem("diameter", w.width, ("wire_diameter",), part=w)
    return out


def _off_finger(d: _Design, w: Wire) -> str:
    finger = d.box(w.finger)
    if finger is None:
        return f"{_who(w)} names an unknown bond finger {w.finger!r}"
    x, y, z = w.points[-1]
    return (
        f"{_who(w)} lands at ({_mm(x)}, {_mm(y)}, {_mm(z)}), off its bond finger "
        f"{finger.name!r} (x {_mm(finger.x0)}-{_mm(finger.x1)}, y {_mm(finger.y0)}-"
        f"{_mm(finger.y1)}, top {_mm(finger.z1)})"
    )


def _orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Sign of the turn p -> q -> r for rows of 2-D points (N, 2); 0 when collinear."""
    cross = (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])
    return np.where(np.abs(cross) < 1e-9, 0.0, np.sign(cross))


def segment_crossings(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of 2-D segments ``(N, 2, 2)`` that cross or touch."""
    lo, hi = segments.min(axis=1), segments.max(axis=1)  # (N, 2)
    near = np.minimum(hi[:, None, 0], hi[None, :, 0]) >= np.maximum(lo[:, None, 0], lo[None, :, 0])
    i, j = np.nonzero(np.triu(near, 1))  # spans meet in x: few pairs, then y on them
    keep = np.minimum(hi[i, 1], hi[j, 1]) >= np.maximum(lo[i, 1], lo[j, 1]) - 1e-9
    i, j = i[keep], j[keep]
    a, b = segments[:, 0], segments[:, 1]
    meet = (_orient(a[i], b[i], a[j]) * _orient(a[i], b[i], b[j]) <= 0) & (
        _orient(a[j], b[j], a[i]) * _orient(a[j], b[j], b[i]) <= 0
    )
    return i[meet], j[meet]


def _wires(d: _Design) -> list[str]:
    bonds = [int(i) for i in np.flatnonzero(d.bond)]
    if not bonds:
        return _leads(d)
    out = _wire_ends(d, bonds)
    fingers: dict[str, list[str]] = defaultdict(list)
    for i in bonds:
        fingers[d.wires[i].finger].append(d.wires[i].name)
    for finger, names in fingers.items():
        if len(names) > 1:
            out.append(f"bond finger {finger!r} carries {len(names)} wires: {', '.join(names)}")
    seg = np.stack([d.wire_starts[bonds, :2], d.wire_ends[bonds, :2]], axis=1)  # (N, 2, 2)
    for i, j in zip(*segment_crossings(seg), strict=True):
        a, b = d.wires[bonds[i]], d.wires[bonds[j]]
        out.append(f"wires {a.name!r} and {b.name!r} cross seen from above")
    return out + _leads(d)


def _leads(d: _Design) -> list[str]:
    """Gull-wing leads stay within 2 mm of the body."""
    if not d.boxes:
        return []
    x0, y0 = min(b.x0 for b in d.boxes) - 2.0, min(b.y0 for b in d.boxes) - 2.0
    x1, y1 = max(b.x1 for b in d.boxes) + 2.0, max(b.y1 for b in d.boxes) + 2.0
    out = []
    for w in d.wires:
        if w.kind == "lead":
            b = w.bounds()
            if b[0] < x0 or b[1] < y0 or b[3] > x1 or b[4] > y1:
                out.append(f"{_who(w)} reaches more than 2 mm beyond the body")
    return out


# -- 5. realistic ranges --------------------------------------------------------------------


def _array_ranges(d: _Design, a: Array) -> list[str]:
    diameters: tuple[str, ...] = ()
    if a.kind == "ball":
        pitches = d.facts.balls if a.mount == "under" else ("pop_interconnect_pitch",)
    else:
        pitches, diameters = ARRAY_FACTS.get(a.kind, ((), ()))
        parent = d.named.get(a.parent)
        if a.kind == "tsv" and parent is not None and parent.kind in DIE_KINDS:
            pitches = (*pitches, "tsv_in_base_die")
    out = _range_problem("pitch", a.pitch, pitches, part=a)
    out += _range_problem("diameter", a.diameter, diameters, part=a)
    if a.diameter >= a.pitch:
        out.append(f"{_who(a)} diameter {_mm(a.diameter)} mm is not below its pitch {_mm(a.pitch)}")
    if a.kind == "ball" and a.pitch > 0:
        ratio = a.diameter / a.pitch
        out += _range_problem("diameter/pitch", ratio, ("bga_ball_ratio",), "", part=a)
        if a.mount == "under" and a.diameter > 0:
            standoff = (a.z1 - a.z0) / a.diameter
            out += _range_problem("height/diameter", standoff, ("bga_standoff_ratio",), "", a)
    return out


def _box_ranges(b: Box) -> list[str]:
    if b.kind == "shield":
        thin = min(b.x1 - b.x0, b.y1 - b.y0, b.z1 - b.z0)
        return _range_problem("thickness", thin, ("shield_thickness",), part=b)
    if b.kind not in BOX_FACTS:
        return []
    thick, long, short = BOX_FACTS[b.kind]
    w, d = sorted((b.x1 - b.x0, b.y1 - b.y0))
    return (
        _range_problem("thickness", b.z1 - b.z0, thick, part=b)
        + _range_problem("length", d, long, part=b)
        + _range_problem("width", w, short, part=b)
    )


def _lead_pitches(d: _Design) -> list[str]:
    """Neighbouring leads along each side of a lead frame sit at the family's lead pitch."""
    if not d.facts.leads:
        return []
    sides: dict[tuple[str, float], list[tuple[float, Box]]] = defaultdict(list)
    for b in d.boxes:
        if b.kind == "lead":
            along_x = b.x1 - b.x0 >= b.y1 - b.y0  # a lead of the left or right side
            key = ("x", round(b.x0, 3)) if along_x else ("y", round(b.y0, 3))
            centre = (b.y0 + b.y1) / 2 if along_x else (b.x0 + b.x1) / 2
            sides[key].append((centre, b))
    out = []
    for side in sides.values():
        side.sort(key=lambda cb: cb[0])
        for (c0, a), (c1, b) in zip(side, side[1:], strict=False):
            out += _range_problem(f"lead pitch {a.name!r}-{b.name!r}", c1 - c0, d.facts.leads)
    return out


def _ranges_rule(d: _Design) -> list[str]:
    out = []
    for a in d.arrays:
        out.extend(_array_ranges(d, a))
    for b in d.boxes:
        out.extend(_box_ranges(b))
    out.extend(_lead_pitches(d))
    outline = d.params.get("outline_mm") or []
    family = d.params.get("family", "?")
    if len(outline) == 3:
        body = (d.facts.body,) if d.facts.body else ()
        height = (d.facts.height,) if d.facts.height else ()
        for side, value in zip("wd", outline[:2], strict=True):
            out += _range_problem(f"{family} body {side}", value, body)
        out += _range_problem(f"{family} height", outline[2], height)
    return out


# -- 6. TSVs --------------------------------------------------------------------------------


def _tsvs(d: _Design) -> list[str]:
    out = []
    for b in d.boxes:
        has = bool(d.inside(b, "tsv"))
        if b.kind == "interposer" and not has:
            out.append(f"silicon interposer {b.name!r} has no TSVs")
        if b.kind not in DIE_KINDS or has:
            continue
        for c in d.children.get(b.name, []):
            joint = d.named.get(c.joint) if isinstance(c, Box) else None
            if c.kind in DIE_KINDS and joint is not None and joint.kind in FACE_TO_BACK:
                out.append(f"{_who(b)} carries {c.name!r} on {joint.kind} bonds but has no TSVs")
                break
    interposer = d.params.get("interposer") or {}
    if interposer.get("kind") == "silicon":
        found = [b for b in d.boxes if b.kind == "interposer"]
        if not found:
            out.append("params.json names a silicon interposer but no part is one")
        if bool(interposer.get("tsv")) != any(d.inside(b, "tsv") for b in found):
            out.append(f"interposer.tsv is {interposer.get('tsv')} but the geometry disagrees")
    return out


# -- 7. substrates --------------------------------------------------------------------------


def _layer_split(d: _Design, sub: Box, core: Box) -> tuple[int, int, int]:
    """Copper layers of ``sub`` above ``core``, on its faces and below it."""
    above = on = below = 0
    for layer in d.inside(sub, "layer"):
        if layer.z0 >= core.z1 - TOL:
            above += 1
        elif layer.z1 <= core.z0 + TOL:
            below += 1
        else:
            on += 1
    return above, on, below


def _substrate(d: _Design, sub: Box) -> tuple[list[str], int, int]:
    """Problems of one organic substrate, its copper layers and build-up per side."""
    cores = d.inside(sub, "core")
    layers = len(d.inside(sub, "layer"))
    if len(cores) != 1:
        return [f"substrate {sub.name!r} has {len(cores)} cores, not 1"], layers, -1
    core = cores[0]
    assert isinstance(core, Box)
    above, on, below = _layer_split(d, sub, core)
    out = []
    if above != below:
        out.append(
            f"substrate {sub.name!r} build-up is not symmetric: {above} layers above the "
            f"core, {below} below"
        )
    if on != 2:
        out.append(f"substrate {sub.name!r} has {on} copper layers on its core, not 2")
    if layers % 2:
        out.append(f"substrate {sub.name!r} has an odd number of copper layers ({layers})")
    thick, core_t = sub.z1 - sub.z0, core.z1 - core.z0
    out += _range_problem(f"substrate {sub.name!r} thickness", thick, d.facts.substrate)
    out += _range_problem(f"core {core.name!r} thickness", core_t, ("substrate_core_thickness",))
    if above == below and above > 0:
        out += _range_problem(
            f"substrate {sub.name!r} build-up per side", above, ("buildup_layers_per_side",), ""
        )
        out += _range_problem(
            f"substrate {sub.name!r} build-up layer",
            (thick - core_t) / (2 * above),
            ("buildup_layer_thickness",),
        )
    return out, layers, above if above == below else -1


def _substrates(d: _Design) -> list[str]:
    out = []
    subs = sorted((b for b in d.boxes if b.kind == "substrate"), key=lambda b: b.z0)
    found = [_substrate(d, s) for s in subs]
    for problems_, _, _ in found:
        out.extend(problems_)
    summary = d.params.get("substrate") or {}
    if summary.get("kind") != "organic":
        return out
    if not subs:
        return [*out, "params.json names an organic substrate but no part is one"]
    _, layers, per_side = found[0]
    name = subs[0].name
    if summary.get("layers") != layers:
        out.append(f"substrate.layers is {summary.get('layers')} but {name!r} has {layers}")
    per = summary.get("buildup_per_side")
    if summary.get("layers") != 2 + 2 * (per or 0):
        out.append(f"substrate.layers {summary.get('layers')} is not 2 + 2 x {per} build-up")
    if per_side >= 0 and per != per_side:
        out.append(f"substrate.buildup_per_side is {per} but {name!r} has {per_side}")
    thick = subs[0].z1 - subs[0].z0
    if abs(summary.get("thickness_mm", thick) - thick) > FACE_TOL:
        out.append(
            f"substrate.thickness_mm is {summary.get('thickness_mm')} but {name!r} "
            f"is {_mm(thick)} mm thick"
        )
    return out


# -- 8. HBM ---------------------------------------------------------------------------------


def _same_footprint(size: Iterable[float], want: tuple[float, float]) -> bool:
    w, d = list(size)[:2]
    return any(abs(w - a) <= FACE_TOL and abs(d - b) <= FACE_TOL for a, b in (want, want[::-1]))


def _hbm(d: _Design) -> list[str]:
    """Each HBM entry of memory_stacks, and the dies of its group ``hbm<i>`` (``i`` counts
    the HBM entries only: a 3-D stack may come first), at JEDEC's footprint and height."""
    out = []
    stacks = [s for s in d.params.get("memory_stacks") or [] if str(s.get("kind"))[:3] == "HBM"]
    for i, s in enumerate(stacks):
        spec = HBM.get(s["kind"])
        if spec is None:
            out.append(f"HBM stack {i} is of an unknown generation {s['kind']!r}")
            continue
        want, label = spec["footprint"], f"{s['kind']} stack {i}"
        if not _same_footprint(s.get("footprint_mm", [0, 0]), want):
            out.append(
                f"{label} footprint {s.get('footprint_mm')} mm is not JEDEC's "
                f"{_mm(want[0])} x {_mm(want[1])} mm"
            )
        if abs(s.get("height_mm", 0) - spec["height"]) > HBM_HEIGHT_TOL:
            out.append(f"{label} height {s.get('height_mm')} mm is not JEDEC's {spec['height']} mm")
        if s.get("dies") not in spec["dies"]:
            out.append(f"{label} has {s.get('dies')} dies; {s['kind']} allows {spec['dies']}")
        out.extend(_hbm_geometry(d, i, label, spec))
    return out


def _hbm_geometry(d: _Design, i: int, label: str, spec: dict) -> list[str]:
    dies = [b for b in d.boxes if b.group == f"hbm{i}" and b.kind in DIE_KINDS]
    if not dies:
        return [f"{label} has no dies in the geometry (group 'hbm{i}')"]
    want = spec["footprint"]
    out = [
        f"{label}: {_who(b)} is {_mm(b.x1 - b.x0)} x {_mm(b.y1 - b.y0)} mm, not JEDEC's "
        f"{_mm(want[0])} x {_mm(want[1])} mm"
        for b in dies
        if not _same_footprint((b.x1 - b.x0, b.y1 - b.y0), want)
    ]
    height = max(b.z1 for b in dies) - min(b.z0 for b in dies)
    if abs(height - spec["height"]) > HBM_HEIGHT_TOL:
        out.append(f"{label}'s dies stand {_mm(height)} mm high, not JEDEC's {spec['height']} mm")
    return out


# -- 9. underfill ---------------------------------------------------------------------------


def _needs_underfill(d: _Design, b: Box) -> bool:
    joint, parent = d.named.get(b.joint), d.named.get(b.parent)
    return (
        joint is not None
        and joint.kind in ("c4", "micro-bump")
        and parent is not None
        and parent.kind in CARRIER_KINDS
    )


def _fillet_of(d: _Design, die: Box) -> Box | None:
    """The underfill under ``die``: on the same parent, its base around the die's
    footprint (the tightest such), or one named after the die by its group."""
    found = [
        u
        for u in d.children.get(die.parent, [])
        if isinstance(u, Box)
        and u.kind == "underfill"
        and (
            _outside_xy(die.bounds(), u.bounds(), TOL) is None
            or (u.group and u.group in (die.name, die.group))
        )
    ]
    return min(found, key=lambda u: (u.x1 - u.x0) * (u.y1 - u.y0), default=None)


def _underfill(d: _Design) -> list[str]:
    if not d.params.get("underfill"):
        return []
    width, ratio = FACTS["underfill_fillet_width"], FACTS["underfill_fillet_height_ratio"]
    out = []
    for die in (b for b in d.boxes if b.joint and _needs_underfill(d, b)):
        u = _fillet_of(d, die)
        if u is None:
            out.append(f"flip-chip {_who(die)} has no underfill")
            continue
        spread = min(die.x0 - u.x0, u.x1 - die.x1, die.y0 - u.y0, u.y1 - die.y1)
        widest = max(die.x0 - u.x0, u.x1 - die.x1, die.y0 - u.y0, u.y1 - die.y1)
        if spread < width.lo - TOL or widest > width.hi + TOL:
            out.append(
                f"underfill {u.name!r} spreads {_mm(spread)}-{_mm(widest)} mm beyond "
                f"{die.name!r}, outside {_ranges(['underfill_fillet_width'])} mm"
            )
        if u.taper <= 0:
            out.append(f"underfill {u.name!r} under {die.name!r} is a flat box, no fillet")
        climb = (u.z1 - die.z0) / max(die.z1 - die.z0, TOL)
        if not ratio.lo - TOL <= climb <= ratio.hi + TOL:
            out.append(
                f"underfill {u.name!r} climbs {_mm(climb)} of {die.name!r}'s side, "
                f"outside {_ranges(['underfill_fillet_height_ratio'])}"
            )
    return out


# -- 10. summary ----------------------------------------------------------------------------


def _array_count(a: Array, slack: float = 0.0) -> int:
    """:attr:`Array.count` without listing the centres (a hybrid-bond field has millions),
    over a span ``slack`` mm longer on each axis."""

    def n(lo: float, hi: float) -> int:
        return max(1, int(np.floor((hi - lo + slack - a.diameter) / a.pitch + 1e-9)) + 1)

    nx, ny = n(a.x0, a.x1), n(a.y0, a.y1)
    if a.rows <= 0 or 2 * a.rows >= min(nx, ny):
        return nx * ny
    return nx * ny - (nx - 2 * a.rows) * (ny - 2 * a.rows)


def _counted(d: _Design) -> dict[str, tuple[int, int]]:
    """Interconnects of each kind in the geometry: the fewest and most that the parts'
    rounded lengths allow (params.json keeps lengths to 0.1 um; an array whose span is a
    whole number of pitches gains or loses a row within that)."""
    counted: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for a in d.arrays:
        if a.pitch > 0:
            lo, hi = counted[a.kind]
            counted[a.kind] = (lo + _array_count(a, -ROUNDING), hi + _array_count(a, ROUNDING))
    for w in d.wires:
        lo, hi = counted[w.kind]
        counted[w.kind] = (lo + 1, hi + 1)
    return counted


def _counts_rule(d: _Design) -> list[str]:
    p = d.params
    out = []
    counted = _counted(d)
    declared: dict[str, int] = defaultdict(int)
    for entry in p.get("interconnects") or []:
        declared[entry.get("kind")] += entry.get("count", 0)
    for kind in sorted(set(counted) | set(declared)):
        lo, hi = counted[kind]
        if not lo <= declared[kind] <= hi:
            has = str(lo) if lo == hi else f"{lo}-{hi}"
            out.append(f"interconnects count {declared[kind]} {kind} but the geometry has {has}")
    kinds = {q.kind for q in d.parts}
    for flag in ("lid", "mould", "shield", "underfill"):
        if flag in p and bool(p[flag]) != (flag in kinds):
            out.append(
                f"{flag} is {p[flag]} but the geometry has {'a' if flag in kinds else 'no'} {flag}"
            )
    passives = sum(1 for b in d.boxes if b.kind == "passive")
    if "passives" in p and p["passives"] != passives:
        out.append(f"passives is {p['passives']} but the geometry has {passives}")
    return out


def _close(a: Iterable[float], b: Iterable[float], tol: float = FACE_TOL) -> bool:
    a, b = list(a), list(b)
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _summary(d: _Design) -> list[str]:
    p = d.params
    out = _counts_rule(d)
    dies, stacks = p.get("dies") or [], p.get("memory_stacks") or []
    if p.get("die_count") != len(dies):
        out.append(f"die_count is {p.get('die_count')} but dies lists {len(dies)}")
    if p.get("memory_stack_count") != len(stacks):
        out.append(
            f"memory_stack_count is {p.get('memory_stack_count')} but memory_stacks "
            f"lists {len(stacks)}"
        )
    for entry in dies:
        b = d.box(entry.get("name", ""))
        if b is None:
            out.append(f"dies names {entry.get('name')!r}, which is no part")
        elif not _close(entry.get("size_mm") or [], (b.x1 - b.x0, b.y1 - b.y0, b.z1 - b.z0)):
            out.append(
                f"dies gives {b.name!r} the size {entry.get('size_mm')} mm, not its geometry's"
            )
    outline = p.get("outline_mm") or []
    if len(outline) == 3:
        bounds = np.concatenate([d.bounds, d.wire_bounds])  # (P, 6)
        lo, hi = bounds[:, :3].min(axis=0), bounds[:, 3:].max(axis=0)
        size = [float(hi[0] - lo[0]), float(hi[1] - lo[1]), float(hi[2] - max(lo[2], 0.0))]
        if not _close(outline, size):
            out.append(
                f"outline_mm {outline} is not the geometry's extent {[round(v, 4) for v in size]}"
            )
    return out


# -- entry points ---------------------------------------------------------------------------

RULES: tuple[Callable[[_Design], list[str]], ...] = (
    _containment,
    _overlaps,
    _moulds,
    _lids,
    _wires,
    _ranges_rule,
    _tsvs,
    _substrates,
    _hbm,
    _underfill,
    _summary,
)


def _read(params: dict) -> tuple[_Design | None, list[str]]:
    parts: list[Part] = []
    out = []
    for k, data in enumerate(params.get("parts") or []):
        try:
            part = part_from_dict(data)
        except (KeyError, TypeError, ValueError) as err:
            out.append(f"parts[{k}] cannot be read: {err!r}")
            continue
        if isinstance(part, Wire) and len(part.points) < 2:
            out.append(f"{_who(part)} has fewer than two points")
        else:
            parts.append(part)
    named: dict[str, Part] = {}
    for p in parts:
        if p.name in named:
            out.append(f"two parts are named {p.name!r}")
        named[p.name] = p
    if not parts:
        out.append("params.json has no parts")
    return (_Design(params, parts, named) if parts else None), out


def problems(params: dict) -> list[str]:
    """What makes a design (its params.json, as a dict) physically unfaithful, one line
    each; an empty list when it is faithful."""
    design, out = _read(params)
    if design is None:
        return out
    for rule in RULES:
        out.extend(rule(design))
    return out


def check_file(path: str | Path) -> list[str]:
    """:func:`problems` of a params.json file; a file that cannot be read is one problem."""
    try:
        params = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"{path} cannot be read: {err}"]
    if not isinstance(params, dict):
        return [f"{path} is not a JSON object"]
    return problems(params)


__all__ = [
    "FAMILY_FACTS",
    "TOL",
    "check_file",
    "overlapping_pairs",
    "problems",
    "segment_crossings",
]
