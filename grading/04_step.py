"""Checks of exercise 04_step: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected value
is computed here, in the grader's process: the reference updates with
``torch.optim.SGD`` and plain torch loops, the loss targets from the
weights the student's code returns, on data the grader keeps. The sandbox
only runs the student's functions on the tensors and models it is sent.
"""

import functools

import numpy as np
import torch
from torch import nn

import ziptie
from ziptie.grader.probe import Probe, close, task
from ziptie.grader.recipes import random_linear
from ziptie.grader.wire import ref

#: The training loops must do their own steps, as the notebook's tests say.
NO_TORCH_OPTIM = "torch.optim.Optimizer.__init__"


def _tensor(rng, shape, grad: bool = False) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(rng.normal(size=shape))).float()
    return t.requires_grad_() if grad else t


@functools.cache
def _regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The bumps features and targets of the notebook's training split."""
    x, y = ziptie.data.load("regression", as_tensor=True).train
    centres = torch.linspace(-2, 2, 9)
    return torch.exp(-((x[:, :1] - centres) / 0.4) ** 2 / 2), y


def _sgd_reference(params, lr):
    """What one step of torch.optim.SGD makes of the parameters."""
    copies = []
    for p in params:
        q = p.detach().clone().requires_grad_()
        q.grad = None if p.grad is None else p.grad.clone()
        copies.append(q)
    torch.optim.SGD(copies, lr=lr).step()
    return [q.detach().numpy() for q in copies]


def _stepped(params, lr):
    """The parameters, and every view of them, hold the values of one SGD
    step; their .grad and requires_grad are as they were."""
    count = len(params)
    expected = close(_sgd_reference(params, lr), rtol=1e-5, atol=1e-6)
    grads = [None if p.grad is None else p.grad.numpy() for p in params]

    def compare(values):
        # put, views, iterator, sgd_step, params, views, grads, flags
        after = values[count + 3]
        views = values[count + 4:2 * count + 4]
        got_grads = values[2 * count + 4:3 * count + 4]
        flags = values[3 * count + 4:]
        reason = expected([after])
        if reason:
            return (f"the parameters must become p - lr * p.grad (a step "
                    f"against the gradient; a tensor whose .grad is None "
                    f"stays): {reason}")
        if expected([views]):
            return ("every view of a parameter must see the new values: "
                    "change it in place (p -= ...), not give it new memory "
                    "(p.data = ...)")
        for got, grad in zip(got_grads, grads, strict=True):
            if (got is None) != (grad is None) or (
                    grad is not None and not np.array_equal(got, grad)):
                return "sgd_step must not change .grad"
        if not all(flag is True for flag in flags):
            return ("the parameters must stay leaves that require grad: "
                    "update them inside torch.no_grad()")
        return None
    return compare


def _sgd_probe(params, lr) -> Probe:
    count = len(params)
    probe = Probe().put(params)
    for k in range(count):
        probe.keep(f"$0.{k}.detach")          # shares the parameter's memory
    probe.keep("$0.__iter__")                 # an iterator, as a generator
    probe.then("sgd_step", ref(count + 1), lr)
    probe.get("$0")
    for k in range(count):
        probe.get(f"${k + 1}")
    for k in range(count):
        probe.get(f"$0.{k}.grad")
    for k in range(count):
        probe.get(f"$0.{k}.requires_grad").get(f"$0.{k}.is_leaf")
    return probe


@task("test_sgd_step", points=3)
def sgd_step(rng):
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w.grad = torch.tensor([0.5, 0.5, -1.0])
    yield _sgd_probe([w], 0.1), _stepped([w], 0.1)
    for _ in range(3):
        shapes = [(4, 3), (5,), (2, 3, 2), ()]
        params = [_tensor(rng, s, grad=True) for s in shapes]
        without = int(rng.integers(len(shapes)))   # .grad None: skipped
        for k, p in enumerate(params):
            if k != without:
                p.grad = _tensor(rng, p.shape)
        lr = float(rng.uniform(0.01, 1.0))
        yield _sgd_probe(params, lr), _stepped(params, lr)


def _cleared(count):
    def compare(values):
        for grad in values[-count:]:
            if grad is not None and np.any(grad):
                return ("after zero_grad every .grad must be None (or all "
                        "zeros)")
        return None
    return compare


@task("test_zero_grad", points=1)
def zero_grad(rng):
    params = [_tensor(rng, s, grad=True) for s in [(3, 4), (2,), ()]]
    for p in params[:2]:
        p.grad = _tensor(rng, p.shape)
    probe = Probe().put(params).keep("$0.__iter__").then("zero_grad", ref(1))
    for k in range(len(params)):
        probe.get(f"$0.{k}.grad")
    yield probe, _cleared(len(params))

    net = nn.Sequential(nn.Linear(3, 2))
    X = _tensor(rng, (4, 3))
    probe = (Probe().put(net).keep("$0", X).keep("$1.sum").then("$2.backward")
             .keep("$0.parameters").then("zero_grad", ref(4))
             .get("$0.0.weight.grad").get("$0.0.bias.grad"))
    yield probe, _cleared(2)


