"""``ziptie check NOTEBOOK``: a student's check before handing in.

Runs the notebook from top to bottom in a fresh kernel, as the grader will,
then reports every graded test cell: passed, or failed with the reason (the
last line of its error). Only the tests in the student's notebook run; the
hidden tests used in grading may still find a mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Seconds one cell may run before it counts as failed.
CELL_TIMEOUT = 120


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one graded cell."""

    grade_id: str
    points: float
    passed: bool
    reason: str = ""


def _reason(outputs: list, timeout: int) -> str | None:
    """The error of a cell's outputs as one line, or None if it passed."""
    for output in outputs:
        if output.get("output_type") == "error":
            name, value = output.get("ename", "Error"), output.get("evalue", "")
            if name == "NotImplementedError":
                return "not answered yet (the cell it tests raises " \
                       "NotImplementedError)"
            if name == "KeyboardInterrupt":
                return f"Timeout: stopped after {timeout} s"
            return f"{name}: {value}".strip().rstrip(":")
    return None


def run(path: Path, timeout: int = CELL_TIMEOUT) -> list[TaskResult]:
    """Execute the notebook at ``path``; the result of every graded cell."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, allow_errors=True,
                            kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    crash = None
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as err:
        crash = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    results = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        ran = cell.get("execution_count") is not None
        reason = _reason(cell.get("outputs", []), timeout) if ran else (
            crash or "did not run")
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
    print(f"Checking {path} (running every cell in a fresh kernel)...")
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
