"""The attributes of a package design that a model learns to read from its drawings.

Each attribute is a small closed set of values, read from a design's ``params.json`` for
training and predicted from the three views by the model's attribute heads. They are what
``compare`` and ``search`` name when two designs differ ("memory stacks: 6 vs 3"), so
they are the things an engineer counts on a drawing: the family, the dies, the memory
stacks, what covers the dies, and how they are bonded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simnet.errors import SimNetError
from simnet.packages.families import FAMILIES
from simnet.packages.schema import BONDINGS


def _counts(top: int) -> tuple[str, ...]:
    """``"0"`` .. ``str(top - 1)`` and ``f"{top}+"``."""
    return (*(str(i) for i in range(top)), f"{top}+")


# Attribute -> its values, in the order of the model's head outputs. Changing a list
# changes the heads: a model records the names and values it was trained with.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "family": tuple(FAMILIES),
    "dies": _counts(10),
    "memory_stacks": _counts(12),
    "cover": ("none", "lid", "mould", "lid+mould"),
    "bonding": BONDINGS,
}
LABELS = {
    "family": "family",
    "dies": "dies",
    "memory_stacks": "memory stacks",
    "cover": "cover",
    "bonding": "bonding",
}
UNKNOWN = -1  # an attribute a design's params.json does not give


def _count(value: int, values: tuple[str, ...]) -> str:
    return values[min(int(value), len(values) - 1)]


def attributes_of(params: dict[str, Any]) -> dict[str, str]:
    """The attribute values of a design from its params.json contents; an attribute the
    file does not give is left out."""
    out: dict[str, str] = {}
    if params.get("family") in ATTRIBUTES["family"]:
        out["family"] = params["family"]
    if isinstance(params.get("die_count"), int):
        out["dies"] = _count(params["die_count"], ATTRIBUTES["dies"])
    if isinstance(params.get("memory_stack_count"), int):
        out["memory_stacks"] = _count(params["memory_stack_count"], ATTRIBUTES["memory_stacks"])
    if isinstance(params.get("lid"), bool) and isinstance(params.get("mould"), bool):
        lid, mould = params["lid"], params["mould"]
        out["cover"] = (
            "lid+mould" if lid and mould else "lid" if lid else "mould" if mould else "none"
        )
    if params.get("bonding") in ATTRIBUTES["bonding"]:
        out["bonding"] = params["bonding"]
    return out


def read_params(folder: str | Path) -> dict[str, Any] | None:
    """A design folder's params.json (a drawing under ``renders/`` reads its design's),
    or None where there is none or it is not readable JSON."""
    folder = Path(folder)
    if folder.parent.name == "renders":
        folder = folder.parent.parent
    from simnet.storage import read_json_limited  # a regular file, a few MB at most

    try:
        params = read_json_limited(folder / "params.json")
    except SimNetError:
        return None
    return params if isinstance(params, dict) else None


def encode(params: dict[str, Any] | None, names: tuple[str, ...]) -> np.ndarray:
    """``(len(names),)`` int64 value indices of a design's attributes (UNKNOWN where not
    given)."""
    found = attributes_of(params) if params else {}
    return np.array(
        [ATTRIBUTES[n].index(found[n]) if n in found else UNKNOWN for n in names], dtype=np.int64
    )


def origin_of(params: dict[str, Any] | None, design: str) -> str:
    """The design a one-change copy was made from (itself for an original): copies and
    their original are the hardest negatives of one another."""
    variant_of = (params or {}).get("variant_of")
    if isinstance(variant_of, dict) and isinstance(variant_of.get("design"), str):
        return str(Path(design).parent / variant_of["design"])
    return design


def differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """The attributes, in :data:`ATTRIBUTES` order, that both give and that differ."""
    return [n for n in ATTRIBUTES if n in a and n in b and a[n] != b[n]]


def describe(names: list[str], a: dict[str, str], b: dict[str, str]) -> str:
    """``"memory stacks 6 vs 3; cover lid vs none"``."""
    return "; ".join(f"{LABELS[n]} {a[n]} vs {b[n]}" for n in names)


__all__ = [
    "ATTRIBUTES",
    "LABELS",
    "UNKNOWN",
    "attributes_of",
    "read_params",
    "encode",
    "origin_of",
    "differing",
    "describe",
]
