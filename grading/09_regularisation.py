"""Checks of exercise 09_regularisation: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the networks (some
layers without a bias), the strengths, the gradients, the dropout draws,
the sequences of validation losses and the sizes of the data sets
(float64 unless a case is about float32). Every expected value is
computed here, in the grader's process: the penalties with
``torch.linalg.vector_norm`` and their gradients as ``weight_decay`` adds
them, the optimizer's parameters by the same steps of
``torch.optim.SGD`` (decoupled decay: the same steps after
``w *= 1 - lr * weight_decay``, as ``torch.optim.AdamW`` decays, and
with zero gradients against ``torch.optim.AdamW`` itself), the
dropout by ``torch.nn.functional.dropout`` itself from a seeded state,
the indices by scikit-learn's ``KFold``. Early stopping has no PyTorch
counterpart: its expected decisions are counted here from the losses.
"""

import itertools
import math

import numpy as np
import torch
from sklearn.model_selection import KFold
from torch import nn

from ziptie.grader.probe import Probe, close, hint, task
from ziptie.grader.recipes import (
    drive,
    driven_like,
    random_linear,
    random_tensor,
    then_zero_grad,
    train_with,
    trained_like,
)
from ziptie.grader.wire import ref

#: What dropout must not hand its work to.
DROPOUT = ("torch.nn.functional.dropout", "torch.dropout",
           "torch.native_dropout", "torch.Tensor.bernoulli_",
           "torch.nn.modules.dropout.Dropout.forward")
#: What kfold must not hand its work to.
KFOLD = ("sklearn.model_selection.KFold.split",
         "sklearn.model_selection.KFold._iter_test_indices")


def _net(rng, sizes, biases=None, dtype=torch.float64) -> nn.Sequential:
    """Linear layers of these sizes with Tanh or ReLU between, drawn from
    ``rng``; ``biases[k]`` False: layer k has none."""
    layers: list[nn.Module] = []
    for k, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        layer = random_linear(rng, d_in, d_out, dtype)
        if biases is not None and not biases[k]:
            bare = nn.Linear(d_in, d_out, bias=False, dtype=dtype)
            with torch.no_grad():
                bare.weight.copy_(layer.weight)
            layer = bare
        layers += [layer, nn.Tanh() if rng.random() < 0.5 else nn.ReLU()]
    return nn.Sequential(*layers[:-1])


# -- task 1: the penalty -------------------------------------------------------

def _penalty_case(net, kind, lam):
    """The penalty's value, then after backward() every Linear layer's
    weight.grad and bias.grad, and its weights (unchanged)."""
    probe = (Probe().put(net).keep("penalty", ref(0), kind, lam)
             .get("$1").get("$1.requires_grad").keep("$1.backward"))
    linear = [k for k, layer in enumerate(net) if isinstance(layer, nn.Linear)]
    for k in linear:
        probe.get(f"$0.{k}.weight.grad")
        if net[k].bias is not None:
            probe.get(f"$0.{k}.bias.grad")
    for k in linear:
        probe.get(f"$0.{k}.weight")
    probe.text = f"penalty(model, {kind!r}, lam={lam:.4g})"

    weights = [net[k].weight.detach() for k in linear]
    order = 2 if kind == "l2" else 1
    value = sum(torch.linalg.vector_norm(w, order) ** order
                for w in weights) * (lam / 2 if kind == "l2" else lam)
    grads = [lam * w if kind == "l2" else lam * torch.sign(w)
             for w in weights]
    rule = ("lam / 2 * (the sum of the squared weights), gradient lam * w"
            if kind == "l2" else
            "lam * (the sum of the absolute weights), gradient lam * sign(w)")

    def compare(values):
        if close(value.item(), rtol=1e-7, atol=1e-12)([values[2]]):
            return (f"expected {value.item():.6g}, got {values[2]!r}: "
                    f"{rule}, over the weights only, not the biases")
        if values[3] is not True:
            return ("return a tensor autograd can differentiate (not a "
                    "float, nothing detached)")
        at = 5
        for k, want in zip(linear, grads, strict=True):
            if close(want.numpy(), rtol=1e-7, atol=1e-12)([values[at]]):
                return (f"after backward(), layer {k}'s weight.grad must be "
                        f"the penalty's gradient: {rule}")
            at += 1
            if net[k].bias is not None:
                got = values[at]
                if got is not None and np.any(np.asarray(got) != 0):
                    return "the biases must not be penalised"
                at += 1
        for w in weights:
            if not np.array_equal(np.asarray(values[at], dtype=float),
                                  w.numpy()):
                return "leave the model's weights as they are"
            at += 1
        return None
    return probe, compare


