"""What runs inside the sandbox: a student's cells, then the grader's probes.

``python -m ziptie.runner`` reads one job (JSON) from stdin::

    {"cells": ["source", ...], "skip_cells": [3], "cell_timeout": 60,
     "probes": [{"steps": [...]}, ...], "skip_probes": [], "tests": [...]}

and reports on file descriptor 3, one JSON object per line, as it goes::

    {"event": "cell", "index": 0}                   a cell starts
    {"event": "cell_done", "index": 0, "error": null | "Name: message"}
    {"event": "probe", "index": 0, "values": [...]} or "error": "..."
    {"event": "done"}

Everything here runs with the student's code in the same process, so
nothing in this file is trusted: the grader validates what it receives,
and a result only ever counts if it equals what the grader computed itself
on inputs drawn after the student handed in. Values cross as plain JSON
(numbers, strings, lists; arrays as ``{"$nd": nested lists, "dtype": ...}``),
never as pickles.

A probe is a list of steps; each step calls or reads one name::

    {"target": "Counter", "args": [3], "kwargs": {}, "encode": false}
    {"target": "$0.add", "args": [2]}       method of step 0's result
    {"target": "$0.count"}                  attribute (no "args": no call)
"""

from __future__ import annotations

import json
import os
import signal
import sys

#: The process that reports; a forked child of the student's code never does.
_ROOT_PID = os.getpid()
_OUT = None


class CellTimeout(Exception):
    """Raised inside a cell that ran past the time limit of one cell."""


def _emit(**message) -> None:
    if os.getpid() != _ROOT_PID or _OUT is None:
        return
    _OUT.write(json.dumps(message, allow_nan=True) + "\n")
    _OUT.flush()


def _error_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().rstrip(":")
    return text.splitlines()[0][:500] if text else type(err).__name__


# -- values across the boundary ---------------------------------------------

def decode(value):
    """A grader's JSON value as the student's function receives it."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$nd" in value:
            import numpy as np

            return np.array(value["$nd"], dtype=value["dtype"])
        if "$pt" in value:
            import torch

            return torch.tensor(value["$pt"], dtype=getattr(
                torch, value["dtype"]),
                requires_grad=bool(value.get("requires_grad")))
        if "$tuple" in value:
            return tuple(decode(v) for v in value["$tuple"])
        return {k: decode(v) for k, v in value.items()}
    return value


def encode(value, depth: int = 0):
    """A returned value as plain JSON; anything else is refused."""
    if depth > 20:
        raise TypeError("the value is nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind in (list, tuple):
        return [encode(v, depth + 1) for v in value]
    if kind is dict:
        return {str(k): encode(v, depth + 1) for k, v in value.items()}
    module = kind.__module__ or ""
    if module == "numpy" or module.startswith("numpy."):
        import numpy as np

        if kind is np.ndarray or isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"an array of {array.dtype} is not numbers")
            return {"$nd": array.tolist(), "dtype": str(array.dtype)}
    if module.startswith("torch"):
        import torch

        if kind in (torch.Tensor, torch.nn.Parameter):
            array = value.detach().cpu()
            return {"$pt": array.tolist(),
                    "dtype": str(array.dtype).removeprefix("torch.")}
    raise TypeError(f"returned a {kind.__name__}, which is not plain data "
                    f"(a number, an array, a tensor, a list)")


def _run_probe(namespace: dict, probe: dict) -> list:
    kept: list = []
    values: list = []
    for step in probe["steps"]:
        target = step["target"]
        if target.startswith("$"):
            index, _, attr = target[1:].partition(".")
            obj = kept[int(index)]
            if attr:
                obj = getattr(obj, attr)
        else:
            if target not in namespace:
                raise NameError(f"name {target!r} is not defined")
            obj = namespace[target]
        if "args" in step:
            obj = obj(*decode(step["args"]), **decode(step.get("kwargs", {})))
        kept.append(obj)
        values.append(encode(obj) if step.get("encode", True) else None)
    return values


# -- cells ------------------------------------------------------------------

def _shell(namespace_dir: str):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    os.environ.setdefault("IPYTHONDIR", os.path.join(namespace_dir,
                                                     ".ipython"))
    return InteractiveShell.instance(config=config)


def _on_alarm(signum, frame):
    raise CellTimeout("the cell ran past the time limit of one cell")


def _run_cell(shell, source: str, timeout: float) -> str | None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = shell.run_cell(source, store_history=False, silent=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    err = result.error_before_exec or result.error_in_exec
    return None if err is None else _error_line(err)


def main() -> int:
    global _OUT
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    _OUT = os.fdopen(3, "w", encoding="utf-8")
    os.register_at_fork(after_in_child=_forget_channel)
    sys.path.insert(0, os.getcwd())
    shell = _shell(os.getcwd())
    skip = set(job.get("skip_cells", []))
    for index, source in enumerate(job["cells"]):
        if index in skip:
            continue
        _emit(event="cell", index=index)
        try:
            error = _run_cell(shell, source, job.get("cell_timeout", 60))
        except BaseException as err:  # noqa: BLE001 - a student's cell
            error = _error_line(err)
        if os.getpid() != _ROOT_PID:  # a child the student's code forked
            os._exit(0)
        _emit(event="cell_done", index=index, error=error)
    namespace = shell.user_ns
    skip = set(job.get("skip_probes", []))
    for index, probe in enumerate(job.get("probes", [])):
        if index in skip:
            continue
        _emit(event="probe_start", index=index)
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, job.get("cell_timeout", 60))
        try:
            values = _run_probe(namespace, probe)
            message = {"values": values}
        except BaseException as err:  # noqa: BLE001
            message = {"error": _error_line(err)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if os.getpid() != _ROOT_PID:
            os._exit(0)
        try:
            _emit(event="probe", index=index, **message)
        except (TypeError, ValueError) as err:
            _emit(event="probe", index=index, error=_error_line(err))
    _emit(event="done")
    sys.stdout.flush()
    os._exit(0)


def _forget_channel() -> None:
    global _OUT
    _OUT = None


if __name__ == "__main__":
    sys.exit(main())
