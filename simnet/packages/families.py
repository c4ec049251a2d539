"""The package families, their variants and their random variation.

A family is two functions: ``sample(rng)`` draws a design's choices (its variant, counts,
dimensions, options such as a lid) as a plain dict, and ``build(spec)`` turns those choices
into the stack-up, deterministically. Keeping them apart is what makes one-change copies
possible (:func:`one_change`): edit one choice, build again, and everything else stays.

Dimensions are in millimetres and drawn from the ranges in :mod:`simnet.packages.facts`
(with their sources): C4 bumps at 130-200 um pitch, micro-bumps at 36-55 um, hybrid bonds
at 3-9 um, BGA balls at 0.5-1.0 mm (0.35-0.5 under CSPs), cored substrates with
symmetric build-up, JEDEC HBM footprints, TSVs in every silicon interposer and under every
die that carries another.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from simnet.packages import parts as P
from simnet.packages.facts import HBM
from simnet.packages.geometry import Box, Stackup
from simnet.packages.parts import Design, centred, inset
from simnet.packages.schema import CHANGES

Spec = dict


@dataclass(frozen=True)
class Family:
    name: str
    variants: tuple[str, ...]
    sample: Callable[[random.Random], Spec]
    build: Callable[[Spec], Design]
    # change name -> (the spec key it edits, the values it may take)
    changes: dict[str, tuple[str, tuple]]
    doc: str = ""


FAMILIES: dict[str, Family] = {}


def family(name: str, variants: tuple[str, ...], changes: dict[str, tuple[str, tuple]]):
    """Registers a family from its ``sample`` function; ``build`` is set with ``.builder``."""

    def add(sample: Callable[[random.Random], Spec]):
        def builder(build: Callable[[Spec], Design]) -> Callable[[Spec], Design]:
            FAMILIES[name] = Family(
                name, variants, sample, build, changes, (sample.__doc__ or "").strip()
            )
            return build

        sample.builder = builder  # type: ignore[attr-defined]
        return sample

    return add


def _hbm(rng: random.Random) -> str:
    return rng.choice(["HBM2", "HBM2E", "HBM3", "HBM3E"])


def _substrate_choice(rng: random.Random, big: bool = True) -> dict:
    if big:
        return {"core": rng.choice([0.4, 0.6, 0.8, 1.0, 1.2]), "per_side": rng.randint(2, 6)}
    return {"core": rng.choice([0.1, 0.15, 0.2]), "per_side": rng.randint(1, 2)}


# -- 2-D flip-chip on organic -------------------------------------------------------------


@family("fcbga", ("bare", "lidded"), {"dies": ("dies", (1, 2, 3, 4)), "lid": ("lid", (0, 1))})
def fcbga_sample(rng: random.Random) -> Spec:
    """2-D flip-chip BGA: one to four dies flipped onto a cored organic substrate on C4
    bumps with underfill fillets, a 1.0 or 0.8 mm ball grid, maybe a hat lid."""
    return {
        "body": rng.uniform(19, 50),
        "aspect": rng.uniform(0.85, 1.0),
        "dies": rng.choice([1, 1, 2, 2, 3, 4]),
        "die_fill": rng.uniform(0.45, 0.7),
        "die_aspect": rng.uniform(0.7, 1.0),
        "thick": rng.uniform(0.3, 0.78),
        "lid": int(rng.random() < 0.5),
        "caps": rng.choice([0, 4, 8]),
        "pitch": rng.choice([0.8, 1.0, 1.0]),
        "rows": rng.choice([0, 0, rng.randint(4, 8)]),
        "sub": _substrate_choice(rng),
        "seed": rng.getrandbits(32),
    }


@fcbga_sample.builder
def fcbga(s: Spec) -> Design:
    d = Design("fcbga", "lidded" if s["lid"] else "bare")
    rng = random.Random(s["seed"])
    w, dd = s["body"], s["body"] * s["aspect"]
    _, ball_h = P.ball_height(s["pitch"])
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, s["pitch"], s["rows"])
    keep = 3.5 if s["lid"] else 1.5  # lid walls or the substrate's edge, plus fillets
    area = inset((0, 0, w, dd), keep + 1.0)
    top = _dies_in(d, sub, area, s, P.c4(rng), "logic")
    _caps(d, sub, area, s["caps"], bool(s["lid"]))
    if s["lid"]:
        P.lid(d, sub, inset((0, 0, w, dd), 0.5), top, rng)
    return d


def _dies_in(d: Design, sub: Box, area, s: Spec, bumps: P.Bumps, role: str) -> float:
    """``s["dies"]`` flip-chip dies centred in ``area``: a row, or a 2 x 2 grid for four."""
    n = s["dies"]
    cx, cy = (area[0] + area[2]) / 2, (area[1] + area[3]) / 2
    cols, rows = (2, 2) if n == 4 else (n, 1)
    gap = 1.6  # room for two fillets
    room = min(P.width(area), P.depth(area))
    side = max(1.5, (room * s["die_fill"] - (cols - 1) * gap) / cols)  # near-square dies
    block = centred(
        cx,
        cy,
        min(room, cols * side + (cols - 1) * gap),
        min(room, rows * side * s["die_aspect"] + (rows - 1) * gap),
    )
    top = sub.z1
    for r in P.row(block, rows, gap, "y"):
        for rect in P.row(r, cols, gap, "x"):
            die = P.flip_chip(d, sub, rect, s["thick"], bumps)
            d.die(role, die)
            top = max(top, die.z1)
    return top


def _caps(d: Design, sub: Box, area, count: int, low: bool) -> None:
    """Decoupling capacitors in the corners of ``area``: 0402 (1.0 x 0.5 x 0.5 mm), or
    0201 (0.6 x 0.3 x 0.3 mm) when ``low`` (under a lid, lower than the dies)."""
    if not count:
        return
    x0, y0, x1, y1 = area
    spots = []
    for k in range(count):
        corner = k % 4
        along = k // 4
        x = x0 + 0.8 + along * 1.4 if corner in (0, 2) else x1 - 0.8 - along * 1.4
        y = y0 + 0.5 if corner in (0, 1) else y1 - 0.5
        spots.append((x, y))
    P.passives(d, sub, spots, (0.6, 0.3, 0.3) if low else (1.0, 0.5, 0.5))


# -- multi-chiplet module ---------------------------------------------------------------


@family("mcm", ("lidded", "bare"), {"dies": ("chiplets", (2, 4, 6, 8)), "lid": ("lid", (0, 1))})
def mcm_sample(rng: random.Random) -> Spec:
    """Multi-chiplet module: an I/O die in the middle and two to eight compute chiplets
    around it on a large organic substrate, with capacitors, usually under a lid."""
    return {
        "body": rng.uniform(50, 75),
        "chiplets": rng.choice([2, 4, 4, 6, 8]),
        "io": (rng.uniform(0.18, 0.26), rng.uniform(0.3, 0.45)),
        "chiplet": (rng.uniform(0.1, 0.14), rng.uniform(0.1, 0.16)),
        "thick": rng.uniform(0.4, 0.78),
        "lid": int(rng.random() < 0.75),
        "caps": rng.choice([8, 12, 16]),
        "sub": _substrate_choice(rng),
        "seed": rng.getrandbits(32),
    }


@mcm_sample.builder
def mcm(s: Spec) -> Design:
    d = Design("mcm", "lidded" if s["lid"] else "bare")
    rng = random.Random(s["seed"])
    w = s["body"]
    _, ball_h = P.ball_height(1.0)
    sub = P.organic_substrate(d, (0, 0, w, w), ball_h, **s["sub"])
    P.balls_under(d, sub, 1.0)
    bumps = P.c4(rng)
    cx = cy = w / 2
    io = centred(cx, cy, w * s["io"][0], w * s["io"][1])
    top = d.die("io", P.flip_chip(d, sub, io, s["thick"], bumps)).z1
    cw, cd = w * s["chiplet"][0], w * s["chiplet"][1]
    per_side = s["chiplets"] // 2
    for side in (-1, 1):
        x = cx + side * (P.width(io) / 2 + 2.0 + cw / 2)
        for k in range(per_side):
            y = cy + (k - (per_side - 1) / 2) * (cd + 1.6)
            die = P.flip_chip(d, sub, centred(x, y, cw, cd), s["thick"], bumps)
            d.die("logic", die)
            top = max(top, die.z1)
    keep = 3.5 if s["lid"] else 1.5
    _caps(d, sub, inset((0, 0, w, w), keep + 0.5), s["caps"], bool(s["lid"]))
    if s["lid"]:
        P.lid(d, sub, inset((0, 0, w, w), 0.5), top, rng)
    return d


# -- 2.5-D: silicon or RDL interposer, silicon bridges, 3-D on 2.5-D -------------------------


def _interposer_sample(rng: random.Random) -> Spec:
    return {
        # Odd counts leave a site empty, as parts ship with fewer stacks than sites (H100
        # SXM5: five of six). With even counts only, a head could read a column's length
        # instead of counting the stacks (BENCHMARKS.md, session 20).
        "stacks": rng.choice([2, 3, 4, 4, 5, 6, 6, 7, 8]),
        "hbm": _hbm(rng),
        "logic": rng.choice([1, 1, 2]),
        "logic_w": rng.uniform(18, 26),
        "logic_d": rng.uniform(0.75, 1.0),
        "margin": rng.uniform(2.5, 5.0),
        "lid": int(rng.random() < 0.6),
        "sub": _substrate_choice(rng),
        "seed": rng.getrandbits(32),
    }


@family(
    "interposer-2.5d",
    ("silicon", "rdl"),
    {
        "memory-stacks": ("stacks", (1, 2, 3, 4, 5, 6, 7, 8)),
        "dies": ("logic", (1, 2)),
        "lid": ("lid", (0, 1)),
        "variant": ("carrier", ("silicon", "rdl")),
    },
)
def interposer_sample(rng: random.Random) -> Spec:
    """2.5-D: logic dies and HBM stacks side by side on a silicon interposer with TSVs
    (CoWoS-S) or an RDL interposer (CoWoS-R), on C4 bumps on an organic substrate."""
    return {**_interposer_sample(rng), "carrier": rng.choice(["silicon", "silicon", "rdl"])}


@interposer_sample.builder
def interposer(s: Spec) -> Design:
    d = Design("interposer-2.5d", s["carrier"])
    _two_point_five(d, s, carrier=s["carrier"], top_dies=0)
    return d


@family(
    "3d-on-2.5d",
    ("hybrid", "micro-bump"),
    {
        "stack-height": ("top_dies", (1, 2, 3, 4)),
        "memory-stacks": ("stacks", (1, 2, 3, 4, 5, 6, 7, 8)),
        "bonding": ("bond", ("hybrid", "micro-bump")),
    },
)
def soic_sample(rng: random.Random) -> Spec:
    """3-D on 2.5-D: a base die carrying one to four stacked dies (hybrid-bonded like SoIC,
    or on micro-bumps like Foveros), with HBM stacks beside it on a silicon interposer."""
    spec = _interposer_sample(rng)
    spec.update(top_dies=rng.randint(1, 4), bond=rng.choice(["hybrid", "micro-bump"]), logic=1)
    return spec


@soic_sample.builder
def soic(s: Spec) -> Design:
    d = Design("3d-on-2.5d", s["bond"])
    d.fields["bonding"] = s["bond"]
    _two_point_five(d, s, carrier="silicon", top_dies=s["top_dies"])
    return d


def _two_point_five(d: Design, s: Spec, carrier: str, top_dies: int) -> None:
    """Logic (or a 3-D stack) between two columns of HBM stacks on an interposer; with an
    odd number of stacks the right column has one fewer (a stack left out)."""
    rng = random.Random(s["seed"])
    hw, hd = HBM[s["hbm"]]["footprint"]
    hbm_h = HBM[s["hbm"]]["height"]
    per_col = (s["stacks"] + 1) // 2
    gap = rng.uniform(0.5, 1.0)  # HBM to logic and HBM to HBM (facts: hbm_stack_gap)
    col_d = per_col * hd + (per_col - 1) * gap
    lw, ld = s["logic_w"], max(s["logic_w"] * s["logic_d"], min(col_d, 30.0))
    iw = lw + 2 * (gap + hw) + 2 * 1.5
    idp = max(ld, col_d) + 2 * 1.5
    keep = 3.5 if s["lid"] else 1.0
    w, dd = iw + 2 * (s["margin"] + keep), idp + 2 * (s["margin"] + keep)
    w, dd = max(w, 31.0), max(dd, 31.0)
    _, ball_h = P.ball_height(1.0)
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, 1.0)
    ip = _carrier(d, sub, centred(w / 2, dd / 2, iw, idp), carrier, rng)
    mb = P.micro_bumps(rng)
    cx, cy = w / 2, dd / 2
    logic_t = hbm_h - (top_dies and 0.2 * top_dies)  # tops level with the HBM
    blocks = P.row(centred(cx, cy, lw, ld), s["logic"], 1.6, "y")
    top = ip.z1
    for rect in blocks:
        die = P.flip_chip(d, ip, rect, max(logic_t, 0.1), mb)
        d.die("base" if top_dies else "logic", die)
        top = max(top, die.z1)
        if top_dies:
            bond = P.hybrid_bond(rng) if s["bond"] == "hybrid" else P.micro_bumps(rng)
            stack = P.die_stack(
                d, die, inset(rect, 1.0), top_dies, bond, 0.1, 0.15, 0.05, group="stack"
            )
            d.stack("SRAM", top_dies, stack)
            top = max(top, stack[-1].z1)
    for k in range(s["stacks"]):
        side = -1 if k % 2 == 0 else 1
        y = cy + (k // 2 - (per_col - 1) / 2) * (hd + gap)
        x = cx + side * (lw / 2 + gap + hw / 2)
        top = max(top, _hbm_stack(d, ip, centred(x, y, hw, hd), s["hbm"], mb, k))
    if s["lid"]:
        P.lid(d, sub, inset((0, 0, w, dd), 0.5), top, rng)


def _carrier(d: Design, sub: Box, rect, carrier: str, rng: random.Random) -> Box:
    """The interposer on C4 bumps with its underfill: silicon with TSVs, or RDL layers."""
    if carrier == "silicon":
        ip = P.flip_chip(d, sub, rect, 0.1, P.c4(rng), kind="interposer")
        P.tsvs(d, ip, rng.choice([0.05, 0.08, 0.1]), 0.01, margin=0.5)
        d.fields["interposer"] = {
            "kind": "silicon",
            "size_mm": [P.width(rect), P.depth(rect), 0.1],
            "tsv": True,
            "rdl_layers": 0,
            "bridges": 0,
        }
        return ip
    layers = rng.randint(3, 6)
    thick = layers * 0.01 + 0.05
    ip = P.flip_chip(d, sub, rect, thick, P.c4(rng), kind="rdl")
    for k in range(layers):
        z = ip.z0 + 0.025 + k * 0.01
        d.box("layer", rect, z, z + 0.005, parent=ip.name, mount="in")
    d.fields["interposer"] = {
        "kind": "rdl",
        "size_mm": [P.width(rect), P.depth(rect), thick],
        "tsv": False,
        "rdl_layers": layers,
        "bridges": 0,
    }
    return ip


def _hbm_stack(d: Design, parent: Box, rect, gen: str, mb: P.Bumps, k: int) -> float:
    """An HBM stack of the JEDEC footprint and height: a base die and 4/8/12 core dies on
    micro-bumps, TSVs through all but the top die. Returns its top."""
    spec = HBM[gen]
    dies = max(n for n in spec["dies"] if n <= 12)
    group = f"hbm{k}"
    base = P.flip_chip(d, parent, rect, 0.06, mb, group=group)
    core_mb = P.Bumps("micro-bump", 0.04, 0.02, 0.01)
    per = (spec["height"] - 0.06) / dies
    thick = min(0.055, per - core_mb.height)
    top_t = spec["height"] - 0.06 - (dies - 1) * (thick + core_mb.height) - core_mb.height
    stack = P.die_stack(d, base, rect, dies, core_mb, thick, top_t, 0.045, group=group)
    d.stack(gen, dies, [base, *stack])
    return stack[-1].z1


@family(
    "bridge-2.5d",
    ("emib", "cowos-l"),
    {
        "dies": ("tiles", (2, 3, 4)),
        "lid": ("lid", (0, 1)),
        "variant": ("carrier", ("emib", "cowos-l")),
    },
)
def bridge_sample(rng: random.Random) -> Spec:
    """Silicon-bridge 2.5-D: two to four tiles joined edge to edge by small silicon bridge
    dies on 45-55 um micro-bumps, the bridges embedded in the organic substrate (EMIB) or
    in an RDL interposer (CoWoS-L); the rest of each tile on C4 bumps."""
    return {
        "tiles": rng.choice([2, 2, 3, 4]),
        "tile": (rng.uniform(10, 16), rng.uniform(12, 22)),
        "thick": rng.uniform(0.4, 0.78),
        "margin": rng.uniform(3.0, 6.0),
        "lid": int(rng.random() < 0.5),
        "carrier": rng.choice(["emib", "cowos-l"]),
        "sub": _substrate_choice(rng),
        "seed": rng.getrandbits(32),
    }


@bridge_sample.builder
def bridge(s: Spec) -> Design:
    d = Design("bridge-2.5d", s["carrier"])
    rng = random.Random(s["seed"])
    n, (tw, td) = s["tiles"], s["tile"]
    gap = 0.1  # tiles almost touch over their bridge
    iw, idp = n * tw + (n - 1) * gap + 3.0, td + 3.0
    keep = 3.5 if s["lid"] else 1.0
    w, dd = iw + 2 * (s["margin"] + keep), idp + 2 * (s["margin"] + keep)
    w, dd = max(w, 30.0), max(dd, 30.0)
    _, ball_h = P.ball_height(1.0)
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, 1.0)
    if s["carrier"] == "emib":
        host = sub
        c4 = P.c4(rng)
    else:
        host = _carrier(d, sub, centred(w / 2, dd / 2, iw, idp), "rdl", rng)
        c4 = P.micro_bumps(rng)  # CoWoS-L tiles sit on micro-bumps on the RDL
    tiles = P.row(centred(w / 2, dd / 2, n * tw + (n - 1) * gap, td), n, gap, "x")
    mb = P.Bumps("micro-bump", rng.choice([0.045, 0.055]), 0.025, c4.height)
    bridges = []
    for left, right in zip(tiles, tiles[1:], strict=False):
        x = (left[2] + right[0]) / 2
        bl, bw = 2.0, min(rng.uniform(3.0, 8.0), td - 4.0)
        rect = centred(x, (left[1] + left[3]) / 2, bl * 2, bw)
        z1 = host.z1
        bridges.append(d.box("bridge", rect, z1 - 0.06, z1, parent=host.name, mount="in"))
    top = host.z1
    for k, rect in enumerate(tiles):
        die = _bridged_tile(d, host, rect, s["thick"], c4, mb, bridges, k)
        d.die("logic", die)
        top = max(top, die.z1)
    d.fields["interposer"] = {
        "kind": "bridge" if s["carrier"] == "emib" else "rdl",
        "size_mm": [P.width(tiles[0]) * 0 + iw, idp, 0.06]
        if s["carrier"] == "emib"
        else d.fields["interposer"]["size_mm"],
        "tsv": False,
        "rdl_layers": d.fields.get("interposer", {}).get("rdl_layers", 0),
        "bridges": len(bridges),
    }
    if s["lid"]:
        P.lid(d, sub, inset((0, 0, w, dd), 0.5), top, rng)
    return d


def _bridged_tile(
    d: Design, host: Box, rect, thick: float, c4: P.Bumps, mb: P.Bumps, bridges, k: int
) -> Box:
    """A tile on C4 bumps, with micro-bump fields over the bridges under its edges."""
    x0, y0, x1, y1 = rect
    main = P.inset(rect, c4.dia)
    fields = []
    for b in bridges:
        if b.x0 < x1 and b.x1 > x0:  # the bridge reaches under this tile
            fx0, fx1 = max(b.x0, x0) + 0.05, min(b.x1, x1) - 0.05
            fields.append((fx0, b.y0 + 0.05, fx1, b.y1 - 0.05, b))
            if fx0 > (x0 + x1) / 2:
                main = (main[0], main[1], fx0 - 0.3, main[3])
            else:
                main = (fx1 + 0.3, main[1], main[2], main[3])
    z = host.z1
    joint = d.array(c4.kind, main, z, z + c4.height, c4.pitch, c4.dia, parent=host.name)
    die = d.box(
        "die", rect, z + c4.height, z + c4.height + thick, parent=host.name, joint=joint.name
    )
    for fx0, fy0, fx1, fy1, b in fields:
        d.array(mb.kind, (fx0, fy0, fx1, fy1), z, z + mb.height, mb.pitch, mb.dia, parent=b.name)
    d.box("underfill", inset(rect, -0.5), z, die.z0 + 0.6 * thick, parent=host.name, taper=0.5)
    d.fields["underfill"] = True
    return die


# -- 3-D stacked dies -------------------------------------------------------------------


@family(
    "stacked-3d",
    ("micro-bump", "hybrid"),
    {"stack-height": ("count", (2, 3, 4, 5, 6, 8)), "bonding": ("bond", ("micro-bump", "hybrid"))},
)
def stacked_sample(rng: random.Random) -> Spec:
    """3-D stacked dies: a logic base die flipped onto the substrate carries two to eight
    thinned dies, stacked face to back on micro-bumps or hybrid bonds, with TSVs through
    every die that carries another, in a mould."""
    return {
        "body": rng.uniform(10, 22),
        "aspect": rng.uniform(0.8, 1.0),
        "base": rng.uniform(0.45, 0.65),
        "count": rng.choice([2, 3, 4, 4, 5, 6, 8]),
        "bond": rng.choice(["micro-bump", "hybrid"]),
        "shrink": rng.uniform(0.8, 0.95),
        "cap": rng.uniform(0.1, 0.3),
        "sub": _substrate_choice(rng, big=False) | {"per_side": 2},
        "seed": rng.getrandbits(32),
    }


@stacked_sample.builder
def stacked(s: Spec) -> Design:
    d = Design("stacked-3d", s["bond"])
    d.fields["bonding"] = s["bond"]
    rng = random.Random(s["seed"])
    w, dd = s["body"], s["body"] * s["aspect"]
    _, ball_h = P.ball_height(0.8)
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, 0.8)
    cx, cy = w / 2, dd / 2
    base = P.flip_chip(d, sub, centred(cx, cy, w * s["base"], dd * s["base"]), 0.1, P.c4(rng))
    d.die("base", base)
    bond = P.hybrid_bond(rng) if s["bond"] == "hybrid" else P.micro_bumps(rng)
    rect = inset((base.x0, base.y0, base.x1, base.y1), P.width_of(base) * (1 - s["shrink"]) / 2)
    stack = P.die_stack(d, base, rect, s["count"], bond, 0.05, 0.2, 0.04, group="stack")
    d.stack("DRAM", s["count"], stack)
    P.mould(d, sub, inset((0, 0, w, dd), 0.3), stack[-1].z1, s["cap"])
    return d


# -- fan-out and chip-scale ---------------------------------------------------------------


@family(
    "fan-out-wlp",
    ("chip-first", "chip-last"),
    {"dies": ("dies", (1, 2, 3)), "variant": ("variant", ("chip-first", "chip-last"))},
)
def fan_out_sample(rng: random.Random) -> Spec:
    """Fan-out wafer-level package: one to three dies in mould compound over one to four
    redistribution layers with the balls (0.4 or 0.5 mm pitch) straight under them; the
    dies face down on the RDL (chip-first) or on micro-bumps (chip-last)."""
    return {
        "body": rng.uniform(6, 14),
        "aspect": rng.uniform(0.75, 1.0),
        "dies": rng.choice([1, 1, 2, 3]),
        "die_fill": rng.uniform(0.45, 0.7),
        "thick": rng.uniform(0.15, 0.35),
        "layers": rng.randint(1, 4),
        "pitch": rng.choice([0.4, 0.5]),
        "cap": rng.uniform(0.05, 0.15),
        "variant": rng.choice(["chip-first", "chip-last"]),
        "seed": rng.getrandbits(32),
    }


@fan_out_sample.builder
def fan_out(s: Spec) -> Design:
    d = Design("fan-out-wlp", s["variant"])
    rng = random.Random(s["seed"])
    w, dd = s["body"], s["body"] * s["aspect"]
    rdl = _rdl_base(d, (0, 0, w, dd), s["pitch"], s["layers"])
    n = s["dies"]
    aw = min(w - 1.2, max(w * s["die_fill"], n * 1.2 + (n - 1) * 0.5))
    area = centred(w / 2, dd / 2, aw, dd * s["die_fill"])
    top = rdl.z1
    for rect in P.row(area, n, 0.5, "x"):
        if s["variant"] == "chip-last":
            die = P.flip_chip(d, rdl, rect, s["thick"], P.micro_bumps(rng), fillet=(0.15, 0.6))
        else:
            die = d.box("die", rect, rdl.z1, rdl.z1 + s["thick"], parent=rdl.name)
        d.die("logic", die)
        top = max(top, die.z1)
    P.mould(d, rdl, (0, 0, w, dd), top, s["cap"])
    d.fields["bonding"] = "fan-out" if s["variant"] == "chip-first" else "micro-bump"
    return d


def _rdl_base(d: Design, rect, pitch: float, layers: int) -> Box:
    """Redistribution layers (polyimide with copper) with balls under them."""
    dia = pitch * 0.6
    h = dia * 0.8
    rdl = d.box("rdl", rect, h, h + layers * 0.01 + 0.005)
    for k in range(layers):
        z = h + 0.005 + k * 0.01
        d.box("layer", rect, z, z + 0.005, parent=rdl.name, mount="in")
    d.array("ball", inset(rect, 0.25), 0.0, h, pitch, dia, parent=rdl.name, mount="under")
    d.fields["substrate"] = {
        "kind": "rdl",
        "thickness_mm": rdl.z1 - rdl.z0,
        "core_mm": 0.0,
        "buildup_per_side": 0,
        "layers": layers,
    }
    return rdl


@family("csp", ("wlcsp", "fccsp"), {"variant": ("variant", ("wlcsp", "fccsp"))})
def csp_sample(rng: random.Random) -> Spec:
    """Chip-scale packages: a wafer-level CSP (the die itself, balls on its RDL) or a
    flip-chip CSP (the die on a thin cored substrate, moulded)."""
    return {
        "die": rng.uniform(1.5, 6.0),
        "aspect": rng.uniform(0.7, 1.0),
        "thick": rng.uniform(0.2, 0.4),
        "pitch": rng.choice([0.35, 0.4, 0.5]),
        "grow": rng.uniform(1.0, 3.0),
        "variant": rng.choice(["wlcsp", "fccsp"]),
        "sub": _substrate_choice(rng, big=False),
        "seed": rng.getrandbits(32),
    }


@csp_sample.builder
def csp(s: Spec) -> Design:
    d = Design("csp", s["variant"])
    rng = random.Random(s["seed"])
    dw, dd = s["die"], s["die"] * s["aspect"]
    if s["variant"] == "wlcsp":
        rdl = _rdl_base(d, (0, 0, dw, dd), s["pitch"], 1)
        d.die("logic", d.box("die", (0, 0, dw, dd), rdl.z1, rdl.z1 + s["thick"], parent=rdl.name))
        d.fields["bonding"] = "fan-out"
        return d
    w, wd = dw + 2 * s["grow"], dd + 2 * s["grow"]
    _, ball_h = P.ball_height(s["pitch"])
    sub = P.organic_substrate(d, (0, 0, w, wd), ball_h, **s["sub"])
    P.balls_under(d, sub, s["pitch"], edge=0.3)
    die = P.flip_chip(d, sub, centred(w / 2, wd / 2, dw, dd), s["thick"], P.c4(rng), fillet=None)
    d.die("logic", die)
    P.mould(d, sub, (0, 0, w, wd), die.z1, 0.1)  # moulded underfill: the mould fills the gap
    return d


# -- package on package ---------------------------------------------------------------------


@family(
    "package-on-package",
    ("stacked", "staggered"),
    {"stack-height": ("memory", (1, 2, 3, 4)), "variant": ("variant", ("stacked", "staggered"))},
)
def pop_sample(rng: random.Random) -> Spec:
    """Package-on-package: a wire-bonded memory package on one or two perimeter rows of
    solder balls over a flip-chip logic package."""
    return {
        "body": rng.uniform(10, 15),
        "aspect": rng.uniform(0.85, 1.0),
        "die": rng.uniform(0.4, 0.55),
        "memory": rng.randint(1, 4),
        "mem_fill": rng.uniform(0.55, 0.68),
        "rows": rng.randint(1, 2),
        "pitch": rng.choice([0.4, 0.5]),
        "variant": rng.choice(["stacked", "staggered"]),
        "seed": rng.getrandbits(32),
    }


@pop_sample.builder
def pop(s: Spec) -> Design:
    d = Design("package-on-package", s["variant"])
    rng = random.Random(s["seed"])
    w, dd = s["body"], s["body"] * s["aspect"]
    _, ball_h = P.ball_height(s["pitch"])
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, 0.1, 1)
    P.balls_under(d, sub, s["pitch"], edge=0.3)
    die_rect = centred(w / 2, dd / 2, w * s["die"], dd * s["die"])
    die = P.flip_chip(d, sub, die_rect, 0.1, P.c4(rng), fillet=(0.3, 0.6))
    d.die("logic", die)
    top_sub = _pop_top(d, sub, die, s)
    rect = centred(w / 2, dd / 2, w * s["mem_fill"], dd * s["mem_fill"])
    top = _wire_bonded_stack(d, top_sub, rect, s["memory"], s["variant"] == "staggered")
    d.stack("DRAM", s["memory"], [p for p in d.st.parts if isinstance(p, Box) and p.group == "mem"])
    P.mould(d, top_sub, (0, 0, w, dd), top, 0.1)
    return d


def _pop_top(d: Design, sub: Box, die: Box, s: Spec) -> Box:
    """The memory package's substrate on perimeter balls that clear the logic die."""
    pitch = s["pitch"]
    inner = inset((die.x0, die.y0, die.x1, die.y1), -0.8)
    rows = s["rows"]
    outer = inset(inner, -rows * pitch - 0.1)
    outer = (
        max(outer[0], 0.2),
        max(outer[1], 0.2),
        min(outer[2], sub.x1 - 0.2),
        min(outer[3], sub.y1 - 0.2),
    )
    dia = pitch * 0.6
    h = die.z1 - sub.z1 + 0.04
    P.ring(d, "ball", outer, inner, sub.z1, sub.z1 + h, pitch, dia, sub.name)
    return P.organic_substrate(
        d, (sub.x0, sub.y0, sub.x1, sub.y1), sub.z1 + h, 0.1, 1, parent=sub.name
    )


