"""Orthographic top, front and side views of a :class:`Stackup` (and a bottom ball map),
drawn with PIL in one of several drawing styles.

Conventions, whatever the style:

- The front and side views are drawn like cross-sections: enclosures (mould, underfill)
  first, their contents over them; lid and shield walls in front of or behind the middle
  plane are left out, so a lid is drawn as the hat a section shows.
- The top view is drawn from the bottom up; what cannot be seen from above (layers, the
  core, vias, parts embedded in their parent) is left out, and mould, lid and shield
  (:data:`SEE_THROUGH`) are outlines, so the dies under them show. Line drawings show the
  edges under those outlines dashed.
- An :class:`Array` whose pitch is at least :data:`MIN_PITCH_PX` output pixels is drawn
  ball by ball (bump by bump, via by via); a finer one is drawn as its area filled with a
  pattern, as drawings show a bump layer. Either way the cost does not grow with the count:
  the balls are a mask computed per pixel, never a loop over centres.
- Fit-to-frame styles scale each design to fill its frame, heights ``Z_EXAGGERATION`` times
  taller (a 1 mm tall package 40 mm wide would otherwise be a line); ``true-scale`` draws
  every design at one scale, :data:`LIBRARY_SPAN_MM` across the frame, heights
  :data:`TRUE_SCALE_Z_EXAGGERATION` times taller, with a scale bar. Views are drawn at
  :data:`SUPERSAMPLE` times the size and reduced (smooth edges).

A :class:`Style` holds everything about a drawing that is not the design. Drawing a design
again in another style is how the re-identification benchmark asks "is this the same
design?".
"""

from __future__ import annotations

import colorsys
import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from simnet.packages.geometry import (
    ENCLOSURES,
    MATERIAL,
    SEE_THROUGH,
    Array,
    Box,
    Part,
    Stackup,
    Wire,
)

VIEWS = ("top", "front", "side")
BOTTOM = "bottom"  # optional fourth view: the ball map seen from below (x mirrored)
STYLES = ("filled", "line", "hatched", "grey", "dark", "palette", "dimensioned", "true-scale")
DEFAULT_STYLE = "filled"
LIBRARY_SPAN_MM = 90.0  # true-scale: this many mm fill the frame, for every design
Z_EXAGGERATION = 3.0  # heights are drawn this much taller in fit-to-frame styles
TRUE_SCALE_Z_EXAGGERATION = 8.0  # and this much in true-scale (a 1 mm package: 11 px at 128)
SCALE_BAR_MM = 10.0  # the true-scale bar
SUPERSAMPLE = 2  # drawn at twice the size, then reduced: smooth edges
MIN_PITCH_PX = 3.0  # arrays at a finer pitch (output pixels) are drawn as a pattern

RGB = tuple[int, int, int]
Point = tuple[float, float]
PixBox = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
_PLAN = ("top", BOTTOM)
_ALL_VIEWS = (*VIEWS, BOTTOM)
_EPS = 1e-6

BASE_COLOURS: dict[str, RGB] = {
    "substrate": (46, 125, 60),
    "core": (150, 160, 92),
    "layer": (196, 120, 48),
    "rdl": (150, 112, 60),  # polyimide dielectric; its copper is "layer"
    "interposer": (96, 120, 160),
    "bridge": (72, 96, 150),
    "die": (58, 70, 96),
    "memory": (128, 84, 156),
    "ball": (150, 152, 162),
    "c4": (110, 112, 124),
    "micro-bump": (126, 128, 140),
    "hybrid": (206, 126, 52),
    "tsv": (214, 132, 40),
    "tmv": (200, 140, 60),
    "underfill": (226, 204, 140),
    "mould": (92, 92, 88),
    "attach": (230, 230, 160),
    "lid": (176, 180, 190),
    "shield": (164, 168, 178),
    "leadframe": (196, 150, 100),
    "lead": (184, 170, 150),
    "pad": (230, 170, 60),
    "wire": (222, 180, 40),
    "passive": (204, 184, 150),
}
# A CAD-like palette for the dark theme.
DARK_COLOURS: dict[str, RGB] = {
    "substrate": (38, 110, 72),
    "core": (120, 128, 70),
    "layer": (220, 140, 60),
    "rdl": (150, 120, 80),
    "interposer": (80, 130, 190),
    "bridge": (90, 150, 210),
    "die": (70, 110, 170),
    "memory": (150, 100, 200),
    "ball": (190, 195, 205),
    "c4": (170, 175, 190),
    "micro-bump": (180, 185, 200),
    "hybrid": (230, 150, 70),
    "tsv": (240, 160, 60),
    "tmv": (230, 170, 80),
    "underfill": (170, 150, 100),
    "mould": (80, 86, 96),
    "attach": (190, 190, 130),
    "lid": (150, 158, 170),
    "shield": (140, 148, 160),
    "leadframe": (210, 160, 110),
    "lead": (200, 190, 170),
    "pad": (240, 180, 80),
    "wire": (240, 200, 70),
    "passive": (200, 170, 130),
}
_GREY: RGB = (128, 128, 128)  # a kind without a colour

