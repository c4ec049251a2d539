import logging
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simnet.config import AugmentConfig
from simnet.data import (
    BatchAugment,
    ClassBalancedBatchSampler,
    decode_image,
    load_dataset,
    open_source,
)
from simnet.data.augment import random_crop, random_hflip, to_input
from simnet.data.cache import load_images
from simnet.errors import ImageError, SimNetError
from tests.conftest import CLASSES, make_tree


def image_label_set(
    images: np.ndarray, labels: np.ndarray, classes: list[str]
) -> list[tuple[str, bytes]]:
    return sorted(
        (classes[int(lab)], img.tobytes()) for img, lab in zip(images, labels, strict=True)
    )


def write_cifar(root: Path, tree: Path) -> Path:
    """The official CIFAR-10 python layout, holding the images of a class-folder tree."""
    out = root / "cifar-10-batches-py"
    out.mkdir(parents=True)
    files = sorted(tree.rglob("*.png"))
    arrays = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    labels = [CLASSES.index(f.parent.name) for f in files]
    data = arrays.transpose(0, 3, 1, 2).reshape(len(files), -1)
    parts = np.array_split(np.arange(len(files)), 5)
    for i, part in enumerate(parts, start=1):
        batch = {b"data": data[part], b"labels": [labels[j] for j in part]}
        (out / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    (out / "test_batch").write_bytes(pickle.dumps({b"data": data[:0], b"labels": []}))
    (out / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [c.encode() for c in CLASSES]})
    )
    return out


def test_every_source_gives_the_same_images_and_labels(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", per_class=6)
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="tree")
    csv_path = tmp_path / "list.csv"
    rows = [f"{p.relative_to(tmp_path)},{p.parent.name}" for p in sorted(tree.rglob("*.png"))]
    csv_path.write_text("path,label\n" + "\n".join(rows) + "\n")
    cifar = write_cifar(tmp_path / "cifar", tree)
    seen = []
    for path in (tree, archive, csv_path, cifar):
        images = load_images(open_source(path), 32)
        assert len(images) == 24
        seen.append(image_label_set(images.images, images.labels, images.classes))
    assert all(s == seen[0] for s in seen[1:])


