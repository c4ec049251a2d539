"""Structure-aware design models: attributes, one-change copies, drawing augmentations,
calibration, and the compare that explains itself."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simnet.calibration import best_threshold, calibrate, same_family_percentile, verdict
from simnet.cli import main
from simnet.config import AugmentConfig, load_config
from simnet.data.augment import (
    BatchAugment,
    random_blur,
    random_frame,
    random_jpeg,
    random_stroke,
)
from simnet.data.cache import TEST, ImageSet
from simnet.data.designs import decode_design, load_all_designs
from simnet.data.sampler import ClassBalancedBatchSampler
from simnet.errors import SimNetError
from simnet.eval.designs import reidentification
from simnet.inference import SimNet
from simnet.models import build_model
from simnet.packages.attributes import ATTRIBUTES, attributes_of, describe, differing, encode
from simnet.packages.generate import generate_packages
from simnet.train.step import attribute_loss

TINY = ["model.widths=[8,8,16,16]", "model.branch_width=4", "model.embedding_dim=16"]


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """13 designs, one per family, each drawn twice, each with two one-change copies."""
    out = tmp_path_factory.mktemp("copies") / "lib"
    generate_packages(out, 13, seed=3, size=64, renders=2, variants=2, progress=False)
    return out


def _net(tmp_path: Path, *extra: str) -> SimNet:
    config = load_config(None, [f"data.cache_dir={tmp_path / 'cache'}", *TINY, *extra], "packages")
    torch.manual_seed(0)
    return SimNet(build_model(config.model, load_weights=False), config)


def test_attributes_are_read_from_params() -> None:
    params = {
        "family": "interposer-2.5d",
        "die_count": 2,
        "memory_stack_count": 14,
        "lid": True,
        "mould": False,
        "bonding": "micro-bump",
    }
    found = attributes_of(params)
    assert found == {
        "family": "interposer-2.5d",
        "dies": "2",
        "memory_stacks": "12+",  # counts past the last value share it
        "cover": "lid",
        "bonding": "micro-bump",
    }
    names = tuple(ATTRIBUTES)
    assert encode({"family": "mcm"}, names).tolist() == [
        ATTRIBUTES["family"].index("mcm"),
        -1,
        -1,
        -1,
        -1,
    ]
    other = {**found, "memory_stacks": "3", "cover": "none"}
    assert differing(found, other) == ["memory_stacks", "cover"]
    assert describe(["memory_stacks"], found, other) == "memory stacks 12+ vs 3"


def test_copies_share_their_originals_split_and_origin(copies: Path, tmp_path: Path) -> None:
    whole, split = load_all_designs(copies, 32, 0.5, tmp_path, "design", ("top", "front", "side"))
    assert whole.attributes is not None and whole.origins is not None
    assert (whole.attributes >= 0).all()  # every generated design has every attribute
    by_key = dict(zip(whole.keys, range(len(whole.keys)), strict=True))
    for params_file in copies.glob("*/*/params.json"):
        params = json.loads(params_file.read_text())
        if not params["variant_of"]:
            continue
        copy = by_key[str(params_file.parent)]
        original = by_key[str(params_file.parent.parent / params["variant_of"]["design"])]
        assert whole.origins[copy] == whole.origins[original]
        assert split[copy] == split[original]  # a copy never trains while its original tests
        assert whole.labels[copy] != whole.labels[original]  # ... and is a different design
    assert (split == TEST).any() and (split != TEST).any()


def test_sampler_puts_copies_in_a_batch_with_their_original() -> None:
    labels = np.repeat(np.arange(12), 2)  # 12 designs, 2 drawings each
    origins = np.repeat(np.arange(12) // 3, 2)  # 4 originals with 2 copies each
    sampler = ClassBalancedBatchSampler(labels, 12, 2, seed=0, origins=origins)
    for batch in sampler:
        present = set(labels[batch].tolist())
        assert len(present) == 6
        for c in present:  # whole families of copies, as far as the batch has room
            siblings = set(np.flatnonzero(origins[::2] == origins[2 * c]).tolist())
            assert siblings <= present or len(present | siblings) > 6
    plain = ClassBalancedBatchSampler(labels, 12, 2, seed=0)
    assert plain.siblings is None


def test_sampler_draws_a_batch_from_a_few_families() -> None:
    labels = np.repeat(np.arange(100), 4)  # 100 designs, 4 drawings each
    families = labels // 10  # 10 families of 10 designs
    sampler = ClassBalancedBatchSampler(labels, 80, 4, seed=0, groups=families, groups_per_batch=2)
    seen = set()
    for batch in sampler:
        assert len(set(labels[batch].tolist())) == 20 and len(batch) == 80
        present = set(families[batch].tolist())
        assert len(present) == 2  # 2 families, all 10 designs of each
        seen |= present
    assert len(seen) > 2  # other families in other batches
    wide = ClassBalancedBatchSampler(labels, 200, 4, seed=0, groups=families, groups_per_batch=2)
    batch = next(iter(wide))  # 2 families hold 20 designs of the 50: the rest from others
    counts = np.bincount(families[batch], minlength=10) // 4
    assert len(set(labels[batch].tolist())) == 50 and sorted(counts)[-2:] == [10, 10]
    everywhere = ClassBalancedBatchSampler(labels, 80, 4, seed=0, groups=families)
    assert max(len(set(families[b].tolist())) for b in everywhere) > 2  # 0: from all


def test_frame_shrinks_the_drawing_on_its_own_paper() -> None:
    x = torch.full((4, 3, 32, 32), 0.9)
    x[:, :, 4:28, 4:28] = 0.1  # a dark block on light paper, filling most of the frame
    gen = torch.Generator().manual_seed(0)
    out = random_frame(x, 0.5, 0.0, gen)
    dark = (out[:, 0] < 0.5).float().sum((1, 2))
    assert (dark < (x[:, 0] < 0.5).float().sum((1, 2))).all()  # smaller
    border = torch.cat([out[:, :, 0], out[:, :, -1]], 2)
    assert torch.allclose(border, torch.full_like(border, 0.9), atol=0.02)  # paper, not black
    same = random_frame(x, 0.0, 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(same, x, atol=1e-5)


def test_stroke_blur_and_jpeg_change_lines_not_paper() -> None:
    x = torch.full((8, 3, 16, 16), 1.0)
    x[:, :, 8, :] = 0.0  # one dark line
    thick = random_stroke(x, 1.0, torch.Generator().manual_seed(1))
    darker = (thick < 0.5).float().sum((1, 2, 3))
    assert set(darker.tolist()) <= {16 * 3 * 3.0, 0.0}  # three rows thick, or gone (thinned)
    assert (darker > 0).any() and (darker == 0).any()
    blurred = random_blur(x, 1.5, torch.Generator().manual_seed(0))
    assert torch.allclose(blurred[:, :, 0], x[:, :, 0], atol=1e-4)  # paper stays paper
    assert (blurred[:, :, 7] < 1.0).any()  # the line spreads
    flat = torch.full((3, 3, 16, 16), 0.5)
    assert torch.allclose(random_blur(flat, 2.0, torch.Generator()), flat, atol=1e-5)
    photo = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    round_trip = random_jpeg(photo, 1.0, 10, torch.Generator().manual_seed(0))
    assert not torch.equal(round_trip, photo) and (round_trip - photo).abs().mean() < 0.3
    assert torch.equal(random_jpeg(photo, 0.0, 10, torch.Generator()), photo)


def test_drawing_augmentations_are_seeded() -> None:
    config = AugmentConfig(frame=0.3, stretch=0.2, stroke=0.3, blur=1.0, jpeg=0.5)
    images = torch.randint(0, 255, (6, 3, 16, 16, 3), dtype=torch.uint8)
    a, b = BatchAugment(config, seed=4)(images), BatchAugment(config, seed=4)(images)
    assert torch.equal(a, b) and a.shape == (6, 3, 3, 16, 16)


def test_calibration_thresholds_and_percentile() -> None:
    rng = np.random.default_rng(0)
    assert best_threshold(np.array([0.9, 0.95, 0.99]), np.array([0.1, 0.5, 0.6])) == 0.75
    # 20 families x 5 designs x 3 drawings on a sphere: drawings of a design tight,
    # designs of a family near, families apart
    families = rng.normal(size=(20, 16))
    designs = families[:, None] + 0.4 * rng.normal(size=(20, 5, 16))
    points = designs[:, :, None] + 0.05 * rng.normal(size=(20, 5, 3, 16))
    emb = points.reshape(-1, 16)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.repeat(np.arange(100), 3)
    groups = np.repeat(np.arange(20), 15)
    images = ImageSet(np.zeros((300, 1)), labels, [], [""] * 300, groups=groups)
    found = calibrate(emb, images)
    t = found["thresholds"]
    assert 0 < t["same family"] < t["same design"] < 1
    assert verdict(0.999, found) == "same design"
    assert verdict((t["same design"] + t["same family"]) / 2, found) == "same family"
    assert verdict(-0.5, found) == "different family"
    assert same_family_percentile(1.0, found) == 100.0
    assert same_family_percentile(-1.0, found) == 0.0
    median = found["same_family_quantiles"][50]
    assert same_family_percentile(median, found) == pytest.approx(50, abs=1)
    assert verdict(0.5, {}) is None and same_family_percentile(0.5, {}) is None


def test_attribute_heads_learn_from_the_embedding(tmp_path: Path) -> None:
    net = _net(tmp_path)
    model = net.model.train()
    assert set(model.attribute_heads) == set(ATTRIBUTES)
    x = torch.randn(8, 3, 3, 32, 32)
    truth = torch.tensor([[i % 13, i % 3, 0, 1, -1] for i in range(8)])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = attribute_loss(model, model(x), truth)
        assert "bonding" not in loss  # no design gives it: not counted
        total = sum(loss.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.5 * losses[0]


def test_a_head_can_be_weighted_apart_from_the_others(tmp_path: Path) -> None:
    """``loss.attribute_weights`` gives a head its own weight; the others keep
    ``loss.attribute_weight``. The step's loss grows by exactly the weighted heads."""
    from simnet.train import step

    base = [f"data.cache_dir={tmp_path}", *TINY, "loss.identity_weight=0", "train.bf16=off"]
    base += ["model.dropout=0"]
    unweighted = ["loss.attribute_weight=0", "loss.attribute_weights={}"]  # the preset has some
    config = load_config(None, [*base, *unweighted], "packages")
    weighted = config.replace(
        loss={"attribute_weight": 0.25, "attribute_weights": {"memory_stacks": 2.0}}
    )
    torch.manual_seed(0)
    plain = step.build_parts(config, 10)
    heads = step.build_parts(weighted, 10, copy.deepcopy(plain.model))
    x, labels = torch.rand(8, 3, 3, 32, 32), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    truth = torch.tensor([[i % 13, i % 3, i % 5, 1, -1] for i in range(8)])
    plain.model.train()
    with torch.no_grad():
        each = attribute_loss(plain.model, plain.model(x), truth)
    expected = 2.0 * each["memory_stacks"] + 0.25 * sum(
        v for name, v in each.items() if name != "memory_stacks"
    )
    without, _ = step.train_step(plain, x, labels, lam=1.0, attributes=truth)
    with_heads, _ = step.train_step(heads, x, labels, lam=1.0, attributes=truth)
    assert with_heads == pytest.approx(without + float(expected), rel=1e-4)
    with pytest.raises(SimNetError, match="attribute_weights names colour"):
        load_config(None, ["loss.attribute_weights={colour: 1}"], "packages")
    with pytest.raises(SimNetError, match="not a mapping"):
        load_config(None, ["loss.attribute_weights=3"], "packages")
    with pytest.raises(SimNetError, match="between 0 and 1000"):
        load_config(None, ["loss.attribute_weights={dies: -1}"], "packages")


