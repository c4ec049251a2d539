"""Offline pair mining, the traditional approach OPMS improves on (SimNet, Section 3.2).

Every ``every`` steps a frozen snapshot of the model embeds a random pool of training
images; for each image of the pool, ``positives`` random same-class partners and its
``negatives`` nearest other-class images (hard negatives under the snapshot) become pairs.
The pair list is written to disk and read back, and training draws its batches from it
until the next refresh, so the pairs go stale between refreshes: which is the point of the
comparison.

``mining.strategy=offline`` names this: the training loop draws its batches from an
:class:`OfflineSampler`, and within a batch every pair is used (:class:`AllPairs`, registered
here under the strategy's name).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from simnet.data.pairs import PairBatchSampler, PairList
from simnet.errors import SimNetError
from simnet.mining.all_pairs import AllPairs
from simnet.mining.registry import register_miner
from simnet.pairs import Pairs
from simnet.storage import atomic_path

PAIRS_FILE = "offline_pairs.npz"

register_miner("offline")(AllPairs)  # the batch's pairs are the offline-mined candidates


def mine_pool(
    embeddings: np.ndarray,
    labels: np.ndarray,
    positives: int,
    negatives: int,
    rng: np.random.Generator,
) -> PairList:
    """Pairs within a pool: per image, random same-class partners and nearest others.

    Args:
        embeddings: ``(N, D)`` snapshot embeddings of the pool.
        labels: ``(N,)`` their classes.
    Returns:
        Pairs of pool positions, each unordered pair once.
    """
    x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    dist = torch.cdist(x, x)  # (N, N); pools are a few thousand images
    same = torch.from_numpy(labels[:, None] == labels[None, :])
    a, b, similar = [], [], []
    others = dist.masked_fill(same, float("inf"))
    k = min(negatives, int((~same).sum(1).min()))
    if k > 0:
        nearest = others.topk(k, dim=1, largest=False).indices.numpy()  # (N, k)
        a.append(np.repeat(np.arange(len(x)), k))
        b.append(nearest.ravel())
        similar.append(np.zeros(len(x) * k, bool))
    for i in range(len(x)):
        mates = np.flatnonzero(labels == labels[i])
        mates = mates[mates != i]
        if len(mates):
            pick = rng.choice(mates, min(positives, len(mates)), replace=False)
            a.append(np.full(len(pick), i))
            b.append(pick)
            similar.append(np.ones(len(pick), bool))
    if not a:
        raise SimNetError("offline mining found no pairs in its pool")
    pa, pb, ps = np.concatenate(a), np.concatenate(b), np.concatenate(similar)
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    _, first = np.unique(lo * len(x) + hi, return_index=True)
    first.sort()
    return PairList(lo[first].astype(np.int64), hi[first].astype(np.int64), ps[first])


def save_pairs(path: Path, pairs: PairList) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, a=pairs.a, b=pairs.b, similar=pairs.similar)


def load_pairs_file(path: Path) -> PairList:
    with np.load(path, allow_pickle=False) as data:
        return PairList(data["a"], data["b"], data["similar"])


class OfflineSampler:
    """Batches of offline-mined pairs, re-mined from a model snapshot every ``every`` steps.

    Yields ``(indices, (positives, negatives))`` like :class:`PairBatchSampler`, with
    ``steps`` batches per epoch (the same budget as class-balanced batches).

    Args:
        embed: ``(model, indices) -> (n, D)`` embeddings of training images by a model.
        model: the model in training; a deep copy of it is the snapshot.
        labels: ``(N,)`` classes of the training images.
        run_dir: where the pair list is written and read back.
    """

    def __init__(
        self,
        embed: Callable[[torch.nn.Module, np.ndarray], np.ndarray],
        model: torch.nn.Module,
        labels: np.ndarray,
        run_dir: Path,
        batch_size: int,
        steps: int,
        every: int = 100,
        pool: int = 5000,
        positives: int = 2,
        negatives: int = 2,
        seed: int = 0,
    ):
        self.embed, self.model, self.labels = embed, model, np.asarray(labels)
        self.path = Path(run_dir) / PAIRS_FILE
        self.batch_size, self.steps, self.every = batch_size, steps, every
        self.pool, self.positives, self.negatives = pool, positives, negatives
        self.seed, self.epoch, self.refreshes = seed, 0, 0

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def refresh(self, step: int) -> PairList:
        """Mines a new list from a snapshot, writes it and reads it back (in dataset indices)."""
        rng = np.random.default_rng((self.seed, step))
        pool = np.sort(rng.permutation(len(self.labels))[: self.pool])
        snapshot = copy.deepcopy(self.model).eval()
        with torch.no_grad():
            embeddings = self.embed(snapshot, pool)
        found = mine_pool(embeddings, self.labels[pool], self.positives, self.negatives, rng)
        save_pairs(self.path, PairList(pool[found.a], pool[found.b], found.similar))
        self.refreshes += 1
        return load_pairs_file(self.path)

    def __iter__(self) -> Iterator[tuple[np.ndarray, tuple[Pairs, Pairs]]]:
        first = self.epoch * self.steps
        batches: Iterator | None = None
        for step in range(first, first + self.steps):
            if batches is None or step % self.every == 0:
                sampler = PairBatchSampler(self.refresh(step), self.batch_size, self.seed)
                sampler.set_epoch(step)
                batches, cycle = iter(sampler), 0
            item = next(batches, None)
            if item is None:  # the list is used up before the next refresh: go round again
                cycle += 1
                sampler.set_epoch(step * 1000 + cycle)
                batches = iter(sampler)
                item = next(batches)
            yield item
