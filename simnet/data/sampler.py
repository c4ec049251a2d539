"""Class-balanced batches: m images from each of several classes, so every batch holds
positive pairs for the miner."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simnet.errors import SimNetError


class ClassBalancedBatchSampler:
    """Yields batches of indices with ``per_class`` images from each of
    ``batch_size // per_class`` classes.

    Each class's images are drawn from its own shuffled stream, so within an epoch every
    image is seen about once before any is repeated. Seeded by ``(seed, epoch)``.

    Args:
        labels: ``(N,)`` integer class of every image.
        batch_size: images per batch (rounded down to a multiple of ``per_class``).
        per_class: images per class in a batch (the paper's m).
        seed: base seed; call :meth:`set_epoch` before each epoch.
        origins: ``(N,)`` optional: classes of one origin (a design and its one-change
            copies) are drawn into a batch together, so that each is there as the
            others' hardest negative (the miner's curriculum decides when they count).
        groups: ``(N,)`` optional group of every image (a design's family), with
            ``groups_per_batch``: a batch's classes come from that many groups (more
            where those few cannot fill it), so that it holds many classes of each, the
            negatives a search must tell apart (0: from all groups).
    """

    def __init__(
        self,
        labels: np.ndarray,
        batch_size: int,
        per_class: int,
        seed: int = 0,
        origins: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        groups_per_batch: int = 0,
    ):
        if per_class < 2:
            raise ValueError(f"per_class must be at least 2, got {per_class}")
        self.labels = np.asarray(labels)
        self.by_class = [np.flatnonzero(self.labels == c) for c in np.unique(self.labels)]
        if len(self.by_class) < 2:
            images, classes = len(self.labels), len(self.by_class)
            raise SimNetError(
                "training needs at least 2 classes (a negative pair joins two), but its "
                f"training images are {images} image{'s' * (images != 1)} of {classes} "
                f"class{'es' * (classes != 1)}"
            )
        self.per_class = per_class
        self.classes_per_batch = max(2, min(batch_size // per_class, len(self.by_class)))
        self.seed = seed
        self.epoch = 0
        # class -> the classes of its origin (itself included), where origins are given
        self.siblings: list[np.ndarray] | None = None
        self.group_of_class: np.ndarray | None = None
        self.groups_per_batch = groups_per_batch
        if groups is not None and groups_per_batch > 0:
            self.group_of_class = np.array([np.asarray(groups)[idx[0]] for idx in self.by_class])
        if origins is not None:
            origin_of_class = np.array([np.asarray(origins)[idx[0]] for idx in self.by_class])
            self.siblings = [np.flatnonzero(origin_of_class == o) for o in origin_of_class]

    @property
    def batch_size(self) -> int:
        return self.classes_per_batch * self.per_class

    def __len__(self) -> int:
        return max(1, len(self.labels) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng((self.seed, self.epoch))
        streams = [_Stream(idx, rng) for idx in self.by_class]
        sizes = np.array([len(idx) for idx in self.by_class], dtype=np.float64)
        for _ in range(len(self)):
            chosen = self._choose(rng, sizes)
            if self.siblings is not None:
                chosen = self._with_siblings(chosen)
            yield np.concatenate([streams[c].take(self.per_class) for c in chosen])

    def _choose(self, rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
        """Classes picked in proportion to their size, without replacement: from
        ``groups_per_batch`` groups (picked by their size) where groups are given, and
        from the rest only where those do not hold enough classes."""
        k = self.classes_per_batch
        if self.group_of_class is None:
            return rng.choice(len(sizes), k, replace=False, p=sizes / sizes.sum())
        names, group = np.unique(self.group_of_class, return_inverse=True)
        weight = np.bincount(group, weights=sizes)
        few = rng.choice(
            len(names),
            min(self.groups_per_batch, len(names)),
            replace=False,
            p=weight / weight.sum(),
        )
        inside = np.isin(group, few)
        first = np.flatnonzero(inside)
        if len(first) >= k:
            p = sizes[first] / sizes[first].sum()
            return rng.choice(first, k, replace=False, p=p)
        rest = np.flatnonzero(~inside)
        p = sizes[rest] / sizes[rest].sum()
        return np.concatenate([first, rng.choice(rest, k - len(first), replace=False, p=p)])

    def _with_siblings(self, chosen: np.ndarray) -> np.ndarray:
        """The chosen classes in order, each followed by its siblings, as many as fit."""
        assert self.siblings is not None
        out: dict[int, None] = {}
        for c in chosen:
            for s in self.siblings[c] if len(out) < self.classes_per_batch else ():
                out.setdefault(int(s))
        return np.array(list(out)[: self.classes_per_batch])


class _Stream:
    """Endless shuffled passes over one class's indices."""

    def __init__(self, index: np.ndarray, rng: np.random.Generator):
        self.index, self.rng = index, rng
        self.order = rng.permutation(index)
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        out = []
        while n > 0:
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(self.index), 0
            part = self.order[self.pos : self.pos + n]
            out.append(part)
            self.pos += len(part)
            n -= len(part)
        return np.concatenate(out)