@task("test_penalty", points=2)
def penalty(rng):
    cases = [((3, 5, 2), None, "l2"), ((3, 5, 2), None, "l1"),
             ((4, 3, 3, 2), (True, False, True), "l2"),
             ((4, 6, 1), (False, True), "l1"),
             ((2, 3), None, "l2" if rng.random() < 0.5 else "l1")]
    for sizes, biases, kind in cases:
        net = _net(rng, sizes, biases)
        yield _penalty_case(net, kind, float(rng.uniform(0.01, 2.0)))
    # a strength of zero is allowed: zero, and zero gradients
    yield _penalty_case(_net(rng, (3, 4, 2)), "l2", 0.0)


# -- task 2: SGD with weight decay ---------------------------------------------

class SGDW(torch.optim.SGD):
    """``torch.optim.SGD`` with decoupled decay: every parameter with a
    gradient is multiplied by ``1 - lr * weight_decay`` first (as
    ``torch.optim.AdamW`` does), then takes SGD's step without decay."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum)
        self.decay = weight_decay

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1 - group["lr"] * self.decay)
        return super().step(closure)


SHAPES = [(4, 3), (5,), (2, 3, 2), ()]


def _against(rng, reference, settings, *, num_steps=30, dtype=torch.float64,
             tol=1e-9, none=None, extra=None):
    """``SGD(params, **settings, **extra)`` and ``reference(params,
    **settings)`` over ``num_steps`` steps on parameters of SHAPES; every
    other step a gradient is copied into the ``.grad`` already there;
    ``none(t, k)``: parameter ``k`` has no gradient at step t."""
    params = [random_tensor(rng, s, dtype).requires_grad_() for s in SHAPES]
    grads = [[None if none and none(t, k) else random_tensor(rng, s, dtype)
              for k, s in enumerate(SHAPES)] for t in range(num_steps)]
    return (drive("SGD", params, grads, copy_into=lambda t: t % 2 == 1,
                  **settings, **(extra or {})),
            driven_like(reference, params, grads, rtol=tol, atol=tol,
                        **settings))


@task("test_sgd_decay", points=3)
def sgd_decay(rng):
    coupled, decoupled = {}, {"decoupled": True}
    # one step, no momentum: coupled and decoupled are the same step
    for extra in (coupled, decoupled):
        w = random_tensor(rng, 4).requires_grad_()
        grads = [[random_tensor(rng, 4)]]
        settings = {"lr": float(rng.uniform(0.05, 0.5)),
                    "weight_decay": float(rng.uniform(0.1, 1.0))}
        yield then_zero_grad(
            drive("SGD", [w], grads, **settings, **extra),
            hint(driven_like(torch.optim.SGD, [w], grads, **settings),
                  "without momentum both ways give w - lr * (g + "
                  "weight_decay * w), with w as it was before the step"))
    # no gradient from the data: decoupled decay alone, as AdamW's
    for _ in range(2):
        params = [random_tensor(rng, s).requires_grad_() for s in SHAPES]
        grads = [[torch.zeros(s, dtype=torch.float64) for s in SHAPES]
                 ] * int(rng.integers(3, 10))
        settings = {"lr": float(rng.uniform(0.05, 0.5)),
                    "weight_decay": float(rng.uniform(0.1, 1.0))}
        yield (drive("SGD", params, grads, **settings, **decoupled,
                     momentum=float(rng.uniform(0, 0.9))),
               hint(driven_like(torch.optim.AdamW, params, grads,
                                 rtol=1e-9, atol=1e-12, **settings),
                     "with a zero gradient, decoupled decay multiplies w "
                     "by (1 - lr * weight_decay) at every step, as AdamW"))
    # coupled, with momentum: torch.optim.SGD
    yield _against(rng, torch.optim.SGD,
                   {"lr": float(rng.uniform(0.01, 0.1)),
                    "momentum": float(rng.uniform(0.5, 0.95)),
                    "weight_decay": float(rng.uniform(0.1, 1.0))})
    # decoupled, with momentum: decay first, then SGD's step without it
    for _ in range(2):
        yield _against(rng, SGDW,
                       {"lr": float(rng.uniform(0.01, 0.1)),
                        "momentum": float(rng.uniform(0.5, 0.95)),
                        "weight_decay": float(rng.uniform(0.1, 1.0))},
                       extra=decoupled)
    # no decay at all; parameters without a gradient at some steps
    late = int(rng.integers(2, 8))
    yield _against(rng, torch.optim.SGD,
                   {"lr": float(rng.uniform(0.01, 0.1)),
                    "momentum": float(rng.uniform(0.5, 0.95))},
                   extra=decoupled if rng.random() < 0.5 else coupled)
    yield _against(rng, torch.optim.SGD,
                   {"lr": float(rng.uniform(0.01, 0.1)),
                    "momentum": float(rng.uniform(0.5, 0.95)),
                    "weight_decay": float(rng.uniform(0.1, 1.0))},
                   none=lambda t, k: (k == 0 and t < late) or k == 3)
    yield _against(rng, SGDW,
                   {"lr": float(rng.uniform(0.01, 0.1)),
                    "momentum": float(rng.uniform(0.5, 0.95)),
                    "weight_decay": float(rng.uniform(0.1, 1.0))},
                   none=lambda t, k: (k == 1 and t < late) or k == 2,
                   extra=decoupled)
    # float32
    yield _against(rng, torch.optim.SGD,
                   {"lr": 0.05, "momentum": 0.9,
                    "weight_decay": float(rng.uniform(0.1, 1.0))},
                   dtype=torch.float32, tol=1e-5)
    # a small network trained on the mean squared error, both ways
    X, y = random_tensor(rng, (16, 4)), random_tensor(rng, (16, 1))
    net = _net(rng, (4, 8, 1))
    settings = {"lr": float(rng.uniform(0.02, 0.1)), "momentum": 0.9,
                "weight_decay": float(rng.uniform(0.05, 0.5))}
    yield (train_with("SGD", net, X, y, 20, **settings),
           trained_like(torch.optim.SGD, net, X, y, 20, **settings))
    yield (train_with("SGD", net, X, y, 20, **settings, decoupled=True),
           trained_like(SGDW, net, X, y, 20, **settings))


# -- task 3: dropout -----------------------------------------------------------

def _draw(X, p, seed):
    """A dropout of X and its mask (True: kept), drawn from a generator of
    its own: the process's global one (the grader's, or the student's
    kernel's under nbgrader) is left as it was."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(X.shape, generator=generator) >= p
    if p == 1:
        return torch.zeros_like(X), mask
    return torch.where(mask, X / (1 - p), 0.0), mask


