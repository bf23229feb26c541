"""``ziptie check [NOTEBOOK]``: a student's check before handing in.

Runs the notebook from top to bottom in the grader's sandbox and prints
each graded task as soon as its test cell has run: passed, or what went
wrong in plain words. A syntax error is found before anything runs and
printed with its cell and line, and so is anything in the cells the
student wrote that the grader's reading (``ziptie.grader.scan``) would
flag for the teacher to review. Only the tests in the student's notebook
run; the hidden tests used in grading may still find a mistake.

Without a notebook, ``ziptie check`` checks every notebook in the student
folder ``work/`` and prints a table: done or not, points, what to fix next.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ziptie.grader.sandbox import Limits
from ziptie.release import WORK, is_litter

#: Seconds one cell may run before it counts as failed (the grader's).
CELL_TIMEOUT = Limits().cell_timeout
#: The unprivileged user id the sandbox runs as when ``check`` runs as root.
_UID = 209999


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one graded cell; ``reason`` is the error as raised."""

    grade_id: str
    points: float
    passed: bool
    reason: str = ""

    def advice(self) -> str:
        """What the result means for the student, in plain words."""
        if self.passed:
            return "passed"
        return plain(self.reason)


def plain(reason: str) -> str:
    """An error line of a test cell, said as what to do about it."""
    kind, _, message = reason.partition(": ")
    if kind == "NotImplementedError":
        return "not answered yet: fill in the cell marked YOUR CODE HERE"
    if kind == "AssertionError":
        return "wrong answer" + (f": {message}" if message else
                                 " (a test's assert failed)")
    if kind == "NameError":
        return (f"{message}: run the cells above it, or fix the one that "
                f"should define it")
    if "timeout" in reason.lower():
        return "took too long: look for a loop that never ends"
    return f"the test raised {reason}"


def _as_pass(line: str) -> str:
    return line[:len(line) - len(line.lstrip())] + "pass"


def syntax_errors(cells: list[str]) -> list[str]:
    """A line for each code cell Python cannot parse: cell, line, error."""
    found = []
    for number, text in enumerate(cells, 1):
        # IPython's %magics and !commands are not Python: each becomes a
        # `pass` at its indent, keeping the line numbers and the blocks.
        lines = [_as_pass(line) if line.lstrip().startswith(("%", "!"))
                 else line for line in text.splitlines()]
        try:
            compile("\n".join(lines), f"cell {number}", "exec")
        except SyntaxError as err:
            where = f"code cell {number}, line {err.lineno}"
            found.append(f"SyntaxError in {where}: {err.msg}\n"
                         f"    {(err.text or '').strip()}")
    return found


def flagged(code: list[dict]) -> list[str]:
    """What the grader would flag in the cells the student wrote (answers
    and added cells; the course's own cells are the course's), as
    ``code cell N, line L: what``."""
    from ziptie.grader.assignment import cell_text
    from ziptie.grader.scan import scan

    def students(cell: dict) -> bool:
        meta = cell.get("metadata", {}).get("nbgrader")
        return not meta or bool(meta.get("solution"))

    findings = scan([(i, cell_text(c["source"])) for i, c in enumerate(code)])
    return [f"code {f}" for f in findings if students(code[f.cell])]


def _graded(code: list[dict]) -> dict[int, tuple[str, float]]:
    """``{code cell index: (grade_id, points)}`` of the graded cells."""
    graded = {}
    for index, cell in enumerate(code):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            graded[index] = (meta.get("grade_id", "?"),
                             float(meta.get("points", 0)))
    return graded


def _result(graded: tuple[str, float], error: str | None) -> TaskResult:
    return TaskResult(graded[0], graded[1], error is None, error or "")


def _files(path: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in path.parent.iterdir()
             if p.is_file() and not is_litter(Path(p.name))
             and p.stat().st_size < (50 << 20)}
    files[path.name] = path.read_bytes()
    return files


