"""ziptie: the helper package of the course "the training loop, from first
principles".

The package is small on purpose. Each module does one job:

``ziptie.runtime``   ``device()`` and ``seed()``: where code runs, and how
                     to make it repeatable.
``ziptie.data``      small real datasets that work offline, splits and
                     mini-batches.
``ziptie.gradcheck`` numerical gradients and a gradient check that says
                     what went wrong.
``ziptie.train``     ``fit()``: the training loop with progress and history,
                     for chapters after the loop has been taught.
``ziptie.plot``      learning curves, decision boundaries, loss surfaces.
``ziptie.parallel``  a training script started on several processes with
                     ``torchrun``, and what each process reports.
``ziptie.cli``       the ``ziptie`` command for students and instructors.

``import ziptie`` is cheap: torch, NumPy and matplotlib are imported only
when a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ziptie.runtime import device, seed

__version__ = "0.1.0"
__all__ = ["data", "device", "gradcheck", "parallel", "plot", "seed",
           "train"]

_SUBMODULES = {"data", "gradcheck", "parallel", "plot", "train"}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from ziptie import data, gradcheck, parallel, plot, train


def __getattr__(name: str):
    """Import a submodule the first time it is used (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"ziptie.{name}")
    raise AttributeError(f"module 'ziptie' has no attribute {name!r}")
