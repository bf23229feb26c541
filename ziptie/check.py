"""``ziptie check NOTEBOOK``: a student's check before handing in.

Runs the notebook from top to bottom in the grader's sandbox,
then reports every graded test cell: passed, or failed with the reason (the
last line of its error). Only the tests in the student's notebook run; the
hidden tests used in grading may still find a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ziptie.grader.sandbox import Limits

#: Seconds one cell may run before it counts as failed (the grader's).
CELL_TIMEOUT = Limits().cell_timeout
#: The unprivileged user id the sandbox runs as when ``check`` runs as root.
_UID = 209999


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one graded cell."""

    grade_id: str
    points: float
    passed: bool
    reason: str = ""


def run(path: Path, timeout: float = CELL_TIMEOUT) -> list[TaskResult]:
    """Execute the notebook at ``path``; the result of every graded cell.

    It runs in the same sandbox as ``ziptie grade`` (``ziptie.grader.sandbox``):
    a fresh process holding a copy of the notebook's folder, with limits
    on time, memory and processes, and no network where the machine
    allows it.
    """
    import json

    from ziptie.grader import sandbox
    from ziptie.grader.assignment import cell_text

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    cells = [cell_text(c["source"]) for c in code]
    files = {p.name: p.read_bytes() for p in path.parent.iterdir()
             if p.is_file() and p.stat().st_size < (50 << 20)}
    files[path.name] = path.read_bytes()
    limits = sandbox.Limits(cell_timeout=timeout)
    iso = sandbox.isolation()
    outcome = sandbox.run({"cells": cells, "probes": []}, files, limits,
                          uid=_UID if iso.separate_user else None)
    crash = "; ".join(outcome.problems) or None
    results = []
    for index, cell in enumerate(code):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        if index in outcome.cells:
            error = outcome.cells[index]
            reason = None if error is None else (
                "not answered yet (the cell it tests raises "
                "NotImplementedError)" if error.startswith(
                    "NotImplementedError") else error)
        else:
            reason = crash or "did not run"
        results.append(TaskResult(meta.get("grade_id", "?"),
                                  float(meta.get("points", 0)),
                                  reason is None, reason or ""))
    return results


def report(path: Path) -> int:
    """Print a line per graded cell; exit status 0 when all passed."""
    if not path.is_file():
        raise SystemExit(f"ziptie: no notebook at {path}")
    if path.suffix != ".ipynb":
        raise SystemExit(f"ziptie: {path} is not a notebook (.ipynb)")
    print(f"Checking {path} (running every cell in a fresh sandbox)...")
    results = run(path)
    if not results:
        print("This notebook has no graded test cells.")
        return 1
    width = max(len(r.grade_id) for r in results)
    for r in results:
        status = "passed" if r.passed else "FAILED"
        line = f"  {status}  {r.grade_id:<{width}}  ({r.points:g} pt)"
        print(line + ("" if r.passed else f"  {r.reason}"))
    passed = sum(r.points for r in results if r.passed)
    total = sum(r.points for r in results)
    print(f"{passed:g} of {total:g} points in the public tests. Hidden tests "
          f"also count in grading.")
    return 0 if passed == total else 1
