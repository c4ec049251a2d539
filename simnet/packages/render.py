"""Orthographic top, front and side views of a :class:`Stackup`, drawn with PIL.

All three views share one scale in millimetres per pixel, so parts are to scale across
views; heights are drawn ``Z_EXAGGERATION`` times taller, as stack-up drawings usually
are, or a 1 mm tall package 40 mm wide would be a line. The front and side views are drawn
like cross-sections (enclosures such as mould and lids first, their contents over them);
the top view draws parts from the bottom up, with lids and mould caps as outlines so the
dies under them show.

A :class:`Style` holds everything about the drawing that is not the design: line width,
colours, background, noise and a small offset. Re-rendering a design with another style
is how the re-identification benchmark asks "is this the same design?".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from simnet.packages.geometry import ENCLOSURES, Ball, Box, Part, Stackup, Wire

VIEWS = ("top", "front", "side")
Z_EXAGGERATION = 3.0
SUPERSAMPLE = 2  # drawn at twice the size, then reduced: smooth edges

BASE_COLOURS: dict[str, tuple[int, int, int]] = {
    "substrate": (46, 125, 60),
    "layer": (196, 120, 48),
    "ball": (150, 152, 162),
    "bump": (110, 112, 124),
    "interposer": (96, 120, 160),
    "die": (58, 70, 96),
    "memory": (128, 84, 156),
    "tsv": (214, 132, 40),
    "underfill": (226, 204, 140),
    "mould": (92, 92, 88),
    "lid": (176, 180, 190),
    "rdl": (150, 112, 60),  # polyimide dielectric; its copper is "layer"
    "attach": (230, 230, 160),
    "wire": (222, 180, 40),
    "pad": (230, 170, 60),
}
INTERNAL = frozenset({"layer", "tsv"})
# Order of drawing in the front and side views, after the enclosures: big parts first.
PRIORITY = {
    "substrate": 0,
    "interposer": 0,
    "rdl": 0,
    "die": 1,
    "memory": 1,
    "attach": 1,
    "ball": 2,
    "bump": 2,
    "pad": 2,
    "layer": 3,
    "tsv": 3,
    "wire": 3,
}


@dataclass
class Style:
    """How a design is drawn, apart from the design itself."""

    line: float = 1.0  # outline width in output pixels
    colours: dict[str, tuple[int, int, int]] = field(default_factory=lambda: dict(BASE_COLOURS))
    background: tuple[int, int, int] = (250, 250, 250)
    noise: float = 0.0  # Gaussian pixel noise, in 0-255 units
    offset: tuple[int, int] = (0, 0)  # pixels
    seed: int = 0

    @classmethod
    def random(cls, seed: int) -> Style:
        """A random style: line width 0.5-2.5 px, each colour moved by up to 30 per channel,
        an off-white or light-grey background, noise up to 8, an offset up to 3 px."""
        rng = random.Random(seed)

        def jitter(c: tuple[int, int, int]) -> tuple[int, int, int]:
            return tuple(int(np.clip(v + rng.randint(-30, 30), 0, 255)) for v in c)  # type: ignore[return-value]

        grey = rng.randint(225, 255)
        return cls(
            line=rng.uniform(0.5, 2.5),
            colours={k: jitter(c) for k, c in BASE_COLOURS.items()},
            background=tuple(int(np.clip(grey + rng.randint(-8, 8), 0, 255)) for _ in range(3)),  # type: ignore[arg-type]
            noise=rng.uniform(0.0, 8.0),
            offset=(rng.randint(-3, 3), rng.randint(-3, 3)),
            seed=seed,
        )


def _darker(c: tuple[int, int, int], f: float = 0.55) -> tuple[int, int, int]:
    return (int(c[0] * f), int(c[1] * f), int(c[2] * f))


def _lighter(c: tuple[int, int, int], f: float = 0.5) -> tuple[int, int, int]:
    return tuple(int(v + (255 - v) * f) for v in c)  # type: ignore[return-value]


class _Projector:
    """Millimetres to (supersampled) pixels for one view."""

    def __init__(self, st: Stackup, view: str, size: int, style: Style):
        x0, y0, z0, x1, y1, z1 = st.extent()
        big = size * SUPERSAMPLE
        margin = 0.08 * big
        avail = big - 2 * margin
        self.s = min(avail / max(x1 - x0, y1 - y0), avail / (Z_EXAGGERATION * (z1 - z0)))
        self.view = view
        h_lo, h_hi = (y0, y1) if view == "side" else (x0, x1)
        dx, dy = style.offset[0] * SUPERSAMPLE, style.offset[1] * SUPERSAMPLE
        self.u0 = big / 2 - (h_lo + h_hi) / 2 * self.s + dx
        if view == "top":
            self.v0 = big / 2 - (y0 + y1) / 2 * self.s + dy
        else:  # z up, the package's middle at the image's middle
            self.v0 = big / 2 + (z0 + z1) / 2 * self.s * Z_EXAGGERATION + dy

    def point(self, p: tuple[float, float, float]) -> tuple[float, float]:
        x, y, z = p
        if self.view == "top":
            return self.u0 + x * self.s, self.v0 + y * self.s
        h = y if self.view == "side" else x
        return self.u0 + h * self.s, self.v0 - z * self.s * Z_EXAGGERATION

    def rect(self, b: Box) -> tuple[float, float, float, float]:
        (u0, v0), (u1, v1) = self.point((b.x0, b.y0, b.z0)), self.point((b.x1, b.y1, b.z1))
        return min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)

    def ellipse(self, b: Ball) -> tuple[float, float, float, float]:
        u, v = self.point((b.x, b.y, b.z))
        ru = b.r * self.s
        rv = b.r * self.s * (1.0 if self.view == "top" else Z_EXAGGERATION)
        return u - ru, v - rv, u + ru, v + rv


def _order(parts: list[Part], view: str) -> list[tuple[Part, bool]]:
    """Drawing order and whether each part is drawn as an outline only."""
    if view == "top":  # bottom up; internal layers and vias are not seen from above
        shown = [p for p in parts if p.kind not in INTERNAL]
        solid = [p for p in shown if p.kind not in ENCLOSURES or p.kind == "underfill"]
        outline = [p for p in shown if p.kind in ENCLOSURES and p.kind != "underfill"]
        return [(p, False) for p in sorted(solid, key=lambda p: p.level)] + [
            (p, True) for p in outline
        ]
    enclosures = [p for p in parts if p.kind in ENCLOSURES]
    rest = [p for p in parts if p.kind not in ENCLOSURES]
    rest.sort(key=lambda p: PRIORITY.get(p.kind, 1))  # stable: keeps build order within
    return [(p, False) for p in enclosures] + [(p, False) for p in rest]


def render_view(st: Stackup, view: str, size: int = 128, style: Style | None = None) -> Image.Image:
    """One view of a design as an RGB image of ``size x size`` pixels."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    style = style or Style()
    big = size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), style.background)
    draw = ImageDraw.Draw(image)
    proj = _Projector(st, view, size, style)
    width = max(1, round(style.line * SUPERSAMPLE))
    for part, outline_only in _order(st.parts, view):
        colour = style.colours[part.kind]
        edge = _darker(colour)
        if isinstance(part, Box):
            fill = None if outline_only else colour
            if part.kind in ENCLOSURES and view != "top" and part.kind != "lid":
                fill = _lighter(colour, 0.45)
            draw.rectangle(proj.rect(part), fill=fill, outline=edge, width=width)
        elif isinstance(part, Ball):
            draw.ellipse(proj.ellipse(part), fill=colour, outline=edge, width=max(1, width // 2))
        elif isinstance(part, Wire):
            draw.line([proj.point(p) for p in part.points], fill=colour, width=width, joint="curve")
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    if style.noise > 0:
        rng = np.random.default_rng(style.seed * 3 + VIEWS.index(view))
        pixels = np.asarray(image, dtype=np.float64) + rng.normal(0.0, style.noise, (size, size, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))
    return image


def render(st: Stackup, size: int = 128, style: Style | None = None) -> dict[str, Image.Image]:
    """The three views of a design."""
    return {view: render_view(st, view, size, style) for view in VIEWS}
