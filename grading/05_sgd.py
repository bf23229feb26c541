"""Checks of exercise 05_sgd: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected value
is computed here, in the grader's process: the mini-batches from the same
generator state, the optimizer steps with ``torch.optim.SGD``, the accuracy
of the trained model on the digits ``ziptie.data.load`` keeps back, which no
notebook holds.
"""

import copy

import numpy as np
import torch
from torch import nn

from ziptie.grader.probe import Probe, close, hint, raises, task
from ziptie.grader.recipes import (
    TORCH_OPTIM,
    classifier,
    drive,
    driven_like,
    random_linear,
    random_tensor,
    then_zero_grad,
    train_with,
    trained_like,
)
from ziptie.grader.wire import ref

SHAPES = [(4, 3), (6,), (2, 3, 2), ()]


def _epochs(X, y, batch_size, seed, drop_last, count=2):
    """The reference: epochs of batches in rng.permutation order."""
    rng = np.random.default_rng(seed)
    epochs = []
    for _ in range(count):
        order = rng.permutation(len(X))
        number = len(X) // batch_size if drop_last else -(-len(X)
                                                          // batch_size)
        batches = [order[k * batch_size:(k + 1) * batch_size]
                   for k in range(number)]
        epochs.append([(X[b], y[b]) for b in batches])
    return epochs


def _same_batches(X, y, batch_size, seed, drop_last):
    want = _epochs(X, y, batch_size, seed, drop_last)
    same = close(want, rtol=0, atol=0)
    sizes = [len(b) for _, b in want[0]]

    def compare(values):
        got = values[1:]
        if not all(isinstance(epoch, list) for epoch in got):
            return "minibatches must yield (X_batch, y_batch) pairs"
        reason = same([got])
        if reason:
            return (f"n={len(X)}, batch_size={batch_size}, drop_last="
                    f"{drop_last}: expected batches of sizes {sizes} in the "
                    f"order of rng.permutation(len(X)), drawn anew from the "
                    f"rng passed in at every call: {reason}")
        return None
    return compare


@task("test_minibatches", points=3)
def minibatches(rng):
    cases = [(np.arange(20).reshape(10, 2), np.arange(10), 4, 0, False),
             (np.arange(20).reshape(10, 2), np.arange(10), 4, 0, True)]
    # drop_last where n is a multiple of the batch size (nothing to drop),
    # the batch size n itself, and larger than n (no batch at all)
    n = 4 * int(rng.integers(2, 6))
    for batch_size in (4, n, n + int(rng.integers(1, 4))):
        cases.append((rng.normal(size=(n, 3)), np.arange(n), batch_size,
                      int(rng.integers(2**32)), True))
    for trial in range(8):
        n = int(rng.integers(1, 60))
        X, y = rng.normal(size=(n, 3)), np.arange(n)
        if trial >= 4:
            X, y = torch.from_numpy(X), torch.from_numpy(y)
        cases.append((X, y, int(rng.integers(1, n + 5)),
                      int(rng.integers(2**32)), bool(trial % 2)))
    for X, y, batch_size, seed, drop_last in cases:
        probe = Probe().put(np.random.default_rng(seed))
        for _ in range(2):
            probe.then("minibatches", X, y, batch_size, ref(0),
                       drop_last=drop_last)
        yield probe, _same_batches(X, y, batch_size, seed, drop_last)


def _equals(*expected):
    """The values after the first are ``expected``, in order."""
    def compare(values):
        for got, want in zip(values[-len(expected):], expected, strict=True):
            reason = close(want, rtol=1e-7, atol=1e-12)([got])
            if reason:
                return reason
        return None
    return compare


