"""One submission's verdict: read its notebook, draw the inputs of every
check, read the student's cells for tampering and forbidden shortcuts, run
the cells and the probes in the sandbox, and decide each task's points in
this process, from the plain data that came back.

The inputs come from a key the sandbox never sees and the submitted file's
bytes (``_draw``); what the reading (``ziptie.grader.scan``) or the
notebook's tripwires (``ziptie.grader.tripwire``) caught takes the points:
tampering every point, a task's forbidden shortcut that task's.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING

from ziptie.grader import sandbox, scan
from ziptie.grader.assignment import (
    COURSE,
    Assignment,
    grade_cells,
    runnable_cells,
)
from ziptie.grader.probe import changed_inputs
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission
from ziptie.grader.wire import from_json

if TYPE_CHECKING:
    from ziptie.grader.diagnosis import Diagnosis


def _seed(secret: str, *parts: str) -> int:
    text = "/".join([secret, *parts]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:16], "big")


def _status(outcome: sandbox.Outcome) -> tuple[str, list[str]]:
    details = [f"cell {i + 1}: {e}" for i, e in sorted(outcome.cells.items())
               if e]
    problems = " ".join(outcome.problems)
    errors = " ".join(e for e in outcome.cells.values() if e) + " " + " ".join(
        str(p.get("error", "")) for p in outcome.probes.values())
    if "output-limit" in problems:
        status = "output-limit"
    elif "timeout" in problems or "cpu-limit" in problems or \
            "CellTimeout" in errors:
        status = "timeout"
    elif "memory-limit" in problems or "MemoryError" in errors:
        status = "memory-limit"
    elif "process-limit" in problems or "BlockingIOError" in errors or \
            "Resource temporarily" in errors:
        status = "process-limit"
    elif "crashed" in problems:
        status = "crashed"
    else:
        status = "ok"
    return status, details[:10]


def _read_notebook(sub: Submission, assignment: Assignment,
                   result: Result) -> dict | None:
    """The submitted notebook, or None with the result's status set."""
    if sub.path is None:
        result.status = "missing"
        return None
    try:
        submitted = json.loads(sub.path.read_bytes())
        if not isinstance(submitted, dict) or not isinstance(
                submitted.get("cells"), list):
            raise ValueError("no list of cells")
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        result.status = "invalid-notebook"
        result.notes.append(f"not a notebook: {str(err)[:200]}")
        return None
    source_ids = {gid for gid, c in grade_cells(assignment.source).items()
                  if c["metadata"]["nbgrader"].get("solution")}
    their_ids = set(grade_cells(submitted))
    if their_ids and not source_ids & their_ids:
        result.status = "wrong-assignment"
        result.notes.append(f"none of the cells of {assignment.name} in "
                            f"{sub.path.name}")
        return None
    return submitted


#: A check may seed torch's global generator while it draws (09's expected
#: dropout masks): the grading threads draw one at a time, so that no
#: other thread's draw takes numbers between the seed and its use.
_DRAWING = threading.Lock()


def _draw(assignment: Assignment, secret: str, sub: Submission) -> list:
    """Every check's cases, drawn from the key and the submission itself:
    the same file meets the same inputs on every run, a changed one new
    inputs, so that no answer can be looked up from an earlier run."""
    import numpy as np

    assert sub.path is not None         # a missing notebook has no inputs
    content = hashlib.sha256(sub.path.read_bytes()).hexdigest()
    cases = []
    with _DRAWING:
        for gid, task in assignment.tasks.items():
            rng = np.random.default_rng(_seed(secret, content, sub.student,
                                              assignment.name, gid))
            cases += [(gid, probe, expect)
                      for probe, expect in task.draw(rng)]
    return cases


def _review(cells: list[tuple[str, str]], cases: list,
            assignment: Assignment) -> tuple[list[str], dict[str, str]]:
    """What the student's cells hold that the grader refuses, read before
    they run: tampering (costs every point), and per task, a function the
    task forbids written in its own solution cell (costs that task)."""
    forbidden = sorted({(name, gid) for gid, probe, _ in cases
                        for name in probe.forbidden})
    findings = scan.scan([(i, text) for i, (text, _) in enumerate(cells)],
                         forbidden)
    tampering = [str(f) for f in findings
                 if f.task is None and cells[f.cell][1] != COURSE]
    shortcuts: dict[str, str] = {}
    for f in findings:
        if f.task and cells[f.cell][1] in assignment.solutions.get(f.task,
                                                                   []):
            shortcuts.setdefault(f.task, str(f))
    return tampering, shortcuts


