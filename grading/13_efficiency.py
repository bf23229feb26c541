"""Checks of exercise 13_efficiency: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the networks (float64),
the batches and their sizes, the micro-batch sizes, the optimizer's and
the scheduler's settings, the seeds, the weights to prune and the amounts.
Every expected value is computed here, in the grader's process, with
PyTorch: the whole batch's gradient by autograd, the uninterrupted run of
the same training with ``torch.optim.SGD`` and ``StepLR``, the mask of
``torch.nn.utils.prune.L1Unstructured``. While the student's pruning runs,
``torch.nn.utils.prune`` is refused.
"""

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from ziptie.grader.probe import Probe, close, task
from ziptie.grader.recipes import (
    count_backward,
    one_micro_batch_each,
    random_linear,
    random_tensor,
)
from ziptie.grader.wire import ref

#: What pruning by hand must not hand its work to.
PRUNE = tuple(f"torch.nn.utils.prune.{name}" for name in (
    "l1_unstructured", "random_unstructured", "ln_structured",
    "random_structured", "global_unstructured", "identity",
    "custom_from_mask", "_compute_nparams_toprune",
    "L1Unstructured.compute_mask", "RandomUnstructured.compute_mask",
    "LnStructured.compute_mask", "BasePruningMethod.apply",
    "BasePruningMethod.prune", "PruningContainer.compute_mask"))

_ACTIVATIONS = (nn.Tanh, nn.ReLU, nn.Sigmoid)


