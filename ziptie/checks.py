"""How an assignment's points are decided: checks the student cannot reach.

An assignment's checks file, ``grading/<assignment>.py`` in the course
(never released to students), holds one ``@task`` per graded cell. A task
draws inputs from the ``rng`` it is given (seeded at grading time), says
what to call in the student's notebook, and what must come back::

    from ziptie.checks import Probe, close, task

    @task("test_double", points=1)
    def double(rng):
        x = rng.normal(size=(3, 4))
        yield Probe.call("double", x), close(2 * x)

A probe can also hand the student's function an object that lives in the
sandbox: ``Probe().put(net)`` sends a value (an ``nn.Sequential`` of
``Linear`` and activation layers, a tensor with its ``.grad``, arrays) and
keeps it as ``$0``; ``ref(0)`` passes it on; ``.get("$0.0.weight")`` reads
it back afterwards::

    @task("test_copy_params", points=2)
    def copy_params(rng):
        net = ...                          # built here, from rng
        probe = (Probe().put(net)
                 .then("copy_params", ref(0), params)
                 .get("$0.0.weight"))
        yield probe, close(params[0][0].T)

The grader sends the calls to the sandbox, gets plain data back, and runs
the comparison (``close``, ``equal`` or any function of the returned
values that returns ``None`` when right, else the reason) in its own
process, where the student's code never runs. A task earns its points when
every case passes, as an nbgrader test cell does.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: dtypes an array may come back as.
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "float16", "bfloat16", "float32", "float64"}


@dataclass(frozen=True)
class Ref:
    """An argument that is the object an earlier step of the probe kept."""

    index: int

    def __repr__(self) -> str:
        return f"${self.index}"


def ref(index: int) -> Ref:
    """The object step ``index`` of the probe kept, as an argument."""
    return Ref(index)


#: Layers of an ``nn.Sequential`` that can be sent to the sandbox.
_LAYERS = ("Linear", "ReLU", "Tanh", "Sigmoid")


def _module_json(module) -> dict:
    layers = []
    for layer in module:
        kind = type(layer).__name__
        if kind not in _LAYERS or type(layer).__module__.split(".")[0] \
                != "torch":
            raise TypeError(f"cannot send a {kind} layer to the sandbox")
        spec: dict[str, Any] = {"layer": kind}
        if kind == "Linear":
            spec["weight"] = to_json(layer.weight.detach())
            spec["bias"] = None if layer.bias is None else to_json(
                layer.bias.detach())
        layers.append(spec)
    return {"$nn": layers}


def to_json(value: Any) -> Any:
    """An input for the student's function as JSON (arrays tagged)."""
    import numpy as np

    if isinstance(value, Ref):
        return {"$ref": value.index}
    if isinstance(value, np.random.Generator):
        if type(value.bit_generator).__name__ != "PCG64":
            raise TypeError("only a PCG64 generator can be sent")
        return {"$rng": value.bit_generator.state}
    if isinstance(value, np.ndarray | np.generic):
        return {"$nd": np.asarray(value).tolist(),
                "dtype": str(np.asarray(value).dtype)}
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.nn.Sequential):
            return _module_json(value)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"cannot send a {type(value).__name__} to the "
                            f"sandbox")
        sent = {"$pt": value.detach().cpu().tolist(),
                "dtype": str(value.dtype).removeprefix("torch."),
                "requires_grad": bool(value.requires_grad)}
        if value.grad is not None:
            sent["grad"] = to_json(value.grad)
        return sent
    if isinstance(value, tuple):
        return {"$tuple": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot send a {type(value).__name__} to the sandbox")


def from_json(value: Any, depth: int = 0) -> Any:
    """What came back from the sandbox, as NumPy arrays and plain values.

    The data is untrusted: anything but numbers, strings, lists and
    tagged arrays of known dtypes is refused.
    """
    import numpy as np

    if depth > 40:
        raise ValueError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [from_json(v, depth + 1) for v in value]
    if type(value) is dict:
        tag = "$nd" if "$nd" in value else "$pt" if "$pt" in value else None
        if tag:
            dtype = value.get("dtype")
            if dtype not in _DTYPES:
                raise ValueError(f"an array of unknown dtype {dtype!r}")
            dtype = "float32" if dtype == "bfloat16" else dtype
            return np.array(value[tag], dtype=dtype)
        return {str(k): from_json(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"unexpected {type(value).__name__}")


def _show(value: Any) -> str:
    """A short, one-line picture of a value, for the feedback."""
    import numpy as np

    if isinstance(value, Ref):
        return repr(value)
    if type(value).__module__.startswith("torch"):
        if not hasattr(value, "detach"):
            return f"an {type(value).__name__}"
        shown = _show(value.detach().cpu().numpy())
        return shown.replace("an array", "a tensor") if shown.startswith(
            "an ") else f"tensor({shown})"
    if isinstance(value, np.ndarray):
        if value.size > 6:
            return f"an array of shape {value.shape}"
        return " ".join(np.array2string(value, precision=4).split())
    if isinstance(value, list | tuple):
        inner = ", ".join(_show(v) for v in value[:4])
        inner += ", ..." if len(value) > 4 else ""
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)[:80]


@dataclass
class Probe:
    """Calls to make in the student's notebook, one after the other."""

    steps: list[dict] = field(default_factory=list)
    text: str = ""
    forbidden: list[str] = field(default_factory=list)

    def _add(self, target: str, args, kwargs, call: bool, encode: bool):
        step = {"target": target, "encode": encode}
        if call:
            step["args"] = to_json(list(args))
            step["kwargs"] = to_json(dict(kwargs))
        self.steps.append(step)
        shown = ", ".join([_show(a) for a in args]
                          + [f"{k}={_show(v)}" for k, v in kwargs.items()])
        if len(shown) > 100:
            shown = shown[:96] + " ..."
        # The feedback names the last call of the student's code itself.
        if not target.startswith("$") or not self.text:
            self.text = target + (f"({shown})" if call else "")
        return self

    @classmethod
    def call(cls, target: str, *args, **kwargs) -> Probe:
        """Call ``target`` (a name in the notebook); its result comes back."""
        return cls()._add(target, args, kwargs, True, True)

    @classmethod
    def make(cls, target: str, *args, **kwargs) -> Probe:
        """Call ``target`` and keep the object, e.g. an instance, as $0."""
        return cls()._add(target, args, kwargs, True, False)

    def then(self, target: str, *args, **kwargs) -> Probe:
        """Call ``$k.method`` or a name with these arguments."""
        return self._add(target, args, kwargs, True, True)

    def keep(self, target: str, *args, **kwargs) -> Probe:
        """Call ``target`` and keep the result as the next ``$k`` only."""
        return self._add(target, args, kwargs, True, False)

    def get(self, target: str) -> Probe:
        """Read an attribute such as ``$0.count``, or a path such as
        ``$0.layers.0.weight`` (numbers index lists and tuples)."""
        return self._add(target, (), {}, False, True)

    def catch(self, target: str, *args, **kwargs) -> Probe:
        """Call ``target``; what comes back is the names of the classes of
        the exception it raised (``["ValueError", "Exception", ...]``), or
        ``None`` if it returned. See ``raises``."""
        self._add(target, args, kwargs, True, False)
        self.steps[-1]["catch"] = True
        return self

    def hold(self, target: str) -> Probe:
        """Read ``target`` (``optimizer``, ``$0.weight``) and keep it as the
        next ``$k`` only, for a later ``ref``."""
        return self._add(target, (), {}, False, False)

    def set(self, target: str, value) -> Probe:
        """Assign ``value`` to an attribute, ``$0.0.grad`` or ``$1.lr``."""
        self.steps.append({"target": target, "set": to_json(value),
                           "encode": False})
        return self

    def put(self, value) -> Probe:
        """Send ``value`` and keep it in the sandbox as the next ``$k``."""
        self.steps.append({"value": to_json(value), "encode": False})
        return self

    def forbid(self, *names: str) -> Probe:
        """While this probe runs, calling these dotted names raises (as a
        notebook's test forbids ``torch.optim``, say)."""
        self.forbidden += names
        return self

    def to_job(self) -> dict:
        job: dict[str, Any] = {"steps": self.steps}
        if self.forbidden:
            job["forbid"] = list(self.forbidden)
        return job


Expect = Callable[[list], "str | None"]


def _differ(got, want, rtol: float, atol: float) -> str | None:
    import numpy as np

    if isinstance(want, list | tuple) and isinstance(got, list):
        if len(got) != len(want):
            return f"expected {len(want)} values, got {len(got)}"
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            reason = _differ(g, w, rtol, atol)
            if reason:
                return f"[{k}]" + ("" if reason.startswith("[") else ": ") \
                    + reason
        return None
    want = np.asarray(want, dtype=float)
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"expected numbers, got {_show(got)}"
    if got.shape != want.shape:
        return f"expected shape {want.shape}, got shape {got.shape}"
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=False):
        worst = float(np.max(np.abs(got - want))) if got.size else 0.0
        return f"expected {_show(want)}, got {_show(got)} (largest " \
               f"difference {worst:.3g})"
    return None