def _wire_bonded_stack(
    d: Design,
    sub: Box,
    rect,
    count: int,
    staggered: bool,
    kind: str = "memory",
    thick: float = 0.06,
    loop: float = 0.1,
) -> float:
    """``count`` dies glued on top of each other (staggered steps or shrinking), each
    wired from its left and right edges to its own row of bond fingers, the rows further
    out the higher the die. Returns the top of the highest wire loop."""
    below: Box = sub
    dies = []
    for k in range(count):
        if staggered:
            r = (rect[0] + k * 0.3, rect[1], rect[2] - (count - 1) * 0.3 + k * 0.3, rect[3])
        else:
            r = inset(rect, k * 0.25)
        below = P.attached(d, below, r, thick, kind=kind, group="mem")
        dies.append(below)
    left, right = min(p.x0 for p in dies), max(p.x1 for p in dies)
    top = sub.z1
    for k, die in enumerate(dies):
        tier = 0.3 + k * 0.28  # finger rows 0.28 mm apart, beyond the stack's outline
        P.bond_wires(d, die, sub, "L", 0.1, die.x0 - left + tier, k / count, loop)
        P.bond_wires(d, die, sub, "R", 0.1, right - die.x1 + tier, k / count, loop)
        top = max(top, die.z1 + loop)
    return top


