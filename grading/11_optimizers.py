"""Checks of exercise 11_optimizers: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the parameters and their
gradients (float64 unless a case is about float32), the settings, the
schedules' lengths, the networks and batches of the range test. Every
expected value is computed here, in the grader's process, by PyTorch's own
code: ``torch.optim.Adagrad``, ``torch.optim.RMSprop`` and
``torch.optim.SGD(nesterov=True)`` run the same steps on copies;
``SequentialLR`` of ``LinearLR`` and ``CosineAnnealingLR`` gives the
schedule's rates; the range test is run here with ``torch.optim.SGD``.
While the student's optimizers run, ``torch.optim``'s optimizers are
unusable, and so are its schedulers while ``lr_at`` runs.
"""

import copy
import itertools
import math

import numpy as np
import torch
from torch import nn

from ziptie.grader.probe import Probe, close, raises, task
from ziptie.grader.probe import hint as with_hint
from ziptie.grader.recipes import (
    TORCH_OPTIM,
    drive,
    driven_like,
    random_linear,
    random_tensor,
    train_with,
    trained_like,
)
from ziptie.grader.wire import ref

SHAPES = [(4, 3), (6,), (2, 3, 2), ()]

#: What a hand-written optimizer must not hand its work to.
OPTIM = (*TORCH_OPTIM,
         *(f"torch.optim.{module}.{name}"
           for module in ("adagrad", "rmsprop", "_functional")
           for name in ("adagrad", "rmsprop")))
#: What lr_at must not hand its work to.
SCHEDULERS = ("torch.optim.lr_scheduler.LRScheduler.__init__",
              "torch.optim.lr_scheduler.LRScheduler.step",
              "torch.optim.Optimizer.__init__")


# -- shared: driving an optimizer ---------------------------------------------

def _zero_grad(probe: Probe, expect):
    """After the steps, ``zero_grad()``: every ``.grad`` must then be None
    or zeros (both are what torch.optim allows), never what it was."""
    probe.keep("$2.zero_grad").get("$0.0.grad")

    def compare(values):
        reason = expect(values[:-2])
        if reason:
            return reason
        got = values[-1]
        if got is None or not np.any(np.asarray(got, dtype=float)):
            return None
        return "zero_grad() must set every .grad to None (or to zeros)"
    return probe, compare