# Section hatch per material (line patterns of the hatched style).
HATCH = {
    "laminate": "horizontal",
    "core": "weave",
    "copper": "cross",
    "polyimide": "vertical",
    "silicon": "diagonal",
    "solder": "dots",
    "epoxy": "anti-sparse",
    "metal": "grid",
    "gold": "solid",
    "ceramic": "dense-dots",
}
_VIAS = frozenset({"tsv", "tmv"})
# Not seen from above: inside their parent, or under what covers them.
_HIDDEN_FROM_ABOVE = frozenset({"core", "layer", "tsv", "hybrid", "tmv"})
# Drawing order in the front and side views, after the enclosures (stable within a rank).
_PRIORITY = {
    "substrate": 0,
    "interposer": 0,
    "rdl": 0,
    "leadframe": 0,
    "lid": 0,
    "shield": 0,
    "core": 1,
    "layer": 2,
    "bridge": 2,
    "ball": 4,
    "c4": 4,
    "micro-bump": 4,
    "tmv": 4,
    "hybrid": 4,
    "tsv": 5,
    "wire": 6,
}
_BODY_KINDS = frozenset({"substrate", "rdl", "mould"})  # the outline of the bottom view


# -- Styles -------------------------------------------------------------------------------


@dataclass
class Style:
    """How a design is drawn, apart from the design itself."""

    name: str = DEFAULT_STYLE
    seed: int = 0
    colours: dict[str, RGB] = field(default_factory=lambda: dict(BASE_COLOURS))
    background: RGB = (250, 250, 250)
    ink: RGB = (30, 30, 30)  # lines of line drawings, hatches, dimensions, scale bar
    outline: str = "darker"  # edge colour: "darker" or "lighter" than the fill, or "ink"
    line: float = 1.0  # outline width in output pixels
    fill: bool = True  # False: parts are painted in the background colour (line drawing)
    hatch: bool = False  # each material's hatch pattern in the front and side views
    dashed: bool = False  # top view: edges under a lid, mould or shield dashed
    shade: bool = False  # fills shaded by a vertical gradient (a CAD look)
    grey: bool = False  # the finished drawing converted to grey (noise included)
    dimensions: bool = False  # dimension lines with their values in mm
    scale: str = "fit"  # "fit": each design fills its frame; "library": LIBRARY_SPAN_MM
    margin: float = 0.08  # fit: the blank border, as a share of the frame
    z_exaggeration: float = Z_EXAGGERATION
    noise: float = 0.0  # Gaussian pixel noise, in 0-255 units
    offset: tuple[int, int] = (0, 0)  # output pixels

    def __post_init__(self) -> None:
        if self.scale not in ("fit", "library"):
            raise ValueError(f"scale must be 'fit' or 'library', got {self.scale!r}")
        if self.outline not in ("darker", "lighter", "ink"):
            raise ValueError(f"outline must be darker, lighter or ink, got {self.outline!r}")

    @classmethod
    def make(cls, name: str, seed: int) -> Style:
        """The look ``name`` (one of :data:`STYLES`) with variation drawn from ``seed``:
        line width, a little colour jitter, a small offset and, where the look has it,
        noise. Looks that share a base share its draws (``dimensioned`` is ``line`` with
        dimensions and a wider margin for them)."""
        if name not in _LOOKS:
            raise ValueError(f"unknown drawing style {name!r}; styles: {', '.join(STYLES)}")
        return cls(name=name, seed=seed, **_LOOKS[name](random.Random(seed)))

    @classmethod
    def random(cls, seed: int) -> Style:
        """The default look with seeded variation (``make("filled", seed)``)."""
        return cls.make(DEFAULT_STYLE, seed)


def _clip(v: float) -> int:
    return int(min(255, max(0, round(v))))


def _mix(c: RGB, target: RGB, f: float) -> RGB:
    """``c`` moved a share ``f`` of the way to ``target``."""
    return (
        _clip(c[0] + (target[0] - c[0]) * f),
        _clip(c[1] + (target[1] - c[1]) * f),
        _clip(c[2] + (target[2] - c[2]) * f),
    )


def _jittered(colours: dict[str, RGB], rng: random.Random, amount: int) -> dict[str, RGB]:
    return {
        k: (
            _clip(c[0] + rng.randint(-amount, amount)),
            _clip(c[1] + rng.randint(-amount, amount)),
            _clip(c[2] + rng.randint(-amount, amount)),
        )
        for k, c in colours.items()
    }


def _offset(rng: random.Random, most: int = 3) -> tuple[int, int]:
    return rng.randint(-most, most), rng.randint(-most, most)


def _look_filled(rng: random.Random) -> dict:
    """Coloured fills with darker outlines on an off-white or light-grey background."""
    line = rng.uniform(0.5, 2.5)
    colours = _jittered(BASE_COLOURS, rng, 30)
    grey = rng.randint(225, 255)
    background = (
        _clip(grey + rng.randint(-8, 8)),
        _clip(grey + rng.randint(-8, 8)),
        _clip(grey + rng.randint(-8, 8)),
    )
    noise = rng.uniform(0.0, 8.0)
    return {
        "line": line,
        "colours": colours,
        "background": background,
        "noise": noise,
        "offset": _offset(rng),
    }


def _look_line(rng: random.Random) -> dict:
    """Black (or nearly) lines on white, no fills, hidden edges dashed, no noise."""
    white, black = rng.randint(248, 255), rng.randint(0, 24)
    return {
        "line": rng.uniform(0.7, 1.6),
        "background": (white, white, white),
        "ink": (black, black, black),
        "outline": "ink",
        "fill": False,
        "dashed": True,
        "offset": _offset(rng),
    }