@task("test_sgd_init", points=1)
def sgd_init(rng):
    w = torch.zeros(3, requires_grad=True)
    yield (Probe().put([w]).keep("SGD", ref(0), lr=0.1, momentum=0.9)
           .get("$1.lr").get("$1.momentum").forbid(*TORCH_OPTIM),
           _equals(0.1, 0.9))
    w.grad = torch.ones(3)
    lr = float(rng.uniform(0.05, 0.5))
    yield (Probe().put([w]).keep("$0.__iter__").keep("SGD", ref(1), lr=lr)
           .keep("$2.step").keep("$2.step").get("$2.momentum").get("$0.0")
           .forbid(*TORCH_OPTIM),
           _equals(0.0, np.full(3, -2 * lr, dtype=np.float32)))
    for allowed in ({"lr": 0.1, "momentum": 0.0}, {"lr": 0.0},
                    {"lr": 1.0, "momentum": 0.0}):
        yield (Probe().put([w]).catch("SGD", ref(0), **allowed),
               lambda values, allowed=allowed: values[-1] and
               f"SGD(params, **{allowed}) is allowed, but raised "
               f"{values[-1][0]}")
    for bad in ({"lr": -0.1}, {"lr": -1e-6}, {"lr": 0.1, "momentum": -0.5},
                {"lr": 0.1, "momentum": 1.0}, {"lr": 0.1, "momentum": 1.5}):
        yield Probe().put([w]).catch("SGD", ref(0), **bad), raises(
            "ValueError")


def _random_steps(rng, num_steps, dtype=torch.float64, none=None):
    """Gradients for the parameters of SHAPES at every step; ``none(t, k)``
    says where a parameter has no gradient."""
    return [[None if none and none(t, k) else random_tensor(rng, s, dtype)
             for k, s in enumerate(SHAPES)] for t in range(num_steps)]


def _params(rng, dtype=torch.float64):
    return [random_tensor(rng, s, dtype).requires_grad_() for s in SHAPES]


@task("test_sgd_step", points=2)
def sgd_step(rng):
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    grads = [[torch.tensor([0.5, -1.0])]]
    yield then_zero_grad(drive("SGD", [w], grads, lr=0.1), driven_like(
        torch.optim.SGD, [w], grads, lr=0.1))

    X = random_tensor(rng, (16, 4), torch.float32)
    y = random_tensor(rng, (16, 1), torch.float32)
    net = nn.Sequential(random_linear(rng, 4, 1)).float()
    yield (train_with("SGD", net, X, y, 10, lr=0.2),
           trained_like(torch.optim.SGD, net, X, y, 10, lr=0.2))

    params = _params(rng)
    grads = _random_steps(rng, 40, none=lambda t, k: k == 3 and t % 3 == 0)
    lrs = [float(rng.uniform(0.001, 0.5)) for _ in grads]
    yield (drive("SGD", params, grads, lrs=lrs, lr=0.1),
           driven_like(torch.optim.SGD, params, grads, lrs=lrs, lr=0.1))


@task("test_sgd_momentum", points=3)
def sgd_momentum(rng):
    w = torch.tensor([0.0], requires_grad=True)
    grads = [[torch.tensor([1.0])]] * 3
    lrs = [0.1, 0.1, 0.01]
    yield (drive("SGD", [w], grads, lrs=lrs, lr=0.1, momentum=0.9),
           driven_like(torch.optim.SGD, [w], grads, lrs=lrs, lr=0.1,
                       momentum=0.9))

    X = random_tensor(rng, (16, 4), torch.float32)
    y = random_tensor(rng, (16, 1), torch.float32)
    net = nn.Sequential(random_linear(rng, 4, 8), nn.Tanh(),
                        random_linear(rng, 8, 1))
    lrs = [0.02 if t == 10 else None for t in range(20)]
    yield (train_with("SGD", net.float(), X, y, 20, lrs=lrs, lr=0.1,
                      momentum=0.9),
           trained_like(torch.optim.SGD, net, X, y, 20, lrs=lrs, lr=0.1,
                        momentum=0.9))

    for trial in range(3):
        # 1: gradients copied into the same .grad tensor, as backward()
        # does; 2: float32
        dtype = torch.float64 if trial < 2 else torch.float32
        tol = 1e-6 if trial < 2 else 1e-4
        momentum = float(rng.uniform(0.3, 0.99))
        params = _params(rng, dtype)
        # the last parameter has no gradient at first; the first one loses
        # it for a while once its velocity has built up (it keeps that
        # velocity, and no other parameter takes its place)
        grads = _random_steps(rng, 50, dtype, none=lambda t, k: (
            k == 3 and t < 5) or (k == 0 and t in (12, 13, 27)))
        lrs = [float(rng.uniform(0.001, 0.2)) if t % 10 == 0 else None
               for t in range(50)]
        yield (drive("SGD", params, grads, lrs=lrs,
                     copy_into=(lambda t: True) if trial == 1 else None,
                     lr=0.1, momentum=momentum),
               driven_like(torch.optim.SGD, params, grads, lrs=lrs,
                           rtol=tol, atol=tol, lr=0.1, momentum=momentum))

    # weights and gradients of about 1e-50, which float64 holds and
    # float32 does not: a velocity made in float32 (torch.zeros(p.shape),
    # on the CPU too) is 0 there, and the weights stand still
    params = [(1e-50 * p).detach().requires_grad_() for p in _params(rng)]
    grads = [[1e-50 * g for g in step] for step in _random_steps(rng, 20)]
    momentum = float(rng.uniform(0.5, 0.95))
    yield (drive("SGD", params, grads, lr=0.1, momentum=momentum),
           hint(driven_like(torch.optim.SGD, params, grads, rtol=1e-6,
                            atol=0.0, lr=0.1, momentum=momentum),
                "weights and gradients of about 1e-50: keep the velocity in "
                "the parameter's dtype and on its device "
                "(torch.zeros_like(p), or g.clone())"))


