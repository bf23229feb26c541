"""Shared fixtures: a fresh random seed per test, recorded for replay."""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator with a fresh seed each run; the seed is in the report."""
    seed = int(os.environ.get("ZIPTIE_TEST_SEED", secrets.randbits(32)))
    request.node.user_properties.append(("seed", seed))
    print(f"seed={seed} (replay with ZIPTIE_TEST_SEED={seed})")
    return np.random.default_rng(seed)


@pytest.fixture
def torch_gen(rng):
    """A torch generator seeded from ``rng``."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(2**62)))
    return gen
