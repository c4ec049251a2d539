"""What training reads: the training and validation images, the batch sampler that draws
from them, and the preparation of one batch (gather, augment, candidate pairs)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simnet.config import Config
from simnet.data import BatchAugment, ClassBalancedBatchSampler, ImageSet, to_input
from simnet.data.loading import load_data
from simnet.data.pairs import PairBatchSampler, is_pairs_csv, load_pairs
from simnet.errors import SimNetError
from simnet.mining import candidate_pairs
from simnet.mining.offline import OfflineSampler
from simnet.runtime import autocast
from simnet.train.prefetch import Batch

log = logging.getLogger(__name__)

Sampler = ClassBalancedBatchSampler | PairBatchSampler | OfflineSampler


@dataclass(kw_only=True)
class TrainingData:
    """The images a run trains on and how its batches are drawn."""

    train: ImageSet
    val: ImageSet | None  # for the per-epoch validation loss (data.val_fraction > 0)
    classes: list[str]
    sampler: Sampler

    @property
    def pairs_csv(self) -> bool:
        """Batches of given pairs (a pairs CSV), not of class-labelled images."""
        return isinstance(self.sampler, PairBatchSampler)


def split_validation(
    train: ImageSet, fraction: float, seed: int
) -> tuple[ImageSet, ImageSet | None]:
    """A seeded share ``fraction`` of the training images set apart for validation."""
    if fraction <= 0:
        return train, None
    order = np.random.default_rng(seed).permutation(len(train))
    cut = max(2, int(round(fraction * len(train))))
    return train.subset(np.sort(order[cut:])), train.subset(np.sort(order[:cut]))


def training_data(
    config: Config, data_path: Path, train_images: ImageSet | None = None
) -> TrainingData:
    """The training images of ``data_path`` (or ``train_images``, when given), the
    validation share and the batch sampler: class-balanced, or a pairs CSV's pairs."""
    t = config.train
    if train_images is None and is_pairs_csv(data_path):
        if config.data.val_fraction > 0:
            raise SimNetError("data.val_fraction is not available with a pairs CSV: set it to 0")
        pair_data = load_pairs(
            data_path, config.data.image_size, config.data.test_fraction, config.data.cache_dir
        )
        log.info("training on %d pairs of %d images", len(pair_data.train), len(pair_data.images))
        sampler = PairBatchSampler(pair_data.train, t.batch_size, t.seed)
        images = pair_data.images
        return TrainingData(train=images, val=None, classes=images.classes, sampler=sampler)
    if train_images is None:
        dataset = load_data(data_path, config.data, config.model.views)
        train_images, classes = dataset.train, dataset.classes
        if train_images.num_classes_present < 2:
            total = len(dataset.train) + len(dataset.test)
            raise SimNetError(
                f"training needs at least 2 classes (a negative pair joins two): {data_path} "
                f"holds {total} image{'s' * (total != 1)} in {len(classes)} "
                f"class{'es' * (len(classes) != 1)}, {len(dataset.train)} of them for training "
                f"after the test split (data.test_fraction {config.data.test_fraction})"
            )
    else:
        classes = train_images.classes
    train_set, val_set = split_validation(train_images, config.data.val_fraction, t.seed)
    balanced = ClassBalancedBatchSampler(
        train_set.labels,
        t.batch_size,
        t.per_class,
        t.seed,
        train_set.origins,
        train_set.groups,
        t.groups_per_batch,
    )
    return TrainingData(train=train_set, val=val_set, classes=classes, sampler=balanced)


def offline_sampler(
    config: Config, data: TrainingData, model: torch.nn.Module, bf16: bool, run_dir: Path
) -> OfflineSampler:
    """Batches of pairs mined offline from snapshots of ``model`` (Table 2's baseline)."""
    if data.pairs_csv or config.model.views:
        raise SimNetError("mining.strategy=offline needs single images with class labels")
    m, t = config.mining, config.train
    return OfflineSampler(
        partial(embed_subset, images=data.train.images, bf16=bf16),
        model,
        data.train.labels,
        run_dir,
        t.batch_size,
        len(data.sampler),
        every=m.offline_every,
        pool=m.offline_pool,
        negatives=max(1, round(2 * m.negatives_per_positive)),
        seed=t.seed,
    )


def prepare_batch(item: Any, train_set: ImageSet, augment: BatchAugment) -> Batch:
    """A sampler's item (indices, or indices with given candidate pairs) -> a batch."""
    index, candidates = item if isinstance(item, tuple) else (item, None)
    images = torch.from_numpy(np.ascontiguousarray(train_set.images[index]))
    labels = torch.from_numpy(train_set.labels[index])
    groups = None if train_set.groups is None else torch.from_numpy(train_set.groups[index])
    if candidates is None:
        candidates = candidate_pairs(labels)
    x = augment(images)
    known = train_set.attributes
    attributes = None if known is None else torch.from_numpy(known[index])
    return Batch(x, labels, groups, candidates, augment.gen.get_state(), attributes)


@torch.no_grad()
def embed_subset(
    model: torch.nn.Module, index: np.ndarray, images: np.ndarray, bf16: bool, batch: int = 1000
) -> np.ndarray:
    """``(n, D)`` embeddings of the training images at ``index`` (no augmentation)."""
    out, device = [], next(model.parameters()).device
    for start in range(0, len(index), batch):
        x = to_input(torch.from_numpy(np.ascontiguousarray(images[index[start : start + batch]])))
        with autocast(bf16, device):
            out.append(model(x.to(device)).float().cpu().numpy())
    return np.concatenate(out)


def sample_for_init(train_set: ImageSet, seed: int, count: int = 5000) -> tuple[torch.Tensor, int]:
    """A seeded sample of up to ``count`` training images (or designs) as network input,
    every view of a design as an image, and the number sampled: what a data-dependent
    initialisation (a whitened first conv) reads."""
    pick = np.sort(np.random.default_rng(seed).permutation(len(train_set))[:count])
    images = to_input(torch.from_numpy(np.ascontiguousarray(train_set.images[pick])))
    if images.dim() == 5:  # designs: every view is an image
        images = images.flatten(0, 1)
    return images, len(pick)
