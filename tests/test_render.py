"""Drawing a stack-up: every style draws every view, deterministically, and each style is
what it says (grey has equal channels, a line drawing is nearly two-tone, the dark theme is
dark, hatching adds edges, dimensions sit in the margins, true scale is one scale for all);
fine arrays are drawn as a pattern without visiting their centres.

The stack-ups are built here by hand, so these tests do not depend on the family builders.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from simnet.packages.geometry import Array, Box, Stackup, Wire
from simnet.packages.render import (
    BOTTOM,
    LIBRARY_SPAN_MM,
    STYLES,
    TRUE_SCALE_Z_EXAGGERATION,
    VIEWS,
    Z_EXAGGERATION,
    Style,
    drawing_info,
    render,
    render_view,
)


def flip_chip(width: float = 20.0, lid: bool = True) -> Stackup:
    """A flip-chip BGA: a cored substrate with build-up layers, a ball grid under it, a
    die on C4 bumps with an underfill fillet, maybe a hat lid."""
    st = Stackup("test", "lidded" if lid else "bare")
    w, zs = width, 0.4
    st.add(
        Box("substrate", 0, 0, zs, w, w, zs + 1.0, name="sub"),
        Box("core", 0, 0, zs + 0.3, w, w, zs + 0.7, name="core", parent="sub", mount="in"),
    )
    for k, z in enumerate((zs + 0.05, zs + 0.15, zs + 0.8, zs + 0.9)):
        st.add(Box("layer", 0, 0, z, w, w, z + 0.02, name=f"l{k}", parent="sub", mount="in"))
    d0, d1, top = w * 0.3, w * 0.7, zs + 1.0
    st.add(
        Array("ball", 0.5, 0.5, 0, w - 0.5, w - 0.5, zs, 1.0, 0.6, name="balls", mount="under"),
        Array("c4", d0, d0, top, d1, d1, top + 0.08, 0.15, 0.08, name="c4", parent="sub"),
        Box("underfill", d0 - 0.5, d0 - 0.5, top, d1 + 0.5, d1 + 0.5, top + 0.4, taper=0.5),
        Box("die", d0, d0, top + 0.08, d1, d1, top + 0.8, name="die", joint="c4"),
    )
    if lid:
        st.add(
            Box("lid", 0.5, 0.5, top, 2.0, w - 0.5, top + 1.0, name="wall0", group="lid"),
            Box("lid", w - 2.0, 0.5, top, w - 0.5, w - 0.5, top + 1.0, name="wall1", group="lid"),
            Box("lid", 0.5, 0.5, top + 1.0, w - 0.5, w - 0.5, top + 1.3, name="plate", group="lid"),
        )
    return st


def wire_bond(width: float = 8.0) -> Stackup:
    """A die on a substrate, wired to bond fingers, in a mould; dies with TSVs."""
    st = Stackup("test", "wire-bond")
    w = width
    st.add(
        Box("substrate", 0, 0, 0.3, w, w, 0.6, name="sub"),
        Array("ball", 0.4, 0.4, 0, w - 0.4, w - 0.4, 0.3, 0.65, 0.4, name="b", mount="under"),
        Box("attach", 2, 2, 0.6, w - 2, w - 2, 0.62, name="att"),
        Box("die", 2, 2, 0.62, w - 2, w - 2, 0.8, name="die"),
        Array("tsv", 2.2, 2.2, 0.62, w - 2.2, w - 2.2, 0.8, 0.05, 0.01, name="t", mount="in"),
        Box("memory", 2.5, 2.5, 0.8, w - 2.5, w - 2.5, 0.9, name="mem"),
        Box("mould", 0, 0, 0.6, w, w, 1.2, name="mould"),
    )
    for k in range(6):
        y = 2.5 + k * (w - 5) / 5
        st.add(
            Box("pad", 0.6, y - 0.1, 0.6, 1.0, y + 0.1, 0.62, name=f"pad{k}"),
            Wire("wire", ((2.1, y, 0.8), (1.6, y, 1.0), (0.8, y, 0.62)), name=f"w{k}"),
        )
    return st


DESIGNS = {"flip-chip": flip_chip(), "wire-bond": wire_bond()}


def grey_level(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.int32)


def drawn(image: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """Which pixels differ clearly from the background."""
    diff = np.abs(np.asarray(image, dtype=np.int32) - np.array(background)).max(axis=2)
    return diff > 40


def quiet(name: str, seed: int = 1) -> Style:
    """A style without offset or noise, so that pixel positions can be predicted."""
    return replace(Style.make(name, seed), offset=(0, 0), noise=0.0)


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("name", STYLES)
def test_every_style_draws_every_view(name: str, size: int) -> None:
    for st in DESIGNS.values():
        style = Style.make(name, 3)
        images = render(st, size, style, bottom=True)
        assert list(images) == [*VIEWS, BOTTOM]
        for view, image in images.items():
            assert image.mode == "RGB" and image.size == (size, size), view
            assert drawn(image, style.background).mean() > 0.01, (name, view)


@pytest.mark.parametrize("name", STYLES)
def test_same_style_same_pixels_and_seeds_vary_the_look(name: str) -> None:
    st = DESIGNS["flip-chip"]
    one = render(st, 64, Style.make(name, 5))
    again = render(st, 64, Style.make(name, 5))
    other = render(st, 64, Style.make(name, 6))
    for view in VIEWS:
        assert np.array_equal(np.asarray(one[view]), np.asarray(again[view]))
    assert any(not np.array_equal(np.asarray(one[v]), np.asarray(other[v])) for v in VIEWS)


def test_grey_has_equal_channels_noise_included() -> None:
    style = Style.make("grey", 2)
    assert style.noise > 0
    for st in DESIGNS.values():
        for image in render(st, 64, style, bottom=True).values():
            rgb = np.asarray(image)
            assert np.array_equal(rgb[..., 0], rgb[..., 1])
            assert np.array_equal(rgb[..., 1], rgb[..., 2])


@pytest.mark.parametrize("name", ["line", "dimensioned"])
def test_a_line_drawing_is_nearly_two_tone(name: str) -> None:
    for seed in range(3):
        for st in DESIGNS.values():
            for view, image in render(st, 128, Style.make(name, seed), bottom=True).items():
                g = grey_level(image)
                share = np.mean((g <= 40) | (g >= 215))
                assert share >= 0.9, (name, seed, view, share)


def test_the_dark_theme_has_a_dark_background() -> None:
    for seed in range(3):
        for image in render(DESIGNS["flip-chip"], 64, Style.make("dark", seed)).values():
            rgb = np.asarray(image, dtype=np.float64)
            border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
            assert border.mean() < 60


def edge_transitions(image: Image.Image) -> int:
    g = grey_level(image)
    return int((np.abs(np.diff(g, axis=1)) > 60).sum() + (np.abs(np.diff(g, axis=0)) > 60).sum())


def test_a_hatched_section_has_many_more_edges_than_a_filled_one() -> None:
    for st in DESIGNS.values():
        hatched = edge_transitions(render_view(st, "front", 128, quiet("hatched")))
        filled = edge_transitions(render_view(st, "front", 128, quiet("filled")))
        assert hatched > 2 * filled, (hatched, filled)


def test_dimensions_are_annotations_in_the_margins() -> None:
    style = quiet("dimensioned")
    plain = replace(style, dimensions=False)
    assert replace(quiet("line"), margin=style.margin) == replace(
        plain, name="line"
    )  # dimensioned = line + dimensions (+ the margin they need)
    for view in VIEWS:
        with_dims = grey_level(render_view(DESIGNS["flip-chip"], view, 128, style))
        without = grey_level(render_view(DESIGNS["flip-chip"], view, 128, plain))
        assert (with_dims < 128).sum() > (without < 128).sum() + 30, view
        rows, cols = np.nonzero(without < 128)
        inside = np.zeros_like(without, dtype=bool)
        inside[rows.min() + 2 : rows.max() - 1, cols.min() + 2 : cols.max() - 1] = True
        changed = with_dims != without
        assert changed.any() and not (changed & inside).any(), view


def test_true_scale_is_one_scale_for_every_design() -> None:
    small, large = flip_chip(width=3.0, lid=False), flip_chip(width=60.0)
    style = Style.make("true-scale", 1)
    a, b = drawing_info(small, 128, style), drawing_info(large, 128, style)
    assert a["mm_per_px"] == pytest.approx(b["mm_per_px"])
    assert a["mm_per_px"] == pytest.approx(LIBRARY_SPAN_MM / 128)
    assert a["z_exaggeration"] == TRUE_SCALE_Z_EXAGGERATION
    covered = {
        key: drawn(render_view(st, "top", 128, quiet("true-scale")), style.background).sum()
        for key, st in (("small", small), ("large", large))
    }
    assert covered["small"] * 20 < covered["large"]
    fit = Style.make("filled", 1)
    fit_small, fit_large = drawing_info(small, 128, fit), drawing_info(large, 128, fit)
    assert fit_small["mm_per_px"] < fit_large["mm_per_px"] / 5  # each fills its frame
    assert fit_small["z_exaggeration"] == Z_EXAGGERATION


def test_a_fine_array_is_a_pattern_not_a_loop_over_its_bumps(monkeypatch) -> None:
    st = flip_chip()
    bumps = Array("micro-bump", 0, 0, 1.4, 20, 20, 1.42, 0.04, 0.02, name="mb")
    st.add(bumps)
    assert bumps.count > 200_000

    def refuse(self):  # drawing must never need the centres one by one
        raise AssertionError("centres() called")

    monkeypatch.setattr(Array, "centres", refuse)
    start = time.perf_counter()
    for name in STYLES:
        render(st, 128, Style.make(name, 1), bottom=True)
    assert (time.perf_counter() - start) / len(STYLES) < 0.3


def test_a_coarse_ball_grid_is_drawn_ball_by_ball() -> None:
    st = Stackup("test")
    st.add(
        Box("substrate", 0, 0, 0.5, 20, 20, 1.0, name="sub"),
        Array("ball", 0, 0, 0, 20, 20, 0.5, 4.0, 2.4, name="b", mount="under"),
    )
    for view in (BOTTOM, "front"):
        g = grey_level(render_view(st, view, 128, quiet("line")))
        rows = np.nonzero((g < 128).any(axis=1))[0]
        row = g[(rows.min() + rows.max()) // 2] if view == BOTTOM else g[rows.max() - 6]
        dark = row < 128
        starts = np.count_nonzero(dark[1:] & ~dark[:-1])
        assert starts >= 5, (view, starts)  # five balls across, each seen


def test_a_tapered_box_is_a_trapezoid_in_section_and_a_rectangle_from_above() -> None:
    st = Stackup("test")
    st.add(Box("underfill", 0, 0, 0, 10, 10, 2, name="fillet", taper=2.5))
    style = quiet("line")
    front = grey_level(render_view(st, "front", 128, style)) < 128
    rows = np.nonzero(front.any(axis=1))[0]
    width = [np.ptp(np.nonzero(front[r])[0]) for r in (rows.min() + 2, rows.max() - 2)]
    assert width[1] > width[0] * 1.5  # bottom wider than top
    top = grey_level(render_view(st, "top", 128, style)) < 128
    rows = np.nonzero(top.any(axis=1))[0]
    width = [np.ptp(np.nonzero(top[r])[0]) for r in (rows.min() + 2, rows.max() - 2)]
    assert width[0] == width[1]


def test_what_the_top_view_cannot_see_is_left_out() -> None:
    with_tsv = wire_bond()
    without = Stackup("test", parts=[p for p in with_tsv.parts if p.kind != "tsv"])
    for name in ("filled", "line"):
        a = np.asarray(render_view(with_tsv, "top", 128, quiet(name)))
        b = np.asarray(render_view(without, "top", 128, quiet(name)))
        assert np.array_equal(a, b)
        front_a = np.asarray(render_view(with_tsv, "front", 128, quiet(name)))
        front_b = np.asarray(render_view(without, "front", 128, quiet(name)))
        assert not np.array_equal(front_a, front_b)  # but the sections show the vias


def test_edges_under_the_mould_are_dashed_in_a_line_drawing() -> None:
    st = wire_bond()  # the die's edge at x = 2 mm, under the mould
    for name, dashed in (("line", True), ("hatched", False)):
        style = quiet(name)
        mm = drawing_info(st, 128, style)["mm_per_px"]
        col = round(64 + (2.0 - 4.0) / mm)  # the design's middle is the image's
        g = grey_level(render_view(st, "top", 128, style))
        edge = next(c for c in range(col - 2, col + 3) if (g[:, c] < 128).sum() > 20)
        span = g[round(64 - 1.5 / mm) : round(64 + 1.5 / mm), edge] < 128
        gaps = np.count_nonzero(span[1:] & ~span[:-1])
        assert (gaps >= 3) == dashed, (name, gaps)


def test_drawing_info_and_style_names() -> None:
    info = drawing_info(DESIGNS["flip-chip"], 128, Style.make("palette", 4))
    assert set(info) == {"style", "size_px", "z_exaggeration", "mm_per_px"}
    assert info["style"] == "palette" and info["size_px"] == 128 and info["mm_per_px"] > 0
    assert Style.random(7) == Style.make("filled", 7)
    with pytest.raises(ValueError, match="unknown drawing style"):
        Style.make("watercolour", 1)
    with pytest.raises(ValueError, match="view"):
        render_view(DESIGNS["flip-chip"], "iso", 64)