def test_ruled_and_graph_paper_is_painted_out_before_framing() -> None:
    """A drawing on graph or ruled paper frames as the same drawing on plain paper. A line
    of the drawing that lies on a ruling stays; a drawing that fills its sheet, or a sheet
    with two lines across (a frame), is left as it is."""
    from simnet.data.images import erase_rulings, prepare_image

    sheet = np.full((120, 160, 3), 245, np.uint8)
    sheet[40:80, 20:140] = (40, 110, 50)  # substrate
    sheet[30:40, 50:110] = (40, 40, 160)  # die
    sheet[90, 20:140] = (20, 20, 20)  # a thin dark line of the drawing
    plain = prepare_image(Image.fromarray(sheet), 32, trim=True, max_aspect=1).astype(int)
    # every 17 px, rulings lie on the sheet's first and last rows (0 and 119): not beside
    # each other, though a wrap-around would make them so
    cases = [(10, False, (150, 190, 150)), (9, True, (170, 170, 200)), (17, False, (90, 90, 90))]
    for step, rows_only, colour in cases:
        ruled = sheet.copy()
        paper = (ruled == 245).all(axis=2)
        lines = np.zeros(paper.shape, bool)
        lines[::step] = True  # row 90 is one of them when step is 9 or 10
        if not rows_only:
            lines[:, ::step] = True
        ruled[lines & paper] = colour  # behind the ink
        erased = np.asarray(erase_rulings(Image.fromarray(ruled)))
        assert (erased[90, 20:140] == (20, 20, 20)).all()  # the drawing's line stays
        framed = prepare_image(Image.fromarray(ruled), 32, trim=True, max_aspect=1).astype(int)
        assert np.abs(framed - plain).mean() < 1.0
    filled = np.full((60, 100, 3), (200, 40, 40), np.uint8)
    framed_sheet = sheet.copy()
    framed_sheet[[2, 117]] = (0, 0, 0)  # a frame's top and bottom
    for image in (filled, framed_sheet):
        assert (np.asarray(erase_rulings(Image.fromarray(image))) == image).all()


