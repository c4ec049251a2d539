"""The synthetic package generator: structure, determinism, variation and the views."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from simnet.errors import SimNetError
from simnet.packages.families import FAMILIES, build
from simnet.packages.generate import generate_packages, rerender
from simnet.packages.geometry import Ball, Box, Wire
from simnet.packages.render import VIEWS, Style, render

REQUIRED = {
    "fcbga",
    "interposer-2.5d",
    "stacked-3d",
    "fan-out-wlp",
    "package-on-package",
    "wire-bond",
}


def test_every_required_family_exists() -> None:
    assert set(FAMILIES) >= REQUIRED


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_builds_its_characteristic_parts(family: str) -> None:
    st = build(family, 3)
    kinds = st.counts()
    assert st.family == family
    expected = {
        "fcbga": {"substrate", "ball", "bump", "die", "underfill"},
        "interposer-2.5d": {"substrate", "ball", "interposer", "memory", "die"},
        "stacked-3d": {"substrate", "ball", "die", "memory", "mould"},
        "fan-out-wlp": {"rdl", "ball", "die", "mould"},
        "package-on-package": {"substrate", "ball", "die", "memory", "wire", "mould"},
        "wire-bond": {"substrate", "ball", "memory", "wire", "mould"},
    }[family]
    assert expected <= set(kinds), f"{family} lacks {expected - set(kinds)}"
    x0, y0, z0, x1, y1, z1 = st.extent()
    assert x1 > x0 and y1 > y0 and z1 > z0
    for part in st.parts:  # nothing hangs below the balls or has negative size
        if isinstance(part, Box):
            assert part.x1 >= part.x0 and part.y1 >= part.y0 and part.z1 >= part.z0
        elif isinstance(part, Ball):
            assert part.r > 0 and part.z - part.r >= -1e-9
        else:
            assert isinstance(part, Wire) and len(part.points) >= 2


def test_fan_out_has_no_substrate_and_2p5d_has_an_interposer() -> None:
    assert "substrate" not in build("fan-out-wlp", 1).counts()
    assert build("interposer-2.5d", 1).counts()["interposer"] == 1


def test_designs_are_deterministic_and_vary() -> None:
    a, b = build("interposer-2.5d", 11), build("interposer-2.5d", 11)
    assert a.parts == b.parts and a.params == b.params
    params = [json.dumps(build("fcbga", s).params, sort_keys=True) for s in range(20)]
    assert len(set(params)) == 20  # no two designs alike


def test_render_gives_three_views_that_differ_by_style_not_by_call() -> None:
    st = build("wire-bond", 5)
    first, again = render(st, 64, Style.random(1)), render(st, 64, Style.random(1))
    other = render(st, 64, Style.random(2))
    assert set(first) == set(VIEWS)
    for view in VIEWS:
        pixels = np.asarray(first[view])
        assert pixels.shape == (64, 64, 3)
        assert pixels.std() > 10  # something is drawn
        assert np.array_equal(pixels, np.asarray(again[view]))
        assert not np.array_equal(pixels, np.asarray(other[view]))
    # the top view shows the footprint, the front view the stack: they differ
    assert not np.array_equal(np.asarray(first["top"]), np.asarray(first["front"]))


def test_generate_writes_the_library_layout(tmp_path) -> None:
    out = tmp_path / "lib"
    folders = generate_packages(out, 14, seed=3, size=48, renders=2, progress=False)
    assert len(folders) == 14
    families = sorted(p.name for p in out.iterdir())
    assert families == sorted(FAMILIES)
    design = folders[0]
    for view in VIEWS:
        with Image.open(design / f"{view}.png") as image:
            assert image.size == (48, 48)
        assert (design / "renders" / "1" / f"{view}.png").is_file()
    params = json.loads((design / "params.json").read_text())
    assert params["family"] == design.parent.name and params["design"] == design.name
    # same seed, same files; another seed, other designs
    again = generate_packages(tmp_path / "again", 14, seed=3, size=48, progress=False)
    assert (again[0] / "top.png").read_bytes() == (design / "top.png").read_bytes()
    other = generate_packages(tmp_path / "other", 14, seed=4, size=48, progress=False)
    assert (other[0] / "top.png").read_bytes() != (design / "top.png").read_bytes()


def test_generate_refuses_a_non_empty_folder_and_unknown_families(tmp_path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(SimNetError, match="not empty"):
        generate_packages(tmp_path, 3, progress=False)
    with pytest.raises(SimNetError, match="unknown family"):
        generate_packages(tmp_path / "new", 3, families=["qfn"], progress=False)


def test_rerender_draws_the_same_design_in_another_style(tmp_path) -> None:
    (design,) = generate_packages(tmp_path / "lib", 1, size=48, progress=False)
    copy = rerender(design, style_seed=99, out=tmp_path / "copy", size=48)
    a = np.asarray(Image.open(design / "top.png"), dtype=np.float64)
    b = np.asarray(Image.open(copy / "top.png"), dtype=np.float64)
    assert not np.array_equal(a, b)
