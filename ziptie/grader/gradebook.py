"""nbgrader's course layout in ``--out``, so that nbgrader's own tools
work on what ``ziptie grade`` writes::

    OUT/nbgrader_config.py   makes OUT a course root (loads the course's)
    OUT/gradebook.db         assignment (and due date), cells, students,
                             submissions (and their times), scores
    OUT/submitted/<student>/<assignment>/<notebook>.ipynb
                             the file as handed in (and timestamp.txt, when
                             the layout gives the time)
    OUT/autograded/<student>/<assignment>/<notebook>.ipynb
                             what a person grades (and timestamp.txt)

Then, inside OUT, ``nbgrader formgrader`` lists the submissions and shows
the manually graded cells waiting for a person, ``nbgrader
generate_feedback`` writes nbgrader's feedback into ``nbgrader_feedback/``
(ziptie's own pages stay in ``feedback/``), and ``nbgrader export`` writes
the scores and late penalties into ``nbgrader_grades.csv``.

The gradebook holds what nbgrader's ``generate_assignment`` and
``autograde`` would record, with one difference: the test cells never ran,
the checks of ``grading/<assignment>.py`` did. An autograded notebook is the
student's notebook with nbgrader's cells restored from the *released*
version (solutions and hidden tests cleared), outputs cleared, and a failed
check shown as the error of its test cell. Points come from the checks;
manually graded answers and tasks wait for a person (``needs_manual_grade``);
a late submission's penalty is computed by the course's late-submission
plugin (``AssignLatePenalties.plugin_class``, ``LateSubmissionPlugin.
penalty_method``), as ``nbgrader autograde`` does.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from traitlets.config import Config, PyFileConfigLoader

from ziptie.grader.assignment import Assignment, cell_text
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission

#: Where nbgrader's plugins log: nowhere (``nbgrader export`` shows the
#: penalties; a warning per late student would bury the summary).
_QUIET = logging.getLogger("ziptie.grader.gradebook")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

#: What ``nbgrader_config.py`` in OUT says.
CONFIG = '''"""Written by ``ziptie grade``: this folder is an nbgrader course.

