"""Exercise 02_loss: the solution
agrees with torch.nn.functional when called from outside the notebook (its
wrong answers are in grading/02_loss_wrong.py)."""

import numpy as np
import pytest

import autograde

ASSIGNMENT = "02_loss"


@pytest.fixture(scope="module")
def solution():
    """The solution cells of the source notebook, run in one namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_solution_matches_torch_from_outside(solution, rng, scale):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    logits = rng.normal(size=(12, 5)) * scale
    y = rng.integers(0, 5, size=12)
    assert np.allclose(solution["softmax"](logits),
                       F.softmax(torch.from_numpy(logits), dim=1).numpy())
    expected = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))
    assert np.isclose(solution["cross_entropy"](logits, y), expected.item())
    logits_t = torch.from_numpy(logits)
    assert torch.allclose(
        solution["cross_entropy_torch"](logits_t, torch.from_numpy(y)),
        expected)
    pred, target = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    assert np.isclose(solution["mse"](pred, target), F.mse_loss(
        torch.from_numpy(pred), torch.from_numpy(target)).item())
