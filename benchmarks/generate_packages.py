"""How fast the package generator writes a library, with one process and with all cores.

Designs per second, each design built, drawn in its three views ``--renders`` times (in the
default mix of styles) and written with its params.json; then the geometry alone (build
and params.json, no drawing). One run, the two worker counts alternating, so the machine's
noise hits both alike.

    python benchmarks/generate_packages.py [--designs 130] [--renders 4] [--size 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from simnet.packages.families import FAMILIES, build
from simnet.packages.generate import design_seed
from simnet.packages.params import design_params
from simnet.runtime import cpu_name


def library_rate(designs: int, renders: int, size: int, workers: int) -> float:
    from simnet.packages.generate import generate_packages

    root = Path(tempfile.mkdtemp(prefix="simnet-gen-"))
    try:
        start = time.perf_counter()
        generate_packages(
            root / "lib", designs, size=size, renders=renders, progress=False, workers=workers
        )
        return designs / (time.perf_counter() - start)
    finally:
        shutil.rmtree(root)


def geometry_rate(designs: int) -> float:
    names = list(FAMILIES)
    start = time.perf_counter()
    for i in range(designs):
        family = names[i % len(names)]
        seed = design_seed(0, family, i // len(names))
        design_params(build(family, seed), family, seed, [])
    return designs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=130)
    parser.add_argument("--renders", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"CPU: {cpu_name()}, {cores} cores; {args.designs} designs x {args.renders} drawings")
    rates: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(args.repeats):
        for workers in rates:
            rates[workers].append(library_rate(args.designs, args.renders, args.size, workers))
    for workers, got in rates.items():
        print(f"{workers} process(es): {max(got):6.1f} designs/s (best of {len(got)})")
    print(f"all cores vs one: {max(rates[cores]) / max(rates[1]):.2f}x")
    print(f"geometry only (build + params.json, one process): {geometry_rate(1300):.0f} designs/s")


if __name__ == "__main__":
    main()
