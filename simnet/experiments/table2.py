"""The paper's Table 2: pair strategies at the same epoch budget.

Every row trains the same model on the same data for the same number of epochs and differs
only in how pairs are chosen: OPMS capped at several λ_max, random pairs, hardest negatives
from the first step, every pair of every batch, and pairs mined offline from a model
snapshot every 100 steps. Columns: pairs used, test 1-NN accuracy
and training time. A finished row is kept (``<out>/<row>/result.json``), so a stopped
experiment picks up where it was.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

from simnet.config import load_config
from simnet.errors import SimNetError
from simnet.storage import atomic_write_text

log = logging.getLogger(__name__)

TABLE2_ROWS: dict[str, list[str]] = {
    "opms-0.2": ["mining.strategy=opms", "mining.lambda_max=0.2"],
    "opms-0.5": ["mining.strategy=opms", "mining.lambda_max=0.5"],
    "opms-0.7": ["mining.strategy=opms", "mining.lambda_max=0.7"],
    "opms-1.0": ["mining.strategy=opms", "mining.lambda_max=1.0"],
    "random": ["mining.strategy=random"],
    "hardest": ["mining.strategy=hardest"],
    "all": ["mining.strategy=all"],
    "offline": ["mining.strategy=offline"],
}
RESULT_FILE = "result.json"


def _pairs_used(run: Path) -> int:
    with (run / "metrics.csv").open(newline="") as handle:
        return sum(int(r["positives"]) + int(r["negatives"]) for r in csv.DictReader(handle))


def run_row(name: str, overrides: list[str], out: Path, progress: bool) -> dict[str, Any]:
    """Trains and evaluates one row (or reads its finished result)."""
    run, done = out / name, out / name / RESULT_FILE
    if done.is_file():
        log.info("%s: finished before, kept", name)
        return json.loads(done.read_text())
    config, metrics, seconds = train_and_evaluate(run, overrides, progress)
    row = {
        "row": name,
        "strategy": config.mining.strategy,
        "lambda_max": config.mining.lambda_max if config.mining.strategy == "opms" else None,
        "epochs": config.train.epochs,
        "pairs_used": _pairs_used(run),
        "knn_accuracy": metrics["knn_accuracy"],
        "map_at_r": metrics["map_at_r"],
        "train_seconds": seconds,
    }
    atomic_write_text(done, json.dumps(row, indent=2))
    return row


def train_and_evaluate(
    run: Path, overrides: list[str], progress: bool
) -> tuple[Any, dict[str, Any], float | None]:
    """Trains (or resumes) a run and evaluates it: (config, metrics, training seconds; None
    for a resumed run, whose time is partial)."""
    from simnet.eval import evaluate
    from simnet.train import train

    config = load_config(None, overrides)
    seconds = None
    trained = (run / "model.safetensors").is_file() and config.train.patience == 0
    if not trained:
        resume = (run / "checkpoint.pt").is_file()
        started = time.perf_counter()
        train(config, run, resume=resume, progress=progress)
        seconds = None if resume else round(time.perf_counter() - started, 1)
    return config, evaluate(run), seconds


def run_table2(
    out: str | Path,
    rows: list[str] | None = None,
    overrides: list[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Runs the rows (default: all) with the same ``overrides`` (data, epochs ...) and writes
    ``table2.csv`` and ``table2.png`` in ``out`` (with every row finished there, from this
    call or an earlier one). Returns one dict per row of this call."""
    out = Path(out)
    names = rows or list(TABLE2_ROWS)
    unknown = [n for n in names if n not in TABLE2_ROWS]
    if unknown:
        raise SimNetError(f"unknown row(s) {', '.join(unknown)} (rows: {', '.join(TABLE2_ROWS)})")
    load_config(None, list(overrides or []))  # a bad override fails before any training
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        log.info("table 2 row %s", name)
        results.append(run_row(name, [*(overrides or []), *TABLE2_ROWS[name]], out, progress))
        write_table(finished_rows(out), out)
    return results


def finished_rows(out: Path) -> list[dict[str, Any]]:
    """Every finished row in ``out``, in the table's order (runs with --rows add up)."""
    files = [out / name / RESULT_FILE for name in TABLE2_ROWS]
    return [json.loads(f.read_text()) for f in files if f.is_file()]


def format_table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'row':<10}{'pairs used':>14}{'1-NN acc':>10}{'MAP@R':>8}{'train min':>11}"]
    for r in results:
        minutes = "resumed" if r["train_seconds"] is None else f"{r['train_seconds'] / 60:.1f}"
        lines.append(
            f"{r['row']:<10}{r['pairs_used']:>14,}{r['knn_accuracy']:>10.4f}"
            f"{r['map_at_r']:>8.4f}{minutes:>11}"
        )
    return "\n".join(lines)


def write_table(results: list[dict[str, Any]], out: Path) -> None:
    from simnet.plots import accuracy_against_pairs

    columns = list(results[0])
    lines = [",".join(columns)]
    lines += [",".join("" if r[c] is None else str(r[c]) for c in columns) for r in results]
    atomic_write_text(out / "table2.csv", "\n".join(lines) + "\n")
    accuracy_against_pairs(
        [r["row"] for r in results],
        [r["pairs_used"] for r in results],
        [r["knn_accuracy"] for r in results],
        out / "table2.png",
    )
