"""simnet report: one self-contained HTML page with the metrics and every figure."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from simnet.config import load_config
from simnet.train import train
from tests.conftest import TINY_MODEL, make_tree
from tests.helpers import simnet

SMALL = [*TINY_MODEL, "train.epochs=2", "eval.shift=0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    data = make_tree(root / "data", per_class=15)
    return train(load_config(None, [f"data.source={data}", *SMALL]), root / "run", progress=False)


def test_report_is_one_self_contained_page(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    done = simnet("report", "--model", run, "--out", out, timeout=300)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5  # loss, ROC/PR, t-SNE, retrieval grid, weights
    assert all(len(i) > 2000 for i in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened
    for caption in ("loss per epoch", "ROC", "t-SNE", "nearest training images", "Weights"):
        assert caption in page
    for metric in ("knn_accuracy", "map_at_r", "recall@1", "roc_auc", "average_precision"):
        assert f"<th>{metric}</th>" in page


class _Terminal(io.StringIO):
    """Written text kept, and said to be a terminal (where a progress bar is shown)."""

    def isatty(self) -> bool:
        return True


def test_progress_names_each_stage_and_leaves_the_page_as_it_was(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simnet.eval.report import build_report

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    plain = build_report(run, tmp_path / "plain.html").read_text()
    assert not terminal.getvalue()  # no bar unless asked for
    shown = build_report(run, tmp_path / "shown.html", progress=True).read_text()
    stages = ("loss curve", "evaluating", "t-SNE map", "retrieval grid", "writing the page")
    assert all(stage in terminal.getvalue() for stage in stages), terminal.getvalue()

    def without_timing(page: str) -> str:
        return re.sub(r"<th>report made in</th><td>[^<]*</td>", "", page)

    assert without_timing(shown) == without_timing(plain)


def test_report_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    done = simnet("report", "--model", tmp_path / "nope", timeout=120)
    assert done.returncode == 2 and "run folder not found" in done.stderr
    assert "Traceback" not in done.stderr