@family(
    "info-pop",
    ("single-die", "two-die"),
    {"stack-height": ("memory", (1, 2, 3)), "dies": ("variant", ("single-die", "two-die"))},
)
def info_sample(rng: random.Random) -> Spec:
    """Integrated fan-out PoP (InFO-PoP): the logic die face down on RDL layers in mould,
    through-InFO vias around it carrying a wire-bonded DRAM package on top."""
    return {
        "body": rng.uniform(11, 15),
        "die": rng.uniform(0.45, 0.6),
        "memory": rng.choice([1, 2, 2, 3]),
        "layers": rng.randint(2, 4),
        "variant": rng.choice(["single-die", "single-die", "two-die"]),
        "seed": rng.getrandbits(32),
    }


@info_sample.builder
def info_pop(s: Spec) -> Design:
    d = Design("info-pop", s["variant"])
    w = s["body"]
    rdl = _rdl_base(d, (0, 0, w, w), 0.4, s["layers"])
    die_area = centred(w / 2, w / 2, w * s["die"], w * s["die"])
    n = 2 if s["variant"] == "two-die" else 1
    top = rdl.z1
    for rect in P.row(die_area, n, 0.5, "x"):
        die = d.box("die", rect, rdl.z1, rdl.z1 + 0.15, parent=rdl.name)
        d.die("logic", die)
        top = max(top, die.z1)
    moulded = P.mould(d, rdl, (0, 0, w, w), top, 0.0)
    pitch = 0.4
    P.ring(
        d,
        "tmv",
        inset((0, 0, w, w), 0.5),
        inset(die_area, -0.6),
        rdl.z1,
        moulded.z1,
        pitch,
        0.15,
        rdl.name,
    )
    dia = 0.25
    h = 0.15
    P.ring(
        d,
        "ball",
        inset((0, 0, w, w), 0.5),
        inset(die_area, -0.6),
        moulded.z1,
        moulded.z1 + h,
        pitch,
        dia,
        moulded.name,
    )
    top_sub = P.organic_substrate(d, (0, 0, w, w), moulded.z1 + h, 0.1, 1, parent=moulded.name)
    rect = centred(w / 2, w / 2, w * 0.62, w * 0.6)
    top = _wire_bonded_stack(d, top_sub, rect, s["memory"], False, thick=0.05, loop=0.08)
    d.stack("DRAM", s["memory"], [p for p in d.st.parts if isinstance(p, Box) and p.group == "mem"])
    P.mould(d, top_sub, (0, 0, w, w), top, 0.1)
    d.fields["bonding"] = "fan-out"
    return d


