"""Evaluation of a multi-view model on a design library.

Three questions, all on designs the model never trained on (the library's test split):

- **Family retrieval**: is a held-out design's nearest training design of its family?
  (``knn_accuracy`` is this 1-NN accuracy, so the key means the same as for images.)
- **Re-identification**: drawn again in another style (its ``renders/``), is the design
  itself the nearest of all the library's designs?
- **Family triplets**: for a held-out design, a second of its family and one of another
  family, does ``compare`` score the same-family pair as more similar?

Family retrieval is also reported for each view alone, to show what fusing them adds.
With a generated library (params.json) two more:

- **One-change ordering**: for a held-out design A, a redrawing A' of it in another style
  and a one-change copy B of it in A's style (a die fewer, a memory stack more, ...),
  is A' nearer to A than B is? Reported per kind of change.
- **Attribute accuracy**: the model's attribute heads against params.json, per attribute,
  over the held-out designs' drawings.

Per-style figures are split into the styles the model trained on and the rest, when the
model recorded its training styles (``calibration.json``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simnet.data.cache import TEST, TRAIN
from simnet.data.designs import is_primary, load_all_designs
from simnet.errors import SimNetError
from simnet.eval.metrics import knn_accuracy, map_at_r, nearest_neighbours
from simnet.inference import SimNet
from simnet.storage import read_json_limited


def design_of(key: str) -> str:
    """The design folder a drawing belongs to (``d/renders/3`` -> ``d``)."""
    path = Path(key)
    return str(path if is_primary(key) else path.parent.parent)


def family_triplets(
    embeddings: np.ndarray, families: np.ndarray, count: int = 5000, seed: int = 0
) -> float | None:
    """Share of random (anchor, same family, other family) triplets where the same-family
    design is nearer to the anchor; None when no triplet exists."""
    rng = np.random.default_rng(seed)
    by_family = {f: np.flatnonzero(families == f) for f in np.unique(families)}
    anchors = [i for i in range(len(families)) if len(by_family[families[i]]) > 1]
    if not anchors or len(by_family) < 2:
        return None
    wins = 0
    for _ in range(count):
        a = anchors[rng.integers(len(anchors))]
        same = by_family[families[a]]
        p = same[rng.integers(len(same))]
        while p == a:
            p = same[rng.integers(len(same))]
        n = rng.integers(len(families))
        while families[n] == families[a]:
            n = rng.integers(len(families))
        d_pos = np.linalg.norm(embeddings[a] - embeddings[p])
        d_neg = np.linalg.norm(embeddings[a] - embeddings[n])
        wins += int(d_pos < d_neg)
    return wins / count


def drawing_style(key: str) -> str | None:
    """The style a generated design's drawing is in, from its params.json (None when the
    design has none or does not say)."""
    design = Path(design_of(key))
    try:
        params = read_json_limited(design / "params.json")
    except SimNetError:
        return None
    drawings = params.get("drawings", []) if isinstance(params, dict) else []
    if not isinstance(drawings, list):
        return None
    drawings = [d for d in drawings if isinstance(d, dict)]
    path = "." if is_primary(key) else str(Path(key).relative_to(design))
    return next((d.get("style") for d in drawings if d.get("path") == path), None)


def _per_style(
    keys: list[str],
    queries: np.ndarray,
    found_itself: np.ndarray,
    emb: np.ndarray,
    train: np.ndarray,
    families: np.ndarray,
) -> dict[str, Any]:
    """Re-identification rank 1 and family precision@1 (the nearest training design)
    of the re-drawn held-out designs, for each drawing style of a generated library."""
    styles = np.array([drawing_style(keys[i]) or "" for i in queries])
    if not styles.any() or not len(train):
        return {}
    _, near = nearest_neighbours(emb[train], emb[queries], 1)
    family_hit = families[train][near[:, 0]] == families[queries]
    out: dict[str, Any] = {}
    for style in sorted(set(styles) - {""}):
        mine = styles == style
        out[f"reid_rank1_{style}"] = float(found_itself[mine].mean())
        out[f"family_precision_at_1_{style}"] = float(family_hit[mine].mean())
        out[f"queries_{style}"] = int(mine.sum())
    return out


def _seen_and_held_out(styles: dict[str, Any], trained: list[str] | None) -> dict[str, Any]:
    """The worst style's re-id and family P@1 among the styles seen in training and
    among the rest, and which styles those are."""
    names = [k.removeprefix("queries_") for k in styles if k.startswith("queries_")]
    if not trained or not names:
        return {}
    out: dict[str, Any] = {}
    for kind, group in (
        ("seen", [n for n in names if n in trained]),
        ("held_out", [n for n in names if n not in trained]),
    ):
        if group:
            out[f"styles_{kind}"] = ",".join(group)
            out[f"reid_rank1_{kind}_worst"] = min(styles[f"reid_rank1_{n}"] for n in group)
            out[f"family_precision_at_1_{kind}_worst"] = min(
                styles[f"family_precision_at_1_{n}"] for n in group
            )
    return out


def _attributes(net: SimNet, keys: list[str], emb: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """:func:`attribute_accuracy` over all the drawings, and again (``..._seen``,
    ``..._held_out``) over those in the styles seen in training and those held out."""
    out = attribute_accuracy(net, emb, truth)
    styles = np.array([drawing_style(k) or "" for k in keys])
    for kind, rows in _seen_and_held_out_rows(styles, net.calibration.get("trained_styles")):
        found = attribute_accuracy(net, emb[rows], truth[rows])
        out.update({f"{k}_{kind}": v for k, v in found.items() if "attribute_acc" in k})
    return out


def _seen_and_held_out_rows(
    styles: np.ndarray, trained: list[str] | None
) -> list[tuple[str, np.ndarray]]:
    """The rows drawn in a style seen in training and those in a style held out of it,
    where there are both (the model knows its training styles and the drawings theirs)."""
    if not trained or not styles.any():
        return []
    seen = np.isin(styles, trained)
    groups = {"seen": seen, "held_out": ~seen & (styles != "")}
    if not all(rows.any() for rows in groups.values()):
        return []
    return [(kind, np.flatnonzero(rows)) for kind, rows in groups.items()]


def one_change_ordering(keys: list[str], emb: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    """For each held-out design A with one-change copies: over its redrawings A' and
    its copies B (their own drawing), the share of (A', B) where A' is nearer to A.
    Per kind of change (``one_change_ordering_<change>``) and over all."""
    from simnet.packages.attributes import read_params

    primary = {design_of(keys[i]): i for i in test if is_primary(keys[i])}
    redraws: dict[str, list[int]] = {}
    for i in test:
        if not is_primary(keys[i]):
            redraws.setdefault(design_of(keys[i]), []).append(i)
    wins: dict[str, list[bool]] = {}
    for design, i in primary.items():
        variant_of = (read_params(design) or {}).get("variant_of")
        if not isinstance(variant_of, dict):
            continue
        original = str(Path(design).parent / str(variant_of.get("design")))
        a = primary.get(original)
        if a is None or not redraws.get(original):
            continue
        d_copy = np.linalg.norm(emb[a] - emb[i])
        d_redraw = np.linalg.norm(emb[redraws[original]] - emb[a], axis=1)
        wins.setdefault(str(variant_of.get("change")), []).extend((d_redraw < d_copy).tolist())
    if not wins:
        return {}
    out: dict[str, Any] = {
        "one_change_ordering": float(np.mean([w for ws in wins.values() for w in ws]))
    }
    for change, ws in sorted(wins.items()):
        out[f"one_change_ordering_{change}"] = float(np.mean(ws))
        out[f"one_change_cases_{change}"] = len(ws)
    return out


def attribute_accuracy(net: SimNet, emb: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per attribute the model predicts: the share of drawings whose prediction is
    the params.json value (drawings without one are not counted). A count that is
    mostly 0 (memory stacks: most families have none) is also scored over the drawings
    that have some (``..._nonzero``), where counting is the task."""
    from simnet.packages.attributes import ATTRIBUTES

    if not net.attribute_names or not len(emb):
        return {}
    predicted = net.predict_attributes(emb)
    columns = list(ATTRIBUTES)
    out: dict[str, Any] = {}
    for name in net.attribute_names:
        known = truth[:, columns.index(name)] >= 0
        if known.any():
            values = [ATTRIBUTES[name][t] for t in truth[known, columns.index(name)]]
            guesses = [p[name][0] for p, k in zip(predicted, known, strict=True) if k]
            right = np.array([g == v for g, v in zip(guesses, values, strict=True)])
            out[f"attribute_accuracy_{name}"] = float(right.mean())
            if ATTRIBUTES[name][0] == "0":  # a count
                out.update(_by_count(name, np.array(values), right))
    return out


def _by_count(name: str, values: np.ndarray, right: np.ndarray) -> dict[str, Any]:
    """A count head's accuracy over the drawings that have some, and per count: whether it
    counts or reads the layout (even counts of stacks fill both columns; an odd one leaves
    a site empty)."""
    out: dict[str, Any] = {}
    some = values != "0"
    if some.any() and not some.all():
        out[f"attribute_accuracy_{name}_nonzero"] = float(right[some].mean())
    for value in sorted(set(values[some]), key=lambda v: int(v.rstrip("+"))):
        out[f"count_accuracy_{name}_{value}"] = float(right[values == value].mean())
        out[f"count_drawings_{name}_{value}"] = int((values == value).sum())
    return out


def _family_retrieval(
    emb: np.ndarray,
    views: np.ndarray,
    families: np.ndarray,
    split: tuple[np.ndarray, np.ndarray],
    ks: list[int],
    names: tuple[str, ...],
) -> dict[str, Any]:
    """k-NN family accuracy, MAP@R and per-view precision@1 of the test designs among
    the training designs."""
    train, test = split
    if not (len(train) and len(test)):
        return {}
    result: dict[str, Any] = {}
    accuracy = knn_accuracy(emb[train], families[train], emb[test], families[test], ks)
    result["knn_accuracy"] = accuracy[1]
    result.update({f"knn_accuracy@{k}": v for k, v in accuracy.items() if k != 1})
    result["family_precision_at_1"] = accuracy[1]
    result["map_at_r"] = map_at_r(emb[train], families[train], emb[test], families[test])
    for v, name in enumerate(names):  # what one view alone retrieves
        one = views[:, v]
        acc = knn_accuracy(one[train], families[train], one[test], families[test], [1])
        result[f"family_precision_at_1_{name}"] = acc[1]
    return result


def reidentification(
    keys: list[str],
    emb: np.ndarray,
    gallery: np.ndarray,
    queries: np.ndarray,
    families: np.ndarray,
    origins: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Whether each redrawn design finds itself among the ``gallery`` designs' own
    drawings within 1 and 5 (``(Q, 5)`` hits), rank 1 and 5, and what stands first where
    it does not: its one-change twin (``reid_miss_own_copy``: its copy, or a copy's
    original, where ``origins`` says), another design of its family, or a design of
    another family (shares of all queries)."""
    _, idx = nearest_neighbours(emb[gallery], emb[queries], min(5, len(gallery)))
    names = np.array([keys[i] for i in gallery])
    wanted = np.array([design_of(keys[i]) for i in queries])
    hits = names[idx] == wanted[:, None]  # (Q, k)
    first = gallery[idx[:, 0]]
    own_copy = (
        np.zeros(len(queries), bool) if origins is None else origins[first] == origins[queries]
    )
    same_family = families[first] == families[queries]
    miss = ~hits[:, 0]
    return hits, {
        "reid_rank1": float(hits[:, 0].mean()),
        "reid_rank5": float(hits.any(1).mean()),
        "reid_queries": int(len(queries)),
        "reid_miss_own_copy": float((miss & own_copy).mean()),
        "reid_miss_same_family": float((miss & ~own_copy & same_family).mean()),
        "reid_miss_other_family": float((miss & ~same_family).mean()),
    }


def evaluate_designs(
    net: SimNet, path: str | Path, ks: list[int], progress: bool = False
) -> dict[str, Any]:
    config = net.config
    whole, split = load_all_designs(
        path,
        config.data.image_size,
        config.data.test_fraction,
        config.data.cache_dir,
        "family",
        net.views,
        config.data.trim,
        config.data.max_aspect,
    )
    started = time.perf_counter()
    views = net.embed_views(whole.images, config.eval.batch_size, progress)  # (N, V, D)
    emb = net.model.fuse(torch.from_numpy(views)).numpy()  # (N, D')
    embed_seconds = time.perf_counter() - started
    families = np.asarray(whole.labels)
    labelled = np.array([whole.classes[f] != "" for f in families])
    primary = np.array([is_primary(k) for k in whole.keys])
    train = np.flatnonzero(primary & labelled & (split == TRAIN))
    test = np.flatnonzero(primary & labelled & (split == TEST))
    result = _family_retrieval(emb, views, families, (train, test), ks, net.views)
    result["family_triplet_accuracy"] = family_triplets(emb[test], families[test])
    gallery = np.flatnonzero(primary)
    queries = np.flatnonzero(~primary & (split == TEST))
    if len(queries):
        hits, found = reidentification(whole.keys, emb, gallery, queries, families, whole.origins)
        result.update(found)
        styles = _per_style(whole.keys, queries, hits[:, 0], emb, train, families)
        result.update(styles)
        result.update(_seen_and_held_out(styles, net.calibration.get("trained_styles")))
    test_all = np.flatnonzero(labelled & (split == TEST))
    result.update(one_change_ordering(whole.keys, emb, test_all))
    if whole.attributes is not None:
        keys = [whole.keys[i] for i in test_all]
        result.update(_attributes(net, keys, emb[test_all], whole.attributes[test_all]))
    result.update(
        {
            "train_designs": int(len(train)),
            "test_designs": int(len(test)),
            "library_designs": int(len(gallery)),
            "embed_designs_per_second": len(emb) / embed_seconds,
            "data": str(path),
        }
    )
    return result