def _net(rng, sizes, end_activation=False):
    """A float64 nn.Sequential of Linear layers of ``sizes`` with random
    activations between them (and after the last, if asked)."""
    layers: list = []
    for k, (d_in, d_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        if k:
            layers.append(_ACTIVATIONS[int(rng.integers(3))]())
        layers.append(random_linear(rng, d_in, d_out, torch.float64))
    if end_activation:
        layers.append(_ACTIVATIONS[int(rng.integers(3))]())
    return nn.Sequential(*layers)


def _linear_indices(net) -> list[int]:
    return [k for k, layer in enumerate(net) if isinstance(layer, nn.Linear)]


# -- task 1: accumulated_grads --------------------------------------------------

def _pass_grads(net, loss_fn, X, Y, size) -> list[list[np.ndarray]]:
    """The first layer's weight gradient of each micro-batch's mean loss,
    for each way to cut X into micro-batches of at most ``size``: in
    order of ``size`` (``torch.split``), and into as many equal ones
    (``torch.chunk``)."""
    ways = [list(zip(torch.split(X, size), torch.split(Y, size),
                     strict=True))]
    count = len(ways[0])
    ways.append(list(zip(torch.chunk(X, count), torch.chunk(Y, count),
                         strict=True)))
    grads = []
    for way in ways:
        grads.append([])
        for xb, yb in way:
            model = copy.deepcopy(net)
            loss_fn(model(xb), yb).backward()
            grads[-1].append(model[0].weight.grad.numpy())
    return grads


def _accumulate_case(rng, n, size, *, classes, stale):
    d_in, hidden = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    d_out = classes or int(rng.integers(1, 4))
    net = _net(rng, [d_in, hidden, d_out])
    X = 3 * random_tensor(rng, (n, d_in))
    if classes:
        Y = torch.from_numpy(rng.integers(0, classes, size=n))
        loss_name, loss_fn = "torch.nn.CrossEntropyLoss", nn.CrossEntropyLoss()
    else:
        Y = random_tensor(rng, (n, d_out))
        loss_name, loss_fn = "torch.nn.MSELoss", nn.MSELoss()
    reference = copy.deepcopy(net)
    loss = loss_fn(reference(X), Y)
    loss.backward()
    ways = _pass_grads(net, loss_fn, X, Y, size)
    linears = _linear_indices(net)
    probe = Probe().put(net).put(X).put(Y).keep(loss_name)
    if stale:
        # gradients left from an earlier step: they must not count
        for k in linears:
            probe.set(f"$0.{k}.weight.grad",
                      random_tensor(rng, net[k].weight.shape))
            probe.set(f"$0.{k}.bias.grad",
                      random_tensor(rng, net[k].bias.shape))
    # the first layer's weight counts the backward passes through it
    hook = count_backward(probe, "$0.0.weight")
    probe.then("accumulated_grads", ref(0), ref(3), ref(1), ref(2), size)
    for k in linears:
        probe.get(f"$0.{k}.weight.grad").get(f"$0.{k}.bias.grad")
    probe.get(f"${hook}")
    order = [p.grad.numpy() for k in linears
             for p in (reference[k].weight, reference[k].bias)]
    count = 2 * len(linears)
    same_loss = close(loss.item(), rtol=1e-9, atol=1e-12)
    same_grads = close(order, rtol=1e-7, atol=1e-10)
    pieces = -(-n // size)
    probe.text = (f"accumulated_grads(model, {loss_name.split('.')[-1]}(), "
                  f"X of {n} examples, micro_batch_size={size}: "
                  f"{pieces} micro-batch(es)"
                  f"{', with stale gradients in .grad' if stale else ''})")

    def compare(values):
        passes, values = values[-1], values[:-1]
        got = values[-count - 1]
        if not isinstance(got, int | float) or isinstance(got, bool):
            return (f"return the whole batch's loss as a float, got "
                    f"{type(got).__name__}")
        if same_loss([got]):
            return (f"the returned loss {got:.6g} is not the whole batch's "
                    f"mean loss {loss.item():.6g}: add up each "
                    f"micro-batch's loss times its size / N")
        for g in values[-count:]:
            if g is None:
                return "a parameter has no .grad afterwards"
        reason = same_grads([values[-count:]])
        if reason:
            return (f"the gradients (weight, bias of each Linear layer) "
                    f"differ from the whole batch's: {reason}; clear .grad "
                    f"first, then weight each micro-batch's mean loss by "
                    f"its size / N")
        if not isinstance(passes, list) or len(passes) < pieces:
            return (f"the gradients came from fewer backward passes than "
                    f"the {pieces} micro-batches: call backward once for "
                    f"each micro-batch, never on the whole batch")
        if not one_micro_batch_each(passes, ways):
            return (f"the gradients are the whole batch's, but the "
                    f"{len(passes)} backward passes did not each carry one "
                    f"micro-batch's: the loss of pass k is that of "
                    f"X[k * micro_batch_size:(k + 1) * micro_batch_size] "
                    f"alone (weighted by its size / N)")
        return None
    return probe, compare


@task("test_accumulated_grads", points=3)
def accumulated_grads(rng):
    # an uneven last micro-batch, with stale gradients, in both losses
    n = int(rng.integers(7, 20))
    size = int(rng.integers(2, n // 2 + 1))
    while n % size == 0:
        size = int(rng.integers(2, n // 2 + 1))
    yield _accumulate_case(rng, n, size, classes=int(rng.integers(2, 5)),
                           stale=True)
    yield _accumulate_case(rng, 10, 4, classes=0, stale=False)
    # micro-batches of equal size, of one example, and one micro-batch
    # larger than the batch
    size = int(rng.integers(2, 5))
    yield _accumulate_case(rng, size * int(rng.integers(2, 5)), size,
                           classes=0, stale=True)
    yield _accumulate_case(rng, int(rng.integers(3, 7)), 1, classes=3,
                           stale=False)
    n = int(rng.integers(2, 6))
    yield _accumulate_case(rng, n, n + int(rng.integers(0, 3)), classes=2,
                           stale=True)


# -- task 2: checkpoint and resume ---------------------------------------------

class _Run:
    """A training run built step by step in the sandbox: model, SGD with
    momentum, StepLR and a generator that draws each step's batch."""

    def __init__(self, probe: Probe, net, seed: int, settings: dict):
        self.probe = probe
        s = settings
        self.model = self._keep_put(net)
        self.X, self.Y = s["X_ref"], s["Y_ref"]
        params = self._keep(f"${self.model}.parameters")
        self.optimizer = self._keep("torch.optim.SGD", ref(params),
                                    lr=s["lr"], momentum=s["momentum"])
        self.scheduler = self._keep("torch.optim.lr_scheduler.StepLR",
                                    ref(self.optimizer),
                                    step_size=s["step_size"],
                                    gamma=s["gamma"])
        self.generator = self._keep("torch.Generator")
        self._keep(f"${self.generator}.manual_seed", seed)
        self.n, self.batch = s["n"], s["batch"]

    def _keep(self, target, *args, **kwargs) -> int:
        self.probe.keep(target, *args, **kwargs)
        return len(self.probe.steps) - 1

    def _keep_put(self, value) -> int:
        self.probe.put(value)
        return len(self.probe.steps) - 1

    def objects(self) -> list:
        return [ref(self.model), ref(self.optimizer), ref(self.scheduler),
                ref(self.generator)]

    def train(self, steps: int) -> None:
        for _ in range(steps):
            perm = self._keep("torch.randperm", self.n,
                              generator=ref(self.generator))
            index = self._keep(f"${perm}.narrow", 0, 0, self.batch)
            xb = self._keep(f"${self.X}.index_select", 0, ref(index))
            yb = self._keep(f"${self.Y}.index_select", 0, ref(index))
            out = self._keep(f"${self.model}", ref(xb))
            loss = self._keep("torch.nn.functional.cross_entropy", ref(out),
                              ref(yb))
            self._keep(f"${self.optimizer}.zero_grad")
            self._keep(f"${loss}.backward")
            self._keep(f"${self.optimizer}.step")
            self._keep(f"${self.scheduler}.step")

    def weights(self, linears: list[int]) -> int:
        """Read the weights back; the index of the first value."""
        first = len(self.probe.steps)
        for k in linears:
            self.probe.get(f"${self.model}.{k}.weight").get(
                f"${self.model}.{k}.bias")
        return first


def _reference(net, X, Y, seed, settings, steps) -> list:
    """The uninterrupted run, here: the weights after ``steps`` steps."""
    model = copy.deepcopy(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"],
                                momentum=settings["momentum"])
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=settings["step_size"], gamma=settings["gamma"])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randperm(settings["n"], generator=generator).narrow(
            0, 0, settings["batch"])
        loss = F.cross_entropy(model(X.index_select(0, index)),
                               Y.index_select(0, index))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return [p.detach().numpy() for p in model.parameters()]


@task("test_checkpoint", points=3)
def checkpoint(rng):
    for _ in range(2):
        classes = int(rng.integers(2, 5))
        d_in, hidden = int(rng.integers(3, 7)), int(rng.integers(3, 7))
        n = int(rng.integers(10, 24))
        step_size = int(rng.integers(2, 4))
        # stopped off a multiple of step_size, resumed for long enough
        # that the schedule's next drop falls inside
        before = step_size * int(rng.integers(1, 3)) + int(
            rng.integers(1, step_size))
        after = step_size + 1
        settings = {"lr": float(rng.uniform(0.05, 0.5)),
                    "momentum": float(rng.uniform(0.5, 0.95)),
                    "step_size": step_size,
                    "gamma": float(rng.uniform(0.2, 0.7)), "n": n,
                    "batch": int(rng.integers(3, n // 2 + 1))}
        X = 2 * random_tensor(rng, (n, d_in))
        Y = torch.from_numpy(rng.integers(0, classes, size=n))
        seeds = [int(s) for s in rng.choice(2**31, size=3, replace=False)]
        net = _net(rng, [d_in, hidden, classes])
        probe = Probe().put(X).put(Y)
        settings.update(X_ref=0, Y_ref=1)
        run = _Run(probe, net, seeds[0], settings)
        run.train(before)
        probe.keep("checkpoint", *run.objects())
        state = len(probe.steps) - 1
        run.train(after)
        linears = _linear_indices(net)
        starts = [run.weights(linears)]
        # two fresh runs (other weights, other seeds), resumed from the
        # one checkpoint, one after the other
        for seed in seeds[1:]:
            other = copy.deepcopy(net)        # the same layers, other weights
            with torch.no_grad():
                for p in other.parameters():
                    p.copy_(torch.from_numpy(rng.uniform(-1, 1, p.shape)))
            fresh = _Run(probe, other, seed, settings)
            probe.keep("resume", ref(state), *fresh.objects())
            fresh.train(after)
            starts.append(fresh.weights(linears))
        count = 2 * len(linears)
        want = _reference(net, X, Y, seeds[0], settings, before + after)
        same = close(want, rtol=1e-6, atol=1e-9)
        probe.text = (f"{before} steps of SGD(lr={settings['lr']:.3g}, "
                      f"momentum={settings['momentum']:.3g}) with "
                      f"StepLR(step_size={step_size}), batches drawn by a "
                      f"generator; checkpoint(); {after} more steps; then "
                      f"twice: fresh objects, resume(state, ...), "
                      f"{after} steps")

        def compare(values, same=same, count=count, starts=starts):
            first = values[starts[0]:starts[0] + count]
            reason = same([first])
            if reason:
                return (f"the run that was checkpointed did not go on as "
                        f"it would have without checkpoint(): {reason}; "
                        f"checkpoint() must change nothing")
            for k, label in ((1, "first"), (2, "second")):
                got = values[starts[k]:starts[k] + count]
                for a, b in zip(first, got, strict=True):
                    if not np.array_equal(np.asarray(a), np.asarray(b)):
                        worst = float(np.max(np.abs(np.asarray(a)
                                                    - np.asarray(b))))
                        return (f"the {label} resumed run ends with weights "
                                f"{worst:.3g} away from the uninterrupted "
                                f"run's (they must be identical): save and "
                                f"load all four states (model, optimizer, "
                                f"scheduler, generator), as copies that "
                                f"later training cannot change")
            return None
        yield probe, compare


# -- task 3: magnitude_prune_ ------------------------------------------------------

def _prune_case(weight, amount):
    """The probe and its check: PyTorch's count, only the smallest |w|
    zeroed (any of those tied at the boundary), the weight changed in
    place by the mask, and, when nothing ties there, PyTorch's mask."""
    w = weight.detach().clone()
    n = w.numel()
    want_mask = prune.L1Unstructured(amount).compute_mask(
        w, default_mask=torch.ones_like(w)).numpy()
    k = round(amount * n)
    magnitude = w.abs().numpy()
    probe = (Probe().put(weight).then("magnitude_prune_", ref(0), amount)
             .get("$0"))
    shown = f"weight of shape {tuple(w.shape)}"
    probe.text = (f"magnitude_prune_(a {shown}"
                  f"{' with requires_grad' if weight.requires_grad else ''}"
                  f", amount={amount:.4g}): round({amount:.4g} * {n}) = {k} "
                  f"to zero")

    def compare(values):
        mask, after = values[-2], values[-1]
        try:
            mask = np.asarray(mask, dtype=float)
        except (TypeError, ValueError):
            return "return the mask, a tensor of the weight's shape"
        if mask.shape != magnitude.shape:
            return (f"the mask must have the weight's shape "
                    f"{magnitude.shape}, got {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            return "the mask holds 1 where a weight is kept, 0 elsewhere"
        zeros = int(np.sum(mask == 0))
        if zeros != k:
            return (f"the mask zeroes {zeros} weights, not round(amount * "
                    f"n) = {k} (Python's round; with ties at the "
                    f"boundary, zero no more than the count)")
        pruned, kept = magnitude[mask == 0], magnitude[mask == 1]
        if pruned.size and kept.size and pruned.max() > kept.min():
            return ("the mask zeroes a weight larger in absolute value "
                    "than one it keeps: zero the smallest |w|")
        if not np.array_equal(np.asarray(after, dtype=float),
                              w.numpy() * mask):
            return ("the weight must be changed in place: weight * mask, "
                    "the same tensor, afterwards")
        ties = pruned.size and kept.size and pruned.max() == kept.min()
        if not ties and not np.array_equal(mask, want_mask):
            return "the mask differs from torch.nn.utils.prune's"
        return None
    return probe.forbid(*PRUNE), compare


@task("test_magnitude_prune", points=3)
def magnitude_prune(rng):
    # ties across the boundary, signs mixed: three of six, any of the 1s
    yield _prune_case(torch.tensor([0.5, -1.0, 1.0, 2.0, 1.0, -3.0],
                                   dtype=torch.float64), 0.5)
    # a count that rounds up (3.7 -> 4), one that rounds down (3.2 -> 3),
    # a half that rounds to even (2.5 -> 2)
    for amount in (0.37, 0.32, 0.25):
        values = rng.permutation(np.arange(1, 11)) * rng.choice(
            [-1.0, 1.0], size=10)
        yield _prune_case(torch.from_numpy(values.reshape(2, 5)), amount)
    # amounts 0 and 1
    for amount in (0.0, 1.0):
        yield _prune_case(random_tensor(rng, (int(rng.integers(2, 5)), 3)),
                          amount)
    # a layer's weight (requires_grad), values large and small, and a bias
    shape = (int(rng.integers(3, 8)), int(rng.integers(3, 8)))
    weight = (random_tensor(rng, shape) * torch.from_numpy(
        10 ** rng.uniform(-3, 3, size=shape))).float().requires_grad_()
    yield _prune_case(weight, float(rng.uniform(0.1, 0.9)))
    yield _prune_case(random_tensor(rng, (int(rng.integers(5, 12)),)),
                      float(rng.uniform(0.2, 0.8)))
    # a 3-d weight, pruned over all of it, with many ties (small integers)
    values = rng.integers(-3, 4, size=(2, 3, 4)).astype(float)
    yield _prune_case(torch.from_numpy(values), float(rng.uniform(0.3, 0.7)))


# -- task 4: freeze_body -------------------------------------------------------

def _freeze_case(rng, sizes, end_activation, *, no_bias=(), tail=()):
    """``freeze_body`` on a net of Linear layers of ``sizes``; the Linear
    layers at the positions ``no_bias`` (-1: the head) have no bias, and
    the activations ``tail`` follow the last one."""
    net = _net(rng, sizes, end_activation)
    linears = _linear_indices(net)
    for j in no_bias:
        net[linears[j]].bias = None
    for activation in tail:
        net.append(activation())
    names = [f"{k}.{name}" for k in linears for name in ("weight", "bias")
             if getattr(net[k], name) is not None]
    probe = Probe().put(net).then("freeze_body", ref(0))
    for name in names:
        probe.get(f"$0.{name}.requires_grad")
    for name in names:
        probe.get(f"$0.{name}")
    head = net[linears[-1]]
    flags = [name.startswith(f"{linears[-1]}.") for name in names]
    count = sum(p.numel() for p in head.parameters())
    weights = [net.get_parameter(name).detach().numpy() for name in names]
    same = close(weights, rtol=0, atol=0)
    layers = ", ".join(type(layer).__name__ + (
        "(bias=False)" if isinstance(layer, nn.Linear) and layer.bias is None
        else "") for layer in net)
    probe.text = f"freeze_body(nn.Sequential({layers}))"

    def compare(values):
        m = len(names)
        got_count, got_flags = values[-2 * m - 1], values[-2 * m:-m]
        if got_flags != flags:
            return (f"requires_grad of the parameters {names} must be "
                    f"{flags}, got {got_flags}: freeze every parameter "
                    f"(biases too) but those of the last layer with "
                    f"parameters")
        if same([values[-m:]]):
            return "freezing must leave every weight as it was"
        if type(got_count) is not int or got_count != count:
            return (f"{count} numbers stay trainable (the entries of the "
                    f"head's parameters), got {got_count!r}")
        return None
    return probe, compare


@task("test_freeze_body", points=2)
def freeze_body(rng):
    def sizes(count):
        return [int(s) for s in rng.integers(2, 7, size=count)]

    yield _freeze_case(rng, sizes(3), False)
    yield _freeze_case(rng, sizes(4), True)
    yield _freeze_case(rng, sizes(2), False)
    yield _freeze_case(rng, sizes(5), bool(rng.integers(2)))
    # a head without a bias (its parameters are not the last two), and a
    # body layer without one in a net that ends in two activations (its
    # head is not model[-2])
    yield _freeze_case(rng, sizes(3), False, no_bias=(-1,))
    yield _freeze_case(rng, sizes(4), True, no_bias=(0,), tail=(nn.ReLU,))
