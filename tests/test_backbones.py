"""The model zoo: every registered backbone in the multi-scale and single-scale network,
weights from torchvision state dicts, the fine-tuning policy, and the paper preset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file

from simnet.config import ModelConfig, load_config
from simnet.data.augment import normalize
from simnet.errors import SimNetError
from simnet.models import build_model, create_backbone, list_backbones
from simnet.models.pretrained import IMAGENET_MEAN, IMAGENET_STD
from simnet.models.simnet import count_parameters
from simnet.train.loop import build_parts, train_step
from tests.conftest import make_tree
from tests.helpers import simnet

OFFLINE = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def test_every_expected_backbone_is_registered() -> None:
    assert {"compact", "vgg16", "resnet18", "resnet50", "googlenet"} <= set(list_backbones())


@pytest.mark.parametrize("scales", [[2, 4], []], ids=["multi-scale", "single-scale"])
@pytest.mark.parametrize("name", list_backbones())
def test_backbone_trains_only_its_top_layers(name: str, scales: list[int]) -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        backbone=name, scales=scales, branch_width=[4], branch_dim=[6], embedding_dim=16
    )
    config.finetune_layers = 2
    model = build_model(config).train()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    (out * torch.randn_like(out)).sum().backward()

    top = {id(p) for layer in model.backbone.layers()[-2:] for m in layer for p in m.parameters()}
    for pname, p in model.named_parameters():
        if p.numel() == 0:  # single-scale: no branch weights
            continue
        if pname.startswith("backbone.") and id(p) not in top:
            assert not p.requires_grad and p.grad is None, f"{pname} is not frozen"
        else:  # CNN1's top two layers, the shallow branches and the head
            assert p.requires_grad, f"{pname} is frozen"
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {pname}"
    trainable, total = count_parameters(model)
    assert 0 < trainable < total
    assert len(model.branches) == len(scales)


def test_frozen_batch_norm_keeps_its_statistics() -> None:
    model = build_model(ModelConfig(backbone="resnet18", finetune_layers=1)).train()
    stem_bn = model.backbone.net.bn1
    top_bn = model.backbone.net.layer4[1].bn2
    before = stem_bn.running_mean.clone(), top_bn.running_mean.clone()
    model(torch.randn(4, 3, 32, 32))
    assert not stem_bn.training and top_bn.training
    assert torch.equal(stem_bn.running_mean, before[0])
    assert not torch.equal(top_bn.running_mean, before[1])


def test_too_many_finetune_layers_is_a_clear_error() -> None:
    with pytest.raises(SimNetError, match="has 9 layers"):
        build_model(ModelConfig(backbone="resnet18", finetune_layers=10))


def test_branch_sizes_are_per_scale() -> None:
    config = ModelConfig(scales=[4, 8], branch_width=[4, 8], branch_dim=[5, 7], widths=[4, 8])
    model = build_model(config)
    assert [b.out_dim for b in model.branches] == [5, 7]
    assert model.branches[1].features[0].out_channels == 8
    with pytest.raises(SimNetError, match="one per scale"):
        load_config(None, ["model.scales=[4,8]", "model.branch_dim=[5,6,7]"])


def test_input_is_resized_to_the_model_input_size() -> None:
    model = build_model(ModelConfig(widths=[4, 8], input_size=48, scales=[4])).eval()
    seen = []

    def record(module, args, out) -> None:
        seen.append(args[0].shape)

    model.backbone.register_forward_hook(record)
    model.branches[0].features.register_forward_hook(record)
    model(torch.randn(2, 3, 32, 32))
    assert seen == [(2, 3, 48, 48), (2, 3, 12, 12)]


# --- weights --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """State dicts saved from torchvision's own models, as a user would save them."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    files = {}
    for name in ("vgg16", "resnet18"):
        files[name] = root / f"{name}.pth"
        torch.save(getattr(torchvision.models, name)().state_dict(), files[name])
    return files


def _torchvision_features(name: str, state: dict, pixels: torch.Tensor) -> torch.Tensor:
    net = getattr(torchvision.models, name)()
    net.load_state_dict(state)
    if name == "vgg16":
        net.classifier[-1] = torch.nn.Identity()  # fc7's output
    else:
        net.fc = torch.nn.Identity()  # the pooled features
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net.eval()((pixels - mean) / std)


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_a_torchvision_state_dict_gives_torchvisions_outputs(
    name: str, weight_files: dict[str, Path]
) -> None:
    pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    backbone = create_backbone(name, weights=str(weight_files[name])).eval()
    with torch.no_grad():
        ours = backbone(normalize(pixels))  # simnet's own input normalisation
    expected = _torchvision_features(name, torch.load(weight_files[name]), pixels)
    assert ours.shape == expected.shape == (2, backbone.out_dim)
    assert torch.allclose(ours, expected, atol=1e-4, rtol=1e-4)


