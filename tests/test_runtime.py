import random

import numpy as np
import pytest
import torch

import ziptie
from ziptie.runtime import DEVICE_ENV


def test_device_defaults_to_what_is_available(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert ziptie.device().type == expected


def test_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert ziptie.device() == torch.device("cpu")


def test_device_prefers_cuda(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert ziptie.device() == torch.device("cuda")


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, " CPU ")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ziptie.device() == torch.device("cpu")


def test_argument_overrides_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "bogus")
    assert ziptie.device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu", "cpu:0:1"])
def test_unknown_device_is_a_clear_error(monkeypatch, name):
    monkeypatch.setenv(DEVICE_ENV, name)
    with pytest.raises(ValueError, match=f"Unknown device.*{DEVICE_ENV}"):
        ziptie.device()


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="not available on this machine"):
        ziptie.device("cuda")


def test_missing_cuda_index_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="has 1 CUDA device"):
        ziptie.device("cuda:3")


def test_seed_makes_every_generator_repeat():
    def draw():
        gen = ziptie.seed(123)
        return (random.random(), np.random.rand(), torch.rand(1).item(),
                gen.random())

    first, second = draw(), draw()
    assert first == second
    assert len(set(first)) == 4  # four different streams


def test_seed_returns_the_generator_of_that_seed():
    gen = ziptie.seed(7)
    assert isinstance(gen, np.random.Generator)
    assert gen.random() == np.random.default_rng(7).random()


def test_different_seeds_differ():
    ziptie.seed(1)
    a = torch.rand(3)
    ziptie.seed(2)
    assert not torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_seed_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        ziptie.seed(bad)
