"""Checks of exercise 03_backward: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected
gradient is computed here, in the grader's process, by torch.autograd; the
sandbox only runs the student's functions and sends back what they return.
"""

from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from ziptie.grader.probe import Probe, close, task
from ziptie.grader.wire import ref

#: Autograd, which the gradients of this exercise are to be written without:
#: every way in ends in the engine's run_backward.
AUTOGRAD = ("torch.autograd.backward", "torch.autograd.grad",
            "torch.Tensor.backward", "torch.autograd.graph._engine_run_backward",
            "torch.autograd.variable.Variable._execution_engine.run_backward",
            "torch.func.grad", "torch.func.vjp", "torch.func.jacrev",
            "torch._ops.OpOverload.__call__",
            "torch._ops.OpOverloadPacket.__call__")


def by_hand(probe: Probe) -> Probe:
    """The probe, with autograd refused while it runs."""
    return probe.forbid(*AUTOGRAD)


def _linear_grads(dout, X, W, b):
    X_t, W_t, b_t = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    (X_t @ W_t + b_t).backward(torch.tensor(dout))
    return X_t.grad.numpy(), W_t.grad.numpy(), b_t.grad.numpy()


def _cross_entropy_grad(logits, y):
    logits_t = torch.tensor(logits, requires_grad=True)
    F.cross_entropy(logits_t, torch.tensor(y)).backward()
    return logits_t.grad.numpy()


def _mlp_grads(X, y, params):
    """The reference: the same network and loss, differentiated by torch."""
    tensors = [(torch.tensor(W, requires_grad=True),
                torch.tensor(b, requires_grad=True)) for W, b in params]
    H = torch.tensor(X)
    for l, (W, b) in enumerate(tensors):
        H = H @ W + b
        if l < len(tensors) - 1:
            H = torch.relu(H)
    F.cross_entropy(H, torch.tensor(y)).backward()
    return [(W.grad.numpy(), b.grad.numpy()) for W, b in tensors]


@task("test_linear_backward", points=3)
def linear_backward(rng):
    for n, d_in, d_out in [(5, 3, 4), (3, 4, 4), (1, 3, 2), (6, 5, 5),
                           (10, 2, 7), (4, 8, 3)]:
        X, W = rng.normal(size=(n, d_in)), rng.normal(size=(d_in, d_out))
        b, dout = rng.normal(size=d_out), rng.normal(size=(n, d_out))
        yield (by_hand(Probe.call("linear_backward", dout, X, W, b)),
               close(_linear_grads(dout, X, W, b), rtol=1e-6, atol=1e-8))


def _masked_and_kept(dz, dout):
    """The result is ``dz``, and ``dout`` (sent as $0) is unchanged."""
    result, kept = close(dz), close(dout, rtol=0, atol=0)

    def compare(values):
        return result(values[:2]) or (
            "relu_backward must not change dout: return a new array"
            if kept(values) else None)
    return compare


@task("test_relu_backward", points=1)
def relu_backward(rng):
    # at z = 0 ReLU has no slope: the gradient is 0 there, as in PyTorch
    cases = [(np.array([[1.0, -1.0, -2.0], [3.0, 0.5, 0.25]]),
              np.array([[-2.0, 0.0, 0.7], [1.5, -1.0, 0.0]]))]
    for shape in [(4,), (6, 5), (2, 3, 4)]:
        cases.append((rng.normal(size=shape), rng.normal(size=shape)))
    for dout, z in cases:
        z_t = torch.tensor(z, requires_grad=True)
        torch.relu(z_t).backward(torch.tensor(dout))
        probe = (Probe().put(dout).then("relu_backward", ref(0), z)
                 .get("$0"))
        yield by_hand(probe), _masked_and_kept(z_t.grad.numpy(), dout)


@task("test_softmax_cross_entropy_backward", points=2)
def softmax_cross_entropy_backward(rng):
    cases = [(np.zeros((2, 4)), np.array([1, 3])),
             (np.array([[1000.0, -1000.0, 0.0], [0.0, 5.0, -1000.0]]),
              np.array([1, 1]))]
    for n, k, scale in [(1, 3, 1.0), (7, 5, 1.0), (6, 6, 10.0),
                        (9, 4, 1000.0)]:
        cases.append((rng.normal(size=(n, k)) * scale,
                      rng.integers(0, k, size=n)))
    for logits, y in cases:
        yield (by_hand(Probe.call("softmax_cross_entropy_backward", logits,
                                  y)),
               close(_cross_entropy_grad(logits, y), rtol=1e-6, atol=1e-10))


@task("test_mlp_backward", points=4)
def mlp_backward(rng):
    for n, sizes in [(8, [4, 5, 3]), (None, [3, 4]), (None, [5, 6, 3]),
                     (None, [4, 7, 7, 2]), (None, [6, 5, 8, 4, 10])]:
        n = n or int(rng.integers(1, 12))
        X = rng.normal(size=(n, sizes[0]))
        y = rng.integers(0, sizes[-1], size=n)
        params = [(rng.normal(size=(a, b)), rng.normal(size=b))
                  for a, b in pairwise(sizes)]
        yield (by_hand(Probe.call("mlp_backward", X, y, params)),
               close(_mlp_grads(X, y, params), rtol=1e-6, atol=1e-9))
