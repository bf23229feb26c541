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

#: dtypes an array may come back as.
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "float16", "bfloat16", "float32", "float64"}


def to_json(value: Any) -> Any:
    """An input for the student's function as JSON (arrays tagged)."""
    import numpy as np

    if isinstance(value, np.ndarray | np.generic):
        return {"$nd": np.asarray(value).tolist(),
                "dtype": str(np.asarray(value).dtype)}
    if type(value).__module__.startswith("torch"):
        return {"$pt": value.detach().cpu().tolist(),
                "dtype": str(value.dtype).removeprefix("torch."),
                "requires_grad": bool(value.requires_grad)}
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
    import numpy as np

    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}" if value.size > 6 else \
            np.array2string(value, precision=4)
    return repr(value)[:80]


@dataclass
class Probe:
    """Calls to make in the student's notebook, one after the other."""

    steps: list[dict] = field(default_factory=list)
    text: str = ""

    def _add(self, target: str, args, kwargs, call: bool, encode: bool):
        step = {"target": target, "encode": encode}
        if call:
            step["args"] = to_json(list(args))
            step["kwargs"] = to_json(dict(kwargs))
        self.steps.append(step)
        shown = ", ".join([_show(a) for a in args]
                          + [f"{k}={_show(v)}" for k, v in kwargs.items()])
        name = target if not target.startswith("$") else \
            "result" + target.partition(".")[1] + target.partition(".")[2]
        self.text = name + (f"({shown})" if call else "")
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

    def get(self, target: str) -> Probe:
        """Read an attribute such as ``$0.count``."""
        return self._add(target, (), {}, False, True)

    def to_job(self) -> dict:
        return {"steps": self.steps}


Expect = Callable[[list], "str | None"]


def close(expected, rtol: float = 1e-5, atol: float = 1e-8) -> Expect:
    """The last value must be numbers of ``expected``'s shape, close to it."""
    import numpy as np

    want = np.asarray(expected, dtype=float)

    def compare(values: list) -> str | None:
        got = values[-1]
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
