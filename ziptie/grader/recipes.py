"""Checks that several assignments share: random inputs, driving an
optimizer class step by step, training a small net, counting backward
passes by micro-batch, scoring a classifier.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ziptie.grader.probe import Expect, Probe, close
from ziptie.grader.wire import ref


def random_tensor(rng: Any, shape: Any, dtype: Any = None) -> Any:
    """A tensor of standard normal entries drawn from NumPy's ``rng``
    (float64 unless ``dtype`` says otherwise), for a check's inputs."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.asarray(rng.normal(size=shape)))
    return tensor if dtype is None else tensor.to(dtype)


def random_linear(rng: Any, d_in: int, d_out: int, dtype: Any = None
                  ) -> Any:
    """An ``nn.Linear(d_in, d_out)`` (of ``dtype``, float32 unless given)
    whose weights are drawn from ``rng`` as PyTorch initialises them,
    uniform in :math:`\\pm 1/\\sqrt{d_{in}}` (and nothing drawn from
    torch's global random state, the student's under nbgrader)."""
    import numpy as np
    import torch
    from torch import nn

    layer = nn.utils.skip_init(nn.Linear, d_in, d_out, dtype=dtype)
    bound = 1 / np.sqrt(d_in)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(
            rng.uniform(-bound, bound, size=(d_out, d_in))))
        layer.bias.copy_(torch.from_numpy(
            rng.uniform(-bound, bound, size=d_out)))
    return layer


# -- probes that drive an optimizer class ----------------------------------

#: What a hand-written optimizer must not hand its work to.
TORCH_OPTIM = ("torch.optim.Optimizer.__init__",
               *(f"torch.optim.{module}.{name}"
                 for module in ("sgd", "adam", "adamw", "_functional")
                 for name in ("sgd", "adam", "adamw")))


def drive(optimizer: str, params: list, grads: list[list], *,
          lrs: list | None = None,
          copy_into: Callable[[int], bool] | None = None,
          **settings) -> Probe:
    """Make ``optimizer(iter(params), **settings)`` in the notebook and
    call its ``step()`` once per entry of ``grads``.

    ``grads[t]`` holds the ``.grad`` of each parameter before step ``t``
    (``None``: no gradient); where ``copy_into(t)`` is true a gradient is
    copied into the ``.grad`` tensor already there, as ``backward()``
    does. ``lrs[t]``, when given and not ``None``, becomes
    ``optimizer.lr`` before step ``t``. The last values that come back
    are the parameters, then each one's ``.grad``. ``torch.optim`` is
    forbidden while the probe runs.
    """
    count = len(params)
    probe = (Probe().put(params).keep("$0.__iter__")
             .keep(optimizer, ref(1), **settings))
    had = [p.grad is not None for p in params]
    for t, step in enumerate(grads):
        if lrs is not None and lrs[t] is not None:
            probe.set("$2.lr", lrs[t])
        for k, g in enumerate(step):
            if g is not None and had[k] and copy_into and copy_into(t):
                probe.keep(f"$0.{k}.grad.copy_", g)
            else:
                probe.set(f"$0.{k}.grad", g)
            had[k] = g is not None
        probe.keep("$2.step")
    probe.get("$0")
    for k in range(count):
        probe.get(f"$0.{k}.grad")
    shown = ", ".join(["params", *(f"{k}={v!r}" for k, v in
                                   settings.items())])
    probe.text = f"{optimizer}({shown}), {len(grads)} steps"
    return probe.forbid(*TORCH_OPTIM)


def then_zero_grad(probe: Probe, expect: Callable) -> tuple[Probe, Callable]:
    """Extend an optimizer probe from :func:`drive` (the optimizer kept as
    ``$2``): afterwards call its ``zero_grad()``, which must leave every
    ``.grad`` None, on top of what ``expect`` checks."""
    probe.keep("$2.zero_grad").get("$0.0.grad")

    def compare(values: list) -> str | None:
        reason = expect(values[:-2])
        if reason:
            return reason
        return None if values[-1] is None else \
            "zero_grad() must set every .grad to None"
    return probe, compare


