"""Every command that reads images meets the bad-input corpus (tests/badfiles.py) in a data
folder: what can be converted is, what cannot is skipped with a warning naming it and why, a
summary counts the skips, and nothing crashes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from simnet.data.images import decode_image
from simnet.errors import ImageError, ImageTooLarge, NotAnImage
from tests.badfiles import CONVERT, SKIP, unlock, write_bad_inputs
from tests.conftest import make_tree
from tests.helpers import TINY, simnet


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A class-folder tree with the corpus in its ``circle`` class and an empty class."""
    root = tmp_path_factory.mktemp("messy")
    data = make_tree(root / "data", per_class=12)
    expect = write_bad_inputs(data / "circle")
    (data / "empty").mkdir()
    yield root, data, expect
    unlock(data / "circle")


class MessyRun(NamedTuple):
    """A model trained on the messy tree and its index, with what each command said."""

    run: Path
    index: Path
    trained: subprocess.CompletedProcess[str]
    built: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def messy_run(messy) -> MessyRun:
    """``simnet train`` (one epoch) and ``simnet index`` run on the messy tree."""
    root, data, _ = messy
    cache = ["--set", f"data.cache_dir={root / 'cache'}"]
    trained = simnet(
        "train",
        "--data",
        data,
        "--out",
        root / "run",
        *TINY,
        *cache,
        "--set",
        "train.epochs=1",
        "--set",
        "eval.shift=0",
    )
    assert trained.returncode == 0, trained.stderr
    built = simnet("index", "--model", root / "run", "--data", data, "--out", root / "x.index")
    assert built.returncode == 0, built.stderr
    return MessyRun(root / "run", root / "x.index", trained, built)


def files(data: Path, expect: dict[str, str], what: str) -> list[Path]:
    return [data / "circle" / name for name, w in expect.items() if w == what and name != "loop"]


def assert_reported(stderr: str, data: Path, expect: dict[str, str], tried: int) -> None:
    """Each unreadable file named with its reason, and one summary line counting them."""
    skipped = files(data, expect, SKIP)
    for path in skipped:
        assert f"skipped {path}: " in stderr, stderr
    for path in files(data, expect, CONVERT):
        assert f"skipped {path}" not in stderr, stderr
    assert f"skipped {len(skipped)} of {tried} " in stderr, stderr
    assert "Traceback" not in stderr


def test_each_bad_input_is_converted_or_refused(messy) -> None:
    _, data, expect = messy
    for path in files(data, expect, CONVERT):
        image = decode_image(path, 32)
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8, path
    for path in files(data, expect, SKIP):
        with pytest.raises(ImageError):
            decode_image(path, 32)
    with pytest.raises(ImageTooLarge, match="too large"):
        decode_image(data / "circle" / "bomb.png", 32)  # refused before decoding 10 Gpixels
    with pytest.raises(NotAnImage):
        decode_image(data / "circle" / "text-named.jpg", 32)
    rotated = decode_image(data / "circle" / "exif-rotated.jpg", 32).astype(int)
    top, bottom = rotated[:12].mean((0, 1)), rotated[-12:].mean((0, 1))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # turned as EXIF says
    clear = decode_image(data / "circle" / "palette-transparent.png", 32).astype(int)
    assert clear[:, :12].max() == 0 and clear[:, -12:, 0].min() > 200  # transparent: black


def test_train_evaluate_and_index_skip_what_they_cannot_read(messy, messy_run) -> None:
    _, data, expect = messy
    trained, built = messy_run.trained, messy_run.built
    assert trained.returncode == 0, trained.stderr
    total = 4 * 12 + len(files(data, expect, SKIP)) + len(files(data, expect, CONVERT))
    assert_reported(trained.stderr, data, expect, total)
    assert f"{data / 'empty'} holds no images" in trained.stderr
    assert f"skipped {data / 'circle' / 'loop'}: a link back up the tree" in trained.stderr
    assert "of 4 classes" in trained.stderr  # the empty folder is no class

    evaluated = simnet("evaluate", "--model", messy_run.run, "--json")
    assert evaluated.returncode == 0 and "knn_accuracy" in json.loads(evaluated.stdout)

    assert built.returncode == 0, built.stderr
    assert_reported(built.stderr, data, expect, total)
    from simnet.index import Index

    indexed = set(Index.load(messy_run.index).paths)
    assert {str(p) for p in files(data, expect, CONVERT)} <= indexed
    assert not {str(p) for p in files(data, expect, SKIP)} & indexed


def test_search_dedup_embed_and_add_skip_what_they_cannot_read(
    messy, messy_run, tmp_path: Path
) -> None:
    _, data, expect = messy
    run = messy_run.run
    tried = len(files(data, expect, SKIP)) + len(files(data, expect, CONVERT)) + 12
    found = simnet("search", data / "circle", "--index", messy_run.index, "-k", "1", "--json")
    assert found.returncode == 1, found.stderr  # some queries were skipped: not a clean run
    assert_reported(found.stderr, data, expect, tried)
    answers = {a["query"]: a["matches"][0] for a in json.loads(found.stdout)}
    for path in files(data, expect, CONVERT):
        assert answers[str(path)]["distance"] < 1e-3, path  # found itself (or its twin)

    dups = simnet("dedup", "--data", data, "--model", run, "--json")
    assert dups.returncode == 0, dups.stderr
    assert_reported(dups.stderr, data, expect, tried + 36)

    made = simnet("embed", "--data", data, "--model", run, "--out", tmp_path / "e.npy", "--quiet")
    assert made.returncode == 0, made.stderr
    assert_reported(made.stderr, data, expect, tried + 36)
    assert np.load(tmp_path / "e.npy").shape[0] == tried + 36 - len(files(data, expect, SKIP))

    from simnet.index import Index

    index = Index.load(messy_run.index)  # a copy without the corpus, then --add it
    index.remove([str(data / "circle" / name) for name in expect])
    index.save(tmp_path / "y.index")
    added = simnet("index", "--out", tmp_path / "y.index", "--add", data / "circle", "--quiet")
    assert added.returncode == 0, added.stderr
    assert_reported(added.stderr, data, expect, tried - 12)
    assert f"added {len(files(data, expect, CONVERT))}" in added.stdout


def test_the_service_answers_every_bad_upload_without_a_server_error(messy, tiny_run) -> None:
    from fastapi.testclient import TestClient

    from simnet.index import build_index
    from simnet.inference import SimNet
    from simnet.serve import create_app

    root, data, expect = messy
    _, run = tiny_run
    build_index(SimNet.load(run), data, model_path=run).save(root / "served.index")
    client = TestClient(create_app(root / "served.index"))
    for path in files(data, expect, CONVERT) + files(data, expect, SKIP):
        try:
            body = path.read_bytes()
        except OSError:
            continue  # nobody can send what cannot be read
        name = os.fsencode(path.name).decode("latin-1")  # a multipart name is text
        response = client.post("/search", files={"image": (name, body, "image/jpeg")})
        if expect[path.name] == CONVERT:
            assert response.status_code == 200, (path.name, response.text)
            matches = response.json()["matches"]
            assert matches and all(client.get(m["url"]).status_code == 200 for m in matches)
        else:
            assert 400 <= response.status_code < 500, (path.name, response.text)
            assert response.json()["detail"]
