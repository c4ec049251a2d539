"""The default data set: CIFAR-10, from wherever it can be found without asking the user.

Looked for, in order: ``$SIMNET_DATA``; ``../shared/data/cifar10-jpg.tar.gz`` (from the
current folder or from the project checkout); the official release under the cache
folder; and, where the network allows, a download of the official release.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from simnet.errors import SimNetError

log = logging.getLogger(__name__)

SHARED_ARCHIVE = Path("..") / "shared" / "data" / "cifar10-jpg.tar.gz"
HOW_TO = (
    "no data set given and CIFAR-10 was not found or downloadable: pass --data PATH "
    "(a class-folder tree, a .tar.gz of one, a path,label CSV or the CIFAR-10 "
    "batches) or set SIMNET_DATA"
)


def _candidates(cache_dir: Path) -> list[Path]:
    repo = Path(__file__).resolve().parents[2]
    found = [Path.cwd() / SHARED_ARCHIVE, repo / SHARED_ARCHIVE, cache_dir / "cifar-10-batches-py"]
    env = os.environ.get("SIMNET_DATA")
    return ([Path(env)] if env else []) + found


def default_data(cache_dir: Path, download: bool = True) -> Path:
    """Returns the path of the default data set, downloading it if it must and can.

    Raises:
        SimNetError: nothing found and no download possible, with how to give data.
    """
    for path in _candidates(cache_dir):
        if path.exists():
            return path
    if download:
        return _download_cifar(cache_dir)
    raise SimNetError(HOW_TO)


def _download_cifar(cache_dir: Path) -> Path:
    from torchvision.datasets import CIFAR10

    log.info("downloading CIFAR-10 to %s", cache_dir)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        CIFAR10(root=str(cache_dir), train=True, download=True)
    except Exception as exc:  # any network or archive failure means the same to the user
        raise SimNetError(f"{HOW_TO} (download failed: {str(exc).splitlines()[0]})") from None
    finally:
        socket.setdefaulttimeout(previous)
    return cache_dir / "cifar-10-batches-py"


def resolve_data(source: str | None, cache_dir: str | None) -> Path:
    """The configured data path, or the default data set when none is configured."""
    if source and source.startswith("object:"):  # what a run trained on a dataset records
        raise SimNetError(
            f"the model was trained on a Python dataset object ({source[7:]}), not a path: "
            "name the data to read (--data PATH, or data= in Python)"
        )
    if source:
        return Path(source)
    from simnet.data.cache import default_cache_dir

    return default_data(Path(cache_dir) if cache_dir else default_cache_dir())
