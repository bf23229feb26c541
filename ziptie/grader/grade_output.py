"""What a run of ``ziptie grade`` writes in ``--out``: the feedback pages,
``grades.csv``, ``unmatched.csv`` and ``results.jsonl`` (each whole or not
at all), and nbgrader's gradebook, whose failures are reported, not fatal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ziptie.grader.assignment import Assignment
from ziptie.grader.grade_resume import JOURNAL, _entry, _load_state
from ziptie.grader.gradebook import Book, gradebook_setup
from ziptie.grader.gradebook_record import gradebook_record
from ziptie.grader.report import (
    Result,
    csv_rows,
    csv_text,
    feedback_page,
    write_atomic,
)
from ziptie.grader.submissions import Found, Submission


class _Gradebook:
    """nbgrader's course in ``out`` (``ziptie.grader.gradebook``); a
    failure there is reported, not fatal (a bad ``--duedate`` is)."""

    def __init__(self, out: Path, course: Path, spec: Assignment,
                 duedate: str | None):
        self.book: Book | None = None
        self.error = ""
        self.subs: dict[str, Submission] = {}
        try:
            self.book = gradebook_setup(out, course, spec, duedate)
        except Exception as err:  # noqa: BLE001 - grades.csv still comes
            self.error = f"{type(err).__name__}: {err}"

    def record(self, results: list[Result]) -> None:
        if self.book is None:
            return
        for result in results:
            key = f"{result.student}/{result.assignment}/{result.notebook}"
            sub = self.subs.get(key) or Submission(
                result.student, result.assignment, result.notebook, None)
            try:
                gradebook_record(self.book, [(sub, result)])
            except Exception as err:  # noqa: BLE001 - one row, not the run
                result.notes.append(f"not in the gradebook "
                                    f"({type(err).__name__}: {err})")


def _finish(out: Path, found: Found, spec: Assignment,
            results: dict[str, Result], setup: dict[str, str],
            files: dict[str, str], book: _Gradebook) -> None:
    """Write the feedback, ``grades.csv``, ``unmatched.csv`` and
    ``results.jsonl`` (each whole or not at all); drop the journal."""
    ordered = [results[s.key] for s in found.submissions]
    for result in ordered:
        try:
            feedback_page(out, result, spec)
        except OSError as err:
            result.notes.append(f"no feedback page ({err.strerror})")
    if book.error:
        print(f"ziptie: the gradebook could not be written ({book.error}); "
              f"grades.csv has every grade", file=sys.stderr)
    write_atomic(out / "grades.csv", csv_text(ordered, spec))
    write_atomic(out / "unmatched.csv", csv_rows(
        [["file", "why it was not graded"], *map(list, found.unmatched)]))
    state = _load_state(out)   # kept: students not in this run's input
    for sub in found.submissions:
        if sub.key in files:
            state[sub.key] = json.loads(_entry(sub, files[sub.key], setup,
                                               results[sub.key]))
    lines = [json.dumps(entry) + "\n" for entry in state.values()]
    write_atomic(out / "results.jsonl", "".join(lines))
    (out / JOURNAL).unlink(missing_ok=True)