def close(expected, rtol: float = 1e-5, atol: float = 1e-8) -> Expect:
    """The last value must be numbers of ``expected``'s shape, close to it.

    When ``expected`` is a list or tuple and a list came back (a function
    that returns ``(dX, dW, db)``, say), item is compared with item.
    """
    def compare(values: list) -> str | None:
        return _differ(values[-1], expected, rtol, atol)

    return compare


def equal(expected) -> Expect:
    """The last value must equal ``expected`` (plain data, compared here)."""
    def compare(values: list) -> str | None:
        got = values[-1]
        if type(got) is not type(expected) and not (
                isinstance(got, int | float) and isinstance(expected,
                                                            int | float)):
            return f"expected {expected!r}, got {_show(got)}"
        return None if got == expected else \
            f"expected {expected!r}, got {_show(got)}"
    return compare


def raises(exception: str) -> Expect:
    """The last step (a ``Probe.catch``) must have raised ``exception``."""
    def compare(values: list) -> str | None:
        got = values[-1]
        if isinstance(got, list) and exception in got:
            return None
        return f"must raise {exception}" + (
            f", raised {got[0]}" if isinstance(got, list) and got else "")
    return compare


@dataclass(frozen=True)
class Task:
    """The check of one graded cell."""

    grade_id: str
    points: float
    draw: Callable[[Any], Iterable[tuple[Probe, Expect]]]