def _epoch_reference(model, X, y, batch_size, seed, epochs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for order in _epochs(np.arange(len(X)), np.arange(len(X)), batch_size,
                         seed, False, epochs):
        total = 0.0
        for index, _ in order:
            loss = loss_fn(model(X[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(X))
    return losses, [p.detach().numpy() for p in model.parameters()]


def _trained_epochs(model, X, y, batch_size, seed, epochs=2):
    losses, weights = _epoch_reference(copy.deepcopy(model), X, y,
                                       batch_size, seed, epochs)
    same_weights = close(weights, rtol=1e-4, atol=1e-5)

    def compare(values):
        got = values[5:5 + epochs]
        for epoch, (loss, want) in enumerate(zip(got, losses, strict=True)):
            if not isinstance(loss, float):
                return "return the mean loss of the epoch as a float"
            if abs(loss - want) > 1e-5 * max(1.0, abs(want)):
                return (f"epoch {epoch + 1}: mean loss {loss} differs from "
                        f"the reference {want} (one zero_grad, backward and "
                        f"step per mini-batch; weight each batch's loss by "
                        f"its size)")
        reason = same_weights([values[5 + epochs:]])
        return reason and f"the trained weights differ from a reference " \
                          f"epoch on the same mini-batches: {reason}"
    return compare


@task("test_train_epoch", points=2)
def train_epoch(rng):
    for n, batch_size in [(10, 4), (int(rng.integers(20, 80)),
                                    int(rng.integers(3, 16)))]:
        X = random_tensor(rng, (n, 4), torch.float32)
        y = torch.from_numpy(rng.integers(0, 3, size=n))
        model = nn.Sequential(random_linear(rng, 4, 6), nn.ReLU(),
                              random_linear(rng, 6, 3)).float()
        seed = int(rng.integers(2**32))
        probe = (Probe().put(model).keep("$0.parameters")
                 .keep("torch.optim.SGD", ref(1), lr=0.1, momentum=0.9)
                 .keep("torch.nn.CrossEntropyLoss")
                 .put(np.random.default_rng(seed)))
        for _ in range(2):
            probe.then("train_epoch", ref(0), ref(3), ref(2), X, y,
                       batch_size, ref(4))
        # the loop is the task: ziptie's own training loop must not do it
        probe.forbid("ziptie.train.fit", "ziptie.train.evaluate")
        for k in (0, 2):
            probe.get(f"$0.{k}.weight").get(f"$0.{k}.bias")
        yield probe, _trained_epochs(model, X, y, batch_size, seed)


@task("test_digits_sgd", points=2)
def digits_sgd(rng):
    yield classifier("SGD", 0.95)
