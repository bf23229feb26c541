"""Exercise 02_loss: plausible mistakes lose points, and the solution
agrees with torch.nn.functional when called from outside the notebook."""

import numpy as np
import pytest

import autograde
from autograde import WrongAnswer

ASSIGNMENT = "02_loss"
WRONG_ANSWERS = [
    WrongAnswer("sum instead of mean", cell="mse",
                old="np.mean((pred - y) ** 2)", new="np.sum((pred - y) ** 2)",
                loses=("test_mse",)),
    WrongAnswer("square of the mean error", cell="mse",
                old="np.mean((pred - y) ** 2)", new="np.mean(pred - y) ** 2",
                loses=("test_mse",)),
    WrongAnswer("mean of the absolute error", cell="mse",
                old="(pred - y) ** 2", new="np.abs(pred - y)",
                loses=("test_mse",)),
    WrongAnswer("unstable softmax (no max subtraction)", cell="softmax",
                old="z = z - z.max(axis=1, keepdims=True)", new="z = z",
                loses=("test_softmax",)),
    WrongAnswer("softmax normalised over the wrong axis", cell="softmax",
                old="e.sum(axis=1, keepdims=True)",
                new="e.sum(axis=0, keepdims=True)",
                loses=("test_softmax",)),
    WrongAnswer("softmax shifted by the global max, not each row's",
                cell="softmax",
                old="z.max(axis=1, keepdims=True)", new="z.max()",
                loses=("test_softmax",)),
    WrongAnswer("log of softmax, no log-sum-exp", cell="cross_entropy",
                old="shifted - np.log(np.exp(shifted).sum(axis=1, "
                    "keepdims=True))",
                new="np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, "
                    "keepdims=True))",
                loses=("test_cross_entropy",)),
    WrongAnswer("unstable cross-entropy (no shift)", cell="cross_entropy",
                old="logits - logits.max(axis=1, keepdims=True)",
                new="logits",
                loses=("test_cross_entropy",)),
    WrongAnswer("cross-entropy summed over the batch", cell="cross_entropy",
                old=".mean())", new=".sum())",
                loses=("test_cross_entropy",)),
    WrongAnswer("labels indexed as columns for every row",
                cell="cross_entropy",
                old="log_probs[np.arange(n), y]", new="log_probs[:, y]",
                loses=("test_cross_entropy",)),
    WrongAnswer("argmax over the batch axis", cell="accuracy",
                old="argmax(axis=1)", new="argmax(axis=0)",
                loses=("test_accuracy",)),
    WrongAnswer("argmax of the flattened array", cell="accuracy",
                old="argmax(axis=1)", new="argmax()",
                loses=("test_accuracy",)),
    WrongAnswer("unstable torch cross-entropy", cell="cross_entropy_torch",
                old="logits - logits.max(dim=1, keepdim=True).values",
                new="logits",
                loses=("test_cross_entropy_torch",)),
    WrongAnswer("torch cross-entropy summed", cell="cross_entropy_torch",
                old="y].mean()", new="y].sum()",
                loses=("test_cross_entropy_torch",)),
    WrongAnswer("calls the function it should write",
                cell="cross_entropy_torch",
                old="return -log_probs[torch.arange(n, device=logits.device)"
                    ", y].mean()",
                new="return torch.nn.functional.cross_entropy(logits, y)",
                loses=("test_cross_entropy_torch",)),
    WrongAnswer("NumPy detour that breaks autograd",
                cell="cross_entropy_torch",
                old="return -log_probs[torch.arange(n, device=logits.device)"
                    ", y].mean()",
                new="return torch.tensor(cross_entropy(logits.detach().cpu()"
                    ".numpy(), y.cpu().numpy()), device=logits.device)",
                loses=("test_cross_entropy_torch",)),
]


@pytest.mark.slow
def test_wrong_answers_lose_points(tmp_path):
    autograde.check_catalogue(ASSIGNMENT, WRONG_ANSWERS, tmp_path)


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