def driven_like(reference, params: list, grads: list[list], *,
                lrs: list | None = None, rtol: float = 1e-6,
                atol: float = 1e-6, **settings) -> Expect:
    """What ``drive`` must give: the parameters after the same steps of
    ``reference`` (a ``torch.optim`` class, run here), and every ``.grad``
    as the last step left it."""
    import numpy as np

    copies = [p.detach().clone().requires_grad_() for p in params]
    optimizer = reference(copies, **settings)
    for t, step in enumerate(grads):
        if lrs is not None and lrs[t] is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[t]
        for q, g in zip(copies, step, strict=True):
            q.grad = None if g is None else g.detach().clone()
        optimizer.step()
    same = close([q.detach().cpu().numpy() for q in copies], rtol, atol)
    last = [None if g is None else g.numpy() for g in grads[-1]]
    name = f"torch.optim.{reference.__name__}"

    def compare(values: list) -> str | None:
        count = len(params)
        reason = same([values[-count - 1]])
        if reason:
            return f"the parameters differ from those of {name}: {reason}"
        for got, want in zip(values[-count:], last, strict=True):
            if (got is None) != (want is None) or (
                    want is not None and not np.array_equal(got, want)):
                return "step() must not change .grad"
        return None

    return compare


def train_with(optimizer: str, net, X, y, num_steps: int, *,
               lrs: list | None = None, **settings) -> Probe:
    """Train ``net`` (an ``nn.Sequential``) on the mean squared error of
    ``net(X) - y`` with ``optimizer(net.parameters(), **settings)`` of the
    notebook, zero_grad, backward and step, ``num_steps`` times; the
    weights and biases of its ``Linear`` layers come back, in order."""
    probe = (Probe().put(net).put(X).put(y).keep("$0.parameters")
             .keep(optimizer, ref(3), **settings))
    for t in range(num_steps):
        if lrs is not None and lrs[t] is not None:
            probe.set("$4.lr", lrs[t])
        n = len(probe.steps)
        (probe.keep("$0", ref(1)).keep(f"${n}.sub", ref(2))
         .keep(f"${n + 1}.pow", 2).keep(f"${n + 2}.mean")
         .keep("$4.zero_grad").keep(f"${n + 3}.backward").keep("$4.step"))
    for k, layer in enumerate(net):
        if hasattr(layer, "weight"):
            probe.get(f"$0.{k}.weight").get(f"$0.{k}.bias")
    shown = ", ".join(["model.parameters()", *(f"{k}={v!r}" for k, v in
                                               settings.items())])
    probe.text = f"{optimizer}({shown}), {num_steps} steps of training"
    return probe.forbid(*TORCH_OPTIM)


def trained_like(reference, net, X, y, num_steps: int, *,
                 lrs: list | None = None, rtol: float = 1e-5,
                 atol: float = 1e-6, **settings) -> Expect:
    """What ``train_with`` must give: the weights the same loop trains
    with ``reference`` (a ``torch.optim`` class), run here."""
    import copy

    model = copy.deepcopy(net)
    optimizer = reference(model.parameters(), **settings)
    for t in range(num_steps):
        if lrs is not None and lrs[t] is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[t]
        loss = (model(X) - y).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    want = [p.detach().cpu().numpy() for p in model.parameters()]
    same = close(want, rtol, atol)

    def compare(values: list) -> str | None:
        reason = same([values[-len(want):]])
        return reason and f"the trained weights differ from those of " \
                          f"torch.optim.{reference.__name__}: {reason}"

    return compare


# -- backward passes, one micro-batch each -----------------------------------

def count_backward(probe: Probe, path: str) -> int:
    """Hook the tensor at ``path`` (a weight of the model, ``"$0.0.weight"``)
    so that each backward pass through it appends its gradient to a list
    kept in the sandbox; the step that holds that list, to read it back
    with ``probe.get(f"${index}")`` once the calls are made."""
    index = len(probe.steps)
    probe.put([]).look(f"${index}.append")
    probe.keep(f"{path}.register_hook", ref(index + 1))
    return index


def one_micro_batch_each(passes: Any, ways: list[list], rtol: float = 1e-6
                         ) -> bool:
    """Whether each gradient of ``passes`` (one per backward pass, as
    :func:`count_backward` reads them) is a multiple of a different
    micro-batch's, all the micro-batches of one of the ``ways`` to cut a
    batch (each a list of the gradients of its micro-batches' losses): a
    pass may weigh its micro-batch's loss as it likes (1 / K, size / N,
    or size and the sum divided at the end), in any order, but not carry
    the whole batch, nor nothing."""
    if not isinstance(passes, list):
        return False
    for grads in ways:
        left = list(range(len(grads)))
        for got in passes:
            match = next((j for j in left
                          if _multiple(got, grads[j], rtol)), None)
            if match is None:
                break
            left.remove(match)
        if not left and len(passes) == len(grads):
            return True
    return False