def _cell_forbid(cells: list[tuple[str, str]], cases: list,
                 assignment: Assignment) -> dict[str, list[str]]:
    """For each solution cell, what its tasks forbid: a task's shortcut
    taken while the cell runs (training a model, say) counts too."""
    names: dict[str, set[str]] = {}
    for gid, probe, _ in cases:
        for solution in assignment.solutions.get(gid, []):
            names.setdefault(solution, set()).update(probe.forbidden)
    return {str(k): sorted(names[origin]) for k, (_, origin)
            in enumerate(cells) if names.get(origin)}


def _cell_shortcuts(outcome: sandbox.Outcome, cells: list[tuple[str, str]],
                    assignment: Assignment) -> dict[str, str]:
    """The tasks whose solution cell called a function they forbid."""
    failed: dict[str, str] = {}
    for index, called in outcome.called.items():
        for gid, solutions in assignment.solutions.items():
            if cells[index][1] in solutions:
                failed.setdefault(gid, f"cell {index + 1} called "
                                       f"{', '.join(called)}, which this "
                                       f"task forbids")
    return failed


def _none_hint(error: str) -> str:
    """What an error about None most often means in a student's code: a
    function or method that ends without ``return``, whose result the
    grader (or the student's own code) then uses."""
    if "'NoneType'" not in error:
        return ""
    return ("; a value was None where one was needed (a function or "
            "method that ends without return gives None; a layer's eval() "
            "and train() return self)")


def reason(probe, expect, got: dict | None) -> str | None:
    """Why one case failed, or None: decided here, from plain data
    (``got``: what the runner reported of the probe)."""
    if got is None:
        return f"{probe.text} did not run"
    if got.get("forbidden"):
        names = ", ".join(str(n) for n in got["forbidden"][:3])
        return f"{probe.text} called {names}, which this task forbids"
    if "error" in got or not isinstance(got.get("values"), list):
        error = str(got.get("error", "no values came back"))[:300]
        return ("not answered yet (NotImplementedError)"
                if error.startswith("NotImplementedError")
                else f"{probe.text} raised {error}{_none_hint(error)}")
    try:
        reason = changed_inputs(probe.steps, got.get("args_after")) or \
            expect(from_json(got["values"]))
    except Exception as err:  # noqa: BLE001 - odd data came back
        reason = f"unusable result ({err})"
    return reason and f"{probe.text}: {reason}"


def grade_one(sub: Submission, assignment: Assignment, secret: str,
              limits: sandbox.Limits, hide: list[str],
              uid: int | None, on_event=None,
              diagnosis: Diagnosis | None = None) -> Result:
    """Grade one submission; never raises for anything the student did.
    With a ``diagnosis``, a failed task's reason names the known mistakes
    it looks like (``ziptie.grader.diagnosis``)."""
    result = Result(sub.student, sub.assignment, sub.notebook, "ok",
                    {gid: 0.0 for gid in assignment.tasks},
                    notes=list(sub.notes))
    submitted = _read_notebook(sub, assignment, result)
    if submitted is None or sub.path is None:
        return result
    cells, notes = runnable_cells(assignment.source, submitted)
    cells = [(text if origin == COURSE else scan.without_installs(text),
              origin) for text, origin in cells]
    result.notes += notes
    cases = _draw(assignment, secret, sub)
    tampering, failed = _review(cells, cases, assignment)
    graded = [p.to_job() for _, p, _ in cases]
    extra, where = diagnosis.probes(graded) if diagnosis else ([], [])
    job = {"cells": [text for text, _ in cells],
           "cell_forbid": _cell_forbid(cells, cases, assignment),
           "probes": graded + extra}
    outcome = sandbox.run(job, {assignment.notebook: sub.path.read_bytes(),
                                **assignment.files}, limits, hide, uid,
                          on_event)
    if diagnosis is not None:
        outcome, seen = diagnosis.split(outcome, len(cases), where)
    failed.update(_cell_shortcuts(outcome, cells, assignment))
    result.output = outcome.output
    result.seconds = outcome.seconds
    result.status, details = _status(outcome)
    result.notes += details
    for index, (gid, probe, expect) in enumerate(cases):
        if gid not in failed:
            why = reason(probe, expect, outcome.probes.get(index))
            if why:
                failed[gid] = why
    flags = tampering + outcome.flags
    for gid, task in assignment.tasks.items():
        if flags:
            result.reasons[gid] = "not graded: the notebook was flagged"
        elif gid in failed:
            result.reasons[gid] = failed[gid]
        else:
            result.points[gid] = task.points
    if diagnosis is not None and not flags:
        result.reasons.update(diagnosis.explain(failed, seen))
    if flags or any("forbids" in r for r in result.reasons.values()):
        result.status = "flagged"
        result.notes = [f"flagged for review: {f}" for f in flags[:10]] + \
            result.notes
    return result