def test_safetensors_weights_load_too(weight_files: dict[str, Path], tmp_path: Path) -> None:
    state = torch.load(weight_files["resnet18"])
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    backbone = create_backbone("resnet18", weights=str(path))
    assert torch.equal(backbone.net.conv1.weight, state["conv1.weight"])


def test_weights_of_another_model_are_refused(weight_files: dict[str, Path]) -> None:
    with pytest.raises(SimNetError, match="do not fit the vgg16 backbone"):
        create_backbone("vgg16", weights=str(weight_files["resnet18"]))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": _Payload()}, path)
    with pytest.raises(SimNetError, match="cannot read weights file"):
        create_backbone("resnet18", weights=str(path))


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SimNetError, match="weights file not found"):
        create_backbone("resnet18", weights=str(tmp_path / "nope.pth"))


def test_pretrained_without_network_or_cache_fails_and_names_the_file_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)  # and a network that refuses every connection
    with pytest.raises(SimNetError, match="--weights FILE"):
        create_backbone("resnet18", pretrained=True)
    with pytest.raises(SimNetError, match="no ImageNet weights"):
        create_backbone("compact", pretrained=True)


# --- the paper preset ------------------------------------------------------------------


def test_paper_preset_is_the_papers_recipe() -> None:
    config = load_config(None, [], preset="paper")
    m, t = config.model, config.train
    assert (m.backbone, m.pretrained, m.input_size, m.finetune_layers) == ("vgg16", True, 224, 2)
    assert (m.scales, m.branch_dim, m.embedding_dim, m.dropout) == ([4, 8], [512, 1024], 4096, 0.5)
    assert (t.lr, t.weight_decay, t.momentum, t.nesterov) == (1e-5, 1e-6, 0.9, True)
    assert (t.epochs, t.schedule) == (100, "constant") and t.patience > 0
    assert config.data.val_fraction > 0
    backbone = create_backbone("vgg16")
    convs = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13 and all(c.padding == (1, 1) for c in convs)  # zero padding (1, 1)


def test_paper_preset_takes_a_training_step_on_224_inputs() -> None:
    config = load_config(
        None,
        ["model.pretrained=false", "train.batch_size=4", "train.per_class=2"],
        preset="paper",
    )
    parts = build_parts(config, total_steps=10)
    seen = []
    parts.model.backbone.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    fc7 = parts.model.backbone.net.classifier[3].weight
    conv = parts.model.backbone.net.features[28].weight  # the top conv: frozen
    fc7_before, conv_before = fc7.detach().clone(), conv.detach().clone()
    images = torch.randn(4, 3, 32, 32)
    loss, _ = train_step(parts, images, torch.tensor([0, 0, 1, 1]), lam=1.0)
    assert seen == [(4, 3, 224, 224)]
    assert np.isfinite(loss)
    assert not torch.equal(fc7, fc7_before)
    assert torch.equal(conv, conv_before)
    assert parts.optimizer.param_groups[0]["lr"] == 1e-5  # constant schedule


def test_paper_preset_from_the_command_line(weight_files: dict[str, Path], tmp_path: Path) -> None:
    data = make_tree(tmp_path / "images", per_class=6, classes=["circle", "square"])
    tiny = ["--set", "train.batch_size=4", "--set", "train.per_class=2", "--set", "train.epochs=1"]
    args = ["train", "--preset", "paper", "--data", str(data), "--quiet", *tiny]

    offline = {**OFFLINE, "TORCH_HOME": str(tmp_path / "torch")}
    failed = simnet(*args, "--pretrained", "--out", str(tmp_path / "a"), env=offline)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "--weights FILE" in failed.stderr

    run = tmp_path / "b"
    ok = simnet(*args, "--weights", str(weight_files["vgg16"]), "--out", str(run), env=offline)
    assert ok.returncode == 0, ok.stderr
    from simnet.inference import SimNet

    model = SimNet.load(run).model
    state = torch.load(weight_files["vgg16"])
    net = model.backbone.net
    assert torch.equal(net.features[0].weight, state["features.0.weight"])  # frozen: as loaded
    assert not torch.equal(net.classifier[3].weight, state["classifier.3.weight"])  # fc7 trained
