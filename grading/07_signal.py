"""Checks of exercise 07_signal: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the networks (float64
unless a case is about float32), the batches, the optimizers' settings.
The optimizer and the loss function are made in the sandbox from
``torch.optim`` and ``torch.nn`` (the exercise measures them; it does not
rewrite them), and every expected value is computed here, in the grader's
process, by running the same steps on a copy of the same network: the
sizes each step measures, which weights moved most, the loss-scale ratio
and the gain of the first layer's gradient.
"""

import copy
import itertools

import numpy as np
import torch
from torch import nn

from ziptie.grader.probe import Probe, close, raises, task
from ziptie.grader.recipes import random_linear, random_tensor
from ziptie.grader.wire import ref

#: What a measurement holds, in the order measure_step returns it, and
#: what to check when one of them is wrong.
MEASURED = {
    "weight": "the size of each parameter before the step, |w|",
    "grad": "the size of this batch's gradient, |p.grad| after backward(); "
            "call optimizer.zero_grad() before loss.backward(), or the "
            "gradients of earlier calls add up",
    "step": "the size of the change optimizer.step() made, |w_after - "
            "w_before|, from a copy taken before the step "
            "(p.detach().clone()); it is lr * |grad| only for plain SGD",
}

#: The optimizers the exercise measures, as the sandbox makes them.
OPTIMIZERS = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam,
              "AdamW": torch.optim.AdamW}
LOSSES = {"MSELoss": nn.MSELoss, "CrossEntropyLoss": nn.CrossEntropyLoss}


# -- networks and data -----------------------------------------------------

def _net(rng, sizes, activation=nn.Tanh, dtype=torch.float64,
         dead: int = 0) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between; the first
    ``dead`` hidden units of the first layer never fire (a bias of -50:
    under ReLU their weights get no gradient at all)."""
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(sizes):
        layers += [random_linear(rng, d_in, d_out, dtype), activation()]
    net = nn.Sequential(*layers[:-1])
    with torch.no_grad():
        net[0].bias[:dead] = -50.0
    return net


def _batch(rng, n, d_in, d_out, loss, dtype=torch.float64, zero=None):
    """A batch of ``n`` examples for ``loss``: targets of shape (n, d_out)
    for the mean squared error, class labels below d_out for
    cross-entropy; input column ``zero`` all zeros (its weights then get
    no gradient from this batch)."""
    X = random_tensor(rng, (n, d_in), dtype)
    if zero is not None:
        X[:, zero] = 0.0
    if loss == "MSELoss":
        return X, random_tensor(rng, (n, d_out), dtype)
    return X, torch.from_numpy(rng.integers(0, d_out, size=n))


def _notebook_net(last_bias: bool = True) -> nn.Sequential:
    """The small network of the notebook's own tests, and its batch."""
    net = nn.Sequential(nn.Linear(2, 2, dtype=torch.float64), nn.Tanh(),
                        nn.Linear(2, 1, bias=last_bias, dtype=torch.float64))
    values = [[[0.5, -0.3], [0.2, 0.8]], [0.1, -0.1], [[1.0, -0.5]], [0.2]]
    with torch.no_grad():
        for p, v in zip(net.parameters(), values, strict=False):
            p.copy_(torch.tensor(v))
    return net


NOTEBOOK_X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0]],
                          dtype=torch.float64)


def _weights(probe: Probe, net: nn.Sequential) -> Probe:
    """Read the weight and bias of every Linear layer of ``$0``."""
    for k, layer in enumerate(net):
        if isinstance(layer, nn.Linear):
            probe.get(f"$0.{k}.weight")
            if layer.bias is not None:
                probe.get(f"$0.{k}.bias")
    return probe


def _setup(net, optimizer: str, settings: dict, loss: str) -> Probe:
    """``$0`` the network, ``$2`` a torch.optim optimizer of its
    parameters, ``$3`` the loss function, made in the sandbox."""
    return (Probe().put(net).keep("$0.parameters")
            .keep(f"torch.optim.{optimizer}", ref(1), **settings)
            .keep(f"torch.nn.{loss}"))


def _shown(optimizer: str, settings: dict) -> str:
    inside = ", ".join(["params",
                        *(f"{k}={v!r}" for k, v in settings.items())])
    return f"torch.optim.{optimizer}({inside})"


# -- the reference measurement ---------------------------------------------

