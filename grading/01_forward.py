"""Checks of exercise 01_forward: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected value
is computed here, in the grader's process, with NumPy and torch; the
sandbox only runs the student's functions and sends back what they return.
"""

from itertools import pairwise

import numpy as np
import torch
from torch import nn

from ziptie.grader.probe import Probe, close, hint, task
from ziptie.grader.wire import ref


def _sizes(rng, layers: int) -> list[int]:
    return [int(s) for s in rng.integers(1, 10, size=layers + 1)]


def _numpy_params(rng, sizes):
    return [(rng.normal(size=(a, b)), rng.normal(size=b))
            for a, b in pairwise(sizes)]


def _forward(X, params):
    """The reference MLP: ReLU after every layer but the last."""
    H = np.asarray(X, dtype=float)
    for l, (W, b) in enumerate(params):
        H = H @ W + b
        if l < len(params) - 1:
            H = np.maximum(H, 0)
    return H


@task("test_linear_forward", points=2)
def linear_forward(rng):
    X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    b = np.array([0.5, -0.5])
    yield Probe.call("linear_forward", X, W, b), close(X @ W + b)
    for n, d_in, d_out in [(1, 4, 3), (7, 5, 5), (16, 3, 8)]:
        X, W = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out))
        b = rng.normal(size=d_out)
        yield (Probe.call("linear_forward", X, W, b),
               close(X @ W + b, rtol=1e-6))


def _relu_kept_input(z):
    """relu(z) is max(z, 0) and z, sent as $0, is unchanged afterwards."""
    output, after = close(np.maximum(z, 0)), close(z, rtol=0, atol=0)

    def compare(values):
        reason = output(values[:2])
        if reason:
            return reason
        if after(values):
            return "relu must not change its input: return a new array"
        return None
    return compare


@task("test_relu", points=1)
def relu(rng):
    shapes = [(2, 3), (5,), (4, 7), (2, 3, 4)]
    for k, shape in enumerate(shapes):
        z = rng.normal(size=shape) * 3
        if k == 0:
            z[0, 0] = 0.0
        probe = Probe().put(z).then("relu", ref(0)).get("$0")
        yield probe, _relu_kept_input(z)


@task("test_mlp_forward", points=2)
def mlp_forward(rng):
    X = np.array([[1.0, 2.0]])
    by_hand = [(np.array([[1.0, -1.0], [1.0, -1.0]]), np.zeros(2)),
               (np.array([[1.0], [5.0]]), np.array([-4.0]))]
    yield Probe.call("mlp_forward", X, by_hand), close([[-1.0]])
    one = [(np.ones((2, 3)), np.array([-10.0, 0.0, 1.0]))]
    yield Probe.call("mlp_forward", X, one), close([[-7.0, 3.0, 4.0]])
    for sizes in [[3, 2], [5, 7, 4], [6, 6, 6, 2], [4, 9, 3, 5, 3]]:
        params = _numpy_params(rng, sizes)
        X = rng.normal(size=(8, sizes[0]))
        yield (Probe.call("mlp_forward", X, params),
               close(_forward(X, params), rtol=1e-6))


@task("test_count_parameters", points=1)
def count_parameters(rng):
    cases = [[3, 1], [2, 5], [64, 32, 10]]
    cases += [[int(s) for s in rng.integers(1, 50, size=rng.integers(2, 6))]
              for _ in range(5)]
    for sizes in cases:
        expected = sum(a * b + b for a, b in pairwise(sizes))
        yield (Probe.call("count_parameters", sizes),
               close(expected, rtol=0, atol=0))


def _mlp_matches(sizes, X, params):
    """The model's own parameters took the values copied into them, in
    nn.Linear's shapes and order, and model(X) is Linear, ReLU, ...,
    Linear with those values (not with whatever it was made with)."""
    shapes = [s for a, b in pairwise(sizes) for s in [(b, a), (b,)]]

    def compare(values):
        out, read_back = values[-2], values[-1]
        got = [np.shape(p) for p in read_back]
        if got != shapes:
            return (f"model.parameters() must yield W1, b1, W2, b2, ... of "
                    f"shapes {shapes}, got {got}; keep the layers in an "
                    f"nn.ModuleList or nn.Sequential")
        if close(params, rtol=1e-6, atol=1e-6)([read_back]):
            return ("model.parameters() must yield the model's own "
                    "parameters, the same tensors every time")
        pairs = [(np.asarray(W).T, b)
                 for W, b in zip(params[0::2], params[1::2], strict=True)]
        reason = close(_forward(X.numpy(), pairs), rtol=1e-4, atol=1e-4)(
            [out])
        return reason and f"model(X) must be Linear, ReLU, ..., Linear " \
                          f"(no ReLU after the last) with its parameters: " \
                          f"{reason}"
    return compare


