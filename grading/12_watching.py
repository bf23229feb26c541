"""Checks of exercise 12_watching: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the networks and the
gradients set on their parameters (float64 unless a case is about
float32, with some parameters left without a gradient), the tensors to
clip and the thresholds, the predictions and labels, the batches that
find the dead units. Every expected value is computed here, in the
grader's process: the norms and ratios from the tensors sent, the clipped
gradients by PyTorch's own ``torch.nn.utils.clip_grad_norm_`` and
``clip_grad_value_`` run on copies, the confusion matrix and the
precision, recall and F1 by scikit-learn's ``confusion_matrix`` and
``precision_recall_fscore_support`` (``zero_division=0``), the dead units
by a forward pass of the network sent. While the student's code runs,
PyTorch's clipping functions are refused, and so are scikit-learn's
metrics.
"""

import itertools
import math

import numpy as np
import torch
from sklearn import metrics
from torch import nn

from ziptie.grader.probe import Probe, close, task
from ziptie.grader.recipes import random_linear, random_tensor
from ziptie.grader.wire import ref

#: PyTorch's clipping functions, by their public names (for the reading
#: of the cells) and the functions underneath their no-grad wrapper.
_CLIP_NAMES = ("clip_grad_norm_", "clip_grad_value_", "get_total_norm",
               "clip_grads_with_norm_")
CLIPPING = tuple(f"torch.nn.utils.{name}" for name in (
    *_CLIP_NAMES, "clip_grad_norm")) + tuple(
    f"torch.nn.utils.clip_grad.{name}.__wrapped__" for name in (
        "clip_grad_norm_", "clip_grad_value_", "_get_total_norm",
        "_clip_grads_with_norm_"))
#: scikit-learn's metrics, which the counting is to be written without.
_METRIC_NAMES = ("confusion_matrix", "multilabel_confusion_matrix",
                 "precision_recall_fscore_support", "precision_score",
                 "recall_score", "f1_score", "fbeta_score",
                 "classification_report")
METRICS = tuple(f"sklearn.metrics.{name}" for name in _METRIC_NAMES) + \
    tuple(f"sklearn.metrics.{name}.__wrapped__" for name in _METRIC_NAMES)


def _tol(dtype) -> dict:
    return {"rtol": 1e-9, "atol": 1e-12} if dtype == torch.float64 else \
        {"rtol": 1e-5, "atol": 1e-7}


def _net(rng, *sizes, dtype=torch.float64, activation=nn.ReLU):
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(sizes):
        layers += [random_linear(rng, d_in, d_out, dtype), activation()]
    return nn.Sequential(*layers[:-1])


def _scaled(rng, shape, dtype, low=-2.0, high=1.0):
    """Normal entries times one scale from 10**low to 10**high."""
    return float(10 ** rng.uniform(low, high)) * random_tensor(rng, shape,
                                                                dtype)


# -- task 1: gradient norms and the update-to-weight ratio ---------------------

def _with_grads(rng, net, none=(), zero=(), low=-2.0, high=1.0):
    """A probe that sends ``net`` and sets a gradient on each parameter
    but those named in ``none`` (zeros for those in ``zero``); the
    gradients by name."""
    probe = Probe().put(net)
    grads = {}
    for name, p in net.named_parameters():
        if name in none:
            continue
        g = torch.zeros_like(p) if name in zero else _scaled(
            rng, tuple(p.shape), p.dtype, low, high)
        probe.set(f"$0.{name}.grad", g)
        grads[name] = g
    return probe, grads


def _by_name(want: dict, tol: dict, what: str, text: str):
    """The last value must be a dict with ``want``'s keys, values close."""
    def compare(values):
        got = values[-1]
        if not isinstance(got, dict):
            return f"return a dict, parameter name -> {what}; got " \
                   f"{type(got).__name__}"
        if sorted(got) != sorted(want):
            return (f"expected the keys {sorted(want)}, got {sorted(got)}: "
                    f"the names of model.named_parameters(), those with a "
                    f"gradient only")
        for name, value in want.items():
            reason = close(value, **tol)([got[name]])
            if reason:
                return f"{name}: {reason}; {text}"
        return None
    return compare


def _norm_cases(rng):
    """(net, names without a gradient, names with zeros, scales)."""
    yield _net(rng, 3, 5, 2), (), (), (-2.0, 1.0)
    net = _net(rng, 4, int(rng.integers(3, 7)), 3)
    names = [n for n, _ in net.named_parameters()]
    yield net, (names[-1],), (names[1],), (-1.0, 2.0)
    yield _net(rng, 4, 6, 6, 3, dtype=torch.float32), (), (), (-3.0, 0.0)
    yield _net(rng, 2, int(rng.integers(2, 5)), 1), ("0.bias",), (), (
        1.0, 3.0)