Run nbgrader here: ``nbgrader formgrader``, ``nbgrader generate_feedback
{assignment}``, ``nbgrader export``. Rewritten by every grading run.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader
course = {course!r}
if os.path.isfile(os.path.join(course, "nbgrader_config.py")):
    load_subconfig(os.path.join(course, "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(
    c.CourseDirectory.root, "gradebook.db")
# The assignments are the course's own, not copies.
c.CourseDirectory.source_directory = os.path.join(course, "solutions")
c.CourseDirectory.release_directory = os.path.join(course, "exercises")
# ziptie's feedback/ and grades.csv stay: nbgrader's go beside them.
c.CourseDirectory.feedback_directory = "nbgrader_feedback"
c.ExportPlugin.to = "nbgrader_grades.csv"
'''


@dataclass
class Book:
    """Where and what to record: OUT, the assignment, its released
    notebook and the course's nbgrader configuration."""

    out: Path
    assignment: Assignment
    released: NotebookNode
    config: Config
    _open: Any = field(default=None, init=False, repr=False)

    def gradebook(self):
        """nbgrader's ``Gradebook``, opened on first use and kept open: one
        database engine a run, which compiles each query once."""
        if self._open is None:
            self._open = _gradebook(self.db_url, self.config)
        return self._open

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.out / 'gradebook.db'}"

    @property
    def notebook(self) -> str:
        return Path(self.assignment.notebook).stem


def course_config(course: Path) -> Config:
    """The course's nbgrader configuration (empty when it has none)."""
    if not (course / "nbgrader_config.py").is_file():
        return Config()
    return PyFileConfigLoader("nbgrader_config.py",
                              path=str(course)).load_config()


def released(source: dict, config: Config) -> NotebookNode:
    """The notebook students get, made by nbgrader's own preprocessors:
    solutions and hidden tests cleared, cells locked, checksums."""
    from nbgrader.preprocessors import (
        ClearHiddenTests,
        ClearMarkScheme,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb = nbformat.reads(json.dumps(source), as_version=4)
    resources: dict = {}
    for step in (LockCells, ClearSolutions, ClearHiddenTests,
                 ClearMarkScheme, ComputeChecksums):
        nb, resources = step(config=config).preprocess(nb, resources)
    return nb


def grade_id(cell) -> str | None:
    """The nbgrader ``grade_id`` of a cell, if it has one."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _nbgrader_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {gid: c for c in nb.cells if (gid := grade_id(c)) is not None}


def _gradebook(url: str, config: Config):
    from nbgrader.api import Gradebook

    # nbgrader runs the ``alembic`` command: find it beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir,
                                              os.environ.get("PATH", "")])
    course_id = config.CourseDirectory.get("course_id") or "default_course"
    return Gradebook(url, course_id)


def gradebook_setup(out: Path, course: Path, assignment: Assignment,
                    duedate: str | None = None) -> Book:
    """Make OUT an nbgrader course holding ``assignment``: its
    configuration, and in the gradebook the assignment (with ``duedate``,
    when given), its notebook and every nbgrader cell of it."""
    from nbgrader.utils import parse_utc

    try:
        due = parse_utc(duedate) if duedate else None
    except (ValueError, OverflowError) as err:
        raise SystemExit(f"ziptie: --duedate {duedate!r} is not a time "
                         f"({err}); write it as 2026-03-01 17:00:00 UTC"
                         ) from None
    config = course_config(course)
    try:
        nb = released(assignment.source, config)
    except (RuntimeError, ValueError, KeyError) as err:
        raise SystemExit(f"ziptie: nbgrader cannot release solutions/"
                         f"{assignment.name}/{assignment.notebook}: {err}"
                         ) from None
    book = Book(out, assignment, nb, config)
    (out / "nbgrader_config.py").write_text(CONFIG.format(
        course=str(course), assignment=assignment.name), encoding="utf-8")
    gb = book.gradebook()
    gb.update_or_create_assignment(
        assignment.name, **({"duedate": due} if due else {}))
    _save_cells(gb, book)
    return book


def _save_cells(gb, book: Book) -> None:
    """The notebook's cells in the gradebook, as nbgrader's ``SaveCells``
    records them; earlier submissions get rows for cells new to them."""
    from nbgrader import utils

    name, stem = book.assignment.name, book.notebook
    cells = _nbgrader_cells(book.released)
    notebook = gb.update_or_create_notebook(stem, name, kernelspec=json.dumps(
        book.released.metadata.get("kernelspec", {})))
    stale = {c.name for c in notebook.grade_cells + notebook.task_cells} - {
        gid for gid, c in cells.items() if utils.is_grade(c) or
        utils.is_task(c)}
    if stale:
        raise ValueError(f"it grades cells that {book.assignment.notebook} "
                         f"no longer has ({', '.join(sorted(stale))}): "
                         f"grade into a new --out")
    for gid, cell in cells.items():
        points = float(cell.metadata.nbgrader.get("points", 0))
        if utils.is_grade(cell):
            gb.update_or_create_grade_cell(gid, stem, name, max_score=points,
                                           cell_type=cell.cell_type)
        if utils.is_solution(cell):
            gb.update_or_create_solution_cell(gid, stem, name)
        if utils.is_task(cell):
            gb.update_or_create_task_cell(gid, stem, name, max_score=points,
                                          cell_type=cell.cell_type)
        gb.update_or_create_source_cell(
            gid, stem, name, cell_type=cell.cell_type,
            locked=utils.is_locked(cell), source=cell.source,
            checksum=cell.metadata.nbgrader.get("checksum"))
    _complete(gb, gb.find_notebook(stem, name))


def _complete(gb, notebook) -> None:
    """A grade and a comment row for every cell in every submission, as
    ``Gradebook.add_submission`` makes them."""
    from nbgrader.api import Comment, Grade

    for sub in notebook.submissions:
        graded = {g.cell_id for g in sub.grades}
        commented = {c.cell_id for c in sub.comments}
        for cell in notebook.grade_cells + notebook.task_cells:
            if cell.id not in graded:
                gb.db.add(Grade(cell_id=cell.id, notebook=sub))
        for cell in notebook.solution_cells + notebook.task_cells:
            if cell.id not in commented:
                gb.db.add(Comment(cell_id=cell.id, notebook=sub))
    gb.db.commit()


def gradebook_record(book: Book,
                     graded: list[tuple[Submission, Result]]) -> None:
    """Record each result: the student, the submission and its time, the
    points, what waits for a person, the autograded notebook, and the late
    penalty."""
    import warnings

    gb = book.gradebook()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's, about nbgrader
        for sub, result in graded:
            nb = autograded(book, sub, result)
            _record(gb, book, sub, result, nb)
            _write(book, sub, nb)
        _late_penalties(gb, book, [sub.student for sub, _ in graded])


def gradebook_status(book: Book) -> str:
    """One line for the instructor: where the nbgrader course is, how many
    submissions wait for a person, how many are late."""
    subs = book.gradebook().assignment_submissions(book.assignment.name)
    waiting = sum(1 for s in subs if s.needs_manual_grade)
    late = sum(1 for s in subs if s.total_seconds_late > 0)
    return (f"nbgrader course: {book.out} ({waiting} submission(s) wait for "
            f"a person in nbgrader formgrader; {late} late)")


def _record(gb, book: Book, sub: Submission, result: Result,
            nb: NotebookNode | None) -> None:
    from nbgrader import utils

    name, stem, student = book.assignment.name, book.notebook, sub.student
    gb.update_or_create_student(student)
    gb.update_or_create_submission(name, student, timestamp=sub.timestamp)
    theirs = _nbgrader_cells(nb) if nb is not None else {}
    for gid, cell in _nbgrader_cells(book.released).items():
        cell = theirs.get(gid, cell)
        if utils.is_grade(cell) or utils.is_task(cell):
            grade = gb.find_grade(gid, stem, name, student)
            grade.auto_score = _auto_score(cell, result, nb is None)
            if grade.manual_score is None:  # a person's grade stays theirs
                grade.needs_manual_grade = grade.auto_score is None
        if utils.is_solution(cell) or utils.is_task(cell):
            blank = nb is None or _untouched(cell)
            comment = gb.find_comment(gid, stem, name, student)
            comment.auto_comment = ("No response." if blank and not
                                    utils.is_task(cell) else None)
    gb.db.commit()


def _untouched(cell: NotebookNode) -> bool:
    from nbgrader.utils import compute_checksum

    return cell.metadata.nbgrader.get("checksum") == compute_checksum(cell)


def _auto_score(cell: NotebookNode, result: Result,
                nothing: bool) -> float | None:
    """The autograder's points for a graded or task cell; None: a person
    grades it. Nothing readable handed in: zero, as nbgrader gives a
    missing notebook."""
    from nbgrader import utils

    if nothing:
        return 0.0
    if utils.is_task(cell):
        return None
    if utils.is_solution(cell):   # an answer a person grades, unless blank
        return 0.0 if _untouched(cell) else None
    return result.points.get(grade_id(cell) or "", 0.0)


def _late_penalties(gb, book: Book, students: list[str]) -> None:
    """Each late notebook's penalty, from the course's late-submission
    plugin, as nbgrader's ``AssignLatePenalties`` assigns it."""
    from nbgrader.preprocessors import AssignLatePenalties

    assign = AssignLatePenalties(config=book.config, log=_QUIET)
    assign.init_plugin()
    name, stem = book.assignment.name, book.notebook
    for student in students:
        late = gb.find_submission(name, student).total_seconds_late
        notebook = gb.find_submission_notebook(stem, name, student)
        notebook.late_submission_penalty = None
        if late > 0:
            penalty = assign.plugin_inst.late_submission_penalty(
                student, notebook.score, late)
            if penalty is not None:
                notebook.late_submission_penalty = \
                    assign._check_late_penalty(notebook, penalty)
    gb.db.commit()


def autograded(book: Book, sub: Submission,
               result: Result) -> NotebookNode | None:
    """The notebook a person grades: the student's cells in their order,
    nbgrader's cells as released (by ``grade_id``; missing ones put back),
    outputs cleared, a failed check as its test cell's error. None when
    nothing readable was handed in."""
    submitted = _load(sub.path)
    if submitted is None:
        return None
    known = _nbgrader_cells(book.released)
    cells: list[NotebookNode] = []
    seen: set[str] = set()
    for cell in submitted["cells"]:
        gid = grade_id(cell)
        if gid in known and gid not in seen:
            seen.add(gid)
            cells.append(_restored(known[gid], cell))
        elif isinstance(cell, dict):
            cells.append(_plain(cell))
    _put_back(cells, book.released, seen)
    for cell in cells:
        gid = grade_id(cell)
        if gid in book.assignment.tasks and cell.cell_type == "code":
            cell.outputs = _check_outputs(gid, result, book.assignment)
    meta = {k: copy.deepcopy(v) for k, v in book.released.metadata.items()
            if k in ("kernelspec", "language_info")}
    return nbformat.v4.new_notebook(cells=cells, metadata=meta)


def _load(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    ok = isinstance(nb, dict) and isinstance(nb.get("cells"), list)
    return nb if ok else None


def _restored(mine: NotebookNode, theirs: dict) -> NotebookNode:
    """An nbgrader cell as released; an answer keeps the student's text."""
    cell = copy.deepcopy(mine)
    if mine.metadata.nbgrader.get("solution"):
        cell.source = cell_text(theirs.get("source", ""))
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _plain(cell: dict) -> NotebookNode:
    """A cell of the student's own: its text only, no nbgrader role."""
    text = cell_text(cell.get("source", ""))
    kind = cell.get("cell_type")
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(text)
    if kind == "raw":
        return nbformat.v4.new_raw_cell(text)
    return nbformat.v4.new_code_cell(text)


def _put_back(cells: list[NotebookNode], released: NotebookNode,
              seen: set[str]) -> None:
    """Each nbgrader cell the student deleted, back after the one before
    it in the released notebook."""
    at = 0
    for cell in released.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            at = 1 + next(i for i, c in enumerate(cells)
                          if grade_id(c) == gid)
        else:
            cells.insert(at, copy.deepcopy(cell))
            at += 1


def _check_outputs(gid: str, result: Result,
                   assignment: Assignment) -> list[NotebookNode]:
    """Nothing when the check passed (nbgrader: full points), else the
    reason as an error (nbgrader: no points)."""
    if result.points.get(gid, 0.0) >= assignment.tasks[gid].points:
        return []
    why = result.reasons.get(gid) or f"no points ({result.status})"
    return [nbformat.v4.new_output("error", ename="CheckFailed", evalue=why,
                                   traceback=[f"CheckFailed: {why}"])]


def _write(book: Book, sub: Submission, nb: NotebookNode | None) -> None:
    """nbgrader's folders for one student: ``submitted/`` (the file as
    handed in) and ``autograded/`` (``nb``, unless None), each with
    ``timestamp.txt`` when the time is known."""
    name = f"{book.notebook}.ipynb"
    handed_in = sub.path.read_bytes() if sub.path is not None else None
    graded = nbformat.writes(nb).encode() if nb is not None else None
    for step, data in [("submitted", handed_in), ("autograded", graded)]:
        folder = book.out / step / sub.student / book.assignment.name
        stamp = folder / "timestamp.txt"
        if data is None:
            (folder / name).unlink(missing_ok=True)
            stamp.unlink(missing_ok=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / (name + ".part")
        part.write_bytes(data)
        os.replace(part, folder / name)
        if sub.timestamp is None:
            stamp.unlink(missing_ok=True)
        else:
            stamp.write_text(_utc(sub.timestamp) + "\n", encoding="utf-8")


def _utc(when: datetime) -> str:
    """A time as nbgrader writes it in ``timestamp.txt``."""
    from nbgrader.utils import parse_utc

    return parse_utc(when).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
