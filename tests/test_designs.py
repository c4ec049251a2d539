"""Multi-view designs: loading a library, the multi-view model, compare, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from simnet.cli import main
from simnet.config import ModelConfig, load_config
from simnet.data.designs import (
    VIEWS,
    DesignViews,
    decode_design,
    load_all_designs,
    load_designs,
    load_library,
)
from simnet.errors import ImageError, SimNetError
from simnet.models import build_model
from simnet.packages.generate import generate_packages


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("designs") / "lib"
    generate_packages(out, 36, seed=1, size=64, renders=2, progress=False)
    return out


def test_load_designs_groups_views_and_splits_by_design(library: Path, tmp_path: Path) -> None:
    data = load_designs(library, 32, 0.3, tmp_path, labels="family")
    train, test = data.train, data.test
    assert train.images.shape[1:] == (3, 32, 32, 3) and test.images.shape[1:] == (3, 32, 32, 3)
    assert set(train.classes) == {p.name for p in library.iterdir()}
    # the views are the files' own pixels, in the order top, front, side
    key = train.keys[0]
    assert np.array_equal(train.images[0], decode_design(key, 32))

    # every drawing of a design falls on one side of the split
    def design(k: str) -> str:
        return k.split("/renders/")[0]

    assert not {design(k) for k in train.keys} & {design(k) for k in test.keys}
    # the test split holds designs' own drawings only; training also their other drawings
    assert all("/renders/" not in k for k in test.keys)
    assert any("/renders/" in k for k in train.keys)


def test_a_library_is_read_from_the_cache_design_by_design(library: Path, tmp_path: Path) -> None:
    # load_all_designs holds the cache's memory map and an index, never the whole library
    # decoded: what evaluation embeds batch by batch (224 px views of 9,600 drawings are
    # 4.3 GB); a slice, an index array and one design give those designs' views only
    whole, _ = load_all_designs(library, 32, 0.3, tmp_path, "family", VIEWS)
    assert isinstance(whole.images, DesignViews) and len(whole.images) == len(whole.keys)
    assert whole.images.shape == (len(whole.keys), 3, 32, 32, 3) and whole.images.ndim == 5
    k = len(whole.keys) // 2
    one = whole.images[k]
    assert one.shape == (3, 32, 32, 3)
    assert np.array_equal(one, decode_design(whole.keys[k], 32))
    assert np.array_equal(whole.images[k : k + 3][1], whole.images[k + 1])
    picked = whole.images[np.array([k, 0])]
    assert np.array_equal(picked[0], one) and picked.shape == (2, 3, 32, 32, 3)
    part = whole.subset(np.array([0, k]))  # a subset is decoded: training indexes it freely
    assert isinstance(part.images, np.ndarray) and np.array_equal(part.images[1], one)
    assert np.array_equal(np.asarray(whole.images)[k], one)


def test_design_labels_make_each_design_a_class(library: Path, tmp_path: Path) -> None:
    data = load_designs(library, 32, 0.3, tmp_path, labels="design")
    labels, keys = data.train.labels, data.train.keys
    drawn_twice = [k for k in keys if "/renders/" in k]
    for k in drawn_twice[:5]:
        own = keys.index(k.split("/renders/")[0])
        assert labels[own] == labels[keys.index(k)]
    own_drawings = [k for k in keys if "/renders/" not in k]
    assert len(set(labels.tolist())) == len(own_drawings)  # one class per design


def test_library_lists_each_design_once(library: Path, tmp_path: Path) -> None:
    lib = load_library(library, 32, tmp_path)
    assert len(lib) == 36 and all("/renders/" not in k for k in lib.keys)


def test_a_design_with_a_broken_view_is_skipped_and_counted(
    library: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "lib"
    shutil.copytree(library, copy)
    broken = next(copy.glob("fcbga/*/top.png"))
    broken.write_bytes(b"not a png")
    lib = load_library(copy, 32, tmp_path / "cache")
    assert len(lib) == 35
    assert f"skipped {broken.parent}: no readable top" in caplog.text
    assert "skipped 1 of " in caplog.text and " design folders: 1 no readable top" in caplog.text


def test_folders_without_views_are_not_designs(tmp_path: Path) -> None:
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(SimNetError, match="no designs found"):
        load_designs(tmp_path / "empty", 32)
    with pytest.raises(ImageError, match="not a design folder"):
        decode_design(tmp_path / "empty" / "a", 32)


@pytest.mark.parametrize("fusion", ["concat", "mean"])
def test_multi_view_model_fuses_unit_norm_views(fusion: str) -> None:
    model = build_model(ModelConfig(views=list(VIEWS), view_fusion=fusion)).eval()
    x = torch.randn(4, 3, 3, 32, 32)
    with torch.no_grad():
        fused, views = model(x), model.embed_views(x)
    assert views.shape == (4, 3, 128)
    assert torch.allclose(views.norm(dim=2), torch.ones(4, 3), atol=1e-4)
    assert fused.shape == (4, 384 if fusion == "concat" else 128) == (4, model.embedding_dim)
    assert torch.allclose(fused.norm(dim=1), torch.ones(4), atol=1e-4)
    # shared weights: a view's embedding does not depend on which slot it is in
    swapped = model.embed_views(x[:, [2, 1, 0]])
    assert torch.allclose(swapped[:, 0], views[:, 2], atol=1e-5)
    with pytest.raises(ValueError, match="3 views"):
        model(torch.randn(2, 2, 3, 32, 32))


def test_packages_preset_is_multi_view() -> None:
    config = load_config(preset="packages")
    assert config.model.views == ["top", "front", "side"]
    with pytest.raises(SimNetError, match="unknown preset"):
        load_config(preset="nope")


@pytest.mark.slow
def test_designs_end_to_end_train_evaluate_compare_search(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    args = ["--preset", "packages", "--data", str(library), "--out", str(run), "--quiet"]
    small = ["--set", "data.image_size=32", "--set", "train.batch_size=48"]
    assert main(["train", *args, *small, "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["knn_accuracy"] <= 1.0
    assert result["library_designs"] == 36 and result["reid_queries"] > 0
    a, b = sorted(library.glob("fcbga/*"))[:2]
    picture = tmp_path / "cmp.png"

    def compare(x: Path, y: Path) -> dict:
        args = ["compare", str(x), str(y), "--model", str(run), "--picture", str(picture)]
        assert main([*args, "--json", "--quiet"]) == 0
        return json.loads(capsys.readouterr().out)

    out = compare(a, b)
    assert set(out["view_distances"]) == set(VIEWS) and picture.stat().st_size > 1000
    assert -1.0 <= out["similarity"] <= 1.0
    same = compare(a, a)  # a design compared with itself: identical
    assert same["distance"] < 1e-3 and same["similarity"] > 0.999
    index = tmp_path / "lib.index"
    assert (
        main(["index", "--model", str(run), "--data", str(library), "--out", str(index), "--quiet"])
        == 0
    )
    capsys.readouterr()
    assert main(["search", "--index", str(index), str(a), "--json", "-k", "3", "--quiet"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert hit["matches"][0]["path"] == str(a.resolve()) and hit["matches"][0]["distance"] < 1e-3


def test_compare_errors_are_one_line(library: Path, tmp_path: Path, capsys) -> None:
    assert main(["compare", str(tmp_path), str(tmp_path), "--model", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err


def test_generate_and_train_errors_are_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["generate-packages", "--out", str(tmp_path / "full"), "--designs", "2"]) == 2
    assert "not empty" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["train", "--preset", "packages", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "design library" in err and "generate-packages" in err and len(err.splitlines()) == 1
    assert (
        main(
            [
                "train",
                "--preset",
                "packages",
                "--data",
                str(tmp_path / "full"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    assert "no designs found" in capsys.readouterr().err


def test_a_design_index_grows_by_new_designs(library: Path, tmp_path: Path) -> None:
    from simnet.config import load_config
    from simnet.data.designs import is_design
    from simnet.index import add_to_index, build_index
    from simnet.inference import SimNet

    tiny = ["model.widths=[4,8,8,8]", "model.branch_width=4", "model.embedding_dim=8"]
    config = load_config(None, [f"data.cache_dir={tmp_path / 'cache'}", *tiny], preset="packages")
    torch.manual_seed(0)
    net = SimNet(build_model(config.model, load_weights=False), config)
    index = build_index(net, library)
    assert len(index) == 36
    new = tmp_path / "new"
    generate_packages(new, 4, seed=7, size=64, renders=1, progress=False)
    report = add_to_index(index, net, [new])
    assert (report.added, report.skipped) == (4, [])  # designs, not their renders
    assert len(index) == 40
    one = sorted(p for p in new.rglob("*") if is_design(p) and "renders" not in p.parts)[0]
    top = index.search(net.embed([one]), 1)[0][0]
    assert top.path == str(one.resolve()) and top.distance < 1e-3
    assert top.label == one.parent.name  # the family folder
    assert add_to_index(index, net, [one]).unchanged == 1


def test_drawing_style_reads_each_drawings_style_from_params(library: Path) -> None:
    from simnet.eval.designs import drawing_style

    design = sorted(p.parent for p in library.rglob("params.json"))[0]
    drawings = json.loads((design / "params.json").read_text())["drawings"]
    assert drawing_style(str(design)) == drawings[0]["style"] == "filled"
    assert drawing_style(str(design / "renders" / "1")) == drawings[1]["style"]
    assert drawing_style(str(library / "no-such-design")) is None