# -- wire bond and lead frames ------------------------------------------------------------------


@family(
    "wire-bond",
    ("stacked", "side-by-side"),
    {"dies": ("dies", (1, 2, 3, 4)), "variant": ("layout", ("stacked", "side-by-side"))},
)
def wirebond_sample(rng: random.Random) -> Spec:
    """Wire-bond BGA: dies glued face up on a thin cored substrate and bonded with gold
    wires to bond fingers, stacked (each smaller or staggered) or side by side, in a mould."""
    return {
        "body": rng.uniform(8, 20),
        "aspect": rng.uniform(0.75, 1.0),
        "dies": rng.choice([1, 2, 2, 3, 4]),
        "layout": rng.choice(["stacked", "side-by-side"]),
        "fill": rng.uniform(0.45, 0.6),
        "pitch": rng.choice([0.5, 0.65, 0.8]),
        "sub": _substrate_choice(rng, big=False),
        "seed": rng.getrandbits(32),
    }


@wirebond_sample.builder
def wirebond(s: Spec) -> Design:
    layout = s["layout"] if s["dies"] > 1 else "stacked"
    d = Design("wire-bond", layout)
    rng = random.Random(s["seed"])
    n = s["dies"]
    w = s["body"] if layout == "stacked" else max(s["body"], 3.0 * n + 2.0)
    dd = w * s["aspect"]
    _, ball_h = P.ball_height(s["pitch"])
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, s["pitch"], edge=0.4)
    aw = w * s["fill"] if layout == "stacked" else max(w * s["fill"], 2.5 * n - 1.0)
    area = centred(w / 2, dd / 2, aw, dd * s["fill"])
    if layout == "stacked":
        top = _wire_bonded_stack(d, sub, area, n, False, "die", thick=0.1, loop=0.12)
        for die in [p for p in d.st.parts if isinstance(p, Box) and p.kind == "die"]:
            d.die("logic", die)
    else:
        top = sub.z1
        for rect in P.row(area, n, 1.0, "x"):
            die = P.attached(d, sub, rect, rng.uniform(0.1, 0.2))
            d.die("logic", die)
            P.bond_wires(d, die, sub, "TB", 0.1, 0.5, loop=0.15)
            top = max(top, die.z1 + 0.15)
        for die in [p for p in d.st.parts if isinstance(p, Box) and p.kind == "die"][:1]:
            P.bond_wires(d, die, sub, "L", 0.1, 0.5, loop=0.15)
        last = [p for p in d.st.parts if isinstance(p, Box) and p.kind == "die"][-1]
        P.bond_wires(d, last, sub, "R", 0.1, 0.5, loop=0.15)
    P.mould(d, sub, inset((0, 0, w, dd), 0.3), top, rng.uniform(0.2, 0.4))
    d.fields["bonding"] = "wire-bond"
    return d


