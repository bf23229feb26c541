"""Record results in the gradebook of ``--out``, as ``nbgrader autograde``
would: the student, the submission and its time, the points, what waits
for a person, the late penalty, and nbgrader's ``submitted/`` and
``autograded/`` folders.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import nbformat
from nbformat import NotebookNode

from ziptie.grader.gradebook import Book, grade_id, nbgrader_cells
from ziptie.grader.gradebook_autograded import autograded
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission

#: Where nbgrader's plugins log: nowhere (``nbgrader export`` shows the
#: penalties; a warning per late student would bury the summary).
_QUIET = logging.getLogger("ziptie.grader.gradebook")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

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
    theirs = nbgrader_cells(nb) if nb is not None else {}
    for gid, cell in nbgrader_cells(book.released).items():
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