@task("test_grad_norms", points=1)
def grad_norms(rng):
    for net, none, zero, (low, high) in _norm_cases(rng):
        probe, grads = _with_grads(rng, net, none, zero, low, high)
        probe.then("grad_norms", ref(0))
        probe.text = (f"grad_norms(model) for {len(grads)} gradients"
                      + (f", none on {list(none)}" if none else ""))
        want = {name: torch.linalg.vector_norm(g).item()
                for name, g in grads.items()}
        yield probe, _by_name(want, _tol(net[0].weight.dtype), "norm",
                              "the L2 norm of the parameter's .grad, "
                              "all its entries together")


@task("test_update_ratio", points=2)
def update_ratio(rng):
    for net, none, zero, (low, high) in _norm_cases(rng):
        with torch.no_grad():
            for p in net.parameters():    # weights of many sizes
                p.mul_(float(10 ** rng.uniform(-1, 1)))
        probe, grads = _with_grads(rng, net, none, zero, low, high)
        lr = float(10 ** rng.uniform(-4, -0.5))
        probe.then("update_ratio", ref(0), lr)
        weights = dict(net.named_parameters())
        for name in weights:
            probe.get(f"$0.{name}")
        probe.text = f"update_ratio(model, lr={lr:.3g})"
        want = {name: (lr * torch.linalg.vector_norm(g)
                       / torch.linalg.vector_norm(weights[name])).item()
                for name, g in grads.items()}
        dtype = net[0].weight.dtype
        compare = _by_name(want, _tol(dtype), "ratio",
                           "lr times the norm of the gradient, divided by "
                           "the norm of the weights")
        sent = [w.detach().numpy().copy() for w in weights.values()]

        def unchanged(values, compare=compare, sent=sent):
            ratio = values[-len(sent) - 1:-len(sent)]
            reason = compare(ratio)
            if reason:
                return reason
            for got, w in zip(values[-len(sent):], sent, strict=True):
                if not np.array_equal(np.asarray(got, dtype=float), w):
                    return ("the weights changed: measure the step SGD "
                            "would take, without taking it")
            return None
        yield probe, unchanged


# -- task 2: clipping ------------------------------------------------------------

SHAPES = [(4, 3), (6,), (2, 3, 2), ()]


def _params(rng, shapes, dtype=torch.float64, none=(), zero=(), low=-1.0,
            high=1.0):
    """Parameters of ``shapes`` with gradients (large and small entries,
    both signs), but those in ``none``; zeros for those in ``zero``."""
    params = []
    for k, shape in enumerate(shapes):
        p = random_tensor(rng, shape, dtype).requires_grad_()
        if k in zero:
            p.grad = torch.zeros(shape, dtype=dtype)
        elif k not in none:
            p.grad = _scaled(rng, shape, dtype, low, high)
        params.append(p)
    return params


def _grads_like(probe, params, single=False):
    """Read every parameter's gradient back after the call."""
    if single:
        probe.get("$0.grad")
    else:
        for k in range(len(params)):
            probe.get(f"$0.{k}.grad")
    return probe


SCALE = ("scale every gradient in place by min(1, max_norm / (total_norm "
         "+ 1e-6))")


def _clipped(got: list, want: list, tol: dict, hint: str) -> str | None:
    """Why the gradients ``got`` after clipping are not ``want`` (None
    where a parameter had no gradient), or None."""
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        if w is None:
            if g is not None:
                return f"parameter {k} had no gradient: leave it so"
            continue
        reason = close(w, **tol)([g])
        if reason:
            return (f"the gradient of parameter {k} after clipping: "
                    f"{reason}; {hint}")
    return None