def _against(rng, ours: str, reference, settings: dict, *,
             num_steps: int = 100, dtype=torch.float64, tol: float = 1e-9,
             scale: float = 1.0, new_lr: float | None = None, none=None,
             hint: str = "", shapes: list | None = None):
    """``ours(params, **settings)`` and ``reference(params, **settings)``
    over ``num_steps`` steps on fresh parameters of ``shapes`` (SHAPES).

    Each parameter's gradients scatter around a mean of its own, times
    ``scale``; every other step a gradient is copied into the ``.grad``
    tensor already there, as ``backward()`` does; ``new_lr`` becomes
    ``optimizer.lr`` halfway; ``none(t, k)`` says where parameter ``k``
    has no gradient at step t. In float64 the parameters must agree to
    1e-9 (correct answers agree to 1e-11 and closer): a state kept in
    float32 (``torch.zeros(p.shape)``) does not.
    """
    shapes = shapes or SHAPES
    params = [random_tensor(rng, s, dtype).requires_grad_() for s in shapes]
    means = rng.normal(size=len(shapes))
    grads = [[None if none and none(t, k) else scale * (
        means[k] + random_tensor(rng, s, dtype)) for k, s in enumerate(shapes)]
        for t in range(num_steps)]
    lrs = None if new_lr is None else [
        new_lr if t == num_steps // 2 else None for t in range(num_steps)]
    probe = drive(ours, params, grads, lrs=lrs,
                  copy_into=lambda t: t % 2 == 1, **settings).forbid(*OPTIM)
    expect = driven_like(reference, params, grads, lrs=lrs, rtol=tol,
                         atol=tol, **settings)
    return probe, (with_hint(expect, hint) if hint else expect)


def _net(rng, *sizes, dtype=torch.float64) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(sizes):
        layers += [random_linear(rng, d_in, d_out, dtype), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _trains_like(rng, ours: str, reference, **settings):
    """A small network trained 20 steps with ``ours`` and ``reference``."""
    X, y = random_tensor(rng, (16, 4)), random_tensor(rng, (16, 1))
    net = _net(rng, 4, 8, 1)
    probe = train_with(ours, net, X, y, 20, **settings).forbid(*OPTIM)
    return probe, trained_like(reference, net, X, y, 20, **settings)


def _kept(names: tuple, want: tuple):
    """The settings read back (the last ``len(names)`` values) are
    ``want``, and the optimizer is not a torch.optim one."""
    def compare(values):
        if values[-len(names) - 1] is not False:
            return "write it yourself: it must not be a torch.optim optimizer"
        for name, got, w in zip(names, values[-len(names):], want,
                                strict=True):
            if close(w, rtol=1e-9, atol=0)([got]) is not None:
                return (f"self.{name} must be {w!r}, got {got!r}: keep the "
                        f"settings as attributes named as torch.optim's "
                        f"arguments ({', '.join(names)})")
        return None
    return compare


def _init_cases(rng, ours: str, names: tuple, settings: dict,
                defaults: tuple, allowed: list, bad: list):
    """The settings kept, the defaults, a generator of parameters, the
    settings that must be accepted and those that must raise."""
    w = random_tensor(rng, 3, torch.float32).requires_grad_()
    probe = (Probe().put([w]).keep(ours, ref(0), **settings)
             .then("torch.optim.Optimizer.__instancecheck__", ref(1)))
    for name in names:
        probe.get(f"$1.{name}")
    yield probe.forbid(*OPTIM), _kept(names, tuple(settings[n]
                                                   for n in names))

    w.grad = random_tensor(rng, 3, torch.float32)
    probe = (Probe().put([w]).keep("$0.__iter__").keep(ours, ref(1))
             .then("torch.optim.Optimizer.__instancecheck__", ref(2)))
    for name in names:
        probe.get(f"$2.{name}")
    probe.keep("$2.step").get("$0.0")
    start = w.detach().numpy().copy()

    def defaults_kept(values):
        reason = _kept(names, defaults)(values[:-2])
        if reason:
            return reason + " (here: the defaults of torch.optim)"
        if np.array_equal(np.asarray(values[-1], dtype=float), start):
            return ("params may be a generator: keep it as a list, it can "
                    "be read only once (here step() moved no parameter)")
        return None
    yield probe.forbid(*OPTIM), defaults_kept

    for settings in allowed:
        yield (Probe().put([w]).catch(ours, ref(0), **settings),
               lambda values, settings=settings: values[-1] and (
                   f"{ours}(params, **{settings}) is allowed, but raised "
                   f"{values[-1][0]}"))
    for settings in bad:
        yield Probe().put([w]).catch(ours, ref(0), **settings), raises(
            "ValueError")


# -- task 1: AdaGrad -------------------------------------------------------------

ADAGRAD = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value",
           "eps")


@task("test_adagrad", points=3)
def adagrad(rng):
    u = lambda low, high: float(rng.uniform(low, high))  # noqa: E731
    yield from _init_cases(
        rng, "Adagrad", ADAGRAD,
        {"lr": u(1e-3, 0.5), "lr_decay": u(0.01, 0.5),
         "weight_decay": u(0.01, 0.5),
         "initial_accumulator_value": u(0.01, 1.0), "eps": u(1e-9, 1e-4)},
        (1e-2, 0.0, 0.0, 0.0, 1e-10),
        [{"lr": 0.0}, {"lr": u(0.01, 1), "eps": 0.0}],
        [{"lr": -u(1e-3, 1)}, {"lr_decay": -u(1e-3, 1)},
         {"weight_decay": -u(1e-3, 1)},
         {"initial_accumulator_value": -u(1e-3, 1)}, {"eps": -u(1e-9, 1e-3)}])

    # the first step moves every weight by lr against its gradient's sign
    w = torch.tensor(rng.normal(size=4), requires_grad=True)
    grads = [[torch.from_numpy(rng.normal(size=4) * 10 ** rng.uniform(
        -2, 1, size=4))]]
    lr = u(0.05, 0.5)
    yield _zero_grad(*_against_one("Adagrad", torch.optim.Adagrad, w, grads,
                                   lr=lr))

    yield _trains_like(rng, "Adagrad", torch.optim.Adagrad, lr=u(0.01, 0.1))
    yield _against(rng, "Adagrad", torch.optim.Adagrad, {})
    # gradients of about 1e-2: an eps of 1e-3 to 1e-2 weighs against sqrt(G)
    yield _against(rng, "Adagrad", torch.optim.Adagrad,
                   {"lr": u(0.01, 0.1), "eps": u(1e-3, 1e-2)}, scale=1e-2,
                   hint="eps is added after the square root")
    lr = u(0.05, 0.2)
    yield _against(rng, "Adagrad", torch.optim.Adagrad,
                   {"lr": lr, "initial_accumulator_value": u(0.1, 2.0),
                    "weight_decay": u(0.05, 0.5)}, new_lr=lr / 5,
                   hint="G starts at initial_accumulator_value, and the "
                        "L2 term is added to the gradient before G")
    late = int(rng.integers(2, 10))
    yield _against(rng, "Adagrad", torch.optim.Adagrad,
                   {"lr": u(0.05, 0.2), "lr_decay": u(0.05, 0.5)},
                   none=lambda t, k: (k == 0 and t < late) or k == 3,
                   hint="the rate is lr / (1 + (t - 1) * lr_decay), with "
                        "each parameter's own step count t from 1")
    yield _against(rng, "Adagrad", torch.optim.Adagrad, {"lr": 0.05},
                   dtype=torch.float32, tol=1e-4)
    yield _against(rng, "Adagrad", torch.optim.Adagrad, {"lr": u(0.05, 0.2)},
                   num_steps=20, shapes=[(3, 2), (3, 2), (3,), (3,)],
                   hint="every parameter keeps a state of its own")


def _against_one(ours, reference, w, grads, **settings):
    probe = drive(ours, [w], grads, **settings).forbid(*OPTIM)
    return probe, driven_like(reference, [w], grads, **settings)


# -- task 2: RMSprop -------------------------------------------------------------

RMSPROP = ("lr", "alpha", "eps", "weight_decay", "momentum")


@task("test_rmsprop", points=3)
def rmsprop(rng):
    u = lambda low, high: float(rng.uniform(low, high))  # noqa: E731
    yield from _init_cases(
        rng, "RMSprop", RMSPROP,
        {"lr": u(1e-3, 0.5), "alpha": u(0.5, 0.999), "eps": u(1e-9, 1e-4),
         "weight_decay": u(0.01, 0.5), "momentum": u(0.1, 0.9)},
        (1e-2, 0.99, 1e-8, 0.0, 0.0),
        [{"lr": 0.0}, {"alpha": 0.0}, {"eps": 0.0, "momentum": 0.0}],
        [{"lr": -u(1e-3, 1)}, {"alpha": -u(1e-3, 1)}, {"eps": -u(1e-9, 1e-3)},
         {"weight_decay": -u(1e-3, 1)}, {"momentum": -u(1e-3, 1)}])

    w = torch.tensor(rng.normal(size=4), requires_grad=True)
    grads = [[torch.from_numpy(rng.normal(size=4) * 10 ** rng.uniform(
        -2, 1, size=4))]] * 3
    yield _zero_grad(*_against_one("RMSprop", torch.optim.RMSprop, w, grads,
                                   lr=u(0.01, 0.1)))

    yield _trains_like(rng, "RMSprop", torch.optim.RMSprop, lr=u(1e-3, 1e-2))
    yield _against(rng, "RMSprop", torch.optim.RMSprop, {},
                   hint="v <- alpha * v + (1 - alpha) * g**2, no bias "
                        "correction")
    yield _against(rng, "RMSprop", torch.optim.RMSprop,
                   {"lr": u(1e-3, 1e-2), "alpha": u(0.8, 0.95),
                    "eps": u(1e-3, 1e-2)}, scale=1e-2,
                   hint="eps is added after the square root")
    lr = u(1e-3, 1e-2)
    yield _against(rng, "RMSprop", torch.optim.RMSprop,
                   {"lr": lr, "momentum": u(0.5, 0.95),
                    "weight_decay": u(0.05, 0.5)}, new_lr=lr / 5,
                   hint="with momentum, b <- momentum * b + g / (sqrt(v) + "
                        "eps) and w <- w - lr * b, lr outside the buffer")
    late = int(rng.integers(2, 10))
    yield _against(rng, "RMSprop", torch.optim.RMSprop,
                   {"lr": u(1e-3, 1e-2), "alpha": u(0.5, 0.9)},
                   none=lambda t, k: (k == 0 and t < late) or k == 3)
    yield _against(rng, "RMSprop", torch.optim.RMSprop, {"lr": 0.01},
                   dtype=torch.float32, tol=1e-4)
    yield _against(rng, "RMSprop", torch.optim.RMSprop,
                   {"lr": u(1e-3, 1e-2), "momentum": u(0.5, 0.9)},
                   num_steps=20, shapes=[(3, 2), (3, 2), (3,), (3,)],
                   hint="every parameter keeps a state of its own")


# -- task 3: Nesterov momentum ---------------------------------------------------

NESTEROV = ("lr", "momentum", "weight_decay")


def _nesterov(params, **settings):
    return torch.optim.SGD(params, nesterov=True, **settings)


_nesterov.__name__ = "SGD"


@task("test_nesterov", points=2)
def nesterov(rng):
    u = lambda low, high: float(rng.uniform(low, high))  # noqa: E731
    yield from _init_cases(
        rng, "NesterovSGD", NESTEROV,
        {"lr": u(1e-3, 0.5), "momentum": u(0.5, 0.99),
         "weight_decay": u(0.01, 0.5)},
        (1e-3, 0.9, 0.0), [{"lr": 0.0}, {"momentum": u(0.01, 1.0)}],
        [{"lr": -u(1e-3, 1)}, {"momentum": 0.0}, {"momentum": -u(1e-3, 1)},
         {"weight_decay": -u(1e-3, 1)}])

    w = torch.tensor(rng.normal(size=3), requires_grad=True)
    grads = [[torch.from_numpy(rng.normal(size=3))] for _ in range(3)]
    yield _zero_grad(*_against_one("NesterovSGD", _nesterov, w, grads,
                                   lr=u(0.05, 0.5), momentum=u(0.5, 0.95)))

    yield _trains_like(rng, "NesterovSGD", _nesterov, lr=u(0.01, 0.1),
                       momentum=u(0.8, 0.95))
    lr = u(0.01, 0.1)
    yield _against(rng, "NesterovSGD", _nesterov,
                   {"lr": lr, "momentum": u(0.5, 0.99)}, new_lr=lr / 5,
                   hint="b <- momentum * b + g, then w <- w - lr * (g + "
                        "momentum * b), lr outside the buffer")
    late = int(rng.integers(2, 10))
    yield _against(rng, "NesterovSGD", _nesterov,
                   {"lr": u(0.01, 0.1), "momentum": u(0.5, 0.99),
                    "weight_decay": u(0.05, 0.5)},
                   none=lambda t, k: (k == 0 and t < late) or k == 3)
    yield _against(rng, "NesterovSGD", _nesterov,
                   {"lr": 0.05, "momentum": 0.9}, dtype=torch.float32,
                   tol=1e-4)
    yield _against(rng, "NesterovSGD", _nesterov,
                   {"lr": u(0.01, 0.1), "momentum": u(0.5, 0.9)},
                   num_steps=20, shapes=[(3, 2), (3, 2), (3,), (3,)],
                   hint="every parameter keeps a buffer of its own")


# -- task 4: warm-up + cosine ------------------------------------------------------

def _schedule(base_lr, total_steps, warmup_steps, start_factor, eta_min):
    """The rates of steps 0..total_steps under PyTorch's chained
    schedulers, stepped once per optimizer step."""
    sched = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=base_lr)
    cosine = sched.CosineAnnealingLR(optimizer,
                                     T_max=total_steps - warmup_steps,
                                     eta_min=eta_min)
    if warmup_steps:
        warm = sched.LinearLR(optimizer, start_factor=start_factor,
                              total_iters=warmup_steps)
        scheduler = sched.SequentialLR(optimizer, [warm, cosine],
                                       milestones=[warmup_steps])
    else:
        scheduler = cosine
    rates = []
    for _ in range(total_steps + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def _schedule_case(base_lr, total_steps, warmup_steps, start_factor,
                   eta_min, steps=None):
    want = _schedule(base_lr, total_steps, warmup_steps, start_factor,
                     eta_min)
    if steps is None:
        steps = list(range(total_steps + 1))
    settings = {"base_lr": base_lr, "total_steps": total_steps,
                "warmup_steps": warmup_steps, "start_factor": start_factor,
                "eta_min": eta_min}
    probe = Probe()
    for step in steps:
        probe.then("lr_at", step, **settings)
    probe.text = f"lr_at(step, **{settings}) for steps {steps[0]} to " \
                 f"{steps[-1]}"
    probe.forbid(*SCHEDULERS)

    def compare(values):
        for step, got in zip(steps, values, strict=True):
            if isinstance(got, np.ndarray) and got.shape == ():
                got = float(got)
            if not isinstance(got, int | float) or isinstance(got, bool):
                return f"lr_at must return a float, got {got!r}"[:200]
            if not math.isclose(got, want[step], rel_tol=1e-9, abs_tol=1e-12):
                phase = ("the warm-up: base_lr * (start_factor + (1 - "
                         "start_factor) * step / warmup_steps)"
                         if step < warmup_steps else
                         "the cosine: eta_min + (base_lr - eta_min) * (1 + "
                         "cos(pi * (step - warmup_steps) / (total_steps - "
                         "warmup_steps))) / 2")
                return (f"lr_at({step}, **{settings}) must be "
                        f"{want[step]:.10g}, got {got:.10g}; step {step} is "
                        f"in {phase}")
        return None
    return probe, compare


@task("test_lr_at", points=2)
def lr_at(rng):
    yield _schedule_case(0.1, 10, 2, 0.1, 0.0)
    for _ in range(3):
        total = int(rng.integers(20, 80))
        yield _schedule_case(float(rng.uniform(0.01, 1.0)), total,
                             int(rng.integers(1, total // 2)),
                             float(rng.uniform(0.01, 0.9)),
                             float(rng.uniform(1e-4, 5e-3)))
    # no warm-up; a warm-up from the peak; one warm-up step; the cosine a
    # single step long
    total = int(rng.integers(10, 40))
    yield _schedule_case(float(rng.uniform(0.01, 1.0)), total, 0,
                         float(rng.uniform(0.01, 0.9)), 0.0)
    yield _schedule_case(float(rng.uniform(0.01, 1.0)), total,
                         int(rng.integers(2, total // 2)), 1.0,
                         float(rng.uniform(1e-4, 5e-3)))
    yield _schedule_case(float(rng.uniform(0.01, 1.0)), total, 1,
                         float(rng.uniform(0.01, 0.9)), 0.0)
    yield _schedule_case(float(rng.uniform(0.01, 1.0)), 5, 4,
                         float(rng.uniform(0.01, 0.9)),
                         float(rng.uniform(1e-4, 5e-3)))


# -- task 5: the range test --------------------------------------------------------

LOSSES = {"MSELoss": nn.MSELoss, "CrossEntropyLoss": nn.CrossEntropyLoss}


def _range_test(net, loss, batches, lr_min, lr_max, num_steps, stop_factor):
    """The reference: rates and losses of a range test on a copy of net."""
    model = copy.deepcopy(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_min)
    loss_fn = LOSSES[loss]()
    lrs, losses = [], []
    for k in range(num_steps):
        lr = lr_min * (lr_max / lr_min) ** (k / (num_steps - 1))
        X, y = batches[k % len(batches)]
        value = loss_fn(model(X), y)
        lrs.append(lr)
        losses.append(value.item())
        if not losses[-1] <= stop_factor * min(losses):
            break
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return lrs, losses


def _range_case(rng, loss, lr_min, lr_max, num_steps, stop_factor,
                num_batches, batch_size=16):
    net = _net(rng, 3, 6, 2 if loss == "MSELoss" else 3)
    # targets of one linear function, plus a little noise: the batches'
    # losses differ by less than stop_factor
    A = random_tensor(rng, (3, 2))
    batches = []
    for _ in range(num_batches):
        X = random_tensor(rng, (batch_size, 3))
        y = (X @ A + 0.1 * random_tensor(rng, (batch_size, 2))
             if loss == "MSELoss" else
             torch.from_numpy(rng.integers(0, 3, size=batch_size)))
        batches.append((X, y))
    lrs, losses = _range_test(net, loss, batches, lr_min, lr_max, num_steps,
                              stop_factor)
    probe = (Probe().put(net).keep(f"torch.nn.{loss}")
             .then("lr_range_test", ref(0), ref(1), batches, lr_min, lr_max,
                   num_steps, stop_factor=stop_factor))
    for k, layer in enumerate(net):
        if isinstance(layer, nn.Linear):
            probe.get(f"$0.{k}.weight").get(f"$0.{k}.bias")
    probe.text = (f"lr_range_test(model, torch.nn.{loss}(), batches "
                  f"({num_batches} of {batch_size}), lr_min={lr_min:.3g}, "
                  f"lr_max={lr_max:.3g}, num_steps={num_steps}, "
                  f"stop_factor={stop_factor:.3g})")
    sent = [p.detach().numpy() for p in net.parameters()]
    stopped = len(lrs) < num_steps

    def compare(values):
        got = values[2]
        if not isinstance(got, list) or len(got) != 2 or not all(
                isinstance(g, list) for g in got):
            return "return two lists, (lrs, losses)"
        if len(got[0]) != len(lrs) or len(got[1]) != len(lrs):
            when = (f"stops after step {len(lrs)}, where the loss "
                    f"{losses[-1]:.4g} first exceeds stop_factor times the "
                    f"lowest loss so far" if stopped else
                    f"runs all {num_steps} steps (the loss never exceeds "
                    f"stop_factor times its lowest)")
            return (f"expected {len(lrs)} rates and losses, got "
                    f"{len(got[0])} and {len(got[1])}: the test {when}")
        reason = close(lrs, rtol=1e-9, atol=0)([got[0]])
        if reason:
            return (f"the rates: {reason}; step k's rate is lr_min * "
                    f"(lr_max / lr_min) ** (k / (num_steps - 1))")
        reason = close(losses, rtol=1e-6, atol=1e-10)([got[1]])
        if reason:
            return (f"the losses: {reason}; step k records the loss of "
                    f"batch k % len(batches) before its SGD step at rate "
                    f"lrs[k]")
        reads = values[3:]
        for k, weight in enumerate(sent):
            if not np.array_equal(np.asarray(reads[k], dtype=float), weight):
                return ("leave the model as it is: run the test on a copy "
                        "(copy.deepcopy(model))")
        return None
    return probe, compare


@task("test_range_test", points=2)
def range_test(rng):
    # the loss blows up before the end, on one batch or on several
    for loss, num_batches in [("MSELoss", 1), ("CrossEntropyLoss", 3),
                              ("MSELoss", int(rng.integers(2, 6)))]:
        yield _range_case(rng, loss, float(10 ** rng.uniform(-4, -3)),
                          float(10 ** rng.uniform(2, 3)),
                          int(rng.integers(40, 70)),
                          float(rng.uniform(3.0, 5.0)), num_batches)
    # a large stop_factor: the loss climbs for several steps past the
    # lowest before it stops, and no single step jumps by the factor
    for loss in ("MSELoss", "CrossEntropyLoss"):
        yield _range_case(rng, loss, float(10 ** rng.uniform(-4, -3)),
                          float(10 ** rng.uniform(2, 3)),
                          int(rng.integers(40, 70)),
                          float(rng.uniform(10.0, 30.0)), 2)
    # rates too small for the loss ever to blow up: all the steps
    yield _range_case(rng, "MSELoss", float(10 ** rng.uniform(-5, -4)),
                      float(10 ** rng.uniform(-3, -2)),
                      int(rng.integers(5, 20)), 4.0, 2)
    # two steps: lr_min, then lr_max
    yield _range_case(rng, "CrossEntropyLoss", 1e-3, 1e-2, 2, 4.0, 1)