def test_a_skewed_drawing_is_levelled_before_it_is_framed() -> None:
    """A section scanned a few degrees askew: its skew is found either way, a level
    drawing is never turned, and framed for the model it comes out as the level one,
    where stretched unlevelled it would be sheared by its aspect."""
    from simnet.data.images import prepare_image, skew_angle, trim_to_content

    section = np.full((120, 400, 3), 245, np.uint8)
    section[50:70, 20:380] = (30, 90, 40)  # substrate
    section[30:50, 60:200] = (40, 40, 160)  # die
    section[70:78, 40:360:20] = (200, 120, 0)  # balls
    level = Image.fromarray(section)
    assert skew_angle(level) == 0.0
    plain = prepare_image(level, 32, trim=True, max_aspect=1).astype(int)
    for degrees in (-4.0, 3.0):
        askew = level.rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=(245,) * 3)
        assert abs(skew_angle(askew) - degrees) <= 0.5
        framed = prepare_image(askew, 32, trim=True, max_aspect=1)
        sheared = np.asarray(trim_to_content(askew, max_aspect=1).resize((32, 32)))
        assert np.abs(framed - plain).mean() < np.abs(sheared - plain).mean() / 3


def test_memory_stacks_are_also_scored_where_a_design_has_some() -> None:
    """Most designs have no memory stack: a head that always says 0 scores well over all
    of them, and 0 over the designs that have some."""
    from types import SimpleNamespace

    from simnet.eval.designs import attribute_accuracy

    column = list(ATTRIBUTES).index("memory_stacks")
    truth = np.full((10, len(ATTRIBUTES)), -1)
    truth[:, column] = [0] * 8 + [4, 6]
    always_none = SimpleNamespace(
        attribute_names=["memory_stacks"],
        predict_attributes=lambda emb: [{"memory_stacks": ("0", 0.9)} for _ in emb],
    )
    result = attribute_accuracy(always_none, np.zeros((10, 4)), truth)  # type: ignore[arg-type]
    assert result == {
        "attribute_accuracy_memory_stacks": 0.8,
        "attribute_accuracy_memory_stacks_nonzero": 0.0,
        "count_accuracy_memory_stacks_4": 0.0,
        "count_drawings_memory_stacks_4": 1,
        "count_accuracy_memory_stacks_6": 0.0,
        "count_drawings_memory_stacks_6": 1,
    }