def _regression_reference(X, y, lr, num_steps):
    w = torch.zeros(X.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    losses = []
    for _ in range(num_steps):
        loss = ((X @ w + b - y) ** 2).mean()
        w.grad, b.grad = None, None
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        losses.append(loss.item())
    return w.detach().numpy(), b.detach().numpy(), losses


def _losses_problem(losses, num_steps) -> str | None:
    if not isinstance(losses, list) or len(losses) != num_steps:
        return f"one loss per step: expected a list of {num_steps}, got " \
               f"{len(losses) if isinstance(losses, list) else losses!r}"
    if not all(isinstance(loss, float) for loss in losses):
        return "record each loss as a float with loss.item()"
    return None


def _fits(X, y, num_steps):
    """(w, b, losses) of the right shapes, the first loss that of w = 0,
    b = 0, and weights whose loss on the data is below 0.02."""
    def compare(values):
        result = values[-1]
        if not isinstance(result, list) or len(result) != 3:
            return "train_regression must return (w, b, losses)"
        w, b, losses = result
        reason = _losses_problem(losses, num_steps)
        if reason:
            return reason
        if np.shape(w) != (X.shape[1],) or np.shape(b) != ():
            return (f"w must have shape ({X.shape[1]},) and b shape (), got "
                    f"{np.shape(w)} and {np.shape(b)}")
        first = (y ** 2).mean().item()
        if abs(losses[0] - first) > 1e-4:
            return (f"the first loss is that of w = 0 and b = 0, mean(y ** 2)"
                    f" = {first:.4f}; got {losses[0]:.4f}")
        pred = X.double().numpy() @ np.asarray(w, dtype=float) + float(b)
        final = float(np.mean((pred - y.double().numpy()) ** 2))
        if not final < 0.02:
            return (f"after {num_steps} steps the loss must be below 0.02 "
                    f"(the noise alone gives 0.01), got {final:.4f}")
        return None
    return compare


def _same_as(reference, num_steps):
    expected = close(reference, rtol=1e-4, atol=1e-5)

    def compare(values):
        result = values[-1]
        if not isinstance(result, list) or len(result) != len(reference):
            return "a different number of results than expected"
        reason = _losses_problem(result[-1], num_steps)
        if reason:
            return reason
        reason = expected(values)
        return reason and f"differs from a correct loop: {reason}"
    return compare


@task("test_train_regression", points=3)
def train_regression(rng):
    X, y = _regression_data()
    yield (Probe.call("train_regression", X, y, 0.5, 200)
           .forbid(NO_TORCH_OPTIM, "ziptie.train.fit"), _fits(X, y, 200))
    for _ in range(3):
        n, d = int(rng.integers(5, 60)), int(rng.integers(1, 6))
        X = _tensor(rng, (n, d))
        y = X @ _tensor(rng, d) + float(rng.normal()) \
            + 0.1 * _tensor(rng, n)
        lr, steps = float(rng.uniform(0.02, 0.2)), int(rng.integers(5, 40))
        yield (Probe.call("train_regression", X, y, lr, steps)
               .forbid(NO_TORCH_OPTIM, "ziptie.train.fit"),
               _same_as(_regression_reference(X, y, lr, steps), steps))


def _loop_reference(model, X, y, lr, num_steps):
    losses = []
    for _ in range(num_steps):
        loss = ((model(X)[:, 0] - y) ** 2).mean()
        for p in model.parameters():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return [p.detach().numpy() for p in model.parameters()], losses


def _trained_like(model, X, y, lr, num_steps, falls: bool = False):
    """The losses and the trained weights of a correct loop; on the
    notebook's data, a loss that falls at every step to below 0.02."""
    import copy

    weights, losses = _loop_reference(copy.deepcopy(model), X, y, lr,
                                      num_steps)
    same = close(losses, rtol=1e-4, atol=1e-6)
    trained = close(weights, rtol=1e-4, atol=1e-5)

    def compare(values):
        got = values[1]
        reason = _losses_problem(got, num_steps)
        if reason:
            return reason
        if falls:
            for step in range(1, num_steps):
                if got[step] > got[step - 1] + 1e-6:
                    return (f"the loss went up at step {step + 1}: "
                            f"{got[step - 1]:.4f} -> {got[step]:.4f}; is "
                            f"every step using the right gradient?")
            if not got[-1] < 0.02:
                return (f"after {num_steps} steps the loss must be below "
                        f"0.02, got {got[-1]:.4f}")
        reason = same([got])
        if reason:
            return f"the losses {reason}"
        reason = trained([values[2:]])
        return reason and f"the trained weights differ from those of a " \
                          f"correct loop: {reason}"
    return compare


def _loop_probe(model, X, y, lr, num_steps) -> Probe:
    probe = (Probe().put(model)
             .then("fixed_training_loop", ref(0), X, y, lr, num_steps))
    for k, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            probe.get(f"$0.{k}.weight").get(f"$0.{k}.bias")
    return probe.forbid(NO_TORCH_OPTIM, "ziptie.train.fit")


@task("test_fixed_training_loop", points=2)
def fixed_training_loop(rng):
    X, y = _regression_data()
    model = nn.Sequential(random_linear(rng, 9, 1))
    yield (_loop_probe(model, X, y, 0.5, 100),
           _trained_like(model, X, y, 0.5, 100, falls=True))
    for _ in range(3):
        n, d = int(rng.integers(5, 60)), int(rng.integers(1, 6))
        X, y = _tensor(rng, (n, d)), _tensor(rng, n)
        model = nn.Sequential(random_linear(rng, d, 4), nn.Tanh(),
                              random_linear(rng, 4, 1))
        lr, steps = float(rng.uniform(0.02, 0.2)), int(rng.integers(5, 30))
        yield (_loop_probe(model, X, y, lr, steps),
               _trained_like(model, X, y, lr, steps))