@family("lead-frame", ("qfn", "qfp"), {"variant": ("variant", ("qfn", "qfp"))})
def leadframe_sample(rng: random.Random) -> Spec:
    """Lead-frame packages: a die glued on the paddle and wired to the leads, in a mould;
    a QFN's leads and exposed pad are flush with its bottom, a QFP's gull-wing leads leave
    its four sides."""
    return {
        "qfn": rng.uniform(4, 10),
        "qfp": rng.uniform(7, 24),
        "pitch_qfn": rng.choice([0.4, 0.5, 0.65]),
        "pitch_qfp": rng.choice([0.4, 0.5, 0.65, 0.8]),
        "die": rng.uniform(0.35, 0.55),
        "variant": rng.choice(["qfn", "qfp"]),
        "seed": rng.getrandbits(32),
    }


@leadframe_sample.builder
def leadframe(s: Spec) -> Design:
    d = Design("lead-frame", s["variant"])
    qfn = s["variant"] == "qfn"
    w = s["qfn"] if qfn else s["qfp"]
    pitch = s["pitch_qfn"] if qfn else s["pitch_qfp"]
    lf = 0.2
    z0 = 0.0 if qfn else 0.1  # a QFP's body stands off the board
    lead_len = 0.4 if qfn else 1.0
    corner = lead_len + 0.3  # no leads in the corners: their wires would meet
    n = max(2, int((w - 2 * corner) / pitch) + 1)
    span = (n - 1) * pitch
    paddle_w = min(w * s["die"] + 1.0, w - 2 * lead_len - 0.6)
    paddle = centred(w / 2, w / 2, paddle_w, paddle_w)
    pad = d.box("leadframe", paddle, z0, z0 + lf)
    die = d.die("logic", P.attached(d, pad, inset(paddle, 0.5), 0.2))
    leads = []
    for side in "LRTB":
        for k in range(n):
            t = w / 2 - span / 2 + k * pitch
            lw = pitch * 0.5
            rect = {
                "L": (0.0, t - lw / 2, lead_len, t + lw / 2),
                "R": (w - lead_len, t - lw / 2, w, t + lw / 2),
                "T": (t - lw / 2, 0.0, t + lw / 2, lead_len),
                "B": (t - lw / 2, w - lead_len, t + lw / 2, w),
            }[side]
            leads.append((side, k, n, d.box("lead", rect, z0, z0 + lf)))
    _wires_to_leads(d, die, leads)
    d.box("mould", (0, 0, w, w), z0, (0.85 if qfn else 1.4))
    d.fields["mould"] = True
    if not qfn:
        _gull_wings(d, leads, w, z0 + lf / 2)
    d.fields["substrate"] = {
        "kind": "leadframe",
        "thickness_mm": lf,
        "core_mm": 0.0,
        "buildup_per_side": 0,
        "layers": 1,
    }
    d.fields["bonding"] = "wire-bond"
    return d