def test_a_count_head_is_scored_per_count() -> None:
    """A head that reads the length of a column of stacks, not the stacks, calls an odd
    count the even one above: right on every even count, wrong on every odd one."""
    from types import SimpleNamespace

    from simnet.eval.designs import attribute_accuracy

    column = list(ATTRIBUTES).index("memory_stacks")
    counts = [0, 0, 3, 3, 4, 4, 4, 5, 12, 13]
    truth = np.full((len(counts), len(ATTRIBUTES)), -1)
    truth[:, column] = [min(c, 12) for c in counts]
    values = ATTRIBUTES["memory_stacks"]
    columns = SimpleNamespace(
        attribute_names=["memory_stacks"],
        predict_attributes=lambda emb: [
            {"memory_stacks": (values[min(c + c % 2, 12)], 0.9)} for c in counts
        ],
    )
    result = attribute_accuracy(columns, np.zeros((len(counts), 4)), truth)  # type: ignore[arg-type]
    assert result["attribute_accuracy_memory_stacks_nonzero"] == 5 / 8
    assert result["count_accuracy_memory_stacks_3"] == 0.0
    assert result["count_accuracy_memory_stacks_4"] == 1.0
    assert result["count_accuracy_memory_stacks_5"] == 0.0
    assert result["count_accuracy_memory_stacks_12+"] == 1.0
    assert result["count_drawings_memory_stacks_12+"] == 2
    assert "count_accuracy_memory_stacks_0" not in result