@task("test_mlp_class", points=2)
def mlp_class(rng):
    for sizes in [[64, 32, 10], [3, 2], [5, 7, 4], [6, 6, 6, 2],
                  [4, 9, 3, 5, 3], _sizes(rng, 3)]:
        X = torch.from_numpy(rng.normal(size=(8, sizes[0]))).float()
        params = [rng.normal(size=s).astype(np.float32)
                  for a, b in pairwise(sizes) for s in [(b, a), (b,)]]
        # $0 the model, $1 its parameters(), $2... each parameter in turn
        probe = Probe.make("MLP", sizes).keep("$0.parameters")
        for _ in params:
            probe.keep("$1.__next__")
        for k, value in enumerate(params):
            probe.keep(f"${k + 2}.data.copy_", torch.from_numpy(value))
        probe.then("$0", X).then("$0.parameters")
        probe.text = f"MLP({sizes}), its parameters set, then model(X)"
        yield probe, _mlp_matches(sizes, X, params)


def _sequential(rng, sizes) -> nn.Sequential:
    """Linear, ReLU, ..., Linear with random weights: any nn.Module, not
    the student's MLP, receives the copy."""
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes):
        layer = nn.Linear(a, b)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(rng.normal(size=(b, a))))
            layer.bias.copy_(torch.from_numpy(rng.normal(size=b)))
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _copied(params, X):
    """The parameters held before the copy now hold W.T and b (in place),
    still require gradients, and net(X) is the NumPy forward pass."""
    want = [p for W, b in params for p in (W.T, b)]
    count = len(want)

    def compare(values):
        # put, `count` reads, copy_params, the same tensors read again,
        # net(X), `count` flags
        before, grads = values[count + 2:2 * count + 2], values[-count:]
        for k, (got, expected) in enumerate(zip(before, want, strict=True)):
            name = f"{'Wb'[k % 2]}{k // 2 + 1}"
            if np.shape(got) != np.shape(expected) or not np.allclose(
                    got, expected, rtol=1e-5, atol=1e-6):
                return (f"the {name} the model held before copy_params does "
                        f"not hold the new values: copy {name}"
                        f"{'.T' if k % 2 == 0 else ''} into it in place "
                        f"(tensor.copy_), do not replace it")
        if not all(g is True for g in grads):
            return "the parameters must still require gradients"
        out = values[2 * count + 2]
        return close(_forward(X, params), rtol=1e-4, atol=1e-4)([out])
    return compare


@task("test_copy_params", points=2)
def copy_params(rng):
    for sizes in [[3, 4, 4, 2], [5, 5, 5], [3, 7, 2], [6, 4, 4, 3]]:
        net = _sequential(rng, sizes)
        params = _numpy_params(rng, sizes)
        X = rng.normal(size=(9, sizes[0]))
        names = [f"$0.{2 * l}.{p}" for l in range(len(params))
                 for p in ("weight", "bias")]
        probe = Probe().put(net)
        for name in names:
            probe.get(name)
        probe.then("copy_params", ref(0), params)
        for k in range(len(names)):
            probe.get(f"${k + 1}")
        probe.then("$0", torch.from_numpy(X).float())
        for name in names:
            probe.get(f"{name}.requires_grad")
        yield probe, _copied(params, X)
    yield _blocks_case(rng, [int(rng.integers(2, 6)) for _ in range(4)])


def _blocks_case(rng, sizes):
    """Blocks Sequential(Linear, ReLU), then a Linear, in an nn.Sequential
    built in the sandbox: the model's Linear layers are those of
    model.modules(), not its own items (nor every other one of them)."""
    params = _numpy_params(rng, sizes)
    X = rng.normal(size=(7, sizes[0]))
    probe, parts = Probe(), []
    for l, (a, b) in enumerate(pairwise(sizes)):
        probe.keep("torch.nn.Linear", a, b)
        if l < len(params) - 1:
            probe.keep("torch.nn.ReLU")
            probe.keep("torch.nn.Sequential", ref(len(probe.steps) - 2),
                       ref(len(probe.steps) - 1))
        parts.append(ref(len(probe.steps) - 1))
    net = len(probe.steps)
    probe.keep("torch.nn.Sequential", *parts)
    probe.then("copy_params", ref(net), params)
    probe.then(f"${net}", torch.from_numpy(X).float())
    probe.text = (f"copy_params(model, params), model an nn.Sequential of "
                  f"{len(params) - 1} blocks nn.Sequential(nn.Linear, "
                  f"nn.ReLU) and an nn.Linear, sizes {sizes}; then model(X)")
    return probe, hint(close(_forward(X, params), rtol=1e-4, atol=1e-4),
                       "find the nn.Linear layers with model.modules(): "
                       "they may sit inside other modules")
