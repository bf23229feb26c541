"""How an assignment's points are decided: checks the student cannot reach.

An assignment's checks file, ``grading/<assignment>.py`` in the course
(never released to students), holds one ``@task`` per graded cell. A task
draws inputs from the ``rng`` it is given (seeded at grading time), says
what to call in the student's notebook, and what must come back::

    from ziptie.grader.probe import Probe, close, task

    @task("test_double", points=1)
    def double(rng):
        x = rng.normal(size=(3, 4))
        yield Probe.call("double", x), close(2 * x)

A probe can also hand the student's function an object that lives in the
sandbox: ``Probe().put(net)`` sends a value (an ``nn.Sequential`` of
``Linear`` and activation layers, a tensor with its ``.grad``, arrays) and
keeps it as ``$0``; ``ref(0)`` (from ``ziptie.grader.wire``) passes it
on; ``.get("$0.0.weight")`` reads it back afterwards::

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

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ziptie.grader.wire import Ref, from_json, plain, to_json


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

    def look(self, target: str) -> Probe:
        """Read an attribute such as ``$0.append`` and keep it as the next
        ``$k`` only (an object to pass on, not data to send back)."""
        return self._add(target, (), {}, False, False)

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
    except OverflowError:
        return f"expected numbers a float can hold, got {_show(got)}"
    if got.shape != want.shape:
        return f"expected shape {want.shape}, got shape {got.shape}"
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=False):
        return None
    difference = np.abs(got - want)
    largest = "" if np.isnan(difference).any() else \
        f" (largest difference {np.max(difference):.3g})"
    excess = np.where(np.isnan(difference), np.inf,
                      difference - (atol + rtol * np.abs(want)))
    index = np.unravel_index(np.argmax(excess), want.shape)
    entry = _entry(float(want[index]), float(got[index])) + largest
    if want.size == 1:
        return entry if want.ndim == 0 else \
            f"expected {_show(want)}, got {_show(got)}{largest}"
    shown = f"expected {_show(want)}, got {_show(got)}: " \
        if want.size <= 6 else f"an array of shape {want.shape}: "
    return (f"{shown}{int(np.sum(excess > 0))} of {want.size} entries "
            f"differ, the furthest at {list(map(int, index))}: {entry}")


def _entry(want: float, got: float) -> str:
    """``expected W, got G`` with the digits that tell them apart."""
    import math

    digits = 4
    if math.isfinite(want) and math.isfinite(got) and want != got:
        size = max(abs(want), abs(got)) / abs(want - got)
        digits = min(17, max(4, math.ceil(math.log10(size)) + 2))
    return f"expected {want:.{digits}g}, got {got:.{digits}g}"


def changed_inputs(steps: list[dict], after) -> str | None:
    """Which data argument a call changed in place, from what the runner
    sent back (``args_after``: for each call, its arguments once it
    returned), or None when every input is as the grader sent it."""

    if not isinstance(after, dict):
        return "the inputs did not come back" if any(
            "args" in s for s in steps) else None
    for k, step in enumerate(steps):
        sent = step.get("args")
        got = after.get(str(k), [None] * len(sent or []))
        if sent is None or not isinstance(got, list) or len(got) != len(
                sent):
            continue
        for position, (before, now) in enumerate(zip(sent, got,
                                                     strict=True)):
            if now is None:
                continue
            try:
                same = _same(plain(before), from_json(now))
            except (TypeError, ValueError, OverflowError):
                same = False
            if not same:
                return (f"it changed its argument {position + 1} in place; "
                        f"leave the inputs as they are and return new "
                        f"values")
    return None


def _same(a, b) -> bool:
    import numpy as np

    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(
            a, b, strict=True))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and \
            a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return a == b
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


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


def hint(expect: Expect, text: str) -> Expect:
    """``expect``, with ``text`` after its reason when it fails: what to
    look at, in the student's words."""
    def compare(values: list) -> str | None:
        reason = expect(values)
        return reason and f"{reason}; {text}"
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
    if spec is None or spec.loader is None:
        raise SystemExit(f"ziptie: cannot load the checks in {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tasks = [v for v in vars(module).values() if isinstance(v, Task)]
    return {t.grade_id: t for t in tasks}


