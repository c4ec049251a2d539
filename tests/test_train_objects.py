"""train with a model object and a dataset object, as well as a config: a torchvision
ImageFolder (or a plain list of pairs) trains a network of the user's own, and the run loads
back with a new module of the same architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

import simnet
from simnet.cli import main
from simnet.config import load_config
from simnet.errors import SimNetError
from simnet.inference import SimNet
from tests.conftest import draw, make_tree

SMALL = [
    "model.embedding_dim=8",
    "model.branch_width=4",
    "train.batch_size=16",
    "train.per_class=4",
    "train.epochs=4",
    "data.image_size=32",
]


class TinyNet(nn.Module):
    """A network of the user's own: no out_dim, a (B, 16, 1, 1) output."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def separation(net: SimNet, folder: Path) -> float:
    """Mean same-class distance over mean different-class distance (lower: better)."""
    files = sorted(folder.rglob("*.png"))
    labels = np.array([f.parent.name for f in files])
    e = net.embed(files)
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    same = labels[:, None] == labels[None]
    return float(d[same & ~np.eye(len(files), dtype=bool)].mean() / d[~same].mean())


def test_an_image_folder_trains_a_model_object_that_loads_back(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=16)
    held_out = make_tree(tmp_path / "held_out", per_class=6, seed=9)
    torch.manual_seed(0)
    config = load_config(None, [*SMALL, "train.epochs=8"])
    dataset = torchvision.datasets.ImageFolder(str(data))  # PIL images, class indices
    run = simnet.train(config, tmp_path / "run", progress=False, model=TinyNet(), dataset=dataset)

    saved = load_config(run / "config.yaml")
    assert saved.model.backbone == "object:tests.test_train_objects.TinyNet"
    assert saved.data.source == f"object:ImageFolder ({len(dataset)} items)"
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 8
    weights = load_file(str(run / "model.safetensors"))
    assert any(k.startswith("backbone.net.body.") for k in weights)  # the user's own layers

    with pytest.raises(SimNetError, match=r"SimNet.load\(RUN, model=...\)"):
        SimNet.load(run)
    net = SimNet.load(run, model=TinyNet(), engine="torch")
    state = net.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights.items())
    untrained = SimNet(
        simnet.models.simnet.model_from_object(TinyNet(), saved.model, 32), saved, engine="torch"
    )
    # measured: 0.27 against 0.68 untrained
    assert separation(net, held_out) < 0.6 * separation(untrained, held_out)
    # evaluate takes the loaded model and names the data; the run alone cannot say where
    # its data is.
    split = make_tree(tmp_path / "split", per_class=10)
    metrics = simnet.evaluate(net, data=split)
    assert metrics["data"] == str(split) and 0 <= metrics["knn_accuracy"] <= 1
    with pytest.raises(SimNetError, match="a Python dataset object"):
        simnet.evaluate(net)


def test_a_list_of_pairs_trains_the_configured_network(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    kinds = ["circle", "square", "cross", "stripes"]
    pairs = []
    for n, kind in enumerate(kinds):
        for i in range(12):  # arrays, float tensors (ToTensor's layout) and uint8 tensors
            image = draw(kind, rng, size=40)
            if i % 3 == 1:
                image = torch.from_numpy(image).permute(2, 0, 1).float() / 255
            elif i % 3 == 2:
                image = torch.from_numpy(image).permute(2, 0, 1).contiguous()
            pairs.append((image, kind if n % 2 else torch.tensor(n)))  # names or indices
    config = load_config(None, ["model.widths=[4,8,8,8]", *SMALL, "train.epochs=1"])
    run = simnet.train(config, tmp_path / "run", progress=False, dataset=pairs)
    net = SimNet.load(run)  # the configured network: loads as any run does
    assert net.embed(np.stack([draw("circle", rng)])).shape == (1, 8)
    assert sorted(load_config(run / "config.yaml").data.source.split()[:1]) == ["object:list"]


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ([np.zeros((8, 8, 3), np.uint8)] * 4, "items are \\(image, label\\) pairs"),
        ([(np.zeros((8, 8, 3)), 0), (np.zeros((8, 8, 3)), 1)], "dataset item 0: an image is"),
        ([], "the dataset object is empty"),
        (iter([(np.zeros((8, 8, 3), np.uint8), 0)]), "map-style dataset"),
        ([(np.zeros((8, 8, 3), np.uint8), 0)] * 8, "at least 2 classes"),
    ],
)
def test_a_bad_dataset_object_is_one_clear_error(dataset, message, tmp_path: Path) -> None:
    config = load_config(None, SMALL)
    with pytest.raises(SimNetError, match=message):
        simnet.train(config, tmp_path / "run", progress=False, dataset=dataset)
    assert not (tmp_path / "run").exists()


def test_a_model_object_that_cannot_take_images_is_one_clear_error(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "data", per_class=8)
    config = load_config(None, [f"data.source={data}", *SMALL])
    with pytest.raises(SimNetError, match=r"fails on a \(2, 3, 32, 32\) batch"):
        simnet.train(config, tmp_path / "run", progress=False, model=nn.Linear(5, 5))
    with pytest.raises(SimNetError, match="a torch.nn.Module, not str"):
        simnet.train(config, tmp_path / "run", progress=False, model="resnet18")  # type: ignore[arg-type]


def test_the_command_line_says_how_to_load_a_model_objects_run(tmp_path: Path, capsys) -> None:
    data = make_tree(tmp_path / "data", per_class=8)
    config = load_config(None, [*SMALL, "train.epochs=1"])
    dataset = torchvision.datasets.ImageFolder(str(data))
    run = simnet.train(config, tmp_path / "run", progress=False, model=TinyNet(), dataset=dataset)
    assert main(["evaluate", "--model", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained from a model object" in err[0]