def _clip_case(rng, params, max_norm, norm_type=2.0, *, single=False,
               generator=False, hint_text=""):
    reference = [p.detach().clone().requires_grad_() for p in params]
    for r, p in zip(reference, params, strict=True):
        r.grad = None if p.grad is None else p.grad.clone()
    total = torch.nn.utils.clip_grad_norm_(
        reference[0] if single else reference, max_norm, norm_type)
    want_grads = [None if r.grad is None else r.grad.numpy()
                  for r in reference]
    probe = Probe().put(params[0] if single else params)
    arg = ref(0)
    if generator:
        probe.keep("$0.__iter__")
        arg = ref(1)
    probe.then("clip_grad_norm_", arg, max_norm, norm_type=norm_type)
    _grads_like(probe, params, single)
    kind = "a single tensor" if single else "a generator of parameters" \
        if generator else f"a list of {len(params)} parameters"
    probe.text = (f"clip_grad_norm_({kind}, max_norm={max_norm:.3g}, "
                  f"norm_type={norm_type:g}) (total norm {total.item():.3g})")
    count = len(want_grads)
    tol = _tol(params[0].dtype)

    def compare(values):
        got = values[-count - 1]
        reason = close(total.item(), **tol)([got])
        if reason:
            return (f"the returned total norm: {reason}; return the norm of "
                    f"all the gradients together, as it was before "
                    f"clipping")
        return _clipped(values[-count:], want_grads, tol,
                        hint_text or SCALE)
    return probe.forbid(*CLIPPING), compare


def _total(params, norm_type=2.0):
    grads = [p.grad for p in params if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g, norm_type) for g in grads]),
        norm_type).item()


@task("test_clip_grad_norm", points=2)
def clip_grad_norm(rng):
    u = lambda low, high: float(rng.uniform(low, high))  # noqa: E731
    # a list, clipped to a fraction of its norm
    params = _params(rng, SHAPES)
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params))
    # a generator, some parameters without a gradient, one of zeros
    params = _params(rng, SHAPES + [(3,)], none=(1,), zero=(3,))
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params),
                     generator=True)
    # a max_norm above the norm: nothing changes, not even scaled up
    params = _params(rng, SHAPES)
    yield _clip_case(rng, params, u(1.5, 10) * _total(params),
                     hint_text="with max_norm above the total norm the "
                               "gradients stay as they are (the factor is "
                               "at most 1)")
    # small gradients: the 1e-6 in the denominator shows
    params = _params(rng, SHAPES, low=-6.0, high=-5.0)
    yield _clip_case(rng, params, u(0.2, 0.8) * _total(params),
                     hint_text="the factor is max_norm / (total_norm + "
                               "1e-6), the 1e-6 included")
    # the infinity norm and another p
    params = _params(rng, SHAPES, low=0.0, high=2.0)
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params, math.inf),
                     math.inf)
    p = u(1.0, 4.0)
    params = _params(rng, SHAPES[:3])
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params, p), p)
    # a single tensor, and float32
    params = _params(rng, [(int(rng.integers(2, 6)), 3)])
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params),
                     single=True)
    params = _params(rng, SHAPES, torch.float32, low=0.0, high=1.0)
    yield _clip_case(rng, params, u(0.1, 0.6) * _total(params))


def _value_case(rng, params, clip_value, *, single=False, generator=False):
    want = [None if p.grad is None else p.grad.clone() for p in params]
    reference = [p.detach().clone().requires_grad_() for p in params]
    for r, g in zip(reference, want, strict=True):
        r.grad = g
    torch.nn.utils.clip_grad_value_(reference[0] if single else reference,
                                    clip_value)
    want = [None if r.grad is None else r.grad.numpy() for r in reference]
    probe = Probe().put(params[0] if single else params)
    arg = ref(0)
    if generator:
        probe.keep("$0.__iter__")
        arg = ref(1)
    probe.keep("clip_grad_value_", arg, clip_value)
    _grads_like(probe, params, single)
    kind = "a single tensor" if single else "a generator of parameters" \
        if generator else f"a list of {len(params)} parameters"
    probe.text = f"clip_grad_value_({kind}, clip_value={clip_value:.3g})"
    tol = _tol(params[0].dtype)

    def compare(values):
        return _clipped(values[-len(want):], want, tol,
                        "clamp every entry, in place, to "
                        "[-clip_value, clip_value]")
    return probe.forbid(*CLIPPING), compare


def _within(rng, params):
    """A clip value that some positive and some negative entry exceed
    (the largest gradient gets an entry of each sign)."""
    largest = max((p.grad for p in params if p.grad is not None),
                  key=lambda g: g.numel()).view(-1)
    largest[0], largest[1] = -largest[0].abs(), largest[1].abs()
    grads = torch.cat([p.grad.flatten() for p in params
                       if p.grad is not None])
    return float(rng.uniform(0.2, 0.6)) * min(grads.max().item(),
                                              -grads.min().item())


