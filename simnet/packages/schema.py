"""params.json: one schema for every family, the design's ground truth.

A generated design's ``params.json`` says what the design is, in fields that mean the same
in every family, so that two designs can be compared field by field
(:func:`differences`), and holds its whole geometry (``parts``), so that
:mod:`simnet.packages.check` can judge it without the generator's code.

=====================  ====================================================================
field                  meaning
=====================  ====================================================================
``schema``             ``"simnet-package/2"``
``family``             the family (``simnet generate-packages --help`` lists them)
``variant``            the family's variant, e.g. ``lidded``, ``silicon``, ``qfp``
``design``             the design's folder name; ``seed`` the seed it was built from
``variant_of``         null, or for a one-change copy ``{design, change, from, to}``: the
                       design it copies and the one attribute that differs
``outline_mm``         body width, depth and height (board to top), mm
``die_count``          logic, I/O and base dies (not memory dies, not bridges)
``dies``               ``[{name, role, size_mm: [w, d, t]}]``, role ``logic``, ``io``,
                       ``base`` or ``rf``
``memory_stack_count`` memory stacks (an HBM stack, a wire-bonded DRAM stack, the dies
                       stacked on a 3-D base)
``memory_stacks``      ``[{kind, dies, height_mm, footprint_mm: [w, d]}]``, kind ``HBM2``,
                       ``HBM2E``, ``HBM3``, ``HBM3E``, ``DRAM``, ``NAND`` or ``SRAM``
``substrate``          null or ``{kind: organic|rdl|leadframe, thickness_mm, core_mm,
                       buildup_per_side, layers}`` (``layers`` counts copper layers: for
                       an organic substrate 2 in the core plus the build-up on both
                       sides; for ``rdl``, the redistribution layers of a fan-out)
``interposer``         null or ``{kind: silicon|rdl|bridge, size_mm: [w, d, t], tsv,
                       rdl_layers, bridges}``
``interconnects``      ``[{kind, pitch_mm, diameter_mm, count}]``: every ball, bump, bond,
                       via, wire and lead, one entry per kind and pitch
``bonding``            how the dies are attached: ``flip-chip``, ``wire-bond``,
                       ``micro-bump``, ``hybrid`` or ``fan-out``
``lid`` ``mould``      booleans
``underfill``
``shield``
``passives``           chip capacitors and resistors on the package
``drawings``           ``[{path, style, size_px, z_exaggeration, mm_per_px}]``: each
                       drawing of the design (``.`` and ``renders/<k>``) and its style
``parts``              the geometry: :func:`simnet.packages.geometry.part_to_dict` of every
                       part, in mm
=====================  ====================================================================

:data:`SCHEMA` is the same as a JSON Schema (draft 2020-12).
"""

from __future__ import annotations

from typing import Any

VERSION = "simnet-package/2"
ROLES = ("logic", "io", "base", "rf")
MEMORY_KINDS = ("HBM2", "HBM2E", "HBM3", "HBM3E", "DRAM", "NAND", "SRAM")
INTERCONNECTS = ("ball", "c4", "micro-bump", "hybrid", "tsv", "tmv", "wire", "lead")
BONDINGS = ("flip-chip", "wire-bond", "micro-bump", "hybrid", "fan-out")
# The attributes a one-change copy may change, and the params.json field that shows it.
CHANGES = {
    "dies": "die_count",
    "memory-stacks": "memory_stack_count",
    "stack-height": "memory_stacks",
    "lid": "lid",
    "bonding": "bonding",
    "variant": "variant",
    "shield": "shield",
}
# The fields that describe the design (not its drawing or its geometry), compared by
# :func:`differences`.
FIELDS = (
    "family",
    "variant",
    "outline_mm",
    "die_count",
    "dies",
    "memory_stack_count",
    "memory_stacks",
    "substrate",
    "interposer",
    "interconnects",
    "bonding",
    "lid",
    "mould",
    "underfill",
    "shield",
    "passives",
)

_NUM = {"type": "number", "minimum": 0}
_SIZE3 = {"type": "array", "items": _NUM, "minItems": 3, "maxItems": 3}
_SIZE2 = {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}
_COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict, nullable: bool = False) -> dict:
    obj = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {"oneOf": [{"type": "null"}, obj]} if nullable else obj


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "simnet package design (params.json)",
    **_object(
        {
            "schema": {"const": VERSION},
            "family": {"type": "string"},
            "variant": {"type": "string"},
            "design": {"type": "string"},
            "seed": {"type": "integer"},
            "variant_of": _object(
                {
                    "design": {"type": "string"},
                    "change": {"enum": list(CHANGES)},
                    "from": {},
                    "to": {},
                },
                nullable=True,
            ),
            "outline_mm": _SIZE3,
            "die_count": _COUNT,
            "dies": {
                "type": "array",
                "items": _object(
                    {"name": {"type": "string"}, "role": {"enum": list(ROLES)}, "size_mm": _SIZE3}
                ),
            },
            "memory_stack_count": _COUNT,
            "memory_stacks": {
                "type": "array",
                "items": _object(
                    {
                        "kind": {"enum": list(MEMORY_KINDS)},
                        "dies": {"type": "integer", "minimum": 1},
                        "height_mm": _NUM,
                        "footprint_mm": _SIZE2,
                    }
                ),
            },
            "substrate": _object(
                {
                    "kind": {"enum": ["organic", "rdl", "leadframe"]},
                    "thickness_mm": _NUM,
                    "core_mm": _NUM,
                    "buildup_per_side": _COUNT,
                    "layers": _COUNT,
                },
                nullable=True,
            ),
            "interposer": _object(
                {
                    "kind": {"enum": ["silicon", "rdl", "bridge"]},
                    "size_mm": _SIZE3,
                    "tsv": {"type": "boolean"},
                    "rdl_layers": _COUNT,
                    "bridges": _COUNT,
                },
                nullable=True,
            ),
            "interconnects": {
                "type": "array",
                "items": _object(
                    {
                        "kind": {"enum": list(INTERCONNECTS)},
                        "pitch_mm": _NUM,
                        "diameter_mm": _NUM,
                        "count": _COUNT,
                    }
                ),
            },
            "bonding": {"enum": list(BONDINGS)},
            "lid": {"type": "boolean"},
            "mould": {"type": "boolean"},
            "underfill": {"type": "boolean"},
            "shield": {"type": "boolean"},
            "passives": _COUNT,
            "drawings": {
                "type": "array",
                "items": _object(
                    {
                        "path": {"type": "string"},
                        "style": {"type": "string"},
                        "size_px": {"type": "integer", "minimum": 1},
                        "z_exaggeration": _NUM,
                        "mm_per_px": _NUM,
                    }
                ),
            },
            "parts": {"type": "array", "items": {"type": "object", "required": ["type", "kind"]}},
        }
    ),
}


def differences(a: dict, b: dict) -> dict[str, tuple[Any, Any]]:
    """The design fields in which two params.json differ: ``{field: (a's, b's)}``."""
    return {f: (a.get(f), b.get(f)) for f in FIELDS if a.get(f) != b.get(f)}


__all__ = ["SCHEMA", "VERSION", "FIELDS", "CHANGES", "differences"]