def _measure(model, loss_fn, X, y, optimizer) -> tuple[list, list, list]:
    """One step of the loop, measured: |w| before, |grad|, |step|."""
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.step()
    params = list(model.parameters())
    return ([b.abs().numpy() for b in before],
            [p.grad.abs().numpy() for p in params],
            [(p.detach() - b).abs().numpy() for p, b in zip(params, before,
                                                            strict=True)])


def _run(net, optimizer: str, settings: dict, loss: str, batches):
    """The measurements of one step per batch, on a copy of ``net``, and
    its weights afterwards."""
    model = copy.deepcopy(net)
    opt = OPTIMIZERS[optimizer](model.parameters(), **settings)
    loss_fn = LOSSES[loss]()
    measured = [_measure(model, loss_fn, X, y, opt) for X, y in batches]
    return measured, [p.detach().numpy() for p in model.parameters()]


def _final(want: list, rtol: float, atol: float):
    """The weights read back at the end are ``want``."""
    same = close(want, rtol, atol)

    def compare(got: list) -> str | None:
        reason = same([got])
        return reason and (f"afterwards the model's weights differ from "
                           f"those of one optimizer.step() per call: "
                           f"{reason}")
    return compare


def _not_a_number(got, what: str) -> str | None:
    """Why ``got`` is not one number, or None."""
    if got is None or isinstance(got, bool | str | list | dict) or \
            np.ndim(got) != 0:
        return f"return one number, {what}, got {got!r}"[:200]
    return None


def _top(values: list, k: int, ties: str = "earlier") -> set[int]:
    """The positions of the k entries largest in size, over all tensors
    flattened and concatenated; ties go to the earlier position (or with
    ``ties="later"``, to the later one)."""
    flat = np.concatenate([np.abs(np.asarray(v, dtype=float)).ravel()
                           for v in values])
    if ties == "later":
        order = len(flat) - 1 - np.argsort(-flat[::-1], kind="stable")
    else:
        order = np.argsort(-flat, kind="stable")
    return set(order[:k].tolist())


def _overlap(a: list, b: list, k: int, ties: str = "earlier") -> float:
    return len(_top(a, k, ties) & _top(b, k, ties)) / k


# -- task 1: measure one step ------------------------------------------------

def _measured_like(net, optimizer, settings, loss, batches,
                   rtol=1e-6, atol=1e-10):
    measured, final = _run(net, optimizer, settings, loss, batches)
    end = _final(final, rtol, atol)
    count = len(batches)

    def compare(values):
        for t, (got, want) in enumerate(zip(values[4:4 + count], measured,
                                            strict=True)):
            if not isinstance(got, list) or len(got) != 3:
                return ("measure_step must return (weight, grad, step): "
                        "three lists, one tensor per parameter")
            for (name, hint), g, w in zip(MEASURED.items(), got, want,
                                          strict=True):
                reason = close(w, rtol, atol)([g])
                if reason:
                    return f"call {t + 1} of {count}: {name} {reason}; " \
                           f"{name} is {hint}"
        return end(values[4 + count:])
    return compare


def _measure_probe(net, optimizer, settings, loss, batches) -> Probe:
    probe = _setup(net, optimizer, settings, loss)
    for X, y in batches:
        probe.then("measure_step", ref(0), ref(3), X, y, ref(2))
    probe = _weights(probe, net)
    probe.text = (f"measure_step(model, loss_fn, X, y, optimizer), "
                  f"{len(batches)} calls with {_shown(optimizer, settings)} "
                  f"and torch.nn.{loss}()")
    return probe


def _measure_case(net, optimizer, settings, loss, batches, **tol):
    return (_measure_probe(net, optimizer, settings, loss, batches),
            _measured_like(net, optimizer, settings, loss, batches, **tol))