def test_cifar_pickle_with_code_is_refused(tmp_path: Path) -> None:
    cifar = write_cifar(tmp_path / "cifar", make_tree(tmp_path / "tree", per_class=2))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (cifar / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(SimNetError, match="refused"):
        load_images(open_source(cifar), 32)


def test_split_folders_give_a_fixed_test_split(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", per_class=10, split=True)
    data = load_dataset(open_source(tree), 32)
    assert len(data.test) == 4 * 2 and len(data.train) == 4 * 8
    assert all("/test/" in k for k in data.test.keys)


def test_hash_split_is_stable_and_near_the_fraction(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", per_class=50)
    first = load_dataset(open_source(tree), 32, test_fraction=0.2)
    again = load_dataset(open_source(tree), 32, test_fraction=0.2)
    assert first.test.keys == again.test.keys
    assert 0.1 < len(first.test) / 200 < 0.3


def test_cache_is_reused_and_refreshed_when_the_source_changes(
    tmp_path: Path, _cache: Path
) -> None:
    tree = make_tree(tmp_path / "tree", per_class=3)
    first = load_images(open_source(tree), 32)
    load_images(open_source(tree), 32)
    assert len([p for p in _cache.iterdir() if not p.name.startswith(".")]) == 1
    target = tree / "circle" / "000.png"
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(target)
    changed = load_images(open_source(tree), 32)
    row = changed.keys.index(str(target))
    assert (changed.images[row] == 7).all()
    assert not (first.images[first.keys.index(str(target))] == 7).all()


def test_corrupt_images_are_skipped_and_counted(tmp_path: Path, caplog) -> None:
    tree = make_tree(tmp_path / "tree", per_class=4)
    (tree / "square" / "broken.png").write_bytes(b"not an image at all")
    (tree / "circle" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        data = load_dataset(open_source(tree), 32, test_fraction=0.0)
    assert len(data.train) == 16
    assert sorted(Path(k).name for k, _ in data.skipped) == ["broken.png", "empty.jpg"]
    assert "skipped 2 of 18 images: 2 not an image" in caplog.text


def test_folders_without_images_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(SimNetError, match="no readable images"):
        load_dataset(open_source(tmp_path / "empty"), 32)
    with pytest.raises(SimNetError, match="not found"):
        open_source(tmp_path / "missing")


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "CMYK", "LA"])
def test_images_of_any_mode_become_rgb(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray((np.arange(1200).reshape(40, 30) * 50).astype(np.uint16))
    elif mode == "P":
        image = base.convert("P")
        image.info["transparency"] = 0
    else:
        image = base.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    out = decode_image(path, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    if mode == "I;16":
        assert out.min() <= 5 and out.max() >= 250  # the 16-bit range is scaled, not clipped


def test_a_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(ImageError, match="notes.jpg"):
        decode_image(path, 32)


def test_sampler_batches_are_class_balanced_and_seeded() -> None:
    labels = np.repeat(np.arange(10), 30)
    sampler = ClassBalancedBatchSampler(labels, batch_size=40, per_class=8, seed=3)
    batches = list(sampler)
    assert len(batches) == 300 // 40
    for batch in batches:
        counts = np.bincount(labels[batch], minlength=10)
        assert sorted(counts[counts > 0].tolist()) == [8] * 5
    again = list(ClassBalancedBatchSampler(labels, batch_size=40, per_class=8, seed=3))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))
    sampler.set_epoch(1)
    assert not all((a == b).all() for a, b in zip(batches, list(sampler), strict=True))


def test_sampler_refuses_a_single_class() -> None:
    with pytest.raises(SimNetError, match="at least 2 classes"):
        ClassBalancedBatchSampler(np.zeros(20, int), batch_size=10, per_class=5)


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` moved by (dy, dx) with zeros filled in, written out plainly."""
    h, w, _ = image.shape
    out = torch.zeros_like(image)
    for y in range(h):
        for x in range(w):
            sy, sx = y + dy, x + dx
            if 0 <= sy < h and 0 <= sx < w:
                out[y, x] = image[sy, sx]
    return out


def test_random_crop_is_a_zero_padded_translation() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 255, (6, 8, 8, 3), dtype=torch.uint8)
    out = random_crop(images, 2, g)
    for img, res in zip(images, out, strict=True):
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(shifted(img, dy, dx), res)
        ]
        assert len(shifts) == 1


def test_flip_mirrors_about_half_the_images() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (200, 4, 4, 3), dtype=torch.uint8)
    out = random_hflip(images, g)
    flipped = [torch.equal(o, i.flip(1)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 60 < sum(flipped) < 140


def turns_of(out: torch.Tensor, images: torch.Tensor) -> list[int]:
    """The quarter turn each augmented ``(3, S, S)`` output is of its ``(S, S, 3)`` input."""
    found = []
    for o, i in zip(out, images, strict=True):
        k = [k for k in range(4) if torch.equal(o, to_input(torch.rot90(i, k, (0, 1))[None])[0])]
        assert len(k) == 1
        found.append(k[0])
    return found


def test_turns_take_any_quarter_in_the_named_views_and_a_half_in_the_others() -> None:
    """A top view (named in ``turn_views``) comes out in each of its four quarter turns;
    a section, which framing lays flat, only upright or upside down."""
    config = AugmentConfig(crop_padding=0, hflip=False, turn=0.75, turn_views=["top"])
    designs = torch.randint(0, 255, (400, 3, 6, 6, 3), dtype=torch.uint8)
    out = BatchAugment(config, seed=3, views=("top", "front", "side"))(designs)
    assert out.shape == (400, 3, 3, 6, 6)
    top = np.bincount(turns_of(out[:, 0], designs[:, 0]), minlength=4)
    front = np.bincount(turns_of(out[:, 1], designs[:, 1]), minlength=4)
    assert all(60 < n < 140 for n in top)  # a quarter of the time each
    assert front[1] == front[3] == 0 and 240 < front[2] < 360  # 0.75 of the time upside down
    images = designs[:, 0]  # single images: any quarter
    plain = BatchAugment(AugmentConfig(crop_padding=0, hflip=False, turn=1.0), seed=3)
    assert all(90 < n < 180 for n in np.bincount(turns_of(plain(images), images))[1:])


def test_turn_views_must_be_views_of_the_model() -> None:
    from simnet.config import load_config

    with pytest.raises(SimNetError, match="augment.turn_views names back"):
        load_config(preset="packages", overrides=["augment.turn_views=[top,back]"])


def test_augmentation_is_seeded() -> None:
    config = AugmentConfig(
        rotation=10, zoom=0.1, shear=5, noise_std=0.02, brightness=0.1, contrast=0.1
    )
    images = torch.randint(0, 255, (4, 16, 16, 3), dtype=torch.uint8)
    a = BatchAugment(config, seed=1)(images)
    b = BatchAugment(config, seed=1)(images)
    c = BatchAugment(config, seed=2)(images)
    assert a.shape == (4, 3, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_random_look_greys_swaps_and_inverts_whole_images() -> None:
    from simnet.data.augment import random_look

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, 3, 8, 8)
    assert torch.equal(random_look(x, 0.0, 0.0, 0.0, gen), x)  # all off: untouched
    grey = random_look(x, 1.0, 0.0, 0.0, gen)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert torch.allclose(random_look(x, 0.0, 0.0, 1.0, gen), 1 - x)
    swapped = random_look(x, 0.0, 1.0, 0.0, gen)
    # each image's channels are a permutation of its own, and most are reordered
    assert torch.allclose(swapped.sort(1).values, x.sort(1).values)
    moved = (~torch.isclose(swapped, x).flatten(1).all(1)).float().mean()
    assert 0.7 < moved < 0.95  # five of the six orders move something
    half = random_look(x, 0.5, 0.0, 0.0, gen)
    greyed = torch.isclose(half[:, 0], half[:, 1]).flatten(1).all(1).float().mean()
    assert 0.35 < greyed < 0.65