def _wires_to_leads(d: Design, die: Box, leads: list[tuple[str, int, int, Box]]) -> None:
    """One wire per lead, from pads spread evenly along the die's facing edge in the
    leads' order: a fan whose wires keep their order and never cross."""
    for side, k, n, lead in leads:
        lx, ly = (lead.x0 + lead.x1) / 2, (lead.y0 + lead.y1) / 2
        if side in "LR":
            ty = die.y0 + 0.15 + (die.y1 - die.y0 - 0.3) * k / max(n - 1, 1)
            a = (die.x0 + 0.08 if side == "L" else die.x1 - 0.08, ty)
            b = (lead.x1 - 0.1 if side == "L" else lead.x0 + 0.1, ly)
        else:
            tx = die.x0 + 0.15 + (die.x1 - die.x0 - 0.3) * k / max(n - 1, 1)
            a = (tx, die.y0 + 0.08 if side == "T" else die.y1 - 0.08)
            b = (lx, lead.y1 - 0.1 if side == "T" else lead.y0 + 0.1)
        top = die.z1 + 0.15
        mid = (a[0] + 0.3 * (b[0] - a[0]), a[1] + 0.3 * (b[1] - a[1]))
        points = ((*a, die.z1), (*a, top), (*mid, top), (*b, lead.z1))
        d.wire("wire", points, 0.025, parent=die.name, finger=lead.name)


