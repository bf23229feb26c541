"""The outputs of each catalogued mistake on the diagnosis cases: the
trusted half of ``ziptie.grader.diagnosis``, in a process of its own.

``python -m ziptie.grader.diagnosis_reference RESULT`` reads one job
(JSON) from stdin::

    {"grading": "/course/grading", "assignment": "02_loss",
     "cells": ["source", ...], "origins": ["course", "mse", ...],
     "stops": {"test_mse": 3, ...}, "tasks": ["test_mse", ...],
     "probes": [{"steps": [...]}, ...], "cell_timeout": 60,
     "cell_forbid": {"3": ["torch.optim.sgd.sgd", ...]}}

(``cells`` and ``origins`` as ``runnable_cells`` gives them for the
solution notebook; ``stops[gid]``: how many of them run before that test
cell; ``tasks[k]``: the task of probe ``k``; ``cell_forbid``: what a
cell may not call, as in the sandbox's job), loads the catalogue
``grading/<assignment>_wrong.py`` and writes RESULT::

    {"entries": [{"name": ..., "cell": ..., "loses": [...],
                  "problem": null or why it was left out}, ...],
     "runs": {"solution": {"0": message, ...}, "0": {...}, ...},
     "cells": {"3": "Error: ..."}}

where ``runs[str(e)]`` holds entry ``e``'s probes (``probes``; ``again``:
the same with the global random states changed first, asked only where
the probes drew from them: answers that never read those states are the
same whatever they are) and a message is what the runner reports of a
probe: ``values`` and ``args_after``, or ``error``, and ``forbidden``.

The solution runs first, whole, in an IPython shell, then every probe,
as the sandbox runs a notebook (with the runner's own functions): its
outputs, and every library's lazy imports done once. Then its cells run
again, in a fresh namespace; just before the cell an entry changes, the
process forks, and the child runs the changed cell, the cells up to the
last test cell of the tasks the entry loses, then those tasks' probes,
and exits. An entry costs its own cell and what follows it up to its
tests, not a whole notebook. The solution is trusted instructor code: it
needs no sandbox, only a process apart from the grader's.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ziptie.grader import tripwire
from ziptie.grader.runner import _error_of, _run_cell, _shell, _start_timer
from ziptie.grader.runner_probe import _run_probe

#: The run of the solution itself, among the entries' runs.
SOLUTION = "solution"


@dataclass
class Run:
    """What one child runs: cells ``start`` to ``stop - 1`` (the first
    one as ``source`` when given), then ``probes``."""

    label: str
    start: int
    stop: int
    probes: list[int]
    source: str | None = None
    cells: dict[str, str] = field(default_factory=dict)


def plan(job: dict, entries: list) -> tuple[list[dict], list[Run]]:
    """For each catalogue entry, what it is and the run that shows it
    (or why it has none)."""
    cells, origins, stops = job["cells"], job["origins"], job["stops"]
    described, runs = [], []
    for e, entry in enumerate(entries):
        tasks = [gid for gid in entry.loses if gid in stops]
        about = {"name": str(entry.name), "cell": str(entry.cell),
                 "loses": list(entry.loses), "problem": None}
        described.append(about)
        if entry.cell not in origins:
            about["problem"] = f"no solution cell {entry.cell!r}"
            continue
        start = origins.index(entry.cell)
        found = cells[start].count(entry.old)
        if found != entry.count:
            about["problem"] = (f"{entry.old!r} occurs {found} time(s) in "
                                f"{entry.cell}, not {entry.count}")
        elif not tasks:
            about["problem"] = "it loses no task that has a check"
        else:
            runs.append(Run(str(e), start, max(start + 1, *(
                stops[gid] for gid in tasks)), [
                k for k, gid in enumerate(job["tasks"]) if gid in tasks],
                cells[start].replace(entry.old, entry.new)))
    return described, runs


def answer(namespace: dict, probe: dict, forbidden, timeout: float
           ) -> dict:
    """One probe's message, as the runner sends it from the sandbox."""
    called: list[str] = []
    after: dict = {}
    _start_timer(timeout)
    try:
        message: dict = {"values": _run_probe(namespace, probe, forbidden,
                                              called, after),
                         "args_after": after}
    except BaseException as err:  # noqa: BLE001 - what the probe raised
        message = {"error": _error_of(err)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if called:
        message["forbidden"] = [str(name) for name in called]
    try:
        json.dumps(message, allow_nan=True)
    except (TypeError, ValueError) as err:
        message = {"error": _error_of(err)}
    return message


def _cell(shell, job: dict, index: int, source: str) -> str | None:
    """Run one cell as the runner does: what its tasks forbid raises."""
    names = job.get("cell_forbid", {}).get(str(index))
    if names:
        sys.setprofile(tripwire.profiler(tripwire.Forbidden(names), []))
    try:
        return _run_cell(shell, source, job.get("cell_timeout", 60))
    except BaseException as err:  # noqa: BLE001 - as the runner reports it
        return _error_of(err)
    finally:
        sys.setprofile(None)


def _reseed() -> None:
    """Global random states unlike those of any run of a notebook."""
    import random

    random.seed(20_250_707)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(20_250_707)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(20_250_707)


def _answers(shell, job: dict, run: Run, forbidden: dict) -> dict:
    return {str(k): answer(shell.user_ns, job["probes"][k],
                           forbidden.get(k), job.get("cell_timeout", 60))
            for k in run.probes}


def _random_states() -> list[bytes]:
    """The global random states a probe could draw from (Python's,
    NumPy's, torch's), as bytes."""
    import random

    states = [pickle.dumps(random.getstate())]
    if "numpy" in sys.modules:
        states.append(pickle.dumps(sys.modules["numpy"].random.get_state()))
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        states.append(torch.get_rng_state().numpy().tobytes())
        if torch.cuda.is_initialized():
            states += [s.numpy().tobytes()
                       for s in torch.cuda.get_rng_state_all()]
    return states


def _child(shell, job: dict, run: Run, forbidden: dict) -> dict:
    """Run ``run``'s cells, then its probes: as they come, and where they
    drew from the global random states, again with those states changed
    (``again``), since in the sandbox the diagnosis probes meet whatever
    state the notebook left."""
    for index in range(run.start, run.stop):
        source = run.source if index == run.start and run.source \
            is not None else job["cells"][index]
        error = _cell(shell, job, index, source)
        if error:
            run.cells[str(index)] = error

    def reseeded() -> dict:
        _reseed()
        return _answers(shell, job, run, forbidden)

    again = _Fork(reseeded)          # the state before the probes, kept
    before = _random_states()
    probes = _answers(shell, job, run, forbidden)
    if _random_states() == before:   # answers that never read them
        again.cancel()
        return {"cells": run.cells, "probes": probes, "again": probes}
    return {"cells": run.cells, "probes": probes, "again": again.result()}


class _Fork:
    """``work`` run in a forked child, on a copy of this process's state
    as it is when the fork is made, once :meth:`result` asks for it (the
    child waits until then; :meth:`cancel` ends it unrun)."""

    def __init__(self, work: Callable[[], Any]):
        sys.stdout.flush()
        sys.stderr.flush()
        go, self._go = os.pipe()
        self._out, out = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self._go)
            os.close(self._out)
            status = 1
            try:
                if os.read(go, 1) == b"1":
                    self._send(work, out)
                status = 0
            finally:
                os._exit(status)
        os.close(go)
        os.close(out)

    @staticmethod
    def _send(work: Callable[[], Any], out: int) -> None:
        if "torch" in sys.modules:  # one thread: a forked pool can hang
            sys.modules["torch"].set_num_threads(1)
        data = json.dumps(work(), allow_nan=True).encode()
        with os.fdopen(out, "wb") as pipe:
            pipe.write(data)

    def _end(self, go: bytes) -> bytes:
        with os.fdopen(self._go, "wb") as pipe:
            pipe.write(go)
        with os.fdopen(self._out, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        return data if not status else b""

    def result(self) -> Any:
        """What ``work`` returns (JSON); None if the child failed."""
        data = self._end(b"1")
        return json.loads(data) if data else None

    def cancel(self) -> None:
        """End the child without running ``work``."""
        self._end(b"0")


def _fork(work: Callable[[], Any]) -> Any:
    """What ``work`` returns (JSON), run in a forked child, on a copy of
    this process's state; None if the child failed."""
    return _Fork(work).result()


def main() -> int:
    job = json.loads(sys.stdin.read())
    sys.path.insert(0, job["grading"])
    try:
        import catalogue  # grading/catalogue.py of the course

        entries = catalogue.load(job["assignment"])
    finally:
        sys.path.remove(job["grading"])
    described, runs = plan(job, entries)
    sys.path.insert(0, os.getcwd())
    shell = _shell(os.getcwd())
    forbidden = {k: tripwire.Forbidden(p["forbid"])
                 for k, p in enumerate(job["probes"]) if p.get("forbid")}
    cells = job["cells"]
    whole = Run(SOLUTION, 0, len(cells), list(range(len(job["probes"]))))
    results = {SOLUTION: _child(shell, job, whole, forbidden)}
    shell.reset(new_session=False)
    if "torch" in sys.modules:      # as in a fresh process
        torch = sys.modules["torch"]
        torch.manual_seed(torch.initial_seed())
    by_start: dict[int, list[Run]] = {}
    for run in runs:
        by_start.setdefault(run.start, []).append(run)
    for index in range(len(cells)):
        for run in by_start.get(index, []):
            results[run.label] = _fork(functools.partial(
                _child, shell, job, run, forbidden)) or {
                "cells": {}, "probes": {}, "failed": "the run failed"}
        _cell(shell, job, index, cells[index])
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump({"entries": described, "runs": results,
                   "cells": results[SOLUTION]["cells"]},
                  f, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