def _dropout_case(X, p, mask, training, want, tol):
    probe = Probe.call("dropout", X, p, mask, training=training).forbid(
        *DROPOUT)
    same = close(want.numpy(), rtol=tol, atol=tol)
    if not training:
        rule = "in evaluation mode dropout returns X's values unchanged"
    elif p == 1:
        rule = "with p = 1 every unit is dropped: zeros"
    else:
        rule = (f"in training mode the kept units (mask True) are divided by "
                f"1 - p = {1 - p:.4g}, the others are zero")

    def compare(values):
        reason = same(values)
        if reason is None and str(np.asarray(values[-1]).dtype) != str(
                want.dtype).removeprefix("torch."):
            reason = (f"return {str(want.dtype).removeprefix('torch.')}, "
                      f"X's dtype, got {np.asarray(values[-1]).dtype}")
        return reason and f"{reason}; {rule}"
    return probe, compare


@task("test_dropout", points=2)
def dropout(rng):
    for shape, p, dtype in [((6, 8), float(rng.uniform(0.2, 0.8)),
                             torch.float64),
                            ((5, 3, 4), float(rng.uniform(0.05, 0.3)),
                             torch.float64),
                            ((40,), 0.5, torch.float64),
                            ((7, 9), float(rng.uniform(0.3, 0.7)),
                             torch.float32)]:
        X = random_tensor(rng, shape, dtype)
        want, mask = _draw(X, p, int(rng.integers(2**31)))
        # float64 to a float32 rounding of the scale: a mask made float32
        # (mask.float() / (1 - p)) is no mistake
        tol = 1e-6
        yield _dropout_case(X, p, mask, True, want, tol)
        yield _dropout_case(X, p, mask, False, X, 0.0)
    # the edges: p = 0 keeps everything, p = 1 drops everything
    X = random_tensor(rng, (4, 5))
    for p in (0.0, 1.0):
        want, mask = _draw(X, p, int(rng.integers(2**31)))
        yield _dropout_case(X, p, mask, True, want, 1e-6)


