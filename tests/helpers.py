"""What many test modules share: the ``simnet`` command run in a fresh process.

Tests that drive the command line import from here::

    from tests.helpers import simnet

    done = simnet("train", "--data", data, "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simnet_command(*args: object) -> list[str]:
    """``[python, -m, simnet, *ARGS]``, every argument (a path, a number) as a string."""
    return [sys.executable, "-m", "simnet", *map(str, args)]


def _environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


def simnet(
    *args: object,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 600,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``simnet ARGS`` in a fresh process, waited for, its stdout and stderr captured as
    text (UTF-8; bytes that are not, such as some names in the bad-input corpus, come back
    as surrogate escapes, the way Python spells such file names).

    Args:
        args: the command line after ``simnet``; paths and numbers are turned into strings.
        cwd: the folder it runs in (this process's by default).
        env: variables set on top of this process's environment.
        timeout: seconds before it is killed and ``subprocess.TimeoutExpired`` raised;
            None waits for as long as it takes.
        preexec_fn: run in the child before ``simnet`` starts (e.g. to lower a limit).
    """
    return subprocess.run(
        simnet_command(*args),
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        env=_environment(env),
        preexec_fn=preexec_fn,
        encoding="utf-8",
        errors="surrogateescape",  # a name that is not UTF-8 comes back as it was written
    )


def start_simnet(
    *args: object, stdout: int | IO[Any] | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``simnet ARGS`` started in a fresh process and not waited for; its stderr is a pipe.

    Args:
        stdout: where its standard output goes (``subprocess.DEVNULL`` to drop it); by
            default it shares this process's.
        env: variables set on top of this process's environment.
    """
    return subprocess.Popen(
        simnet_command(*args),
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=_environment(env),
        encoding="utf-8",
        errors="surrogateescape",  # a name that is not UTF-8 comes back as it was written
    )


# A network small enough that a few epochs on a few dozen images take seconds, as options.
TINY = [
    "--set",
    "model.widths=[4,8,8,8]",
    "--set",
    "model.branch_width=4",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.per_class=4",
    "--set",
    "model.embedding_dim=16",
]


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("simnet: error")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Traceback" not in result.stderr