def _gull_wings(d: Design, leads: list[tuple[str, int, int, Box]], w: float, z: float) -> None:
    """A QFP's gull-wing leads: out of the body's side, down to the board, out again."""
    for side, _, _, lead in leads:
        cx, cy = (lead.x0 + lead.x1) / 2, (lead.y0 + lead.y1) / 2
        sign = -1 if side in "LT" else 1
        steps = [(0.0, z), (0.3, z), (0.6, 0.05), (1.0, 0.05)]
        if side in "LR":
            x = 0.0 if side == "L" else w
            pts = [(x + sign * o, cy, h) for o, h in steps]
        else:
            y = 0.0 if side == "T" else w
            pts = [(cx, y + sign * o, h) for o, h in steps]
        d.wire("lead", pts, 0.15, parent=lead.name)


# -- system in package --------------------------------------------------------------------


@family(
    "sip",
    ("shielded", "open"),
    {"shield": ("shield", (0, 1)), "dies": ("dies", (1, 2, 3))},
)
def sip_sample(rng: random.Random) -> Spec:
    """System-in-package: flip-chip and wire-bonded dies with many chip capacitors and
    resistors on one substrate, moulded, often with a conformal EMI shield."""
    return {
        "body": rng.uniform(12, 18),
        "aspect": rng.uniform(0.8, 1.0),
        "dies": rng.choice([1, 2, 2, 3]),
        "passives": rng.randint(6, 20),
        "shield": int(rng.random() < 0.6),
        "sub": _substrate_choice(rng, big=False) | {"per_side": 2},
        "seed": rng.getrandbits(32),
    }


