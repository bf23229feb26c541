"""Checks of exercise 06_adam: the points of each graded cell.

Every input is drawn from ``rng`` at grading time, and every expected value
is computed here, in the grader's process: the parameters after the same
steps of ``torch.optim.Adam`` or ``torch.optim.AdamW`` (float64 unless a
case is about float32), the accuracy of the trained model on the digits
``ziptie.data.load`` keeps back, which no notebook holds. ``torch.optim``
is unusable in the sandbox while the student's optimizer runs.
"""

import itertools

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

#: What Adam keeps, in the order a probe reads it back.
SETTINGS = ("lr", "betas", "eps", "weight_decay", "decoupled_weight_decay")


def _net(rng, *sizes) -> nn.Sequential:
    """Linear layers of these sizes with Tanh between, float64 weights
    drawn from ``rng``."""
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(sizes):
        layers += [random_linear(rng, d_in, d_out, torch.float64), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _trains_like(rng, ours: str, reference, **settings):
    """A small network trained 20 steps with ``ours`` and ``reference``."""
    X, y = random_tensor(rng, (16, 4)), random_tensor(rng, (16, 1))
    net = _net(rng, 4, 8, 1)
    return (train_with(ours, net, X, y, 20, **settings),
            trained_like(reference, net, X, y, 20, **settings))


def _against(rng, reference, settings: dict, *, ours: str = "Adam",
             extra: dict | None = None, num_steps: int = 100,
             dtype=torch.float64, tol: float = 1e-6, scale: float = 1.0,
             new_lr: float | None = None, none=None):
    """``ours(params, **settings, **extra)`` and ``reference(params,
    **settings)`` over ``num_steps`` steps on the parameters of SHAPES.

    Each parameter's gradients scatter around a mean of its own (so the
    averages have something to track), times ``scale``; every other step
    a gradient is copied into the ``.grad`` tensor already there, as
    ``backward()`` does; ``new_lr`` becomes ``optimizer.lr`` halfway;
    ``none(t, k)`` says where parameter ``k`` has no gradient at step t.
    """
    params = [random_tensor(rng, s, dtype).requires_grad_() for s in SHAPES]
    means = rng.normal(size=len(SHAPES))
    grads = [[None if none and none(t, k) else scale * (
        means[k] + random_tensor(rng, s, dtype)) for k, s in enumerate(SHAPES)]
        for t in range(num_steps)]
    lrs = None if new_lr is None else [
        new_lr if t == num_steps // 2 else None for t in range(num_steps)]
    return (drive(ours, params, grads, lrs=lrs,
                  copy_into=lambda t: t % 2 == 1, **settings,
                  **(extra or {})),
            driven_like(reference, params, grads, lrs=lrs, rtol=tol,
                        atol=tol, **settings))


def _betas(rng, low1, high1, low2, high2) -> tuple[float, float]:
    return float(rng.uniform(low1, high1)), float(rng.uniform(low2, high2))


def _kept(want: tuple, start: int, moved_from=None):
    """The settings read back from ``start`` on (SETTINGS, in order) are
    ``want``; with
    ``moved_from``, the last value (a parameter after one step) is not
    it any more."""
    def compare(values):
        got = values[start:start + len(SETTINGS)]
        for name, g, w in zip(SETTINGS, got, want, strict=True):
            if isinstance(w, bool):
                ok = g is w
            else:
                ok = close(w, rtol=1e-9, atol=0)([g]) is None
            if not ok:
                return (f"self.{name} must be {w!r}, got {g!r}: keep the "
                        f"settings as self.lr, self.betas, self.eps, "
                        f"self.weight_decay and self.decoupled_weight_decay, "
                        f"with the defaults of torch.optim.Adam")
        if moved_from is not None and np.array_equal(
                np.asarray(values[-1], dtype=float), moved_from):
            return ("params may be a generator: keep it as a list, it can "
                    "be read only once (here step() moved no parameter)")
        return None
    return compare


def _read_settings(probe: Probe, index: int) -> Probe:
    for name in SETTINGS:
        probe.get(f"${index}.{name}")
    return probe


@task("test_adam_init", points=1)
def adam_init(rng):
    w = random_tensor(rng, 3, torch.float32).requires_grad_()
    lr, eps, wd = (float(rng.uniform(1e-3, 0.5)), float(rng.uniform(1e-9,
                   1e-4)), float(rng.uniform(0.01, 0.5)))
    betas = _betas(rng, 0.5, 0.95, 0.9, 0.9999)
    probe = _read_settings(Probe().put([w]).keep(
        "Adam", ref(0), lr=lr, betas=betas, eps=eps, weight_decay=wd,
        decoupled_weight_decay=True), 1)
    probe.then("torch.optim.Optimizer.__instancecheck__", ref(1))

    def settings_kept(values):
        if values[-1] is not False:
            return "write Adam yourself: it must not be a torch.optim optimizer"
        return _kept((lr, betas, eps, wd, True), 2)(values)
    yield probe.forbid(*TORCH_OPTIM), settings_kept

    w.grad = random_tensor(rng, 3, torch.float32)
    probe = _read_settings(Probe().put([w]).keep("$0.__iter__")
                           .keep("Adam", ref(1)), 2)
    yield (probe.keep("$2.step").get("$0.0").forbid(*TORCH_OPTIM),
           _kept((1e-3, (0.9, 0.999), 1e-8, 0.0, False), 3,
                 moved_from=w.detach().numpy()))

    for allowed in ({"lr": float(rng.uniform(0.01, 1.0)), "betas": (0.0, 0.0),
                     "eps": 0.0, "weight_decay": 0.0}, {"lr": 0.0}):
        yield (Probe().put([w]).catch("Adam", ref(0), **allowed),
               lambda values, allowed=allowed: values[-1] and (
                   f"Adam(params, **{allowed}) is allowed, but raised "
                   f"{values[-1][0]}"))

    beta = float(rng.uniform(0.5, 0.99))
    for bad in ({"lr": -float(rng.uniform(0.01, 1.0))}, {"lr": -1e-6},
                {"betas": (1.0, 0.999)}, {"betas": (beta, 1.0)},
                {"betas": (-float(rng.uniform(1e-3, 1.0)), 0.999)},
                {"betas": (beta, 1 + float(rng.uniform(1e-3, 1.0)))},
                {"eps": -float(rng.uniform(1e-9, 1e-3))},
                {"weight_decay": -float(rng.uniform(1e-3, 1.0))}):
        yield Probe().put([w]).catch("Adam", ref(0), **bad), raises(
            "ValueError")


@task("test_adam_step", points=3)
def adam_step(rng):
    w = torch.tensor(rng.normal(size=4), requires_grad=True)
    grads = [[torch.from_numpy(rng.normal(size=4) * 10 ** rng.uniform(
        -2, 1, size=4))]]
    lr = float(rng.uniform(0.05, 0.5))
    yield then_zero_grad(
        drive("Adam", [w], grads, lr=lr),
        hint(driven_like(torch.optim.Adam, [w], grads, lr=lr),
              "with bias correction m_hat = g and v_hat = g ** 2 at the "
              "first step, so every weight moves by lr against the sign of "
              "its gradient"))

    yield _trains_like(rng, "Adam", torch.optim.Adam,
                       lr=float(rng.uniform(0.005, 0.02)))
    yield _trains_like(rng, "Adam", torch.optim.Adam,
                       lr=float(rng.uniform(0.02, 0.08)),
                       betas=_betas(rng, 0.7, 0.9, 0.95, 0.995))

    yield _against(rng, torch.optim.Adam, {})
    # gradients of about 1e-50, which float64 holds and float32 does not,
    # and an eps below them: m and v made in float32 (torch.zeros(p.shape),
    # on the CPU too) are 0 there, and the weights stand still
    yield _against(rng, torch.optim.Adam,
                   {"lr": float(rng.uniform(0.005, 0.02)), "eps": 1e-60},
                   scale=1e-50, num_steps=20)
    # gradients of about 1e-2: eps = 1e-3 weighs against sqrt(v_hat)
    yield _against(rng, torch.optim.Adam,
                   {"lr": float(rng.uniform(0.005, 0.02)),
                    "betas": _betas(rng, 0.7, 0.9, 0.98, 0.995),
                    "eps": 1e-3}, scale=1e-2)
    lr = float(rng.uniform(0.02, 0.08))
    yield _against(rng, torch.optim.Adam,
                   {"lr": lr, "betas": _betas(rng, 0.4, 0.6, 0.85, 0.95),
                    "eps": 1e-6}, scale=10.0, new_lr=lr / 10)
    yield _against(rng, torch.optim.Adam, {"lr": 0.01},
                   dtype=torch.float32, tol=1e-4)


@task("test_adam_l2", points=2)
def adam_l2(rng):
    yield _trains_like(rng, "Adam", torch.optim.Adam,
                       lr=float(rng.uniform(0.005, 0.02)),
                       weight_decay=float(rng.uniform(0.05, 0.2)))
    yield _against(rng, torch.optim.Adam,
                   {"lr": float(rng.uniform(0.005, 0.02)),
                    "weight_decay": float(rng.uniform(0.2, 0.8))})
    lr = float(rng.uniform(0.01, 0.03))
    yield _against(rng, torch.optim.Adam,
                   {"lr": lr, "betas": _betas(rng, 0.6, 0.8, 0.9, 0.97),
                    "weight_decay": float(rng.uniform(0.02, 0.1))},
                   new_lr=lr / 4)
    # gradients of about 1e-4, where eps (1e-8) counts: a mistake in the
    # update itself loses this task on every draw, not on some
    yield _against(rng, torch.optim.Adam, {"weight_decay": 1e-3}, scale=1e-4)


@task("test_adam_decoupled", points=2)
def adam_decoupled(rng):
    decoupled = {"decoupled_weight_decay": True}
    for size, steps in [(2, 10), (5, int(rng.integers(5, 20)))]:
        w = random_tensor(rng, size).requires_grad_()
        grads = [[torch.zeros(size, dtype=torch.float64)]] * steps
        settings = {"lr": float(rng.uniform(0.05, 0.2)),
                    "weight_decay": float(rng.uniform(0.1, 0.9))}
        yield (drive("Adam", [w], grads, **settings, **decoupled),
               hint(driven_like(torch.optim.AdamW, [w], grads, **settings),
                     "with a zero gradient, decoupled decay multiplies w by "
                     "(1 - lr * weight_decay) at every step, and Adam adds "
                     "nothing"))

    X, y = random_tensor(rng, (16, 4)), random_tensor(rng, (16, 1))
    net = _net(rng, 4, 8, 1)
    settings = {"lr": float(rng.uniform(0.005, 0.02)),
                "weight_decay": float(rng.uniform(0.05, 0.2))}
    yield (train_with("Adam", net, X, y, 20, **settings, **decoupled),
           trained_like(torch.optim.AdamW, net, X, y, 20, **settings))

    yield _against(rng, torch.optim.AdamW,
                   {"lr": float(rng.uniform(0.005, 0.02)),
                    "weight_decay": float(rng.uniform(0.2, 0.8))},
                   extra=decoupled)
    lr = float(rng.uniform(0.02, 0.08))
    yield _against(rng, torch.optim.AdamW,
                   {"lr": lr, "betas": _betas(rng, 0.7, 0.9, 0.98, 0.995),
                    "weight_decay": float(rng.uniform(0.02, 0.1))},
                   extra=decoupled, new_lr=lr / 5)
    # gradients of about 1e-4, where eps (1e-8) counts
    yield _against(rng, torch.optim.AdamW, {"weight_decay": 0.1},
                   extra=decoupled, scale=1e-4)
    # a parameter without a gradient is not decayed either: it is skipped
    late = int(rng.integers(2, 10))
    yield _against(rng, torch.optim.AdamW,
                   {"lr": float(rng.uniform(0.005, 0.02)),
                    "weight_decay": float(rng.uniform(0.2, 0.8))},
                   extra=decoupled, none=lambda t, k: (k == 0 and t < late)
                   or (k == 1 and t in (30, 31, 60)) or k == 3)


@task("test_adam_state", points=1)
def adam_state(rng):
    params = [random_tensor(rng, s).requires_grad_() for s in [2, 1, 1]]
    first = int(rng.integers(2, 5))          # b's first gradient
    # a's gradients are small (about 1e-4): eps is added to sqrt(v_hat)
    a_grad, b_grad = 1e-4 * random_tensor(rng, 2), random_tensor(rng, 1)
    grads = [[a_grad, b_grad if t >= first else None, None]
             for t in range(first + 3)]
    lr = float(rng.uniform(0.05, 0.2))
    yield (drive("Adam", params, grads, lr=lr),
           hint(driven_like(torch.optim.Adam, params, grads, lr=lr),
                 "a parameter whose .grad is None is skipped, and each "
                 "parameter counts its own steps t from its first gradient "
                 "on (the bias correction uses that t)"))

    # the first parameter starts late, then misses a gradient now and
    # then: its m, v and step count wait for it
    late = int(rng.integers(2, 10))
    yield _against(rng, torch.optim.Adam,
                   {"lr": float(rng.uniform(0.005, 0.02))},
                   none=lambda t, k: k == 0 and (t < late or t in (
                       late + 5, late + 6, 50)))
    late = int(rng.integers(2, 10))
    yield _against(rng, torch.optim.Adam,
                   {"lr": float(rng.uniform(0.005, 0.02)),
                    "weight_decay": float(rng.uniform(0.05, 0.2))},
                   none=lambda t, k: (k == 0 and t < late) or k == 3)


@task("test_adamw", points=1)
def adamw(rng):
    w = random_tensor(rng, 3).requires_grad_()
    probe = (Probe().put([w]).keep("AdamW", ref(0))
             .then("Adam.__instancecheck__", ref(1))
             .get("$1.lr").get("$1.weight_decay")
             .get("$1.decoupled_weight_decay").forbid(*TORCH_OPTIM))
    probe.text = "AdamW(params)"

    def defaults(values):
        if values[2] is not True:
            return ("AdamW must be a subclass of your Adam (class "
                    "AdamW(Adam))")
        if close([1e-3, 0.01], rtol=1e-9, atol=0)([values[3:5]]) or \
                values[5] is not True:
            return (f"AdamW's defaults are lr=1e-3, weight_decay=0.01 and "
                    f"decoupled decay on, got lr={values[3]!r}, "
                    f"weight_decay={values[4]!r}, decoupled_weight_decay="
                    f"{values[5]!r}")
        return None
    yield probe, defaults

    yield _trains_like(rng, "AdamW", torch.optim.AdamW,
                       lr=float(rng.uniform(0.005, 0.02)))
    yield _against(rng, torch.optim.AdamW,
                   {"lr": float(rng.uniform(0.01, 0.03)),
                    "weight_decay": float(rng.uniform(0.1, 0.5))},
                   ours="AdamW")
    # the defaults, with gradients of about 1e-4, where eps (1e-8) counts
    yield _against(rng, torch.optim.AdamW, {}, ours="AdamW", scale=1e-4)


@task("test_digits_adam", points=2)
def digits_adam(rng):
    yield classifier("Adam", 0.96)
