"""How fast the command line answers ``--help``: the whole process, from start to exit.

    python benchmarks/cli_startup.py [--runs 15]

Prints the median and the slowest of the runs for ``simnet --help`` and for one command's
help (``simnet train --help``), and which heavy modules each imported (none should: the
library is imported inside the commands that use it). Name the CPU beside the figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PROBE = (
    "import sys\nfrom simnet.cli import main\n"
    "try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
    "print(sorted(m for m in ('torch', 'numpy', 'faiss', 'scipy') if m in sys.modules), "
    "file=sys.stderr)"
)


def timed(args: list[str], runs: int) -> tuple[list[float], str]:
    seconds, heavy = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True
        )
        seconds.append(time.perf_counter() - start)
        heavy = done.stderr.strip().splitlines()[-1]
    return seconds, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    for args in (["--help"], ["train", "--help"]):
        seconds, heavy = timed(args, runs)
        print(
            f"simnet {' '.join(args):<14} median {statistics.median(seconds):.3f} s  "
            f"slowest {max(seconds):.3f} s  heavy modules imported: {heavy}"
        )


if __name__ == "__main__":
    main()