@sip_sample.builder
def sip(s: Spec) -> Design:
    d = Design("sip", "shielded" if s["shield"] else "open")
    rng = random.Random(s["seed"])
    w, dd = s["body"], s["body"] * s["aspect"]
    _, ball_h = P.ball_height(0.5)
    sub = P.organic_substrate(d, (0, 0, w, dd), ball_h, **s["sub"])
    P.balls_under(d, sub, 0.5, edge=0.3)
    dies_area = (0.8, 0.8, w * 0.62, dd - 0.8)
    top = sub.z1
    for k, rect in enumerate(P.row(dies_area, s["dies"], 1.2, "y")):
        r = inset(rect, 0.2)
        if k == 1:  # the second die is wire-bonded, from its left and right edges
            die = P.attached(d, sub, (r[0] + 0.6, r[1], r[2] - 0.6, r[3]), 0.15)
            P.bond_wires(d, die, sub, "LR", 0.1, 0.35, loop=0.12)
            top = max(top, die.z1 + 0.12)
        else:
            die = P.flip_chip(d, sub, r, rng.uniform(0.15, 0.3), P.c4(rng), fillet=(0.25, 0.6))
            top = max(top, die.z1)
        d.die("rf" if k == 2 else "logic", die)
    spots = []
    x0, x1 = w * 0.62 + 0.9, w - 0.9
    cols = max(1, int((x1 - x0) / 1.0) + 1)
    for k in range(s["passives"]):
        i, j = k % cols, k // cols
        y = 0.8 + j * 0.9
        if y > dd - 0.8:
            break
        spots.append((x0 + i * 1.0 if cols > 1 else (x0 + x1) / 2, y))
    P.passives(d, sub, spots, (0.6, 0.3, 0.3))
    m = P.mould(d, sub, (0, 0, w, dd), top, 0.15)
    if s["shield"]:  # a sputtered conformal shield: a film on the mould, down the sides
        t = 0.008
        d.box("shield", (0, 0, w, dd), m.z1, m.z1 + t, parent=m.name)
        for r in ((-t, -t, 0, dd + t), (w, -t, w + t, dd + t), (0, -t, w, 0), (0, dd, w, dd + t)):
            d.box("shield", r, sub.z0, m.z1 + t)
        d.fields["shield"] = True
    return d


# -- building ---------------------------------------------------------------------------


def build_spec(family_name: str, spec: Spec) -> Stackup:
    """The stack-up of a family's spec, its summary fields in ``params``."""
    fam = FAMILIES[family_name]
    d = fam.build(spec)
    st = d.st
    st.params = _summary(d)
    return st


def _summary(d: Design) -> dict:
    f = d.fields
    bonding = f.get("bonding") or (
        "flip-chip" if any(p.kind == "c4" for p in d.st.parts) else "wire-bond"
    )
    return {
        "die_count": len(d.dies),
        "dies": d.dies,
        "memory_stack_count": len(d.stacks),
        "memory_stacks": d.stacks,
        "substrate": f.get("substrate"),
        "interposer": f.get("interposer"),
        "bonding": bonding,
        "lid": bool(f.get("lid")),
        "mould": bool(f.get("mould")),
        "underfill": bool(f.get("underfill")),
        "shield": bool(f.get("shield")),
        "passives": int(f.get("passives", 0)),
    }


def sample(family_name: str, seed: int) -> Spec:
    if family_name not in FAMILIES:
        raise KeyError(family_name)
    return FAMILIES[family_name].sample(random.Random(seed))


def build(family_name: str, seed: int) -> Stackup:
    """The design a family builder makes for a seed (deterministic)."""
    return build_spec(family_name, sample(family_name, seed))


def one_change(
    family_name: str, spec: Spec, change: str, rng: random.Random
) -> tuple[Spec, object, object] | None:
    """A copy of ``spec`` with one attribute changed (``change``, one of the family's
    changes), or None when the family has no such change. Returns (spec, from, to)."""
    fam = FAMILIES[family_name]
    if change not in fam.changes:
        return None
    key, values = fam.changes[change]
    now = spec[key]
    others = [v for v in values if v != now]
    if not others:
        return None
    # the nearest other value: one die or stack more or fewer, not a jump
    if all(isinstance(v, int) for v in values) and isinstance(now, int):
        step = sorted(others, key=lambda v: (abs(v - now), rng.random()))
        new = step[0]
    else:
        new = rng.choice(others)
    changed = {**spec, key: new}
    field = CHANGES[change]
    if _field(build_spec(family_name, spec), field) == _field(
        build_spec(family_name, changed), field
    ):
        return None  # not visible in this design (e.g. a layout of a single die)
    return changed, now, new


def _field(st: Stackup, name: str):
    return st.variant if name == "variant" else st.params.get(name)


__all__ = ["FAMILIES", "Family", "build", "build_spec", "sample", "one_change"]
