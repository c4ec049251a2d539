"""What a design model's similarities mean, measured on its training library.

After training a design model, every pair of training drawings falls in one of three
kinds: two drawings of one design, two designs of one family (a design's one-change
copies among them), or designs of two families. The thresholds between the kinds are the
similarities that best tell them apart (the highest balanced accuracy), and the spread of
the same-family similarities gives ``compare`` its percentile: "more alike than 97% of
the library's same-family pairs". They are written beside the model as
``calibration.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from simnet.data.cache import ImageSet
from simnet.errors import SimNetError
from simnet.storage import atomic_write_text

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
VERDICTS = ("same design", "same family", "different family")
MAX_PAIRS = 20_000  # per kind: enough for a threshold to 3 decimals


def _pairs(
    labels: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``(n, 2)`` index pairs of each kind, at most MAX_PAIRS of each."""
    same_design = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        same_design += [(i, j) for k, i in enumerate(idx) for j in idx[k + 1 :]]
    a = rng.integers(0, len(labels), 8 * MAX_PAIRS)
    b = rng.integers(0, len(labels), 8 * MAX_PAIRS)
    other = labels[a] != labels[b]
    family = other & (groups[a] == groups[b])
    different = groups[a] != groups[b]
    kinds = {
        "same design": np.array(same_design, dtype=np.int64).reshape(-1, 2),
        "same family": np.stack([a[family], b[family]], 1),
        "different family": np.stack([a[different], b[different]], 1),
    }
    for kind, pairs in kinds.items():
        if len(pairs) > MAX_PAIRS:
            kinds[kind] = pairs[rng.choice(len(pairs), MAX_PAIRS, replace=False)]
    return kinds


def best_threshold(high: np.ndarray, low: np.ndarray) -> float:
    """The similarity that best tells ``high`` (above it) from ``low`` (below it): the
    highest balanced accuracy, midway between the two neighbouring values."""
    values = np.sort(np.concatenate([high, low]))
    cuts = (values[1:] + values[:-1]) / 2 if len(values) > 1 else values
    hi, lo = np.sort(high), np.sort(low)
    above = 1 - np.searchsorted(hi, cuts, side="left") / len(hi)
    below = np.searchsorted(lo, cuts, side="left") / len(lo)
    return float(cuts[int(np.argmax(above + below))])


def calibrate(embeddings: np.ndarray, images: ImageSet, seed: int = 0) -> dict[str, Any]:
    """Thresholds and same-family percentiles from a design set's unit-norm embeddings
    (labels: designs, groups: families)."""
    if images.groups is None:
        raise ValueError("calibration needs designs labelled by design, grouped by family")
    kinds = _pairs(images.labels, images.groups, np.random.default_rng(seed))
    sims = {k: np.sum(embeddings[p[:, 0]] * embeddings[p[:, 1]], axis=1) for k, p in kinds.items()}
    if any(len(s) == 0 for s in sims.values()):
        missing = [k for k, s in sims.items() if len(s) == 0]
        log.warning("no calibration: the training set has no pairs of kind %s", missing[0])
        return {}
    same_design = best_threshold(sims["same design"], sims["same family"])
    same_family = best_threshold(sims["same family"], sims["different family"])
    return {
        "thresholds": {"same design": same_design, "same family": min(same_family, same_design)},
        "same_family_quantiles": np.quantile(sims["same family"], np.linspace(0, 1, 101))
        .round(5)
        .tolist(),
        "pairs": {k: len(s) for k, s in sims.items()},
        "median_similarity": {k: round(float(np.median(s)), 4) for k, s in sims.items()},
    }


def write_calibration(
    run_dir: Path, embeddings: np.ndarray, images: ImageSet, styles: list[str] | None = None
) -> dict:
    """Calibrates on the training designs and writes ``calibration.json``, with the
    drawing styles the model trained on (``evaluate`` reports the others apart)."""
    found = calibrate(embeddings, images)
    if found:
        found["trained_styles"] = styles or []
        atomic_write_text(run_dir / CALIBRATION_FILE, json.dumps(found, indent=1) + "\n")
        t = found["thresholds"]
        log.info(
            "calibrated on the training designs: same design above similarity %.3f, "
            "same family above %.3f",
            t["same design"],
            t["same family"],
        )
    return found


def read_calibration(run_dir: Path) -> dict[str, Any]:
    """A model folder's calibration ({} where it has none or it is unreadable)."""
    from simnet.storage import read_json_limited  # a regular file, a few MB at most

    try:
        found = read_json_limited(run_dir / CALIBRATION_FILE)
    except SimNetError:
        return {}
    return found if isinstance(found, dict) and "thresholds" in found else {}


def verdict(similarity: float, calibration: dict[str, Any]) -> str | None:
    """ "same design", "same family" or "different family" (None: not calibrated)."""
    t = calibration.get("thresholds")
    if not t:
        return None
    if similarity >= t["same design"]:
        return VERDICTS[0]
    return VERDICTS[1] if similarity >= t["same family"] else VERDICTS[2]


def same_family_percentile(similarity: float, calibration: dict[str, Any]) -> float | None:
    """The share (0-100) of the library's same-family pairs less alike than this one."""
    q = calibration.get("same_family_quantiles")
    if not q:
        return None
    return float(np.interp(similarity, q, np.linspace(0, 100, len(q)), left=0.0, right=100.0))


__all__ = [
    "CALIBRATION_FILE",
    "VERDICTS",
    "calibrate",
    "best_threshold",
    "write_calibration",
    "read_calibration",
    "verdict",
    "same_family_percentile",
]