def task(grade_id: str, points: float) -> Callable:
    """Mark a function ``f(rng) -> [(Probe, expect), ...]`` as a check."""
    def mark(fn):
        return Task(grade_id, float(points), fn)
    return mark


def load(path: Path) -> dict[str, Task]:
    """The tasks of a checks file, by grade id (trusted instructor code)."""
    spec = importlib.util.spec_from_file_location(
        f"ziptie_checks_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tasks = [v for v in vars(module).values() if isinstance(v, Task)]
    return {t.grade_id: t for t in tasks}


# -- probes that drive an optimizer class ----------------------------------

#: What a hand-written optimizer must not hand its work to.

def random_tensor(rng: Any, shape: Any, dtype: Any = None) -> Any:
    """A tensor of standard normal entries drawn from NumPy's ``rng``
    (float64 unless ``dtype`` says otherwise), for a check's inputs."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.asarray(rng.normal(size=shape)))
    return tensor if dtype is None else tensor.to(dtype)


def random_linear(rng: Any, d_in: int, d_out: int) -> Any:
    """An ``nn.Linear(d_in, d_out)`` whose weights are drawn from ``rng``
    as PyTorch initialises them, uniform in :math:`\\pm 1/\\sqrt{d_{in}}`."""
    import numpy as np
    import torch
    from torch import nn

    layer = nn.Linear(d_in, d_out)
    bound = 1 / np.sqrt(d_in)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(
            rng.uniform(-bound, bound, size=(d_out, d_in))))
        layer.bias.copy_(torch.from_numpy(
            rng.uniform(-bound, bound, size=d_out)))
    return layer

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


# -- a trained classifier ----------------------------------------------------

@functools.cache
def _digits_test():
    """The images and labels of the digits test split (labels stay here)."""
    import ziptie

    X, y = ziptie.data.load("digits", as_tensor=True).test
    return X, y.numpy()


def classifier(optimizer: str, target: float, test=None,
               classes: int = 10) -> tuple[Probe, Expect]:
    """A notebook's ``optimizer`` is an instance of its own class
    ``optimizer`` (a subclass counts) and not of ``torch.optim.Optimizer``,
    and its ``model`` classifies the test images at ``target`` accuracy.

    Only the images go to the sandbox (``test``: ``(X, y)``, the digits
    test split by default); ``model(X)`` must give ``classes`` logits per
    image, and the accuracy is computed here, from the logits that come
    back and the labels the grader keeps::

        @task("test_digits_sgd", points=2)
        def digits_sgd(rng):
            yield classifier("SGD", 0.95)
    """
    import numpy as np

    X, y = _digits_test() if test is None else test
    y = np.asarray(y)
    probe = (Probe().hold("optimizer")
             .then(f"{optimizer}.__instancecheck__", ref(0))
             .then("torch.optim.Optimizer.__instancecheck__", ref(0))
             .then("model", X))
    probe.text = "optimizer, then model(X_test)"

    def compare(values: list) -> str | None:
        if values[1] is not True:
            return (f"train with your own {optimizer} class, and keep the "
                    f"name optimizer")
        if values[2] is not False:
            return f"{optimizer} must be written by hand, not with torch.optim"
        try:
            logits = np.asarray(values[3], dtype=float)
        except (TypeError, ValueError):
            logits = np.zeros(0)
        if logits.shape != (len(y), classes):
            return (f"model(X_test) must give logits of shape ({len(y)}, "
                    f"{classes})")
        accuracy = float(np.mean(logits.argmax(axis=1) == y))
        if accuracy < target:
            return (f"test accuracy {accuracy:.3f} is below {target}: "
                    f"train for more epochs, or try another learning rate")
        return None
    return probe, compare
