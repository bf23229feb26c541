"""Exercise 04_step: the solution
matches torch.optim.SGD when called from outside the notebook (its
wrong answers are in grading/04_step_wrong.py)."""

import pytest

import autograde

ASSIGNMENT = "04_step"


@pytest.fixture(scope="module")
def solution():
    """The solution cells of the source notebook, run in one namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def test_sgd_step_matches_torch_optim_sgd(solution, torch_gen):
    import torch

    params = [torch.randn(s, generator=torch_gen).requires_grad_()
              for s in [(4, 3), (7,)]]
    ref = [p.detach().clone().requires_grad_() for p in params]
    optimizer = torch.optim.SGD(ref, lr=0.3)
    for _ in range(5):
        for p, r in zip(params, ref, strict=True):
            p.grad = torch.randn(p.shape, generator=torch_gen)
            r.grad = p.grad.clone()
        solution["sgd_step"](params, 0.3)
        optimizer.step()
    for p, r in zip(params, ref, strict=True):
        # float32: p - lr * g and torch's fused add differ in the last bit,
        # which allclose's atol of 1e-8 cannot absorb near zero
        torch.testing.assert_close(p, r)


def test_train_regression_reaches_least_squares(solution, torch_gen):
    import torch

    X = torch.randn(50, 3, generator=torch_gen, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3
    w, b, losses = solution["train_regression"](X, y, 0.2, 300)
    assert losses[-1] < 1e-8
    assert torch.allclose(w.detach(), torch.tensor([1.0, -2.0, 0.5],
                                                   dtype=torch.float64))
    assert abs(b.item() - 0.3) < 1e-6
