"""Checks of exercise 02_loss: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected value
is computed here, in the grader's process, with torch; the sandbox only
runs the student's functions and sends back what they return.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ziptie.grader.probe import Probe, close, task
from ziptie.grader.wire import ref

#: What cross_entropy_torch must not call, as the notebook's test says: by
#: its public names, the private bindings underneath, or any aten operator.
TORCH_LOSSES = [f"{owner}.{name}"
                for owner in ("torch.nn.functional", "torch", "torch.Tensor",
                              "torch.special", "torch._C._nn")
                for name in ("cross_entropy", "log_softmax", "nll_loss",
                             "logsumexp", "cross_entropy_loss", "nll_loss_nd",
                             "nll_loss2d", "_log_softmax")] + [
    "torch._ops.OpOverload.__call__", "torch._ops.OpOverloadPacket.__call__"]


def _cross_entropy(logits, y) -> float:
    return F.cross_entropy(torch.from_numpy(logits),
                           torch.from_numpy(y)).item()


@task("test_mse", points=2)
def mse(rng):
    cases = [(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])),
             (np.ones(4), np.ones(4)),
             (np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2)))]
    for shape in [(1,), (17,), (8, 3), (5, 1)]:
        cases.append((rng.normal(size=shape), rng.normal(size=shape)))
    for pred, y in cases:
        expected = F.mse_loss(torch.from_numpy(pred),
                              torch.from_numpy(y)).item()
        yield Probe.call("mse", pred, y), close(expected, rtol=1e-6)


@task("test_softmax", points=2)
def softmax(rng):
    cases = [np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),
             np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0]])]
    for n, k, scale in [(1, 5, 1.0), (6, 3, 1.0), (4, 4, 10.0),
                        (9, 7, 1000.0)]:
        cases.append(rng.normal(size=(n, k)) * scale)
    for z in cases:
        expected = torch.softmax(torch.from_numpy(z), dim=1).numpy()
        yield (Probe.call("softmax", z),
               close(expected, rtol=1e-6, atol=1e-12))


@task("test_cross_entropy", points=3)
def cross_entropy(rng):
    cases = [(np.zeros((4, 10)), np.array([0, 3, 9, 5])),
             (np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]), np.array([0, 2])),
             (np.array([[1000.0, -1000.0], [-1000.0, 1000.0]]),
              np.array([1, 1]))]
    for n, k, scale in [(1, 3, 1.0), (8, 5, 1.0), (6, 6, 30.0),
                        (10, 4, 1000.0)]:
        cases.append((rng.normal(size=(n, k)) * scale,
                      rng.integers(0, k, size=n)))
    for logits, y in cases:
        yield (Probe.call("cross_entropy", logits, y),
               close(_cross_entropy(logits, y), rtol=1e-6))


@task("test_accuracy", points=1)
def accuracy(rng):
    cases = [(np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.5], [0.7, 0.3, 0.1],
                        [0.1, 0.2, 3.0]]), np.array([0, 1, 1, 2]))]
    for n, k in [(1, 2), (10, 3), (50, 10), (7, 7)]:
        cases.append((rng.normal(size=(n, k)), rng.integers(0, k, size=n)))
    for logits, y in cases:
        expected = float(np.mean(logits.argmax(axis=1) == y))
        yield (Probe.call("accuracy", logits, y)
               .forbid("ziptie.train.accuracy"), close(expected))


def _loss_and_gradient(logits: torch.Tensor, y: torch.Tensor):
    """A 0-d loss that requires grad, equal to F.cross_entropy, whose
    gradient with respect to the logits is F.cross_entropy's."""
    reference = logits.detach().clone().requires_grad_(True)
    expected = F.cross_entropy(reference, y)
    expected.backward()
    value = close(expected.item(), rtol=1e-5)
    gradient = close(reference.grad.numpy(), rtol=1e-4, atol=1e-6)

    def compare(values):
        loss, requires_grad, grad = values[1], values[2], values[4]
        if np.ndim(loss) != 0:
            return "cross_entropy_torch must return a 0-dimensional tensor"
        if requires_grad is not True:
            return ("the loss must be computed with torch operations, so "
                    "autograd can differentiate it (no NumPy detour)")
        reason = value([loss])
        if reason:
            return f"the loss: {reason}"
        reason = gradient([grad])
        return reason and f"the gradient of the loss: {reason}"
    return compare


@task("test_cross_entropy_torch", points=2)
def cross_entropy_torch(rng):
    cases = [(torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0],
                            [1000.0, -1000.0, 0.0]]), torch.tensor([0, 2, 1]))]
    for n, k, scale, dtype in [(1, 4, 1.0, torch.float32),
                               (16, 10, 3.0, torch.float32),
                               (8, 5, 1000.0, torch.float64)]:
        logits = torch.from_numpy(rng.normal(size=(n, k)) * scale).to(dtype)
        cases.append((logits, torch.from_numpy(rng.integers(0, k, size=n))))
    for logits, y in cases:
        logits.requires_grad_(True)
        probe = (Probe().put(logits)
                 .then("cross_entropy_torch", ref(0), y)
                 .get("$1.requires_grad")
                 .then("$1.backward")
                 .get("$0.grad")
                 .forbid(*TORCH_LOSSES))
        yield probe, _loss_and_gradient(logits, y)
