"""A stack-up as its params.json (:mod:`simnet.packages.schema`), and back."""

from __future__ import annotations

from simnet.packages.geometry import Array, Stackup, Wire, part_from_dict, part_to_dict
from simnet.packages.schema import VERSION


def design_params(
    st: Stackup, design: str, seed: int, drawings: list[dict], variant_of: dict | None = None
) -> dict:
    """A stack-up as its params.json: the summary fields, the drawings and every part."""
    x0, y0, z0, x1, y1, z1 = st.extent()
    summary = dict(st.params)
    out = {
        "schema": VERSION,
        "family": st.family,
        "variant": st.variant,
        "design": design,
        "seed": seed,
        "variant_of": variant_of,
        "outline_mm": [x1 - x0, y1 - y0, z1 - max(z0, 0.0)],
        **summary,
        "interconnects": interconnects(st),
        "drawings": drawings,
    }
    out = _rounded(out)
    out["parts"] = [part_to_dict(p) for p in st.parts]  # rounded as they are made
    return out


def interconnects(st: Stackup) -> list[dict]:
    """Every ball, bump, bond, via, wire and lead: one entry per kind and pitch."""
    found: dict[tuple, int] = {}
    for p in st.parts:
        if isinstance(p, Array):
            key = ("ball" if p.kind == "ball" else p.kind, p.pitch, p.diameter)
            found[key] = found.get(key, 0) + p.count
        elif isinstance(p, Wire):
            key = (p.kind, 0.0, p.width)
            found[key] = found.get(key, 0) + 1
    return [
        {"kind": k, "pitch_mm": pitch, "diameter_mm": dia, "count": n}
        for (k, pitch, dia), n in sorted(found.items())
    ]


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def stackup_from_params(params: dict) -> Stackup:
    """The stack-up a params.json describes (its parts), for drawing it again."""
    st = Stackup(params["family"], params.get("variant", ""))
    st.parts = [part_from_dict(p) for p in params["parts"]]
    return st


__all__ = ["design_params", "interconnects", "stackup_from_params"]
