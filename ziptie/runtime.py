"""Where the code runs, and how to make it repeatable.

Every chapter and exercise starts with the same two lines::

    device = ziptie.device()   # CUDA, then Apple MPS, else the CPU
    rng = ziptie.seed(0)       # the same numbers on every run

Both import torch only when called, so ``import ziptie`` stays fast.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

#: Environment variable that overrides the automatic choice of device.
DEVICE_ENV = "ZIPTIE_DEVICE"

_KNOWN = ("cpu", "cuda", "mps")


def _available(kind: str) -> bool:
    import torch

    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        return backend is not None and backend.is_available()
    return False


def device(name: str | None = None) -> torch.device:
    """Return the device to train on.

    Without an argument the choice is, in order: the ``ZIPTIE_DEVICE``
    environment variable when it is set, then CUDA when a GPU is present, then
    Apple's MPS, else the CPU. So the same notebook uses a GPU where there is
    one and still runs everywhere else.

    Args:
        name: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``; overrides the
            environment variable.

    Raises:
        ValueError: the name is not a device torch knows, or that device is
            not available on this machine.
    """
    import torch

    requested = name if name is not None else os.environ.get(DEVICE_ENV, "")
    requested = requested.strip().lower()
    source = "argument" if name is not None else f"${DEVICE_ENV}"
    if not requested:
        for kind in ("cuda", "mps"):
            if _available(kind):
                return torch.device(kind)
        return torch.device("cpu")

    kind, _, index = requested.partition(":")
    if kind not in _KNOWN or (index and not index.isdigit()):
        raise ValueError(
            f"Unknown device {requested!r} (from the {source}). "
            f"Use one of 'cpu', 'cuda', 'cuda:N' or 'mps', "
            f"or unset {DEVICE_ENV} to choose automatically."
        )
    if not _available(kind):
        raise ValueError(
            f"Device {requested!r} (from the {source}) is not available on "
            f"this machine. Use 'cpu', or unset {DEVICE_ENV} to choose "
            f"automatically."
        )
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(
            f"Device {requested!r} (from the {source}) does not exist: this "
            f"machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    return torch.device(requested)


def seed(n: int) -> np.random.Generator:
    """Seed every random number generator the course uses.

    Seeds Python's ``random``, NumPy's global generator and torch (CPU and
    every CUDA device), then returns a fresh NumPy ``Generator`` seeded with
    the same ``n``, the generator new code should draw from.

    Args:
        n: a non-negative integer.

    Returns:
        ``numpy.random.default_rng(n)``.
    """
    import numpy as np
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"seed must be a non-negative integer, got {n!r}")
    random.seed(n)
    np.random.seed(n % 2**32)
    torch.manual_seed(n)  # also seeds every CUDA device
    return np.random.default_rng(n)