@task("test_clip_grad_value", points=1)
def clip_grad_value(rng):
    params = _params(rng, SHAPES)
    yield _value_case(rng, params, _within(rng, params))
    params = _params(rng, SHAPES + [(3,)], none=(1,), zero=(3,))
    yield _value_case(rng, params, _within(rng, params), generator=True)
    params = _params(rng, [(int(rng.integers(2, 6)), 3)])
    yield _value_case(rng, params, _within(rng, params), single=True)
    # a clip value above every entry: nothing changes
    yield _value_case(rng, _params(rng, SHAPES, low=-3.0, high=-2.0),
                      float(rng.uniform(1.0, 5.0)))
    params = _params(rng, SHAPES, torch.float32, low=0.0)
    yield _value_case(rng, params, _within(rng, params))


# -- task 3: the confusion matrix, precision, recall and F1 --------------------

def _labels(rng, n, k, right=0.6, p=None):
    """``n`` labels of ``k`` classes (with probabilities ``p``) and
    predictions of them, right with probability ``right``."""
    target = rng.choice(k, size=n, p=p)
    pred = np.where(rng.random(n) < right, target, rng.integers(0, k, n))
    return torch.from_numpy(pred), torch.from_numpy(target)


def _matrix_case(pred, target, k):
    want = metrics.confusion_matrix(target.numpy(), pred.numpy(),
                                    labels=list(range(k)))
    probe = Probe.call("confusion_matrix", pred, target, k).forbid(*METRICS)

    def compare(values):
        got = values[-1]
        if not isinstance(got, np.ndarray) or got.dtype.kind not in "iu":
            return ("return a tensor of integer counts (torch.int64), got "
                    + (f"dtype {got.dtype}" if isinstance(got, np.ndarray)
                       else type(got).__name__))
        if got.shape != want.shape:
            return (f"expected shape {want.shape}, got {got.shape}: "
                    f"num_classes rows and columns, whichever classes "
                    f"occur")
        if not np.array_equal(got, want):
            return (f"expected {want.tolist()}, got {got.tolist()}"[:300]
                    + "; entry [i, j] counts the examples of true class i "
                      "predicted as j, each one once")
        return None
    return probe, compare


@task("test_confusion_matrix", points=1)
def confusion_matrix(rng):
    yield _matrix_case(torch.tensor([0, 1, 1, 2, 0, 2]),
                       torch.tensor([0, 1, 2, 2, 1, 2]), 3)
    k = int(rng.integers(3, 11))
    yield _matrix_case(*_labels(rng, int(rng.integers(20, 120)), k), k)
    # many examples for few classes: each pair occurs many times
    yield _matrix_case(*_labels(rng, int(rng.integers(40, 80)), 3), 3)
    # the last classes occur nowhere: the matrix is still k by k
    k = int(rng.integers(4, 8))
    pred, target = _labels(rng, int(rng.integers(10, 30)), k - 2)
    yield _matrix_case(pred, target, k)
    # one example; all right
    k = int(rng.integers(2, 6))
    yield _matrix_case(*_labels(rng, 1, k), k)
    target = torch.from_numpy(rng.integers(0, k, int(rng.integers(5, 15))))
    yield _matrix_case(target.clone(), target, k)


def _prf_case(pred, target, positive):
    p, r, f, _ = metrics.precision_recall_fscore_support(
        target.numpy(), pred.numpy(), labels=[positive], average=None,
        zero_division=0)
    want = [float(p[0]), float(r[0]), float(f[0])]
    probe = Probe.call("precision_recall_f1", pred, target,
                       positive).forbid(*METRICS)

    def compare(values):
        got = values[-1]
        if not isinstance(got, list) or len(got) != 3:
            return "return (precision, recall, f1)"
        reason = close(want, rtol=1e-9, atol=1e-12)([got])
        if reason:
            return (f"{reason}; precision = TP / (TP + FP), recall = TP / "
                    f"(TP + FN), F1 = 2PR / (P + R), for the class "
                    f"`positive` alone, and 0.0 where a denominator is 0")
        return None
    return probe, compare


