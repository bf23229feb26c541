"""Load an assignment: its source notebook, its checks, the cells to run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ziptie.grader.probe import Task, load


@dataclass
class Assignment:
    """What the grader knows of one assignment."""

    name: str
    notebook: str
    source: dict            # the source notebook, as JSON
    tasks: dict[str, Task]
    files: dict[str, bytes]  # released files the notebook may need
    digest: str
    #: each task's solution cells: those between its test cell and the one
    #: before it, by grade_id
    solutions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def max_points(self) -> dict[str, float]:
        return {gid: t.points for gid, t in self.tasks.items()}


def grade_cells(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
            and "grade_id" in c["metadata"]["nbgrader"]}


def cell_text(source) -> str:
    """A cell's source as one string (notebooks may store a list of lines)."""
    return "".join(source) if isinstance(source, list) else str(source)


def load_assignment(course: Path, name: str) -> Assignment:
    """The source notebook and checks of ``name``; fails loudly if a graded
    cell has no check or a check names no graded cell."""
    folder = course / "solutions" / name
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise SystemExit(f"ziptie: solutions/{name} must hold one notebook, "
                         f"found {len(notebooks)}")
    checks = course / "grading" / f"{name}.py"
    if not checks.is_file():
        raise SystemExit(f"ziptie: no checks for {name}: write "
                         f"grading/{name}.py (see ziptie.grader.probe)")
    tasks = load(checks)
    source = json.loads(notebooks[0].read_text())
    graded = {gid: c for gid, c in grade_cells(source).items()
              if c["metadata"]["nbgrader"].get("grade")
              and not c["metadata"]["nbgrader"].get("solution")}
    missing = sorted(set(graded) - set(tasks))
    extra = sorted(set(tasks) - set(graded))
    if missing or extra:
        raise SystemExit(f"ziptie: grading/{name}.py does not match the "
                         f"graded cells of {notebooks[0].name}: no check for "
                         f"{missing or 'none'}; checks of no graded cell: "
                         f"{extra or 'none'}")
    for gid, cell in graded.items():
        want = float(cell["metadata"]["nbgrader"].get("points", 0))
        if tasks[gid].points != want:
            raise SystemExit(f"ziptie: {gid} is worth {want:g} points in the "
                             f"notebook but {tasks[gid].points:g} in "
                             f"grading/{name}.py")
    released = course / "exercises" / name
    files = {}
    if released.is_dir():
        files = {p.name: p.read_bytes() for p in released.iterdir()
                 if p.is_file() and p.suffix != ".ipynb"}
    digest = hashlib.sha256(notebooks[0].read_bytes() + checks.read_bytes()
                            ).hexdigest()
    return Assignment(name, notebooks[0].name, source,
                      dict(sorted(tasks.items(), key=lambda kv: list(
                          graded).index(kv[0]))), files, digest,
                      task_solutions(source))


#: Where a cell to run comes from: ``COURSE`` (a locked cell, as the
#: source has it), ``ADDED`` (a cell the student added), or the grade_id of
#: the solution cell the student filled in.
COURSE, ADDED = "course", "added"


def runnable_cells(source: dict, submitted: dict
                   ) -> tuple[list[tuple[str, str]], list[str]]:
    """The code to run for a submission, each cell with where it comes
    from, and notes about what was changed.

    The source decides what every cell is, by its ``grade_id``: locked
    cells run as the source has them, test cells never run, solution
    cells and cells the student added run as submitted.
    """
    known = grade_cells(source)
    cells: list[tuple[str, str]] = []
    notes: list[str] = []
    has_meta = False
    for cell in submitted.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        mine = known.get(gid)
        if mine is None:
            cells.append((cell_text(cell.get("source", "")), ADDED))
            continue
        has_meta = True
        role = mine["metadata"]["nbgrader"]
        if role.get("grade"):
            continue  # a test cell: the checks decide instead
        if role.get("solution"):
            cells.append((cell_text(cell.get("source", "")), str(gid)))
        elif mine.get("cell_type") == "code":
            cells.append((cell_text(mine["source"]), COURSE))
    if not has_meta:
        notes.append("no cell of the assignment found by its grade_id: ran "
                     "every code cell of the notebook")
    return cells, notes


def cells_to_run(source: dict, submitted: dict) -> tuple[list[str], list[str]]:
    """The sources of :func:`runnable_cells`, and its notes."""
    cells, notes = runnable_cells(source, submitted)
    return [text for text, _ in cells], notes


def task_solutions(source: dict) -> dict[str, list[str]]:
    """For each graded test cell, the solution cells that come after the
    test cell before it: the code the test is about."""
    owned: dict[str, list[str]] = {}
    pending: list[str] = []
    last: list[str] = []
    for cell in source.get("cells", []):
        role = cell.get("metadata", {}).get("nbgrader", {})
        if role.get("solution") and "grade_id" in role:
            pending.append(role["grade_id"])
        elif role.get("grade") and "grade_id" in role:
            last, pending = (pending, []) if pending else (last, pending)
            owned[role["grade_id"]] = last
    return owned
