"""Exercise 04_step: plausible mistakes lose points, and the solution
matches torch.optim.SGD when called from outside the notebook."""

import pytest

import autograde
from autograde import WrongAnswer

ASSIGNMENT = "04_step"
WRONG_ANSWERS = [
    WrongAnswer("flipped sign: a step up the gradient", cell="sgd_step",
                old="p -= lr * p.grad", new="p += lr * p.grad",
                loses=("test_sgd_step", "test_train_regression",
                       "test_fixed_training_loop")),
    WrongAnswer("not in place: p = p - lr * p.grad", cell="sgd_step",
                old="p -= lr * p.grad", new="p = p - lr * p.grad",
                loses=("test_sgd_step", "test_train_regression")),
    WrongAnswer("new memory: p.data = p - lr * p.grad", cell="sgd_step",
                old="p -= lr * p.grad", new="p.data = p - lr * p.grad",
                loses=("test_sgd_step",)),
    WrongAnswer("no torch.no_grad()", cell="sgd_step",
                old="with torch.no_grad():", new="if True:",
                loses=("test_sgd_step",)),
    WrongAnswer("None gradients not skipped", cell="sgd_step",
                old="if p.grad is not None:", new="if True:",
                loses=("test_sgd_step",)),
    WrongAnswer("zero_grad rebinds a local name", cell="zero_grad",
                old="p.grad = None", new="grad = p.grad\n        grad = None",
                loses=("test_zero_grad", "test_train_regression")),
    WrongAnswer("forgotten zero_grad in the loop", cell="train_regression",
                old="zero_grad([w, b])", new="pass",
                loses=("test_train_regression",)),
    WrongAnswer("sum instead of mean in the loss", cell="train_regression",
                old="((pred - y) ** 2).mean()", new="((pred - y) ** 2).sum()",
                loses=("test_train_regression",)),
    WrongAnswer("loss recorded after the step", cell="train_regression",
                old="losses.append(loss.item())",
                new="losses.append(((X @ w + b - y) ** 2).mean().item())",
                loses=("test_train_regression",)),
    WrongAnswer("zero_grad between backward and step",
                cell="fixed_training_loop",
                old="zero_grad(model.parameters())\n        loss.backward()",
                new="loss.backward()\n        zero_grad(model.parameters())",
                loses=("test_fixed_training_loop",)),
    WrongAnswer("zero_grad named, not called", cell="fixed_training_loop",
                old="zero_grad(model.parameters())", new="model.zero_grad",
                loses=("test_fixed_training_loop",)),
]


@pytest.mark.slow
def test_wrong_answers_lose_points(tmp_path):
    autograde.check_catalogue(ASSIGNMENT, WRONG_ANSWERS, tmp_path)


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
        assert torch.allclose(p, r)


def test_train_regression_reaches_least_squares(solution, torch_gen):
    import torch

    X = torch.randn(50, 3, generator=torch_gen, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3
    w, b, losses = solution["train_regression"](X, y, 0.2, 300)
    assert losses[-1] < 1e-8
    assert torch.allclose(w.detach(), torch.tensor([1.0, -2.0, 0.5],
                                                   dtype=torch.float64))
    assert abs(b.item() - 0.3) < 1e-6