@task("test_precision_recall_f1", points=2)
def precision_recall_f1(rng):
    # TP 2, FP 1, FN 3 for class 1: P 2/3, R 2/5 (and macro averages
    # differ)
    yield _prf_case(torch.tensor([1, 1, 1, 0, 0, 0, 2, 2, 0]),
                    torch.tensor([1, 1, 0, 1, 1, 1, 2, 0, 0]), 1)
    k = int(rng.integers(3, 11))
    pred, target = _labels(rng, int(rng.integers(30, 150)), k)
    yield _prf_case(pred, target, int(rng.integers(0, k)))
    # imbalanced: about one in ten positive, "is it a 9?"
    n = int(rng.integers(50, 200))
    target = torch.from_numpy((rng.random(n) < 0.1).astype(np.int64))
    target[0] = 1
    pred = torch.where(torch.from_numpy(rng.random(n) < 0.3),
                       1 - target, target)
    yield _prf_case(pred, target, 1)
    # never predicted: precision 0/0
    yield _prf_case(torch.zeros(n, dtype=torch.int64), target, 1)
    # never there and never predicted; all right
    k = int(rng.integers(3, 6))
    pred, target = _labels(rng, int(rng.integers(5, 30)), k - 1)
    yield _prf_case(pred, target, k - 1)
    yield _prf_case(target.clone(), target, int(target[0]))


# -- task 4: dead ReLUs ----------------------------------------------------------

def _dead(net, X):
    fractions = []
    h = X
    with torch.no_grad():
        for layer in net:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                fractions.append(1.0 - (h > 0).any(dim=0).double().mean()
                                 .item())
    return fractions


def _dead_case(rng, net, X):
    """A probe of ``dead_relu_fraction(net, X)``; the weights must stay."""
    want = _dead(net, X)
    weights = [p.detach().numpy().copy() for p in net.parameters()]
    probe = Probe().put(net).then("dead_relu_fraction", ref(0), X)
    for name, _ in net.named_parameters():
        probe.get(f"$0.{name}")
    probe.text = (f"dead_relu_fraction(model with {len(want)} ReLU "
                  f"layer(s), X of shape {tuple(X.shape)})")
    def compare(values):
        got = values[-len(weights) - 1]
        if not isinstance(got, list):
            return "return a list of fractions, one per ReLU layer"
        # fractions of at most 10 units: float32 may round them
        reason = close(want, rtol=0, atol=1e-6)([got])
        if reason:
            return (f"{reason}; for each ReLU layer, the fraction of its "
                    f"units whose output is 0 on every example of X")
        for got, w in zip(values[-len(weights):], weights, strict=True):
            if not np.array_equal(np.asarray(got, dtype=float), w):
                return "the model's weights changed: only look at it"
        return None
    return probe, compare


def _killed(rng, net, X, dead=2, alive=1):
    """Units of each hidden layer set dead (a large negative bias) or
    alive on every example (a large positive one), the first unit of the
    first layer active on some examples only: it copies the first input,
    which is positive for the first example and negative for the second."""
    with torch.no_grad():
        linears = [m for m in net if isinstance(m, nn.Linear)][:-1]
        for layer in linears:
            units = rng.permutation(layer.out_features)
            layer.bias[units[:dead]] = -100.0
            layer.bias[units[dead:dead + alive]] = 100.0
        first = linears[0]
        first.weight[0] = 0.0
        first.weight[0, 0] = 1.0
        first.bias[0] = 0.0
        X[0, 0], X[1, 0] = abs(X[0, 0]) + 0.5, -abs(X[1, 0]) - 0.5
    return net, X


@task("test_dead_relus", points=2)
def dead_relus(rng):
    width = int(rng.integers(6, 10))
    yield _dead_case(rng, *_killed(rng, _net(rng, 4, width, width, 3),
                                   random_tensor(rng, (int(rng.integers(
                                       8, 30)), 4))))
    yield _dead_case(rng, *_killed(rng, _net(rng, 5, 8, 6, 6, 2),
                                   random_tensor(rng, (20, 5)), dead=3))
    # a batch of one
    yield _dead_case(rng, _net(rng, 3, 7, 7, 2), random_tensor(rng, (1, 3)))
    # a first layer all dead: the next layer sees only its biases
    net, X = _net(rng, 3, 5, 6, 2), random_tensor(rng, (10, 3))
    with torch.no_grad():
        net[0].bias.fill_(-100.0)
    yield _dead_case(rng, net, X)
    # a Tanh layer first, one ReLU layer; float32
    net = nn.Sequential(random_linear(rng, 4, 6, torch.float64), nn.Tanh(),
                        random_linear(rng, 6, 6, torch.float64), nn.ReLU(),
                        random_linear(rng, 6, 2, torch.float64))
    yield _dead_case(rng, net, random_tensor(rng, (12, 4)))
    net = _net(rng, 4, 8, 8, 3, dtype=torch.float32)
    yield _dead_case(rng, *_killed(rng, net, random_tensor(
        rng, (16, 4), torch.float32)))