def run(path: Path, timeout: float = CELL_TIMEOUT,
        on_result: Callable[[TaskResult], None] | None = None
        ) -> list[TaskResult]:
    """Execute the notebook at ``path``; the result of every graded cell.

    It runs in the same sandbox as ``ziptie grade`` (``ziptie.grader.sandbox``):
    a fresh process holding a copy of the notebook's folder, with limits
    on time, memory and processes, and no network where the machine
    allows it. ``on_result`` hears of each graded cell as it finishes.
    """
    import json

    from ziptie.grader import sandbox
    from ziptie.grader.assignment import cell_text

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    graded = _graded(code)

    def hear(event: dict) -> None:
        index = event.get("index")
        if event.get("event") == "cell_done" and index in graded and \
                on_result is not None:
            on_result(_result(graded[index], event.get("error")))

    limits = sandbox.Limits(cell_timeout=timeout)
    iso = sandbox.isolation()
    outcome = sandbox.run(
        {"cells": [cell_text(c["source"]) for c in code], "probes": []},
        _files(path), limits, uid=_UID if iso.separate_user else None,
        on_event=hear)
    crash = "; ".join(outcome.problems) or "did not run"
    return [_result(graded[i], outcome.cells.get(i, crash))
            for i in graded]


def _line(r: TaskResult, width: int) -> str:
    status = "passed" if r.passed else "FAILED"
    return (f"  {status}  {r.grade_id:<{width}}  ({r.points:g} pt)"
            + ("" if r.passed else f"  {r.advice()}"))


def _read(path: Path) -> dict:
    import json

    if not path.is_file():
        raise SystemExit(f"ziptie: no notebook at {path}")
    if path.suffix != ".ipynb":
        raise SystemExit(f"ziptie: {path} is not a notebook (.ipynb)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SystemExit(f"ziptie: {path} is not a readable notebook "
                         f"({err}); open it in Jupyter and save it "
                         f"again") from None


def report(path: Path) -> int:
    """Print a line per graded cell as it runs; 0 when all passed."""
    from ziptie.grader.assignment import cell_text

    nb = _read(path)
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for problem in syntax_errors([cell_text(c["source"]) for c in code]):
        print(problem)
    warnings = flagged(code)
    if warnings:
        print("The grader will flag this notebook for your teacher to "
              "review, and it earns no points until then:")
        for warning in warnings:
            print(f"  {warning}")
    width = max((len(g) for g, _ in _graded(code).values()), default=0)
    print(f"Checking {path} (running every cell in a fresh sandbox)...")
    printed = set()

    def show(r: TaskResult) -> None:
        printed.add(r.grade_id)
        print(_line(r, width), flush=True)

    results = run(path, on_result=show)
    if not results:
        print("This notebook has no graded test cells.")
        return 1
    for r in results:
        if r.grade_id not in printed:
            print(_line(r, width))
    passed = sum(r.points for r in results if r.passed)
    total = sum(r.points for r in results)
    print(f"{passed:g} of {total:g} points in the public tests. Hidden tests "
          f"also count in grading.")
    return 0 if passed == total and not warnings else 1


def notebooks(course: Path) -> list[Path]:
    """Every notebook in the student folder ``work/``, in order."""
    folder = course / WORK
    found = folder.glob("*/*.ipynb") if folder.is_dir() else []
    return sorted(p for p in found
                  if not is_litter(p.relative_to(folder)))


def _row(path: Path) -> tuple[str, str, str]:
    from ziptie.grader.assignment import cell_text

    try:
        nb = _read(path)
    except SystemExit as err:
        return "no", "-", str(err).removeprefix("ziptie: ")
    syntax = syntax_errors([cell_text(c["source"]) for c in nb["cells"]
                            if c.get("cell_type") == "code"])
    results = run(path)
    passed = sum(r.points for r in results if r.passed)
    total = sum(r.points for r in results)
    wrong = [r for r in results if not r.passed]
    todo = f"{wrong[0].grade_id}: {wrong[0].advice()}" if wrong else ""
    todo = syntax[0].splitlines()[0] if syntax else todo
    return ("yes" if results and not wrong else "no",
            f"{passed:g}/{total:g}", todo)


def table(course: Path) -> int:
    """Check every notebook in ``work/``: a row each, printed as it ends."""
    found = notebooks(course)
    if not found:
        print(f"No exercise in {WORK}/ yet. Start one with: "
              f"ziptie start 01_forward")
        return 1
    names = [p.relative_to(course / WORK).as_posix() for p in found]
    width = max(len(n) for n in names + ["notebook"])
    print(f"Checking the {len(found)} notebook(s) in {WORK}/, each in a "
          f"fresh sandbox...")
    print(f"{'notebook':<{width}}  done  points  to fix next")
    ok = True
    for path, name in zip(found, names, strict=True):
        done, points, todo = _row(path)
        ok &= done == "yes"
        print(f"{name:<{width}}  {done:<4}  {points:<6}  {todo}")
        sys.stdout.flush()
    return 0 if ok else 1
