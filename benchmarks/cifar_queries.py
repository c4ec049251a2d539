"""CIFAR-10 test images as query files, for the benchmarks that ask one at a time."""

from __future__ import annotations

import tarfile
from pathlib import Path

from simnet.data.images import is_image_name

CIFAR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpg.tar.gz"


def cifar_test_jpegs(count: int) -> list[tuple[str, bytes]]:
    """The first ``count`` test images of the CIFAR-10 archive: ``(name, JPEG bytes)``."""
    found: list[tuple[str, bytes]] = []
    with tarfile.open(CIFAR, mode="r|*") as tar:
        for member in tar:
            if "/test/" in member.name and is_image_name(member.name):
                handle = tar.extractfile(member)
                if handle is not None:
                    found.append((Path(member.name).name, handle.read()))
            if len(found) == count:
                break
    return found