@task("test_measure_step", points=3)
def measure_step(rng):
    # the notebook's own case: the second step meets a zero gradient, and
    # momentum moves the weights all the same
    net = nn.Sequential(nn.Linear(2, 1, bias=False, dtype=torch.float64))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, -1.0]]))
    X, y = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.zeros(
        1, 1, dtype=torch.float64)
    yield _measure_case(net, "SGD", {"lr": 0.1, "momentum": 0.9}, "MSELoss",
                        [(X, y), (X, y)])
    # chapter 4's inputs of two scales: the small weight moves twenty times
    # its size and changes sign, so the size of the change is not the
    # change of the size
    net = nn.Sequential(nn.Linear(2, 1, bias=False, dtype=torch.float64))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[5.0, 0.01]]))
    X = torch.tensor([[0.1, 10.0], [-0.1, 10.0], [0.1, -10.0],
                      [-0.1, -10.0]], dtype=torch.float64)
    yield _measure_case(net, "SGD", {"lr": 1e-3}, "MSELoss",
                        [(X, X[:, :1] - X[:, 1:])])

    net = _net(rng, (4, 6, 2))
    batches = [_batch(rng, int(rng.integers(2, 20)), 4, 2, "MSELoss")
               for _ in range(2)]
    yield _measure_case(net, "SGD", {"lr": float(rng.uniform(0.01, 0.5))},
                        "MSELoss", batches)

    # dead units and an input that is zero in the last batch: weights with
    # no gradient, which momentum moves anyway; a batch of one
    net = _net(rng, (5, 8, 3), nn.ReLU, dead=2)
    batches = [_batch(rng, n, 5, 3, "MSELoss", zero=zero)
               for n, zero in [(12, None), (1, None), (9, 1)]]
    settings = {"lr": float(rng.uniform(0.01, 0.2)),
                "momentum": float(rng.uniform(0.5, 0.95)),
                "weight_decay": float(rng.uniform(0, 0.1))}
    yield _measure_case(net, "SGD", settings, "MSELoss", batches)

    net = _net(rng, (6, 7, 4), nn.ReLU, dead=1)
    batches = [_batch(rng, n, 6, 4, "CrossEntropyLoss", zero=zero)
               for n, zero in [(10, None), (1, None), (8, 2)]]
    yield _measure_case(net, "Adam", {"lr": float(rng.uniform(0.001, 0.05))},
                        "CrossEntropyLoss", batches)

    net = _net(rng, (3, 5, 1))
    batches = [_batch(rng, int(rng.integers(1, 16)), 3, 1, "MSELoss")
               for _ in range(2)]
    settings = {"lr": float(rng.uniform(0.01, 0.1)),
                "weight_decay": float(rng.uniform(0.1, 1))}
    yield _measure_case(net, "AdamW", settings, "MSELoss", batches)

    net = _net(rng, (4, 5, 3), nn.ReLU, dtype=torch.float32)
    batches = [_batch(rng, 6, 4, 3, "CrossEntropyLoss", torch.float32)
               for _ in range(2)]
    yield _measure_case(net, "SGD", {"lr": 0.1, "momentum": 0.9},
                        "CrossEntropyLoss", batches, rtol=1e-4, atol=1e-6)


# -- task 2: which weights are largest ---------------------------------------

def _tensors(rng, shapes, ties: bool = False) -> list:
    """Signed tensors of ``shapes``; with ``ties``, entries share a few
    sizes (zeros among them), so that ties decide."""
    if not ties:
        return [random_tensor(rng, s) for s in shapes]
    levels = np.array([0.0, 0.5, 1.0, 2.0])
    return [torch.from_numpy(np.asarray(rng.choice(levels, size=s)
                                        * rng.choice([-1.0, 1.0], size=s)))
            for s in shapes]


def _share(a, b, k):
    want = _overlap(a, b, k)

    def compare(values):
        got = values[-1]
        reason = _not_a_number(got, "the share")
        if reason:
            return reason
        if abs(float(got) - want) > 1e-9:
            return (f"expected {want:g} ({round(want * k)} of the k={k} "
                    f"largest in size by a among the k largest by b), got "
                    f"{float(got):g}: rank all entries of all tensors "
                    f"together, by absolute value, ties to the earlier "
                    f"position")
        return None
    return compare


