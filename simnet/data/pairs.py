"""Training from explicit pairs: a CSV of ``path_a,path_b,similar`` and no class labels.

The CSV is read by :class:`~simnet.data.sources.PairsCsvSource` (re-exported here, with
:func:`is_pairs_csv`), and the images its pairs name are decoded once through the same cache
as any source. Pairs are split into train and test by a hash of the pair (or by an optional
``split`` column), and training batches are chunks of pairs: the images of
``batch_size // 2`` pairs, with those pairs (and only those) as the miner's candidates. Each
image is labelled by its connected component under the similar pairs, which is what "same
class" means here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simnet.data.cache import ImageSet, load_images
from simnet.data.sources import PairsCsvSource, is_pairs_csv
from simnet.errors import SimNetError
from simnet.pairs import Pairs

log = logging.getLogger(__name__)


@dataclass
class PairList:
    """Pairs of image indices: ``a``, ``b`` (int64) and ``similar`` (bool), each ``(P,)``."""

    a: np.ndarray
    b: np.ndarray
    similar: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def select(self, keep: np.ndarray) -> PairList:
        return PairList(self.a[keep], self.b[keep], self.similar[keep])


@dataclass
class PairDataset:
    """The images of a pairs CSV and its train and test pairs."""

    images: ImageSet
    train: PairList
    test: PairList
    skipped: list[tuple[str, str]]


def _test_pair(a: str, b: str, test_fraction: float) -> bool:
    key = "\n".join(sorted((a, b))).encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64 < test_fraction


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` images under the edges ``a``-``b``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def load_pairs(
    path: str | Path, image_size: int, test_fraction: float = 0.2, cache_dir: str | None = None
) -> PairDataset:
    """Decodes (or reuses the cache of) the images of a pairs CSV and splits its pairs.

    Pairs naming an image that cannot be read are dropped, with a counted warning.
    """
    source = PairsCsvSource(path)
    whole = load_images(source, image_size, cache_dir)
    position = {key: i for i, key in enumerate(whole.keys)}
    a, b, similar, test = [], [], [], []
    dropped = 0
    for pa, pb, same, split in source.rows:
        ia, ib = position.get(str(pa)), position.get(str(pb))
        if ia is None or ib is None:
            dropped += 1
            continue
        a.append(ia)
        b.append(ib)
        similar.append(same)
        test.append(split == "test" if split else _test_pair(str(pa), str(pb), test_fraction))
    if dropped:
        log.warning("dropped %d pair(s) naming an unreadable image", dropped)
    pairs = PairList(np.array(a, np.int64), np.array(b, np.int64), np.array(similar, bool))
    if len(pairs) == 0:
        raise SimNetError(f"{path}: no pair has two readable images")
    labels = _components(len(whole.keys), pairs.a[pairs.similar], pairs.b[pairs.similar])
    images = ImageSet(
        whole.images,
        labels,
        [f"group-{i}" for i in range(labels.max() + 1)],
        whole.keys,
        whole.skipped,
    )
    test_mask = np.array(test, bool)
    train, held_out = pairs.select(~test_mask), pairs.select(test_mask)
    if not train.similar.any() or train.similar.all():
        raise SimNetError(f"{path}: the training pairs must hold both similar and dissimilar pairs")
    return PairDataset(images, train, held_out, whole.skipped)


class PairBatchSampler:
    """Batches of pairs: each yields the images of ``batch_size // 2`` shuffled pairs
    (``(n,)`` indices, each image once) and those pairs as (positives, negatives) into that
    batch. Every pair is used once per epoch; seeded by ``(seed, epoch)``."""

    def __init__(self, pairs: PairList, batch_size: int, seed: int = 0):
        if len(pairs) == 0:
            raise SimNetError("no training pairs")
        self.pairs = pairs
        self.pairs_per_batch = max(1, min(batch_size // 2, len(pairs)))
        self.seed, self.epoch = seed, 0

    @property
    def batch_size(self) -> int:
        return 2 * self.pairs_per_batch

    def __len__(self) -> int:
        return max(1, len(self.pairs) // self.pairs_per_batch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, tuple[Pairs, Pairs]]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.pairs))
        for step in range(len(self)):
            chunk = self.pairs.select(order[step * self.pairs_per_batch :][: self.pairs_per_batch])
            index, inverse = np.unique(np.concatenate([chunk.a, chunk.b]), return_inverse=True)
            a = torch.from_numpy(inverse[: len(chunk)])
            b = torch.from_numpy(inverse[len(chunk) :])
            similar = torch.from_numpy(chunk.similar)
            pos = Pairs(a[similar], b[similar], similar[similar])
            neg = Pairs(a[~similar], b[~similar], similar[~similar])
            yield index, (pos, neg)


__all__ = [
    "PairBatchSampler",
    "PairDataset",
    "PairList",
    "PairsCsvSource",
    "is_pairs_csv",
    "load_pairs",
]
