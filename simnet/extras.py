"""The optional parts of simnet and the extras that install them.

``pip install simnet`` holds what train, evaluate, embed, index, search, compare, dedup and
export need. The rest is an extra: the web service, tuning, figures and reports, parquet
tables, TensorBoard logs. A command whose extra is missing says which one to install, in
one line, before doing any work.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from simnet.errors import SimNetError

# extra -> the modules it installs that simnet imports (any one name of a tuple will do:
# python-multipart is imported as python_multipart since 0.0.13, multipart before).
EXTRAS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "serve": ("fastapi", "uvicorn", ("python_multipart", "multipart"), "matplotlib"),
    "tune": ("optuna",),
    "report": ("matplotlib",),
    "parquet": ("pyarrow",),
    "tensorboard": ("tensorboard",),
}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or a None entry
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    gone = []
    for module in EXTRAS[extra]:
        names: Sequence[str] = (module,) if isinstance(module, str) else module
        if not any(map(_installed, names)):
            gone.append(names[0])
    return gone


def installed(extra: str) -> bool:
    return not missing(extra)


def require(extra: str, what: str) -> None:
    """Raises one line naming the extra to install when ``what`` cannot run without it."""
    gone = missing(extra)
    if gone:
        raise SimNetError(
            f"{what} needs the [{extra}] extra ({', '.join(gone)} is not installed): "
            f"pip install 'simnet[{extra}]'"
        )