@task("test_overlap", points=2)
def overlap(rng):
    # the notebook's own cases, the second with ties at the k-th place
    for a, b in [([torch.tensor([3.0, -1.0, 2.0])],
                  [torch.tensor([0.5, 4.0, -6.0])]),
                 ([torch.tensor([2.0, 1.0, -1.0, 0.0])],
                  [torch.tensor([0.0, -3.0, 0.0, 0.0])])]:
        for k in (1, 2, 3):
            yield Probe.call("overlap", a, b, k), _share(a, b, k)

    # ties at the k-th place among more than 16 entries, where torch's
    # default (unstable) sort on a CPU no longer keeps them in order
    a = torch.tensor([0.5 if i % 3 == 0 else (-1.0) ** i for i in range(24)])
    b = torch.zeros(24)
    b[[1, 2, 4, 5, 7, 8, 10, 11]] = torch.arange(8.0, 0.0, -1.0)
    yield Probe.call("overlap", [a], [b], 8), _share([a], [b], 8)
    # the same number of entries, held in tensors of other shapes
    a, b = _tensors(rng, [(3, 4), (5,)]), _tensors(rng, [(17,)])
    k = int(rng.integers(1, 17))
    yield Probe.call("overlap", a, b, k), _share(a, b, k)

    shapes = [(3, 4), (5,), (), (2, 1, 3)]
    for ties in (False, True, True):
        a, b = _tensors(rng, shapes, ties), _tensors(rng, shapes, ties)
        n = sum(int(np.prod(s)) for s in shapes)
        for k in (1, int(rng.integers(2, n)), n):
            yield Probe.call("overlap", a, b, k), _share(a, b, k)
    a = _tensors(rng, shapes)
    k = int(rng.integers(1, 10))
    yield Probe.call("overlap", a, a, k), _share(a, a, k)
    # the entries of b in the order of a's sizes: the same ranking
    b = [float(rng.uniform(1, 2)) * t ** 3 for t in a]
    yield Probe.call("overlap", a, b, k), _share(a, b, k)

    a, b = _tensors(rng, [(2, 2)]), _tensors(rng, [(4,)])
    for bad in (0, -1, 5):
        yield Probe().catch("overlap", a, b, bad), raises("ValueError")
    yield (Probe().catch("overlap", a, _tensors(rng, [(5,)]), 2),
           raises("ValueError"))


# -- task 3: who moves --------------------------------------------------------

def _shapes_of(measured, shapes) -> str | None:
    """Why ``measured`` is not (weight, grad, step) of these shapes."""
    if not isinstance(measured, list) or len(measured) != 3:
        return "measured must be (weight, grad, step), as measure_step returns"
    for name, values in zip(MEASURED, measured, strict=True):
        got = [np.shape(v) for v in values] if isinstance(values, list) \
            else None
        if got != shapes:
            return (f"measured {name} must hold one tensor per parameter, "
                    f"of shapes {shapes}, got {got}")
    return None


def _moved_like(net, optimizer, settings, loss, batches, k):
    """The model trained one step per batch as the reference is; the
    measurements of the last step of the right shapes; and the shares
    those measurements give, computed here from what came back."""
    measured_all, final = _run(net, optimizer, settings, loss, batches)
    shapes = [tuple(p.shape) for p in net.parameters()]
    end = _final(final, 1e-6, 1e-10)
    last = measured_all[-1]

    def compare(values):
        got = values[4]
        if not isinstance(got, list) or len(got) != 2 or \
                not isinstance(got[1], dict):
            return ('who_moves must return (measured, shares): the last '
                    'step\'s (weight, grad, step) and {"grad": share, '
                    '"weight": share}')
        measured, shares = got
        reason = end(values[5:]) or _shapes_of(measured, shapes)
        if reason:
            return reason
        for (name, hint), g, w in zip(MEASURED.items(), measured, last,
                                      strict=True):
            reason = close(w, 1e-6, 1e-10)([g])
            if reason:
                return (f"measured {name} must be the last step's "
                        f"({len(batches)} of {len(batches)}), {hint}: "
                        f"{reason}")
        if set(shares) != {"grad", "weight"}:
            return (f'shares must have the keys "grad" and "weight", got '
                    f"{sorted(shares)}")
        weight, grad, step = measured
        for key, by in [("grad", grad), ("weight", weight)]:
            # test_overlap grades the rule for ties; here either order
            # passes, so a tie in a draw cannot decide this task
            share, other = (_overlap(by, step, k, ties)
                            for ties in ("earlier", "later"))
            if close(share, rtol=0, atol=1e-9)([shares[key]]) and \
                    close(other, rtol=0, atol=1e-9)([shares[key]]):
                return (f'shares["{key}"]: expected {share:g}, the overlap '
                        f"of your measured {key} and step with k={k} (the "
                        f"share of the k weights that moved most in the "
                        f"last step that are among the k largest by "
                        f"|{key}|), got {shares[key]!r}")
        return None
    return compare


