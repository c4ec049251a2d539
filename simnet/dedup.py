"""Near-duplicate finding: groups of images whose descriptors lie within a distance.

Every image of a folder is described by the model's multi-scale features before its final
projection (:meth:`SimNet.describe`): the embedding itself is trained to make a whole class
alike, so on CIFAR-10 two different images of a class lie closer in it than an image and
its re-encoded copy (BENCHMARKS.md). With no trained model (a pretrained backbone, the
default), the backbone's features are joined with perceptual hashes
(:func:`simnet.hashes.copy_descriptors`): the features hold under crops and rotations, the
hashes under recompression, blur and colour changes. FAISS's range search finds each pair
closer than the threshold (in chunks of queries, so memory follows the pairs found, not
N x N); the pairs' connected components are the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simnet.errors import ImageError

if TYPE_CHECKING:
    from simnet.inference import SimNet

# FAISS, SciPy and the model's modules are imported where they are used, so that the
# command line reads DEFAULT_THRESHOLD for its help without them.

QUERY_CHUNK = 4096
# Measured with the CIFAR-10 fast preset (benchmarks/dedup_threshold.py, BENCHMARKS.md): at
# 0.12 every JPEG re-encoded copy, 87% of 2x-enlarged and 64% of 10%-brightened copies are
# found, and 0.4% of test images have a distinct image within it (2% at 0.15).
DEFAULT_THRESHOLD = 0.12
# Copy detection with no trained model: a pretrained backbone's features joined with pHash
# and dHash (simnet.hashes.copy_descriptors) at this weight, chosen on a tuning sample of
# benchmarks/copy_detection.py (--seed 1: 2,000 images, 700 copies), apart from the copies
# it reports on: of weights 0.25 to 3, 0.5 found the most copies (98.9%). In that sample no
# image had a distinct one within 0.7 (the closest 0.1% lay beyond 0.76), and 0.7 took in
# 62% of its heavily edited copies (hue turned, JPEG quality 8-15, 15-degree turns).
COPY_HASH_WEIGHT = 0.5
DEFAULT_COPY_THRESHOLD = 0.7
COPY_BACKBONE = "efficientnet_lite0"


@dataclass
class Group:
    paths: list[str]
    pairs: list[tuple[int, int, float]]  # (i, j, distance) into paths, under the threshold
    to_first: list[float]  # each image's distance to the group's first

    @property
    def max_distance(self) -> float:
        return max(d for _, _, d in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.paths,
            "max_distance": self.max_distance,
            "pairs": [
                {"a": self.paths[i], "b": self.paths[j], "distance": d} for i, j, d in self.pairs
            ],
        }


@dataclass
class Duplicates:
    threshold: float
    images: int  # images compared
    groups: list[Group]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "images": self.images,
            "groups": [g.to_dict() for g in self.groups],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def close_pairs(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` with ``|v_i - v_j| < threshold``: ``((P, 2) rows, (P,) distances)``."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = faiss.IndexFlatL2(vectors.shape[1])
    flat.add(vectors)
    pairs, distances = [], []
    for start in range(0, len(vectors), QUERY_CHUNK):
        lims, d2, found = flat.range_search(vectors[start : start + QUERY_CHUNK], threshold**2)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims).astype(np.int64))
        found = found.astype(np.int64)
        keep = found > rows  # each pair once, never an image with itself
        pairs.append(np.stack([rows[keep], found[keep]], axis=1))
        distances.append(np.sqrt(np.maximum(d2[keep], 0.0)))
    return np.concatenate(pairs).astype(np.int64), np.concatenate(distances)


def group_pairs(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected components with two or more members, largest first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    groups = [np.flatnonzero(component == c) for c in np.flatnonzero(sizes >= 2)]
    return sorted(groups, key=lambda g: (-len(g), int(g[0])))


def find_duplicates(
    net: SimNet,
    paths: list[str | Path],
    threshold: float = DEFAULT_THRESHOLD,
    progress: bool = False,
) -> Duplicates:
    """Groups of near-duplicate images (designs, for a multi-view model) under ``paths``;
    ``progress`` shows a progress bar while they are read."""
    arrays, kept, skipped = _decode_all(net, paths, progress)
    if not kept:
        return Duplicates(threshold, 0, [], skipped)
    images = np.stack(arrays)
    vectors = net.describe(images, net.config.eval.batch_size)
    if net.backbone is not None:  # no trained model: the copy-detection descriptor
        from simnet.hashes import copy_descriptors

        vectors = copy_descriptors(vectors, images, COPY_HASH_WEIGHT)
    pairs, distances = close_pairs(vectors, threshold)
    groups = []
    for members in group_pairs(len(kept), pairs):
        local = {int(m): i for i, m in enumerate(members)}
        inside = np.isin(pairs[:, 0], members)
        group_pairs_ = [
            (local[int(a)], local[int(b)], float(d))
            for (a, b), d in zip(pairs[inside], distances[inside], strict=True)
        ]
        to_first = np.linalg.norm(vectors[members] - vectors[members[0]], axis=1)
        groups.append(Group([kept[m] for m in members], group_pairs_, to_first.tolist()))
    return Duplicates(threshold, len(kept), groups, skipped)


def _decode_all(
    net: SimNet, paths: list[str | Path], progress: bool
) -> tuple[list[np.ndarray], list[str], list[tuple[str, str]]]:
    """Every readable image (design) under ``paths`` decoded, its path, and the skipped
    ones with the reason."""
    from tqdm import tqdm

    from simnet.data.images import skip_reason
    from simnet.index import expand_paths

    arrays, kept, skipped = [], [], []
    for path, _ in tqdm(expand_paths(paths, net.views), desc="reading", disable=not progress):
        try:
            arrays.append(net.decode(path))
            kept.append(path)
        except ImageError as exc:
            skipped.append((path, skip_reason(path, exc)))
    return arrays, kept, skipped
