"""Embedding with a loaded model: test-time augmentation and designs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simnet.config import Config
from simnet.inference import SimNet
from simnet.models import build_model


def _net(flip: bool, shift: int, views: list[str] | None = None) -> SimNet:
    config = Config()
    config.eval.flip, config.eval.shift = flip, shift
    config.train.bf16 = "off"
    config.model.views = views or []
    torch.manual_seed(0)
    return SimNet(build_model(config.model), config)


def test_test_time_views_average_the_flipped_and_shifted_images() -> None:
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    plain = _net(False, 0).embed_array(images)
    flipped = _net(False, 0).embed_array(np.ascontiguousarray(images[:, :, ::-1]))
    both = _net(True, 0).embed_array(images)
    expected = plain + flipped
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(both, expected, atol=1e-5)
    shifted = _net(True, 1).embed_array(images)
    assert np.allclose(np.linalg.norm(shifted, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(shifted, both, atol=1e-3)
    assert _net(True, 1).preprocessing["shift"] == 1


def test_design_embeddings_fuse_the_per_view_embeddings() -> None:
    net = _net(False, 0, ["top", "front", "side"])
    designs = np.random.default_rng(1).integers(0, 256, (5, 3, 32, 32, 3), dtype=np.uint8)
    views = net.embed_views(designs)
    fused = net.embed_array(designs)
    assert views.shape == (5, 3, 128) and fused.shape == (5, 384)
    np.testing.assert_allclose(fused, views.reshape(5, -1) / np.sqrt(3), atol=1e-5)
    # each view embeds like a single image through the same network
    with torch.no_grad():
        single = net._embed_batch(torch.from_numpy(np.ascontiguousarray(designs[:, 1])))
    np.testing.assert_allclose(views[:, 1], single.numpy(), atol=1e-5)


def test_large_images_embed_in_batches_bounded_by_pixels(monkeypatch) -> None:
    # eval.batch_size counts images; at 224 px a batch of 1000 designs' views ran a 24 GB
    # machine out of memory, so a batch also holds at most BATCH_PIXELS pixels, and the
    # embeddings are those of one image at a time
    net = _net(False, 0, ["top", "front", "side"])
    sizes: list[int] = []
    embed_batch = net._embed_batch
    monkeypatch.setattr(
        net, "_embed_batch", lambda x, *a: sizes.append(len(x)) or embed_batch(x, *a)
    )
    monkeypatch.setattr("simnet.inference.BATCH_PIXELS", 3 * 3 * 64 * 64)
    designs = np.random.default_rng(2).integers(0, 256, (7, 3, 64, 64, 3), dtype=np.uint8)
    views = net.embed_views(designs, batch_size=1000)
    assert sizes == [3, 3, 1]  # three 64 px designs of three views a batch
    np.testing.assert_allclose(views[6], net.embed_views(designs[6:], 3)[0], atol=1e-5)
    sizes.clear()
    net.embed_views(designs[:, :, :32, :32], batch_size=1000)  # small ones: as many as asked
    assert sizes == [7]
    sizes.clear()  # near-duplicate descriptors batch the same way (views side by side)
    describe = net.model.describe_images
    monkeypatch.setattr(net.model, "describe_images", lambda x: sizes.append(len(x)) or describe(x))
    assert net.describe(designs, batch_size=1000).shape[0] == 7
    assert sizes == [9, 9, 3]


def test_descriptors_are_the_unit_norm_features_before_the_projection() -> None:
    images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    net = _net(True, 1)
    described = net.describe(images)
    model = net.model
    width = model.backbone(torch.zeros(1, 3, 32, 32)).shape[1]
    branches = sum(b(torch.zeros(1, 3, 32, 32)).shape[1] for b in model.branches)
    assert described.shape == (5, width + branches)
    np.testing.assert_allclose(np.linalg.norm(described, axis=1), 1.0, atol=1e-5)
    # Each half (CNN1, branches) weighs the same: both halves have norm 1/sqrt(2).
    halves = (
        np.linalg.norm(described[:, :width], axis=1),
        np.linalg.norm(described[:, width:], axis=1),
    )
    np.testing.assert_allclose(halves, 0.5**0.5, atol=1e-5)
    # No test-time views: a mirror image is described differently, unlike its embedding.
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    assert not np.allclose(net.describe(mirrored), described, atol=1e-3)
    np.testing.assert_allclose(
        _net(True, 0).embed_array(mirrored), _net(True, 0).embed_array(images), atol=1e-5
    )
    designs = np.stack([images[:3], images[2:]])  # two designs of three views
    d = _net(True, 0, ["top", "front", "side"]).describe(designs)
    assert d.shape == (2, 3 * (width + branches))
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)


def test_embed_takes_pil_images_and_tensors_as_it_takes_files(tiny_run) -> None:
    from PIL import Image
    from torchvision.transforms.functional import to_tensor

    from simnet.errors import SimNetError

    data, run = tiny_run
    net = SimNet.load(run, engine="torch")
    files = sorted(data.rglob("*.png"))[:4]
    want = net.embed(files)
    opened = [Image.open(f) for f in files]
    np.testing.assert_allclose(net.embed(opened), want, atol=1e-6)
    np.testing.assert_allclose(net.embed(opened[1]), want[1:2], atol=1e-6)
    np.testing.assert_allclose(net.embed([files[0], opened[1]]), want[:2], atol=1e-6)
    decoded = np.stack([net.decode(f) for f in files])
    np.testing.assert_allclose(net.embed(torch.from_numpy(decoded)), want, atol=1e-6)
    floats = torch.stack([to_tensor(Image.open(f).convert("RGB")) for f in files])  # [0, 1]
    np.testing.assert_allclose(net.embed(floats), want, atol=1e-6)
    with pytest.raises(SimNetError, match=r"uint8 \(N, S, S, 3\) or float \(N, 3, H, W\)"):
        net.embed(torch.zeros(2, 32, 32))