def _look_hatched(rng: random.Random) -> dict:
    return {**_look_line(rng), "hatch": True, "dashed": False}


def _look_grey(rng: random.Random) -> dict:
    return {**_look_filled(rng), "grey": True, "noise": rng.uniform(0.0, 6.0)}


def _look_dark(rng: random.Random) -> dict:
    """A CAD screenshot: a dark blue-grey background, shaded fills, light outlines."""
    base = rng.randint(16, 40)
    light = rng.randint(215, 240)
    return {
        "line": rng.uniform(0.6, 1.8),
        "colours": _jittered(DARK_COLOURS, rng, 20),
        "background": (base, _clip(base + rng.randint(0, 6)), _clip(base + rng.randint(4, 14))),
        "ink": (light, light, light),
        "outline": "lighter",
        "shade": True,
        "noise": rng.uniform(0.0, 4.0),
        "offset": _offset(rng),
    }


def _look_palette(rng: random.Random) -> dict:
    """Fills from a seeded hue scheme, each kind's hue at least 60 degrees from its
    default colour's, on a light or mid background."""
    h0 = rng.random()
    materials = sorted(set(MATERIAL.values()))
    colours: dict[str, RGB] = {}
    for kind, material in MATERIAL.items():
        hue = (h0 + materials.index(material) * 0.618 + rng.uniform(-0.03, 0.03)) % 1.0
        default_hue = colorsys.rgb_to_hsv(*(v / 255 for v in BASE_COLOURS[kind]))[0]
        if min(abs(hue - default_hue), 1 - abs(hue - default_hue)) < 1 / 6:
            hue = (hue + 1 / 3) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.35, 0.8), rng.uniform(0.45, 0.92))
        colours[kind] = (_clip(r * 255), _clip(g * 255), _clip(b * 255))
    level = rng.choice([rng.randint(225, 250), rng.randint(150, 200)])
    tint = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.15), level / 255)
    return {
        "line": rng.uniform(0.5, 2.0),
        "colours": colours,
        "background": (_clip(tint[0] * 255), _clip(tint[1] * 255), _clip(tint[2] * 255)),
        "noise": rng.uniform(0.0, 6.0),
        "offset": _offset(rng),
    }


def _look_dimensioned(rng: random.Random) -> dict:
    return {**_look_line(rng), "dimensions": True, "margin": 0.2}


def _look_true_scale(rng: random.Random) -> dict:
    return {
        **_look_filled(rng),
        "scale": "library",
        "z_exaggeration": TRUE_SCALE_Z_EXAGGERATION,
        "noise": rng.uniform(0.0, 5.0),
    }


_LOOKS: dict[str, Callable[[random.Random], dict]] = {
    "filled": _look_filled,
    "line": _look_line,
    "hatched": _look_hatched,
    "grey": _look_grey,
    "dark": _look_dark,
    "palette": _look_palette,
    "dimensioned": _look_dimensioned,
    "true-scale": _look_true_scale,
}
assert tuple(_LOOKS) == STYLES


# -- Millimetres to pixels ------------------------------------------------------------------


def _scale(st: Stackup, size: int, style: Style) -> float:
    """Supersampled pixels per mm (horizontal), the same in every view of a drawing."""
    big = size * SUPERSAMPLE
    if style.scale == "library":
        return big / LIBRARY_SPAN_MM
    x0, y0, z0, x1, y1, z1 = st.extent()
    avail = big * (1 - 2 * style.margin)
    across = max(x1 - x0, y1 - y0, _EPS)
    return min(avail / across, avail / (style.z_exaggeration * max(z1 - z0, _EPS)))


class _Projector:
    """Millimetres to supersampled pixels for one view: ``h`` the horizontal axis of the
    view (x, or y in the side view), ``w`` the vertical one (y in plan views, z in
    sections, drawn ``z_exaggeration`` times taller)."""

    def __init__(self, st: Stackup, view: str, size: int, style: Style):
        x0, y0, z0, x1, y1, z1 = st.extent()
        big = size * SUPERSAMPLE
        self.s = _scale(st, size, style)
        self.view = view
        self.plan = view in _PLAN
        self.sw = self.s if self.plan else -self.s * style.z_exaggeration  # v per mm of w
        self.su = -self.s if view == BOTTOM else self.s  # seen from below: x mirrored
        self.hc = (y0 + y1) / 2 if view == "side" else (x0 + x1) / 2
        self.wc = (y0 + y1) / 2 if self.plan else (z0 + z1) / 2
        self.cu = big / 2 + style.offset[0] * SUPERSAMPLE
        self.cv = big / 2 + style.offset[1] * SUPERSAMPLE

    def u(self, h: float) -> float:
        return self.cu + (h - self.hc) * self.su

    def v(self, w: float) -> float:
        return self.cv + (w - self.wc) * self.sw

    def h_of(self, u: np.ndarray) -> np.ndarray:
        return self.hc + (u - self.cu) / self.su

    def w_of(self, v: np.ndarray) -> np.ndarray:
        return self.wc + (v - self.cv) / self.sw

    def hw(self, p: Part) -> tuple[float, float, float, float]:
        """``(h0, h1, w0, w1)``: a part's ranges along the view's axes."""
        x0, y0, z0, x1, y1, z1 = p.bounds()
        h0, h1 = (y0, y1) if self.view == "side" else (x0, x1)
        return (h0, h1, y0, y1) if self.plan else (h0, h1, z0, z1)

    def point(self, p: tuple[float, float, float]) -> Point:
        x, y, z = p
        return self.u(y if self.view == "side" else x), self.v(y if self.plan else z)

    def rect(self, h0: float, h1: float, w0: float, w1: float) -> list[Point]:
        u0, u1, v0, v1 = self.u(h0), self.u(h1), self.v(w0), self.v(w1)
        return [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]

    def box(self, b: Box) -> list[Point]:
        """A box's outline: its base rectangle from above, a trapezoid in a section when
        it tapers (its top inset by ``taper`` on each side)."""
        h0, h1, w0, w1 = self.hw(b)
        if self.plan or b.taper <= 0:
            return self.rect(h0, h1, w0, w1)
        t = min(b.taper, (h1 - h0) / 2)
        base, top = self.v(w0), self.v(w1)
        return [
            (self.u(h0), base),
            (self.u(h1), base),
            (self.u(h1 - t), top),
            (self.u(h0 + t), top),
        ]