def _moves_case(net, optimizer, settings, loss, batches, k):
    probe = (_setup(net, optimizer, settings, loss)
             .then("who_moves", ref(0), ref(3), batches, ref(2), k))
    probe = _weights(probe, net)
    probe.text = (f"who_moves(model, loss_fn, batches, optimizer, k={k}), "
                  f"{len(batches)} batches with "
                  f"{_shown(optimizer, settings)}")
    return probe, _moved_like(net, optimizer, settings, loss, batches, k)


@task("test_who_moves", points=2)
def who_moves(rng):
    cases = [("SGD", {"lr": float(rng.uniform(0.01, 0.5))}, nn.Tanh, 0, 3),
             ("SGD", {"lr": float(rng.uniform(0.01, 0.1)), "momentum": 0.9},
              nn.ReLU, 2, 5),
             ("Adam", {"lr": float(rng.uniform(0.001, 0.05))}, nn.ReLU, 1, 5),
             ("AdamW", {"lr": float(rng.uniform(0.01, 0.05)),
                        "weight_decay": float(rng.uniform(0.5, 2))},
              nn.Tanh, 0, 4)]
    for optimizer, settings, activation, dead, steps in cases:
        loss = "CrossEntropyLoss" if optimizer == "Adam" else "MSELoss"
        net = _net(rng, (5, 8, 3), activation, dead=dead)
        batches = [_batch(rng, int(rng.integers(1, 12)), 5, 3, loss)
                   for _ in range(steps)]
        k = int(rng.integers(5, 30))
        yield _moves_case(net, optimizer, settings, loss, batches, k)


# -- task 4: the loss-scale test ----------------------------------------------

def _unchanged(net, start: int):
    """The model's weights, read back from ``start`` on, are as sent."""
    sent = [p.detach().numpy() for p in net.parameters()]
    same = close(sent, rtol=0, atol=0)

    def compare(values):
        return same([values[start:]]) and (
            "the model passed in must stay as it is: take the steps on "
            "copies (copy.deepcopy(model))")
    return compare


def _step_total(net, optimizer, settings, loss, X, y, scale):
    model = copy.deepcopy(net)
    opt = OPTIMIZERS[optimizer](model.parameters(), **settings)
    loss_fn = LOSSES[loss]()
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    (scale * loss_fn(model(X), y)).backward()
    opt.step()
    return sum(float((p.detach() - b).abs().sum())
               for p, b in zip(model.parameters(), before, strict=True))


def _a_ratio(want: float, at: int, unchanged, what: str, meaning: str):
    """Compare the number at ``values[at]`` with ``want`` (``what`` it is,
    and its ``meaning`` for the feedback); then the model is unchanged."""
    def compare(values):
        got = values[at]
        reason = _not_a_number(got, what)
        if reason:
            return reason
        if close(want, rtol=1e-6, atol=1e-12)([got]):
            return f"expected {want:.6g}: {meaning}; got {float(got):.6g}"
        return unchanged(values)
    return compare


def _ratio(net, optimizer, settings, loss, X, y, c):
    want = (_step_total(net, optimizer, settings, loss, X, y, c)
            / _step_total(net, optimizer, settings, loss, X, y, 1.0))
    return _a_ratio(want, 3, _unchanged(net, 4), "the ratio",
                    f"the total size of the step with the loss times "
                    f"c={c:g}, divided by that with the loss as it is, each "
                    f"one step of a fresh optimizer from the same weights")


def _scale_case(net, optimizer, settings, loss, X, y, c):
    probe = (Probe().put(net).hold(f"torch.optim.{optimizer}")
             .keep(f"torch.nn.{loss}")
             .then("loss_scale_ratio", ref(0), ref(2), X, y, ref(1),
                   settings, c))
    probe = _weights(probe, net)
    probe.text = (f"loss_scale_ratio(model, loss_fn, X, y, "
                  f"torch.optim.{optimizer}, {settings!r}, c={c:g})")
    return probe, _ratio(net, optimizer, settings, loss, X, y, c)


