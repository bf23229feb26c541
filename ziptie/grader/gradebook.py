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

This module sets the course up (``gradebook_setup``: the configuration,
the assignment, its cells); the parts that record each result:

- ``gradebook_record``: the student, the submission, the points, what
  waits for a person, the late penalty, nbgrader's folders;
- ``gradebook_autograded``: the autograded notebook a person grades.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from traitlets.config import Config, PyFileConfigLoader

from ziptie.grader.assignment import Assignment

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


def nbgrader_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {gid: c for c in nb.cells if (gid := grade_id(c)) is not None}


def _gradebook(url: str, config: Config):
    from nbgrader.api import Gradebook

    # nbgrader runs the ``alembic`` command: find it beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir,
                                              os.environ.get("PATH", "")])
    _stamp_schema(url)
    course_id = config.CourseDirectory.get("course_id") or "default_course"
    return Gradebook(url, course_id)


def schema_version() -> str:
    """The newest version of nbgrader's gradebook schema (its alembic
    migrations' head), read in this process."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    alembic = AlembicConfig()
    alembic.set_main_option("script_location", ALEMBIC_DIR)
    head = ScriptDirectory.from_config(alembic).get_current_head()
    assert head is not None, "nbgrader's migrations have no head"
    return head


def _stamp_schema(url: str) -> None:
    """In a new gradebook, the version of its schema, as nbgrader writes
    it: nbgrader would ask a fresh ``alembic`` process (seconds); a
    gradebook that has tables already is left alone."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as db:
            if sqlalchemy.inspect(db).get_table_names():
                return
            db.execute(sqlalchemy.text(
                "CREATE TABLE alembic_version "
                "(version_num VARCHAR(32) NOT NULL)"))
            db.execute(sqlalchemy.text(
                "INSERT INTO alembic_version VALUES (:v)"),
                {"v": schema_version()})
    finally:
        engine.dispose()


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
    cells = nbgrader_cells(book.released)
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
