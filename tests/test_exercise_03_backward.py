"""Exercise 03_backward: the solution
agrees with torch.autograd when called from outside the notebook (its
wrong answers are in grading/03_backward_wrong.py)."""

from itertools import pairwise

import numpy as np
import pytest

import autograde

ASSIGNMENT = "03_backward"


@pytest.fixture(scope="module")
def solution():
    """The solution cells of the source notebook, run in one namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def test_solution_matches_autograd_from_outside(solution, rng):
    torch = pytest.importorskip("torch")
    sizes = [int(s) for s in rng.integers(1, 10, size=4)] + [4]
    params = [(rng.normal(size=(a, b)), rng.normal(size=b))
              for a, b in pairwise(sizes)]
    X = rng.normal(size=(9, sizes[0]))
    y = rng.integers(0, 4, size=9)
    grads = solution["mlp_backward"](X, y, params)
    tensors = [(torch.tensor(W, requires_grad=True),
                torch.tensor(b, requires_grad=True)) for W, b in params]
    H = torch.tensor(X)
    for l, (W, b) in enumerate(tensors):
        H = H @ W + b
        H = torch.relu(H) if l < len(tensors) - 1 else H
    torch.nn.functional.cross_entropy(H, torch.tensor(y)).backward()
    for (dW, db), (W, b) in zip(grads, tensors, strict=True):
        assert np.allclose(dW, W.grad.numpy())
        assert np.allclose(db, b.grad.numpy())


def test_solution_passes_the_gradient_check(solution, rng):
    gradcheck = pytest.importorskip("ziptie.gradcheck")
    X, W = rng.normal(size=(5, 3)), rng.normal(size=(3, 4))
    b, dout = rng.normal(size=4), rng.normal(size=(5, 4))
    grads = solution["linear_backward"](dout, X, W, b)
    gradcheck.check_grad(solution["linear_forward"], [X, W, b], list(grads),
                         grad_output=dout)