def test_difference_map_lights_up_where_the_designs_differ(copies: Path, tmp_path: Path) -> None:
    from simnet.compare import difference_maps

    net = _net(tmp_path, "data.image_size=32")
    a = decode_design(next(copies.glob("mcm/mcm-0000")), 32)
    b = a.copy()
    b[0, 16:24, 4:12] = b[0, 0, 0]  # part of the top view erased to the paper colour
    maps = difference_maps(net, np.stack([a, b]))
    assert maps.shape == (2, 3, 32, 32) and maps.max() == pytest.approx(1.0)
    y, x = np.unravel_index(maps[0, 0].argmax(), (32, 32))
    assert 8 <= y < 32 and x < 20  # over the erased place in A (patches are 8 px)
    assert maps[0, 1].max() < 0.5 and maps[0, 2].max() < 0.5  # the other views agree


def test_non_square_views_are_scaled_not_stretched(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    folder.mkdir()
    for view in ("top", "front", "side"):
        image = np.full((50, 100, 3), 240, np.uint8)
        image[15:35, 40:60] = (200, 0, 0)  # a 20x20 square in a 100x50 drawing
        Image.fromarray(image).save(folder / f"{view}.png")
    views = decode_design(folder, 40)
    red = (views[0, :, :, 0] > 150) & (views[0, :, :, 1] < 80)
    rows, cols = np.flatnonzero(red.any(1)), np.flatnonzero(red.any(0))
    assert abs(len(rows) - len(cols)) <= 1 and 6 <= len(rows) <= 10  # still square: 8 px
    assert views[0, 0, 0].tolist() == [240, 240, 240]  # padded with the paper


def test_a_missed_redrawing_says_what_stood_first() -> None:
    lib = "lib/fcbga"
    keys = [f"{lib}/a", f"{lib}/a-dies", f"{lib}/a-2", "lib/mcm/c"]  # the gallery's drawings
    keys += [f"{lib}/a/renders/{n}" for n in (1, 2, 3, 4)]  # four redrawings of a
    families = np.array(["fcbga", "fcbga", "fcbga", "mcm"] + ["fcbga"] * 4)
    gallery, queries = np.arange(4), np.arange(4, 8)
    emb = np.eye(8)[:, :4].astype(np.float32)  # the gallery: four corners
    emb[4:] = emb[[0, 1, 2, 3]] * 0.9  # each redrawing beside one gallery design
    origins = np.array([0, 0, 1, 2, 0, 0, 0, 0])  # "a-dies" is a copy of "a"; "a-2" is not
    hits, found = reidentification(keys, emb, gallery, queries, families, origins)
    assert hits[:, 0].tolist() == [True, False, False, False]
    assert found["reid_rank1"] == 0.25 and found["reid_rank5"] == 1.0
    assert found["reid_miss_own_copy"] == 0.25  # "a-dies" first
    assert found["reid_miss_same_family"] == 0.25  # "a-2" first
    assert found["reid_miss_other_family"] == 0.25  # "c" first


@pytest.mark.slow
def test_compare_explains_without_params_and_evaluate_measures_structure(
    copies: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    args = ["--preset", "packages", "--data", str(copies), "--out", str(run), "--quiet"]
    small = ["--set", "data.image_size=32", "--set", "train.batch_size=48"]
    small += ["--set", "data.test_fraction=0.5", *(f"--set={t}" for t in TINY)]
    assert main(["train", *args, *small, "--epochs", "2"]) == 0
    calibration = json.loads((run / "calibration.json").read_text())
    assert set(calibration["thresholds"]) == {"same design", "same family"}
    assert "filled" in calibration["trained_styles"]
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 <= result["one_change_ordering"] <= 1
    assert any(k.startswith("one_change_ordering_") for k in result)
    params_files = copies.glob("*/*/params.json")
    drawn = {d["style"] for p in params_files for d in json.loads(p.read_text())["drawings"]}
    unseen = drawn - set(calibration["trained_styles"])  # only test designs were drawn so
    assert any(k.endswith("_held_out") for k in result) == bool(unseen)
    for name in ("family", "dies", "memory_stacks"):
        whole = result[f"attribute_accuracy_{name}"]
        assert 0 <= whole <= 1
        kinds = (f"attribute_accuracy_{name}_seen", f"attribute_accuracy_{name}_held_out")
        parts = [result[k] for k in kinds if k in result]
        assert len(parts) == (2 if unseen else 0)  # apart only where some were held out
        assert not parts or min(parts) - 1e-9 <= whole <= max(parts) + 1e-9  # a mix of two
    # two designs that differ by one change, their params.json removed
    original = next(p for p in copies.glob("*/*") if (p / "params.json").is_file())
    params = json.loads((original / "params.json").read_text())
    copy = next(
        p
        for p in original.parent.iterdir()
        if json.loads((p / "params.json").read_text())["variant_of"]
    )
    a, b = tmp_path / "a", tmp_path / "b"
    for src, dst in ((original, a), (copy, b)):
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("params.json", "renders"))
    picture = tmp_path / "explained.png"
    cmd = ["compare", str(a), str(b), "--model", str(run), "--picture", str(picture)]
    assert main([*cmd, "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] in ("same design", "same family", "different family")
    assert 0 <= out["same_family_percentile"] <= 100
    assert set(out["attributes"]["a"]) == set(ATTRIBUTES)
    assert out["true_differences"] is None  # no params.json: the words are the model's
    predicted_a = {k: v["value"] for k, v in out["attributes"]["a"].items()}
    predicted_b = {k: v["value"] for k, v in out["attributes"]["b"].items()}
    assert out["differing_attributes"] == differing(predicted_a, predicted_b)
    assert np.array(out["difference_maps"]["a"]["top"]).shape == (8, 8)
    assert picture.stat().st_size > 10_000
    assert main(cmd[:-2] + ["--quiet"]) == 0
    words = capsys.readouterr().out
    assert out["verdict"] in words and "memory stacks" in words and "predicted" in words
    # with params.json in both folders, the true differences too
    assert main(["compare", str(original), str(copy), "--model", str(run), "--json"]) == 0
    truth = json.loads(capsys.readouterr().out)["true_differences"]
    change = json.loads((copy / "params.json").read_text())["variant_of"]
    assert truth and params["family"] not in truth
    assert any(change["change"] in k or k in ("die_count", "memory_stack_count") for k in truth)


def test_compare_refuses_a_design_missing_a_view(copies: Path, tmp_path: Path, capsys) -> None:
    net = _net(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    from simnet.models.store import save_model

    save_model(run, net.model, {"config": net.config.to_dict()})
    broken = tmp_path / "broken"
    shutil.copytree(next(copies.glob("csp/csp-0000")), broken)
    (broken / "side.png").unlink()
    whole = next(copies.glob("csp/csp-0000"))
    assert main(["compare", str(whole), str(broken), "--model", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simnet: error:") and "side" in err[0]


def test_compare_with_a_single_image_model_refuses_design_folders(
    copies: Path, tiny_run: tuple[Path, Path], capsys
) -> None:
    _, run = tiny_run
    a, b = sorted(copies.glob("csp/*"))[:2]
    assert main(["compare", str(a), str(b), "--model", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simnet: error:") and "folder" in err[0]


def test_trim_makes_the_share_of_the_frame_irrelevant(tmp_path: Path) -> None:
    from simnet.data.images import decode_image

    drawing = np.full((96, 96, 3), 235, np.uint8)
    drawing[8:88, 8:88] = (30, 90, 40)  # a substrate
    drawing[30:60, 20:50] = (40, 40, 160)  # a die
    drawing[30:60, 60:80] = (200, 120, 0)  # a memory stack
    full = np.full((128, 128, 3), 235, np.uint8)
    full[16:112, 16:112] = drawing
    small = np.full((128, 128, 3), 235, np.uint8)  # drawn at half the size ...
    small[40:88, 40:88] = np.asarray(Image.fromarray(drawing).resize((48, 48)))
    small[118:121, 4:30] = 0  # ... with a scale bar in a corner
    for name, image in (("full", full), ("small", small)):
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    trimmed = [decode_image(tmp_path / f"{n}.png", 32, trim=True) for n in ("full", "small")]
    plain = [decode_image(tmp_path / f"{n}.png", 32) for n in ("full", "small")]

    def differ(pair: list[np.ndarray]) -> float:
        return float(np.abs(pair[0].astype(int) - pair[1].astype(int)).mean())

    assert differ(trimmed) < differ(plain) / 4
    blank = np.full((40, 60, 3), 200, np.uint8)  # nothing drawn: kept whole, padded square
    Image.fromarray(blank).save(tmp_path / "blank.png")
    assert (decode_image(tmp_path / "blank.png", 16, trim=True) == 200).all()


def test_trim_ignores_the_dust_of_a_scan() -> None:
    """Specks of toner all over a copied sheet do not make the whole sheet the drawing;
    a one-pixel line of the drawing still counts."""
    from simnet.data.images import trim_to_content

    sheet = np.full((200, 300, 3), 235, np.uint8)
    sheet[80:120, 100:200] = (40, 40, 160)
    sheet[100, 60:240] = (0, 0, 0)  # a thin line reaching out of the box
    clean = trim_to_content(Image.fromarray(sheet)).size
    rng = np.random.default_rng(0)
    dusty = sheet.copy()
    dusty[rng.random(sheet.shape[:2]) < 0.01] = (60, 60, 60)
    assert trim_to_content(Image.fromarray(dusty)).size == clean
    assert clean[0] > 180  # the line's 180 pixels, not the box's 100


def test_trim_keeps_the_outline_drawn_around_small_parts() -> None:
    """A line drawing's package edge lies outside the middle half of the sheet when the
    dies it holds are small: the trim keeps it (it surrounds the dies), and still leaves
    out a frame around the whole sheet and a title line under the drawing."""
    from simnet.data.images import trim_to_content

    sheet = np.full((200, 300, 3), 250, np.uint8)
    sheet[30, 40:261] = sheet[170, 40:261] = 0  # the package's edge, 220 x 140
    sheet[30:171, 40] = sheet[30:171, 260] = 0
    sheet[85:115, 120:140] = sheet[85:115, 160:180] = 0  # two small dies, far inside
    alone = trim_to_content(Image.fromarray(sheet)).size
    assert 220 <= alone[0] <= 240 and 140 <= alone[1] <= 160
    framed = np.full((260, 340, 3), 250, np.uint8)
    framed[20:220, 20:320] = sheet
    framed[2, 2:338] = framed[257, 2:338] = framed[2:258, 2] = framed[2:258, 337] = 0
    framed[236, 2:338] = 0  # a title line across the foot of the frame
    assert trim_to_content(Image.fromarray(framed)).size == alone


def test_max_aspect_evens_out_how_tall_a_section_is_drawn(tmp_path: Path) -> None:
    """A section drawn 3x and 8x taller than true (two drawings' vertical exaggerations)
    reaches the model alike with ``max_aspect=1``; padded square, the flat one keeps a few
    rows. A view within the limit is decoded as without it."""
    from simnet.data.images import decode_image

    def section(rows: int) -> np.ndarray:  # 120 px wide: substrate, die, memory stack
        image = np.full((128, 128, 3), 240, np.uint8)
        top = 64 - rows // 2
        image[top + rows // 2 : top + rows, 4:124] = (30, 90, 40)
        image[top : top + rows // 2, 20:60] = (40, 40, 160)
        image[top : top + rows // 2, 70:100] = (200, 120, 0)
        return image

    for name, rows in (("flat", 12), ("tall", 32)):
        Image.fromarray(section(rows)).save(tmp_path / f"{name}.png")
    kept = [decode_image(tmp_path / f"{n}.png", 32, trim=True) for n in ("flat", "tall")]
    even = [
        decode_image(tmp_path / f"{n}.png", 32, trim=True, max_aspect=1) for n in ("flat", "tall")
    ]

    def differ(pair: list[np.ndarray]) -> float:
        return float(np.abs(pair[0].astype(int) - pair[1].astype(int)).mean())

    assert differ(even) < differ(kept) / 4
    drawn = (np.abs(even[0].astype(int) - 240) > 24).any(axis=2)
    assert drawn.any(axis=1).sum() >= 28  # the section fills the rows, not 4 of them
    square = np.full((80, 100, 3), 240, np.uint8)
    square[10:70, 10:90] = (30, 90, 40)
    Image.fromarray(square).save(tmp_path / "top.png")
    assert np.array_equal(
        decode_image(tmp_path / "top.png", 32, trim=True, max_aspect=2),
        decode_image(tmp_path / "top.png", 32, trim=True),
    )
    from simnet.data.images import STRETCH_SIDE, limit_aspect

    thread = Image.new("RGB", (20_000, 2), (30, 30, 30))  # a 40,000-pixel upload ...
    assert limit_aspect(thread, 1).size == (STRETCH_SIDE, STRETCH_SIDE)  # ... not 20,000 squared
    assert limit_aspect(thread.transpose(Image.Transpose.ROTATE_90), 4).size == (4096, 1024)
    # taller than wide but within the laying-flat threshold: stretched across, not turned
    assert limit_aspect(Image.new("RGB", (100, 120)), 1).size == (120, 120)


def test_max_aspect_lays_an_upright_view_flat(tmp_path: Path) -> None:
    """A section drawn upright, turned either way, reaches the model as the section drawn
    across (turned the other way: upside down), where ``max_aspect`` frames the views; a
    view wider than tall is not turned."""
    from simnet.data.images import decode_image

    section = np.full((60, 200, 3), 240, np.uint8)
    section[24:36, 10:190] = (30, 90, 40)  # substrate, a die on its left, balls on its right
    section[12:24, 20:80] = (40, 40, 160)
    section[36:42, 120:180] = (200, 120, 0)
    flat = Image.fromarray(section)
    drawings = {
        "flat": flat,
        "left": flat.transpose(Image.Transpose.ROTATE_90),
        "right": flat.transpose(Image.Transpose.ROTATE_270),
    }
    for name, image in drawings.items():
        image.save(tmp_path / f"{name}.png")
    seen = {n: decode_image(tmp_path / f"{n}.png", 32, trim=True, max_aspect=1) for n in drawings}
    assert np.array_equal(seen["left"], seen["flat"])
    assert np.array_equal(seen["right"], seen["flat"][::-1, ::-1])
    unframed = decode_image(tmp_path / "left.png", 32, trim=True)  # no max_aspect: as drawn
    assert not np.array_equal(unframed, seen["flat"])


def test_index_skips_a_design_missing_a_view_with_a_counted_warning(
    copies: Path, tmp_path: Path
) -> None:
    from simnet.models.store import save_model
    from tests.helpers import simnet

    net = _net(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    save_model(run, net.model, {"config": net.config.to_dict()})
    library = tmp_path / "lib"
    shutil.copytree(copies, library)
    broken = next(library.glob("csp/csp-0000"))
    (broken / "front.png").unlink()
    total = sum(1 for p in library.glob("*/*") if p.is_dir())
    result = simnet("index", "--model", run, "--data", library, "--out", tmp_path / "x.index")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"indexed {total - 1} designs" in result.stdout
    assert "skipped 1 of" in result.stderr and "csp-0000: no front" in result.stderr