@task("test_loss_scale", points=2)
def loss_scale(rng):
    # the notebook's own cases
    net, X = _notebook_net(), NOTEBOOK_X
    y = torch.tensor([[1.0], [0.0], [-1.0]], dtype=torch.float64)
    for optimizer, settings in [("SGD", {"lr": 0.1}), ("Adam", {"lr": 0.01})]:
        yield _scale_case(net, optimizer, settings, "MSELoss", X, y, 1000.0)

    cases = [("SGD", {"lr": float(rng.uniform(0.01, 0.5))},
              float(rng.uniform(2, 100))),
             ("SGD", {"lr": float(rng.uniform(0.01, 0.1)), "momentum": 0.9,
                      "weight_decay": float(rng.uniform(0.5, 2))},
              float(rng.uniform(2, 10))),
             ("Adam", {"lr": float(rng.uniform(0.001, 0.05))},
              float(rng.uniform(10, 1000))),
             # a loss so small that eps weighs against sqrt(v_hat)
             ("Adam", {"lr": 0.01, "eps": 1e-3}, float(rng.uniform(1e-3,
                                                                   1e-2))),
             ("AdamW", {"lr": float(rng.uniform(0.01, 0.1)),
                        "weight_decay": float(rng.uniform(0.5, 2))},
              float(rng.uniform(2, 100))),
             ("SGD", {"lr": 0.1}, 1.0)]
    for optimizer, settings, c in cases:
        loss = "CrossEntropyLoss" if rng.random() < 0.5 else "MSELoss"
        net = _net(rng, (4, 6, 3), nn.Tanh)
        X, y = _batch(rng, int(rng.integers(1, 10)), 4, 3, loss)
        yield _scale_case(net, optimizer, settings, loss, X, y, c)


# -- task 5: a large weight downstream ----------------------------------------

def _first_grad_norm(net, loss, X, y, k) -> float:
    model = copy.deepcopy(net)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        linears[-1].weight *= k
    LOSSES[loss]()(model(X), y).backward()
    return float(linears[0].weight.grad.norm())


def _gain(net, loss, X, y, k):
    want = _first_grad_norm(net, loss, X, y, k) / _first_grad_norm(
        net, loss, X, y, 1.0)
    return _a_ratio(want, 2, _unchanged(net, 3), "the ratio of the norms",
                    f"the norm of the gradient of the first Linear layer's "
                    f"weight when the weight (not the bias) of the last "
                    f"Linear layer is multiplied by k={k:g}, divided by "
                    f"that norm for the model as it is")


def _gain_case(net, loss, X, y, k):
    probe = (Probe().put(net).keep(f"torch.nn.{loss}")
             .then("gradient_gain", ref(0), ref(1), X, y, k))
    probe = _weights(probe, net)
    layers = sum(isinstance(m, nn.Linear) for m in net)
    probe.text = (f"gradient_gain(model, loss_fn, X, y, k={k:g}) with "
                  f"{layers} Linear layers")
    return probe, _gain(net, loss, X, y, k)


@task("test_gradient_gain", points=2)
def gradient_gain(rng):
    # the notebook's own case: no bias after the last layer and targets
    # of zero, so the error grows with k too, and the gain is k ** 2
    net, X = _notebook_net(last_bias=False), NOTEBOOK_X
    y = torch.zeros(3, 1, dtype=torch.float64)
    for k in (3.0, 1.0, 0.0):
        yield _gain_case(net, "MSELoss", X, y, k)

    cases = [((4, 6, 2), nn.Tanh, "MSELoss", 10.0, 8),
             ((5, 7, 6, 3), nn.ReLU, "CrossEntropyLoss",
              float(rng.uniform(2, 20)), int(rng.integers(2, 12))),
             ((3, 8, 2), nn.Tanh, "CrossEntropyLoss",
              float(rng.uniform(0.05, 0.5)), 1),
             ((4, 5, 5, 5, 1), nn.Tanh, "MSELoss",
              float(rng.uniform(2, 20)), int(rng.integers(2, 12))),
             ((4, 6, 2), nn.ReLU, "MSELoss", -float(rng.uniform(1, 5)), 6),
             ((3, 4, 2), nn.Tanh, "MSELoss", 1.0, 5),
             ((3, 4, 2), nn.Tanh, "CrossEntropyLoss", 0.0, 5)]
    for sizes, activation, loss, k, n in cases:
        net, X, y = _live(rng, sizes, activation, loss, n)
        yield _gain_case(net, loss, X, y, k)


def _live(rng, sizes, activation, loss, n):
    """A network and batch whose first layer gets a gradient to divide
    by: under ReLU every hidden unit can be dead for a small batch (about
    one draw in a thousand), and the gain is then 0 / 0; such a draw is
    drawn again."""
    while True:
        net = _net(rng, sizes, activation)
        X, y = _batch(rng, n, sizes[0], sizes[-1], loss)
        if _first_grad_norm(net, loss, X, y, 1.0) > 1e-6:
            return net, X, y
