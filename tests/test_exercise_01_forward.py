"""Exercise 01_forward: the solution
agrees with PyTorch when called from outside the notebook (its wrong
answers are in grading/01_forward_wrong.py)."""

from itertools import pairwise

import numpy as np
import pytest

import autograde

ASSIGNMENT = "01_forward"


@pytest.fixture(scope="module")
def solution():
    """The solution cells of the source notebook, run in one namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def test_solution_matches_torch_from_outside(solution, rng):
    torch = pytest.importorskip("torch")
    sizes = [int(s) for s in rng.integers(1, 20, size=4)]
    params = [(rng.normal(size=(a, b)), rng.normal(size=b))
              for a, b in pairwise(sizes)]
    X = rng.normal(size=(7, sizes[0]))
    model = solution["MLP"](sizes)
    solution["copy_params"](model, params)
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=torch.float32)).numpy()
    assert np.allclose(out, solution["mlp_forward"](X, params),
                       rtol=1e-4, atol=1e-4)
    assert solution["count_parameters"](sizes) == sum(
        p.numel() for p in model.parameters())
