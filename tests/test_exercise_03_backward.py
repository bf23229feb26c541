"""Exercise 03_backward: plausible mistakes lose points, and the solution
agrees with torch.autograd when called from outside the notebook."""

from itertools import pairwise

import numpy as np
import pytest

import autograde
from autograde import WrongAnswer

ASSIGNMENT = "03_backward"
WRONG_ANSWERS = [
    WrongAnswer("W.T missing in dX", cell="linear_backward",
                old="dX = dout @ W.T", new="dX = dout @ W",
                loses=("test_linear_backward",)),
    WrongAnswer("dW transposed", cell="linear_backward",
                old="dW = X.T @ dout", new="dW = dout.T @ X",
                loses=("test_linear_backward",)),
    WrongAnswer("db summed over the wrong axis", cell="linear_backward",
                old="dout.sum(axis=0)", new="dout.sum(axis=1)",
                loses=("test_linear_backward",)),
    WrongAnswer("db averaged instead of summed", cell="linear_backward",
                old="dout.sum(axis=0)", new="dout.mean(axis=0)",
                loses=("test_linear_backward",)),
    WrongAnswer("relu_backward masks with dout > 0", cell="relu_backward",
                old="(z > 0)", new="(dout > 0)",
                loses=("test_relu_backward",)),
    WrongAnswer("relu_backward returns the mask alone", cell="relu_backward",
                old="dout * (z > 0)", new="1.0 * (z > 0)",
                loses=("test_relu_backward",)),
    WrongAnswer("forgot the 1/n of the mean",
                cell="softmax_cross_entropy_backward",
                old="return dlogits / n", new="return dlogits",
                loses=("test_softmax_cross_entropy_backward",)),
    WrongAnswer("onehot - softmax (flipped sign)",
                cell="softmax_cross_entropy_backward",
                old="return dlogits / n", new="return -dlogits / n",
                loses=("test_softmax_cross_entropy_backward",)),
    WrongAnswer("labels indexed as columns for every row",
                cell="softmax_cross_entropy_backward",
                old="dlogits[np.arange(n), y] -= 1",
                new="dlogits[:, y] -= 1",
                loses=("test_softmax_cross_entropy_backward",)),
    WrongAnswer("ReLU mask applied to the logits too", cell="mlp_backward",
                old="if l < len(params) - 1:", new="if True:",
                loses=("test_mlp_backward",)),
    WrongAnswer("ReLU forgotten in the backward pass", cell="mlp_backward",
                old="dout = relu_backward(dout, zs[l])", new="pass",
                loses=("test_mlp_backward",)),
    WrongAnswer("ReLU mask from the wrong layer (off by one)",
                cell="mlp_backward", old="zs[l])", new="zs[l + 1])",
                loses=("test_mlp_backward",)),
]


@pytest.mark.slow
def test_wrong_answers_lose_points(tmp_path):
    autograde.check_catalogue(ASSIGNMENT, WRONG_ANSWERS, tmp_path)


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
