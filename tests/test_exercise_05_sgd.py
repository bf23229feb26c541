"""Exercise 05_sgd: the solution
matches torch.optim.SGD when called from outside the notebook (its
wrong answers are in grading/05_sgd_wrong.py)."""

import numpy as np
import pytest

import autograde

ASSIGNMENT = "05_sgd"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook (not the digits
    training), run in one namespace."""
    return autograde.solution_namespace(ASSIGNMENT, skip=("train_digits",))


def test_minibatches_cover_the_data_once(solution, rng):
    n, batch_size = int(rng.integers(1, 50)), int(rng.integers(1, 10))
    X, y = rng.normal(size=(n, 2)), np.arange(n)
    seed = int(rng.integers(2**32))
    batches = list(solution["minibatches"](X, y, batch_size,
                                           np.random.default_rng(seed)))
    seen = np.concatenate([y_batch for _, y_batch in batches])
    assert np.array_equal(seen, np.random.default_rng(seed).permutation(n))
    assert all(len(y_batch) == batch_size for _, y_batch in batches[:-1])


def test_sgd_matches_torch_optim_sgd_with_a_schedule(solution, torch_gen):
    import torch

    params = [torch.randn(s, generator=torch_gen, dtype=torch.float64)
              .requires_grad_() for s in [(3, 2), (5,)]]
    ref = [p.detach().clone().requires_grad_() for p in params]
    ours = solution["SGD"](params, lr=0.1, momentum=0.8)
    theirs = torch.optim.SGD(ref, lr=0.1, momentum=0.8)
    for step in range(30):
        lr = 0.1 if step < 15 else 0.01
        ours.lr = theirs.param_groups[0]["lr"] = lr
        for p, r in zip(params, ref, strict=True):
            p.grad = torch.randn(p.shape, generator=torch_gen,
                                 dtype=torch.float64)
            r.grad = p.grad.clone()
        ours.step()
        theirs.step()
    for p, r in zip(params, ref, strict=True):
        assert torch.allclose(p, r, rtol=1e-10, atol=1e-12)


def test_sgd_rejects_invalid_settings(solution):
    import torch

    w = torch.zeros(1, requires_grad=True)
    for bad in ({"lr": -1.0}, {"lr": 0.1, "momentum": 1.0}):
        with pytest.raises(ValueError):
            solution["SGD"]([w], **bad)
