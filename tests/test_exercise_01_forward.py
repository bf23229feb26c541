"""Exercise 01_forward: plausible mistakes lose points, and the solution
agrees with PyTorch when called from outside the notebook."""

from itertools import pairwise

import numpy as np
import pytest

import autograde
from autograde import WrongAnswer

ASSIGNMENT = "01_forward"
WRONG_ANSWERS = [
    WrongAnswer("transposed weight", cell="linear_forward",
                old="X @ W + b", new="X @ W.T + b",
                loses=("test_linear_forward",)),
    WrongAnswer("missing bias", cell="linear_forward",
                old="X @ W + b", new="X @ W",
                loses=("test_linear_forward",)),
    WrongAnswer("np.max (a reduction) instead of np.maximum", cell="relu",
                old="np.maximum(z, 0)", new="np.max(z, 0)",
                loses=("test_relu",)),
    WrongAnswer("relu changes its input in place", cell="relu",
                old="np.maximum(z, 0)", new="np.maximum(z, 0, out=z)",
                loses=("test_relu",)),
    WrongAnswer("ReLU after the output layer too", cell="mlp_forward",
                old="if l < len(params) - 1:", new="if True:",
                loses=("test_mlp_forward",)),
    WrongAnswer("no ReLU between layers", cell="mlp_forward",
                old="H = relu(H)", new="pass",
                loses=("test_mlp_forward",)),
    WrongAnswer("biases not counted", cell="count_parameters",
                old="total += d_in * d_out + d_out",
                new="total += d_in * d_out",
                loses=("test_count_parameters",)),
    WrongAnswer("one bias per input instead of per output",
                cell="count_parameters",
                old="total += d_in * d_out + d_out",
                new="total += d_in * d_out + d_in",
                loses=("test_count_parameters",)),
    WrongAnswer("off by one: the last layer is not counted",
                cell="count_parameters",
                old="range(len(layer_sizes) - 1)",
                new="range(len(layer_sizes) - 2)",
                loses=("test_count_parameters",)),
    WrongAnswer("layers in a plain list, unseen by PyTorch", cell="mlp_class",
                old="nn.ModuleList(", new="list(",
                loses=("test_mlp_class",)),
    WrongAnswer("nn.Linear with its sizes swapped", cell="mlp_class",
                old="nn.Linear(d_in, d_out)", new="nn.Linear(d_out, d_in)",
                loses=("test_mlp_class",)),
    WrongAnswer("MLP without ReLU", cell="mlp_class",
                old="X = torch.relu(layer(X))", new="X = layer(X)",
                loses=("test_mlp_class",)),
    WrongAnswer("MLP with a ReLU on the logits", cell="mlp_class",
                old="return self.layers[-1](X)",
                new="return torch.relu(self.layers[-1](X))",
                loses=("test_mlp_class",)),
    WrongAnswer("weights copied without the transpose", cell="copy_params",
                old="torch.as_tensor(W.T)", new="torch.as_tensor(W)",
                loses=("test_copy_params",)),
    WrongAnswer("square weights left untransposed (W.T only if the shapes "
                "differ)", cell="copy_params",
                old="torch.as_tensor(W.T)",
                new="torch.as_tensor(W if W.shape[0] == W.shape[1] else W.T)",
                loses=("test_copy_params",)),
    WrongAnswer("in-place copy outside torch.no_grad()", cell="copy_params",
                old="with torch.no_grad():", new="if True:",
                loses=("test_copy_params",)),
    WrongAnswer("parameters replaced instead of copied into",
                cell="copy_params",
                old="layer.weight.copy_(torch.as_tensor(W.T))",
                new="layer.weight = nn.Parameter(torch.as_tensor(W.T).to("
                    "layer.weight))",
                loses=("test_copy_params",)),
]


@pytest.mark.slow
def test_wrong_answers_lose_points(tmp_path):
    autograde.check_catalogue(ASSIGNMENT, WRONG_ANSWERS, tmp_path)


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