def _multiple(got: Any, want: Any, rtol: float) -> bool:
    """Whether ``got`` is c * ``want`` for some c != 0 (or both are 0)."""
    import numpy as np

    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return False
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return False
    size = float(np.sum(want * want))
    if size == 0.0:
        return not np.any(got)
    c = float(np.sum(got * want)) / size
    return c != 0.0 and bool(np.linalg.norm(got - c * want)
                             <= rtol * np.linalg.norm(got))


# -- a trained classifier ----------------------------------------------------

@functools.cache
def _digits_held_back():
    """The digits ``ziptie.data.load`` never returns, which no notebook
    holds: their images go to the sandbox, their labels stay here."""
    import torch

    from ziptie.data import _digits

    X, y = _digits(held_back=True)
    return torch.tensor(X, dtype=torch.float32), y


def _mlp_logits(weights: list, X) -> Any:
    """Linear, ReLU, ..., Linear with ``weights`` (W1, b1, W2, b2, ...
    in nn.Linear's layout) on ``X``, computed here; None if they do not
    fit together."""
    import numpy as np

    H = np.asarray(X, dtype=np.float64)
    try:
        for k in range(0, len(weights), 2):
            W, b = (np.asarray(v, dtype=np.float64) for v in weights[k:k + 2])
            H = H @ W.T + b
            if k + 2 < len(weights):
                H = np.maximum(H, 0)
    except (TypeError, ValueError):
        return None
    return H


def classifier(optimizer: str, target: float, test=None, classes: int = 10,
               linear: tuple[int, ...] = (0, 2)) -> tuple[Probe, Expect]:
    """A notebook's ``optimizer`` is an instance of its own class
    ``optimizer`` (a subclass counts) and not of ``torch.optim.Optimizer``,
    and its ``model``, an ``nn.Sequential`` whose ``linear`` layers are
    separated by ReLUs, classifies images the notebook has never held (the
    digits ``ziptie.data.load`` keeps back) at ``target`` accuracy.

    One step of a fresh ``optimizer`` must not hand its work to
    ``torch.optim`` either. The weights come back and the grader runs the
    network itself, on the held-back images (``test``: ``(X, y)`` to use
    others), whose labels it keeps; ``model(X)`` must agree with it, so a
    model that is something else behind its forward (a lookup of memorised
    images, say) earns nothing::

        @task("test_digits_sgd", points=2)
        def digits_sgd(rng):
            yield classifier("SGD", 0.95)
    """
    import numpy as np
    import torch

    X, y = _digits_held_back() if test is None else test
    y = np.asarray(y)
    w = torch.zeros(3, requires_grad=True)
    w.grad = torch.ones(3)
    # $3 a parameter, $4 a fresh optimizer of the class, $5 its step: the
    # class must take its steps itself (torch.optim is forbidden below)
    probe = (Probe().hold("optimizer")
             .then(f"{optimizer}.__instancecheck__", ref(0))
             .then("torch.optim.Optimizer.__instancecheck__", ref(0))
             .put([w]).keep(optimizer, ref(3), lr=0.01).keep("$4.step"))
    for k in linear:
        probe.get(f"model.{k}.weight").get(f"model.{k}.bias")
    probe.then("model", X)
    probe.text = "optimizer, model's weights, then model(X_test)"
    probe.forbid(*TORCH_OPTIM)     # nor while the solution cell trains

    def compare(values: list) -> str | None:
        if values[1] is not True:
            return (f"train with your own {optimizer} class, and keep the "
                    f"name optimizer")
        if values[2] is not False:
            return f"{optimizer} must be written by hand, not with torch.optim"
        logits = _mlp_logits(values[6:-1], X)
        if logits is None or logits.shape != (len(y), classes):
            return (f"model must stay the network the notebook makes: "
                    f"Linear, ReLU, Linear, ending in {classes} logits")
        if close(logits, rtol=1e-3, atol=1e-3)(values[-1:]):
            return ("model(X) must be the network its weights describe "
                    "(Linear, ReLU, Linear), nothing else")
        accuracy = float(np.mean(logits.argmax(axis=1) == y))
        if accuracy < target:
            return (f"accuracy {accuracy:.3f} on the grader's held-back "
                    f"digits is below {target}: choose your settings by "
                    f"the accuracy on the validation split, and aim above "
                    f"{target}")
        return None
    return probe, compare