@dataclass
class _Canvas:
    """One view being drawn: the supersampled image and what drawing on it needs."""

    image: Image.Image
    draw: ImageDraw.ImageDraw
    proj: _Projector
    style: Style
    view: str
    big: int  # supersampled side
    width: int  # outline width, supersampled pixels


def _canvas(st: Stackup, view: str, size: int, style: Style) -> _Canvas:
    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), style.background)
    width = max(1, round(style.line * SUPERSAMPLE))
    proj = _Projector(st, view, size, style)
    return _Canvas(image, ImageDraw.Draw(image), proj, style, view, big, width)


def _pixbox(points: Sequence[Point], big: int, pad: int = 1) -> PixBox | None:
    """The integer pixel box around ``points`` (clipped to the image), or None if empty."""
    us = [p[0] for p in points]
    vs = [p[1] for p in points]
    x0, y0 = max(0, math.floor(min(us)) - pad), max(0, math.floor(min(vs)) - pad)
    x1, y1 = min(big, math.ceil(max(us)) + pad + 1), min(big, math.ceil(max(vs)) + pad + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _poly_mask(box: PixBox, polys: Sequence[tuple[Sequence[Point], int]]) -> Image.Image:
    """An L mask of ``box``'s size with each polygon painted in its value, in order."""
    mask = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
    draw = ImageDraw.Draw(mask)
    for poly, value in polys:
        draw.polygon([(u - box[0], v - box[1]) for u, v in poly], fill=value)
    return mask


# -- Patterns -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _tile(name: str, big: int) -> np.ndarray:
    """One period of a repeating pattern as a square uint8 array (255 = ink), for an image
    ``big`` pixels across: lines about 3 output pixels apart, 1 thick."""
    sp = max(6, round(big / 40))  # line spacing, supersampled pixels
    t = max(2, round(big / 160))  # line thickness
    ph, pd = max(4, sp * 3 // 4), sp // 2 + 1  # closer lines, closer dots
    rules: dict[str, tuple[int, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
        "diagonal": (sp, lambda u, v: (u + v) % sp < t),
        "anti-sparse": (2 * sp, lambda u, v: (u - v) % (2 * sp) < t),
        "cross": (sp, lambda u, v: ((u + v) % sp < t) | ((u - v) % sp < t)),
        "grid": (sp, lambda u, v: (u % sp < t) | (v % sp < t)),
        "horizontal": (ph, lambda u, v: v % ph < t),
        "vertical": (ph, lambda u, v: u % ph < t),
        "vias": (2 * sp, lambda u, v: u % (2 * sp) < t),
        "weave": (2 * sp, lambda u, v: (v % sp < t) | ((u - v) % (2 * sp) < t)),
        "dots": (sp, lambda u, v: (u % sp < t) & (v % sp < t)),
        "dense-dots": (pd, lambda u, v: (u % pd < t) & (v % pd < t)),
        "solid": (1, lambda u, v: u >= 0),
    }
    period, rule = rules[name]
    v, u = np.mgrid[0:period, 0:period]
    return np.where(rule(u, v), 255, 0).astype(np.uint8)


def _pattern(name: str, big: int, box: PixBox) -> Image.Image:
    """The pattern over ``box``, anchored to the image (not to the part), so that
    neighbouring parts of one material hatch continuously."""
    tile = _tile(name, big)
    p = tile.shape[0]
    (x0, y0, x1, y1), ox, oy = box, box[0] % p, box[1] % p
    reps = (-(-(y1 - y0 + oy) // p), -(-(x1 - x0 + ox) // p))
    return Image.fromarray(np.tile(tile, reps)[oy : oy + y1 - y0, ox : ox + x1 - x0], "L")


def _paste_pattern(c: _Canvas, box: PixBox, mask: Image.Image, name: str, colour: RGB) -> None:
    """Paints ``colour`` where both ``mask`` (of ``box``'s size) and the pattern are set."""
    c.image.paste(colour, box, ImageChops.multiply(mask, _pattern(name, c.big, box)))


# -- Parts ----------------------------------------------------------------------------------


def _colour(style: Style, kind: str) -> RGB:
    return style.colours.get(kind, _GREY)


def _edge(style: Style, colour: RGB) -> RGB:
    if style.outline == "ink":
        return style.ink
    if style.outline == "lighter":
        return _mix(colour, (255, 255, 255), 0.6)
    return _mix(colour, (0, 0, 0), 0.45)


def _shade(c: _Canvas, poly: list[Point], colour: RGB) -> None:
    """Fills ``poly`` with a vertical gradient: lit from above, darker below."""
    box = _pixbox(poly, c.big, pad=0)
    if box is None or (box[2] - box[0]) * (box[3] - box[1]) < 100:  # too small to see it
        return
    top = np.array(_mix(colour, (255, 255, 255), 0.35), dtype=np.float32)
    bottom = np.array(_mix(colour, (0, 0, 0), 0.35), dtype=np.float32)
    t = np.linspace(0.0, 1.0, box[3] - box[1], dtype=np.float32)[:, None, None]
    rows = top + (bottom - top) * t  # (H, 1, 3)
    shape = (box[3] - box[1], box[2] - box[0], 3)
    ramp = Image.fromarray(np.broadcast_to(rows, shape).round().astype(np.uint8), "RGB")
    c.image.paste(ramp, box, _poly_mask(box, [(poly, 255)]))


def _fill(c: _Canvas, poly: list[Point], kind: str, mode: str) -> None:
    """The inside of a part: its colour (lighter for an enclosure in a section, shaded in
    the dark look), or the background in a line drawing; then its hatch, if any."""
    st = c.style
    colour = _colour(st, kind)
    if not st.fill:
        c.draw.polygon(poly, fill=st.background)
    elif mode == "enclosure":
        c.draw.polygon(poly, fill=_mix(colour, st.background, 0.45))
    elif st.shade:
        c.draw.polygon(poly, fill=colour)  # the edge pixels the gradient's mask leaves
        _shade(c, poly, colour)
    else:
        c.draw.polygon(poly, fill=colour)
    if st.hatch and not c.proj.plan:
        box = _pixbox(poly, c.big)
        if box is not None:
            name = HATCH.get(MATERIAL.get(kind, ""), "diagonal")
            _paste_pattern(c, box, _poly_mask(box, [(poly, 255)]), name, st.ink)


def _draw_box(c: _Canvas, b: Box, mode: str) -> None:
    """``mode``: "solid", "enclosure" (a section's mould or underfill), "outline" (see
    through it) or "dashed" (hidden under something seen through)."""
    poly = c.proj.box(b)
    if mode != "outline":
        _fill(c, poly, b.kind, mode)
    edge = _edge(c.style, _colour(c.style, b.kind))
    if mode == "dashed":
        _dashed(c, [*poly, poly[0]], edge, c.width)
    else:
        c.draw.polygon(poly, outline=edge, width=c.width)


def _draw_wire(c: _Canvas, w: Wire, mode: str) -> None:
    """A polyline ``width`` mm wide, at least one output pixel; a lead at least two."""
    least = 2 * SUPERSAMPLE if w.kind == "lead" else SUPERSAMPLE
    width = max(least, round(w.width * c.proj.s))
    colour = _colour(c.style, w.kind) if c.style.fill else c.style.ink
    points = [c.proj.point(p) for p in w.points]
    if mode == "dashed":
        _dashed(c, points, colour, width)
    else:
        c.draw.line(points, fill=colour, width=width, joint="curve")


def _dashed(c: _Canvas, points: list[Point], colour: RGB, width: int) -> None:
    """A dashed polyline; the dash pattern runs on across corners."""
    dash = max(4.0, c.big / 42)
    phase = 0.0  # distance along the line, modulo two dashes
    for (u0, v0), (u1, v1) in zip(points, points[1:], strict=False):
        length = math.hypot(u1 - u0, v1 - v0)
        at = 0.0
        while at < length:
            on = phase < dash
            step = min(length - at, (dash - phase) if on else (2 * dash - phase))
            if on and step > 0:
                a, b = at / length, (at + step) / length
                seg = [(u0 + (u1 - u0) * a, v0 + (v1 - v0) * a)]
                seg.append((u0 + (u1 - u0) * b, v0 + (v1 - v0) * b))
                c.draw.line(seg, fill=colour, width=width)
            at += step
            phase = (phase + step) % (2 * dash)


# -- Arrays ---------------------------------------------------------------------------------


def _nearest(x: np.ndarray, first: float, pitch: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For coordinates ``x``: the index of the nearest of ``n`` centres ``first + i*pitch``
    and the offset from it."""
    i = np.clip(np.rint((x - first) / pitch), 0, n - 1)
    return x - (first + i * pitch), i.astype(np.int64)


def _array_masks(c: _Canvas, a: Array) -> tuple[PixBox, Image.Image, Image.Image] | None:
    """Per-pixel masks of an array's balls (or vias) and of their rims, in the box that
    holds them: one mask for any count, never a loop over centres."""
    p = c.proj
    h0, h1, w0, w1 = p.hw(a)
    box = _pixbox(p.rect(h0, h1, w0, w1), c.big)
    if box is None:
        return None
    us = np.arange(box[0], box[2]) + 0.5
    vs = np.arange(box[1], box[3]) + 0.5
    hs, ws = a.axis(h0, h1), a.axis(w0, w1)
    dh, ih = _nearest(p.h_of(us), hs[0], a.pitch, len(hs))
    rh = max(a.diameter / 2, 0.7 / p.s)
    if p.plan:
        dw, iw = _nearest(p.w_of(vs), ws[0], a.pitch, len(ws))
        rw = rh
    else:
        dw, iw = p.w_of(vs) - (w0 + w1) / 2, np.zeros(len(vs), np.int64)
        rw = max((w1 - w0) / 2, 0.7 / abs(p.sw))
    if a.kind in _VIAS and not p.plan:  # a via: a column through the whole height
        q = np.maximum((dh[None, :] / rh) ** 2, (dw[:, None] / rw) ** 2)
    else:
        q = (dh[None, :] / rh) ** 2 + (dw[:, None] / rw) ** 2
    inside = q <= 1.0
    if p.plan and a.rows > 0 and 2 * a.rows < min(len(hs), len(ws)):  # depopulated centre
        ring = np.minimum(
            np.minimum(iw[:, None], len(ws) - 1 - iw[:, None]),
            np.minimum(ih[None, :], len(hs) - 1 - ih[None, :]),
        )
        inside &= ring < a.rows
    least = min(rh * p.s, rw * abs(p.sw))  # the smaller radius, pixels
    rim = inside & ((1 - np.sqrt(q)) * least < c.width * 0.75) if least > 2 * c.width else inside
    return box, _bool_image(inside), _bool_image(rim)  # too small for a rim: a dot


def _bool_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L")


def _array_area(c: _Canvas, a: Array) -> list[tuple[list[Point], int]]:
    """The polygons of an array's area: its band in a section; from above, its rectangle
    less the depopulated centre."""
    p = c.proj
    h0, h1, w0, w1 = p.hw(a)
    polys = [(p.rect(h0, h1, w0, w1), 255)]
    if p.plan and a.rows > 0:
        hs, ws = a.axis(h0, h1), a.axis(w0, w1)
        if 2 * a.rows < min(len(hs), len(ws)):
            r, half = a.rows, a.pitch / 2
            hole = p.rect(hs[r] - half, hs[-r - 1] + half, ws[r] - half, ws[-r - 1] + half)
            polys.append((hole, 0))
    return polys


def _draw_fine_array(c: _Canvas, a: Array) -> None:
    """An array too fine to draw ball by ball: its area with a dot (or, for vias in a
    section, a vertical-line) pattern, as a drawing shows a bump layer."""
    st = c.style
    polys = _array_area(c, a)
    box = _pixbox(polys[0][0], c.big)
    if box is None:
        return
    mask = _poly_mask(box, polys)
    colour = _colour(st, a.kind)
    if a.kind in _VIAS and not c.proj.plan:  # vias: sparse lines through what holds them
        _paste_pattern(c, box, mask, "vias", colour if st.fill else st.ink)
        return
    base = _mix(colour, st.background, 0.55) if st.fill else st.background
    c.image.paste(base, box, mask)
    name = "dots"
    if st.hatch and not c.proj.plan:
        name = HATCH.get(MATERIAL.get(a.kind, ""), name)
    _paste_pattern(c, box, mask, name, colour if st.fill else st.ink)
    if c.proj.plan:
        for poly, _ in polys:
            c.draw.polygon(poly, outline=_edge(st, colour), width=max(1, c.width // 2))


def _draw_array(c: _Canvas, a: Array, mode: str) -> None:
    """Ball by ball when the pitch is at least MIN_PITCH_PX output pixels, else a pattern."""
    if a.pitch * c.proj.s < MIN_PITCH_PX * SUPERSAMPLE:
        _draw_fine_array(c, a)
        return
    masks = _array_masks(c, a)
    if masks is None:
        return
    box, inside, rim = masks
    colour = _colour(c.style, a.kind)
    c.image.paste(colour if c.style.fill else c.style.background, box, inside)
    c.image.paste(_edge(c.style, colour), box, rim)


def _draw_part(c: _Canvas, part: Part, mode: str) -> None:
    if isinstance(part, Box):
        _draw_box(c, part, mode)
    elif isinstance(part, Array):
        _draw_array(c, part, mode)
    else:
        _draw_wire(c, part, mode)


# -- What each view shows, in which order -----------------------------------------------------


def _covers(cover: Box, p: Part) -> bool:
    """Whether ``cover`` (a lid, mould or shield part) lies over ``p`` seen from above."""
    x0, y0, _, x1, y1, z1 = p.bounds()
    return (
        cover.x0 - _EPS <= x0
        and cover.y0 - _EPS <= y0
        and x1 <= cover.x1 + _EPS
        and y1 <= cover.y1 + _EPS
        and z1 <= cover.z1 + _EPS
    )


def _plan_top(parts: list[Part], style: Style) -> list[tuple[Part, str]]:
    """Bottom up; what cannot be seen from above left out; see-through parts last, as
    outlines; in a line drawing what they cover dashed."""
    shown = [
        p for p in parts if p.kind not in _HIDDEN_FROM_ABOVE and getattr(p, "mount", "on") != "in"
    ]
    covers = [p for p in shown if p.kind in SEE_THROUGH and isinstance(p, Box)]
    rest = sorted((p for p in shown if p.kind not in SEE_THROUGH), key=lambda p: p.level)
    out = []
    for p in rest:
        hidden = style.dashed and any(_covers(cover, p) for cover in covers)
        out.append((p, "dashed" if hidden else "solid"))
    return out + [(p, "outline") for p in shown if p.kind in SEE_THROUGH]


def _in_section(p: Part, view: str, middle: float) -> bool:
    """Lid and shield walls in front of or behind the section's middle plane are left out
    (a lid is drawn as the hat a section shows)."""
    if p.kind not in SEE_THROUGH or p.kind in ENCLOSURES:
        return True
    x0, y0, _, x1, y1, _ = p.bounds()
    lo, hi = (x0, x1) if view == "side" else (y0, y1)
    return lo - _EPS <= middle <= hi + _EPS


def _plan_section(st: Stackup, view: str) -> list[tuple[Part, str]]:
    """Enclosures first, then the rest by :data:`_PRIORITY` (build order within a rank)."""
    x0, y0, _, x1, y1, _ = st.extent()
    middle = (x0 + x1) / 2 if view == "side" else (y0 + y1) / 2
    parts = [p for p in st.parts if _in_section(p, view, middle)]
    enclosures = [(p, "enclosure") for p in parts if p.kind in ENCLOSURES]
    rest = sorted((p for p in parts if p.kind not in ENCLOSURES), key=_rank)
    return enclosures + [(p, "solid") for p in rest]


def _rank(p: Part) -> int:
    return _PRIORITY.get(p.kind, 3)


def _plan_bottom(st: Stackup) -> list[tuple[Part, str]]:
    """Seen from below: the body's outline, lead-frame parts flush with its bottom (an
    exposed pad, leads), gull-wing leads and the ball grids under it."""
    boxes = [p for p in st.parts if isinstance(p, Box)]
    bodies = [p for p in boxes if p.kind in _BODY_KINDS] or boxes
    low = min(bodies, key=lambda p: p.z0)
    body = Box(
        low.kind,
        min(p.x0 for p in bodies),
        min(p.y0 for p in bodies),
        low.z0,
        max(p.x1 for p in bodies),
        max(p.y1 for p in bodies),
        low.z1,
    )
    bottom = st.extent()[2]  # a QFP's paddle and leads stand off it, a QFN's are flush
    flush = [p for p in boxes if p.kind in ("leadframe", "lead") and p.z0 <= bottom + 0.02]
    leads = [p for p in st.parts if isinstance(p, Wire) and p.kind == "lead"]
    balls = [p for p in st.parts if isinstance(p, Array) and p.mount == "under"]
    shown: list[Part] = [body, *flush, *leads, *balls]
    return [(p, "solid") for p in shown]


# -- Annotations ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _font(px: int) -> Font:
    """Pillow's own font at ``px`` pixels (no font file needed); the bitmap one without
    FreeType."""
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _mm(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _arrow(c: _Canvas, tip: Point, back: Point, colour: RGB) -> None:
    """A filled arrowhead at ``tip`` pointing away from ``back``."""
    du, dv = tip[0] - back[0], tip[1] - back[1]
    n = math.hypot(du, dv) or 1.0
    du, dv = du / n, dv / n
    size = max(4.0, c.big / 40)
    base = (tip[0] - du * size, tip[1] - dv * size)
    side = (-dv * size / 2.5, du * size / 2.5)
    c.draw.polygon(
        [tip, (base[0] + side[0], base[1] + side[1]), (base[0] - side[0], base[1] - side[1])],
        fill=colour,
    )


def _dimension(c: _Canvas, a: Point, b: Point, offset: Point, text: str) -> None:
    """A dimension between ``a`` and ``b`` (an edge of the body each), drawn ``offset``
    away from them: extension lines, a line with arrows at both ends, the value beside."""
    ink, thin = c.style.ink, max(1, c.width // 2)
    pa = (a[0] + offset[0], a[1] + offset[1])
    pb = (b[0] + offset[0], b[1] + offset[1])
    over = (offset[0] * 0.2, offset[1] * 0.2)
    for edge, end in ((a, pa), (b, pb)):
        c.draw.line([edge, (end[0] + over[0], end[1] + over[1])], fill=ink, width=thin)
    _dimension_line(c, pa, pb, ink, thin)
    font = _font(max(10, round(c.big * 0.065)))
    mid = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
    gap = max(2.0, c.big / 100)
    if abs(pa[1] - pb[1]) < abs(pa[0] - pb[0]):  # horizontal: the value under or over it
        below = offset[1] >= 0
        where = (mid[0], mid[1] + (gap if below else -gap))
        c.draw.text(where, text, fill=ink, font=font, anchor="mt" if below else "mb")
        return
    _vertical_text(c, mid, text, font, on_right=offset[0] >= 0, gap=gap)


def _dimension_line(c: _Canvas, pa: Point, pb: Point, ink: RGB, width: int) -> None:
    """The line between ``pa`` and ``pb`` with an arrow at each end, pointing out; a
    short one gets its arrows outside, pointing in."""
    length = math.hypot(pb[0] - pa[0], pb[1] - pa[1]) or 1.0
    size = max(4.0, c.big / 40)
    if length >= 3 * size:
        c.draw.line([pa, pb], fill=ink, width=width)
        _arrow(c, pa, pb, ink)
        _arrow(c, pb, pa, ink)
        return
    du, dv = (pb[0] - pa[0]) / length * 2 * size, (pb[1] - pa[1]) / length * 2 * size
    ends = (pa[0] - du, pa[1] - dv), (pb[0] + du, pb[1] + dv)
    c.draw.line([ends[0], ends[1]], fill=ink, width=width)
    _arrow(c, pa, ends[0], ink)
    _arrow(c, pb, ends[1], ink)


def _vertical_text(
    c: _Canvas, mid: Point, text: str, font: Font, on_right: bool, gap: float
) -> None:
    """``text`` turned a quarter (read from below), centred on ``mid``, on its right or
    left."""
    left, top, right, bottom = c.draw.textbbox((0, 0), text, font=font)
    label = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
    ImageDraw.Draw(label).text((1 - left, 1 - top), text, fill=255, font=font)
    label = label.rotate(90, expand=True)
    u = mid[0] + gap if on_right else mid[0] - gap - label.width
    v = mid[1] - label.height / 2
    c.image.paste(c.style.ink, (round(u), round(v)), label)


def _dimensions(c: _Canvas, st: Stackup) -> None:
    """Body width and depth in the top view, width and height in the front view, depth
    and height in the side view (in mm)."""
    x0, y0, z0, x1, y1, z1 = st.extent()
    p = c.proj
    h0, h1 = (y0, y1) if c.view == "side" else (x0, x1)
    w0, w1 = (y0, y1) if p.plan else (z0, z1)
    away = c.big * c.style.margin * 0.4
    across = _mm(h1 - h0)
    below = max(p.v(w0), p.v(w1))
    _dimension(c, (p.u(h0), below), (p.u(h1), below), (0.0, away), across)
    if p.plan:  # depth on the left
        left = min(p.u(h0), p.u(h1))
        _dimension(c, (left, p.v(w0)), (left, p.v(w1)), (-away, 0.0), _mm(w1 - w0))
    else:  # height on the right
        right = max(p.u(h0), p.u(h1))
        _dimension(c, (right, p.v(w0)), (right, p.v(w1)), (away, 0.0), _mm(w1 - w0))


def _scale_bar(c: _Canvas) -> None:
    """A bar SCALE_BAR_MM long in the bottom-left corner, its length written over it."""
    ink = c.style.ink if c.style.outline != "lighter" else (230, 230, 230)
    u0, v = c.big * 0.05, c.big * 0.94
    u1 = u0 + SCALE_BAR_MM * c.proj.s
    thick, tick = max(2, c.big // 128), max(3.0, c.big / 60)
    c.draw.line([(u0, v), (u1, v)], fill=ink, width=thick)
    for u in (u0, u1):
        c.draw.line([(u, v - tick), (u, v + tick)], fill=ink, width=thick)
    font = _font(max(10, round(c.big * 0.06)))
    c.draw.text(
        ((u0 + u1) / 2, v - tick - 1), f"{SCALE_BAR_MM:g} mm", fill=ink, font=font, anchor="mb"
    )


# -- Drawing --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _two_tone(ink: int, paper: int, gain: float = 6.0) -> list[int]:
    """A lookup table that steepens the greys between ``ink`` and ``paper`` (the
    smoothing of edges) ``gain`` times, keeping both ends; a pixel half covered by a
    line goes to ink (a thin line straddling two pixels stays a line)."""
    mid = ink + (paper - ink) * 0.6
    lo, hi = sorted((ink, paper))
    return [int(min(hi, max(lo, round(mid + (v - mid) * gain)))) for v in range(256)]


def _finish(image: Image.Image, size: int, style: Style, view: str) -> Image.Image:
    """Reduced to ``size``, made grey and given noise, as the style says."""
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    if not style.fill:  # a line drawing stays nearly two-tone: greys pushed to either end
        image = image.point(
            [v for i in range(3) for v in _two_tone(style.ink[i], style.background[i])]
        )
    if style.grey:
        image = image.convert("L")
    if style.noise > 0:
        rng = np.random.default_rng([style.seed % 2**64, _ALL_VIEWS.index(view)])
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * style.noise
        image = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), image.mode)
    return image.convert("RGB")


def render_view(st: Stackup, view: str, size: int = 128, style: Style | None = None) -> Image.Image:
    """One view of a design (``top``, ``front``, ``side`` or ``bottom``) as an RGB image
    of ``size x size`` pixels."""
    if view not in _ALL_VIEWS:
        raise ValueError(f"view must be one of {', '.join(_ALL_VIEWS)}, got {view!r}")
    style = style or Style()
    c = _canvas(st, view, size, style)
    if view == BOTTOM:
        plan = _plan_bottom(st)
    elif view == "top":
        plan = _plan_top(st.parts, style)
    else:
        plan = _plan_section(st, view)
    for part, mode in plan:
        _draw_part(c, part, mode)
    if style.dimensions:
        _dimensions(c, st)
    if style.scale == "library":
        _scale_bar(c)
    return _finish(c.image, size, style, view)


def render(
    st: Stackup, size: int = 128, style: Style | None = None, bottom: bool = False
) -> dict[str, Image.Image]:
    """The three views of a design, and the bottom view with ``bottom``."""
    views = (*VIEWS, BOTTOM) if bottom else VIEWS
    return {view: render_view(st, view, size, style) for view in views}


def drawing_info(st: Stackup, size: int, style: Style) -> dict:
    """What params.json records about one drawing: its style, size, vertical
    exaggeration and millimetres per output pixel (horizontal; the same in every view)."""
    return {
        "style": style.name,
        "size_px": size,
        "z_exaggeration": style.z_exaggeration,
        "mm_per_px": SUPERSAMPLE / _scale(st, size, style),
    }


__all__ = [
    "BOTTOM",
    "DEFAULT_STYLE",
    "LIBRARY_SPAN_MM",
    "STYLES",
    "TRUE_SCALE_Z_EXAGGERATION",
    "VIEWS",
    "Z_EXAGGERATION",
    "Style",
    "drawing_info",
    "render",
    "render_view",
]