# -- task 4: early stopping ----------------------------------------------------

def _stopping(losses, patience, min_delta):
    """The decisions of step, the best epoch and loss, counted here."""
    best, best_epoch, waited, said = math.inf, 0, 0, []
    for epoch, loss in enumerate(losses, start=1):
        if loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
        said.append(waited >= patience)
        if said[-1]:
            break
    return said, best_epoch, best


def _losses(rng, length):
    """A validation curve: falls with noise, then rises, with ties."""
    steps = rng.normal(-0.05, 0.08, size=length)
    steps[length // 2:] += 0.08
    losses = np.round(1 + np.cumsum(steps), 2)        # ties happen
    return [float(v) for v in losses]


def _early_case(rng, losses, patience, min_delta):
    net = _net(rng, (3, 4, 2))
    said, best_epoch, best_loss = _stopping(losses, patience, min_delta)
    settings = {"min_delta": min_delta} if min_delta else {}
    probe = Probe().put(net).keep("EarlyStopping", patience, **settings)
    weights = []
    for loss in losses[:len(said)]:
        W = random_tensor(rng, (4, 3))
        b = random_tensor(rng, 2)
        weights.append((W, b))
        probe.keep("$0.0.weight.data.copy_", W)     # training, in place
        probe.keep("$0.2.bias.data.copy_", b)
        probe.then("$1.step", loss, ref(0))
    count = len(probe.steps)
    probe.get("$1.best_epoch").get("$1.best_loss")
    probe.keep("$1.restore", ref(0)).get("$0.0.weight").get("$0.2.bias")
    shown = f"patience={patience}" + (f", min_delta={min_delta}"
                                      if min_delta else "")
    probe.text = (f"EarlyStopping({shown}), step() on the losses "
                  f"{losses[:len(said)]}")
    best_W, best_b = weights[best_epoch - 1]

    def compare(values):
        got = [values[count - 1 - 3 * (len(said) - 1 - t)]
               for t in range(len(said))]
        try:
            got = [bool(np.asarray(g)) for g in got]
        except (TypeError, ValueError):
            return f"step() must return True or False, got {got[0]!r}"
        if got != said:
            return (f"step() must return {said}, got {got}: stop once "
                    f"{patience} epoch(s) in a row brought no loss below "
                    f"best_loss - min_delta")
        epoch, loss = values[count], values[count + 1]
        if epoch != best_epoch or close(best_loss, rtol=0, atol=1e-12)(
                [loss]):
            return (f"expected best_epoch {best_epoch} (counted from 1) and "
                    f"best_loss {best_loss}, got {epoch!r} and {loss!r}")
        if close([best_W.numpy(), best_b.numpy()], rtol=0, atol=0)(
                [values[count + 3:count + 5]]):
            return (f"restore(model) must put back the weights of epoch "
                    f"{best_epoch}: keep a copy of them (the model's "
                    f"state_dict() holds its own tensors, which change)")
        return None
    return probe, compare


@task("test_early_stopping", points=2)
def early_stopping(rng):
    # the notebook's own case
    yield _early_case(rng, [3.0, 2.0, 2.5, 1.5, 1.6, 1.7], 2, 0.0)
    # patience 1; ties are no improvement; a run that never stops
    yield _early_case(rng, [2.0, 1.0, 1.0, 0.5], 1, 0.0)
    yield _early_case(rng, [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8], 3, 0.0)
    yield _early_case(rng, [5.0, 4.0, 3.0, 2.0], 2, 0.0)
    # the best at the first epoch: its weights are kept too
    yield _early_case(rng, [1.0, 1.2, 1.1, 1.3], 3, 0.0)
    # min_delta: small improvements do not count (no loss falls exactly
    # min_delta below the best: rounding would decide)
    yield _early_case(rng, [1.0, 0.96, 0.9, 0.8, 0.79, 0.78, 0.77], 3, 0.05)
    # losses far from 1: min_delta is absolute (not a share of the best),
    # and measured from the best loss, not the last one
    yield _early_case(rng, [20.0, 19.5, 19.0, 18.5, 18.0, 18.05, 17.92,
                            18.2], 2, 0.1)
    for _ in range(3):
        yield _early_case(rng, _losses(rng, int(rng.integers(15, 30))),
                          int(rng.integers(2, 6)),
                          0.0 if rng.random() < 0.5 else 0.025)


# -- task 5: k-fold ------------------------------------------------------------

def _kfold_case(n, k, shuffle, seed):
    probe = Probe.call("kfold", n, k, shuffle=shuffle, seed=seed).forbid(
        *KFOLD)
    splitter = KFold(n_splits=k, shuffle=shuffle,
                     random_state=seed if shuffle else None)
    want = [(train.tolist(), valid.tolist())
            for train, valid in splitter.split(np.arange(n))]
    sizes = [len(v) for _, v in want]

    def compare(values):
        got = values[-1]
        if not isinstance(got, list) or len(got) != k:
            return f"return a list of {k} (train, valid) pairs"
        for i, (pair, (train, valid)) in enumerate(zip(got, want,
                                                       strict=True)):
            try:
                g_train, g_valid = (np.asarray(v, dtype=float).tolist()
                                    for v in pair)
            except (TypeError, ValueError):
                return f"fold {i}: a pair of lists of ints, got {pair!r}"
            if g_valid != valid or g_train != train:
                return (f"fold {i} of kfold({n}, {k}, shuffle={shuffle}, "
                        f"seed={seed}): expected validation indices "
                        f"{valid[:20]}{' ...' if len(valid) > 20 else ''} "
                        f"and the {len(train)} others for training, got "
                        f"{g_valid[:20]}{' ...' if len(g_valid) > 20 else ''}"
                        f" and {len(g_train)} for training; the folds have "
                        f"{sizes} examples, each list in increasing order"
                        + (", the order np.random.RandomState(seed)"
                           ".permutation(n)" if shuffle else ""))
        return None
    return probe, compare


@task("test_kfold", points=2)
def kfold(rng):
    yield _kfold_case(10, 3, False, 0)
    for shuffle in (False, True, True):
        k = int(rng.integers(2, 7))
        n = k * int(rng.integers(2, 9)) + int(rng.integers(1, k))
        yield _kfold_case(n, k, shuffle, int(rng.integers(0, 10**6)))
    k = int(rng.integers(2, 6))
    yield _kfold_case(k * int(rng.integers(2, 6)), k, True,
                      int(rng.integers(0, 10**6)))          # divisible
    n = int(rng.integers(4, 9))
    yield _kfold_case(n, n, bool(rng.integers(2)),
                      int(rng.integers(0, 1000)))            # leave one out
    yield _kfold_case(int(rng.integers(50, 120)), 5, True,
                      int(rng.integers(0, 10**6)))
