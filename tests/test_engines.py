"""What runs the network: ONNX Runtime where it agrees with PyTorch, PyTorch otherwise."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import simnet.engines as engines
from simnet.cli import main
from simnet.config import Config
from simnet.errors import SimNetError
from simnet.inference import SimNet
from simnet.models import build_model


def _net(engine: str, model_id: str = "untrained", views: list[str] | None = None) -> SimNet:
    config = Config()
    config.eval.flip, config.eval.shift = True, 1  # test-time views go through the engine too
    config.train.bf16 = "off"
    config.model.views = views or []
    torch.manual_seed(0)
    return SimNet(build_model(config.model), config, model_id, engine)


IMAGES = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)


def test_onnx_runtime_embeds_what_pytorch_embeds() -> None:
    want = _net("torch").embed_array(IMAGES)
    for engine in ("onnx", "auto"):
        net = _net(engine)
        got = net.embed_array(IMAGES)
        assert net.engine == "onnx"
        np.testing.assert_allclose(got, want, atol=1e-4)
    designs = np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32, 3), dtype=np.uint8)
    views = ["top", "front", "side"]
    np.testing.assert_allclose(
        _net("onnx", views=views).embed_array(designs),
        _net("torch", views=views).embed_array(designs),
        atol=1e-4,
    )


def test_torch_engine_never_touches_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> bytes:
        raise AssertionError("exported for the torch engine")

    monkeypatch.setattr(engines, "export_onnx", refuse)
    net = _net("torch")
    net.embed_array(IMAGES[:2])
    assert net.engine == "torch"
    monkeypatch.setenv("SIMNET_ENGINE", "torch")  # auto, told to keep to PyTorch
    auto = _net("auto")
    auto.embed_array(IMAGES[:2])
    assert auto.engine == "torch"
    monkeypatch.delenv("SIMNET_ENGINE")
    monkeypatch.setattr(engines, "AUTO_MAX_PARAMETERS", 1000)  # auto, with a large network
    large = _net("auto")
    large.embed_array(IMAGES[:2])
    assert large.engine == "torch"


def test_auto_keeps_pytorch_where_onnx_runtime_disagrees(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(engines.OnnxNetwork, "__call__", lambda self, x: torch.randn(len(x), 128))
    want = _net("torch").embed_array(IMAGES)
    net = _net("auto")
    with caplog.at_level(logging.WARNING, logger="simnet.engines"):
        got = net.embed_array(IMAGES)
    assert net.engine == "torch"
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert "differs" in caplog.text
    with pytest.raises(SimNetError, match="differ from PyTorch"):
        _net("onnx").embed_array(IMAGES)


def test_onnx_without_onnx_runtime_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "onnxruntime_installed", lambda: False)
    with pytest.raises(SimNetError, match="pip install onnx onnxruntime"):
        _net("onnx").embed_array(IMAGES[:2])
    auto = _net("auto")  # auto falls back quietly
    auto.embed_array(IMAGES[:2])
    assert auto.engine == "torch"
    with pytest.raises(SimNetError, match="unknown engine"):
        _net("tensorrt").embed_array(IMAGES[:2])


def test_exported_network_is_kept_per_model(monkeypatch: pytest.MonkeyPatch, _cache: Path) -> None:
    first = _net("onnx", model_id="abc123").embed_array(IMAGES)
    kept = list((_cache / "onnx").glob("abc123-32-*.onnx"))
    assert len(kept) == 1

    def refuse(*args: object) -> bytes:
        raise AssertionError("exported again")

    monkeypatch.setattr(engines, "export_onnx", refuse)
    np.testing.assert_allclose(_net("onnx", model_id="abc123").embed_array(IMAGES), first)
    with pytest.raises(SimNetError, match="exported again"):  # another model: its own file
        _net("onnx", model_id="def456").embed_array(IMAGES)


def test_images_of_another_size_than_exported_go_through_pytorch() -> None:
    net = _net("onnx")
    net.embed_array(IMAGES)
    larger = np.random.default_rng(2).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        net.embed_array(larger), _net("torch").embed_array(larger), atol=1e-5
    )


def test_cli_search_matches_whatever_the_engine(
    tiny_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tiny_run
    index = tmp_path / "shapes.index"
    build = ["index", "--model", str(run), "--data", str(data), "--out", str(index)]
    assert main([*build, "--engine", "onnx"]) == 0
    queries = [str(p) for p in sorted(data.rglob("*.png"))[:3]]
    found = {}
    for engine in ("torch", "onnx"):
        capsys.readouterr()
        args = ["search", "--index", str(index), "--engine", engine, "--json", "-k", "3"]
        assert main([*args, *queries]) == 0
        found[engine] = json.loads(capsys.readouterr().out)
    for a, b in zip(found["torch"], found["onnx"], strict=True):
        # the index was embedded by ONNX Runtime: a query finds itself at distance 0 there,
        # and PyTorch (bf16 where the CPU has it, 8 bits of mantissa) a hair away: 0.0076 in
        # one full-suite run on an AMD EPYC with avx512_bf16, 0.0204 in another (session 21),
        # under 0.005 in most; the other matches lie 0.09-0.12 away
        assert a["matches"][0]["path"] == b["matches"][0]["path"] == a["query"]
        assert b["matches"][0]["distance"] < 1e-5
        np.testing.assert_allclose(
            [m["distance"] for m in a["matches"]], [m["distance"] for m in b["matches"]], atol=4e-2
        )


def test_export_writes_the_whole_embedding_as_onnx(
    tiny_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort

    data, run = tiny_run
    out = tmp_path / "tiny.onnx"
    assert main(["export", "--model", str(run), "--out", str(out), "--json"]) == 0
    about = json.loads(capsys.readouterr().out)
    assert about["input"]["shape"] == ["batch", 32, 32, 3] and out.with_suffix(".json").exists()
    files = sorted(data.rglob("*.png"))[:7]
    net = SimNet.load(run, engine="onnx")
    images = np.stack([net.decode(f) for f in files])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": images})
    assert np.abs(got - net.embed(files)).max() <= 1e-4
    fp32 = SimNet.load(run, engine="torch")  # the network's own function, unrounded
    fp32.bf16 = False
    assert np.abs(got - fp32.embed(files)).max() <= 1e-4
    designs = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32, 3), dtype=np.uint8)
    design_net = _net("torch", views=["top", "front", "side"])  # flip and shift views too
    engines.export_embedding(design_net, tmp_path / "designs.onnx")
    session = ort.InferenceSession(
        str(tmp_path / "designs.onnx"), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {"images": designs})
    assert np.abs(got - design_net.embed_array(designs)).max() <= 1e-4


def test_export_writes_the_whole_embedding_as_a_torch_export_program(
    tiny_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run = tiny_run
    out = tmp_path / "tiny.pt2"
    assert main(["export", "--model", str(run), "--out", str(out), "--json"]) == 0
    about = json.loads(capsys.readouterr().out)
    assert about["format"] == "torch.export" and about["pt2"] == str(out)
    program = torch.export.load(str(out)).module()
    files = sorted(data.rglob("*.png"))[:7]  # another batch size than the export's example
    fp32 = SimNet.load(run, engine="torch")
    fp32.bf16 = False
    images = torch.from_numpy(np.stack([fp32.decode(f) for f in files]))
    got = program(images).detach().numpy()
    assert got.shape == (7, fp32.dim)
    assert np.abs(got - fp32.embed(files)).max() <= 1e-5
    designs = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32, 3), dtype=np.uint8)
    design_net = _net("torch", views=["top", "front", "side"])  # flip and shift views too
    engines.export_embedding(design_net, tmp_path / "designs.pt2")
    program = torch.export.load(str(tmp_path / "designs.pt2")).module()
    got = program(torch.from_numpy(designs)).detach().numpy()
    assert np.abs(got - design_net.embed_array(designs)).max() <= 1e-5


def test_export_refuses_another_suffix(tiny_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    _, run = tiny_run
    assert main(["export", "--model", str(run), "--out", str(tmp_path / "m.bin")]) == 2
    assert "FILE.onnx or FILE.pt2" in capsys.readouterr().err
    assert not (tmp_path / "m.bin").exists()


def test_a_grid_pooled_model_runs_in_onnx_runtime_as_in_pytorch() -> None:
    # a 32 px view ends as a 3 x 3 map, whose 2 x 2 grid cells overlap: the exporter has no
    # adaptive max-pool for that, and a traced negative division would shift the cells
    config = Config()
    config.model.pool_grid = 2
    config.model.pool_mean = 2  # and the means of the last two maps beside it
    torch.manual_seed(0)
    model = build_model(config.model).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        want = model.embed_images(x)
    got = engines.OnnxNetwork(model, 32, None)(x)
    assert torch.allclose(got, want, atol=1e-4)
