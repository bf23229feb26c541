"""What a grading run writes: each submission's result, ``grades.csv``,
a feedback page per student, the printed summary (nbgrader's gradebook:
``ziptie.grader.gradebook``)."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ziptie.grader.assignment import Assignment
from ziptie.grader.submissions import Found


@dataclass
class Result:
    """The grade of one submission."""

    student: str
    assignment: str
    notebook: str
    status: str
    points: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    name: str = ""          # as the learning platform shows the student
    student_id: str = ""    # the learning platform's id of the student

    @property
    def total(self) -> float:
        return sum(self.points.values())


#: What each status means, for the student reading the feedback.
STATUS_WORDS = {
    "ok": "graded",
    "missing": "no notebook was found for you",
    "invalid-notebook": "the file is not a notebook Jupyter can open: "
    "open it in Jupyter, save it and hand it in again",
    "wrong-assignment": "the notebook is one of another assignment: "
    "hand in this assignment's notebook",
    "timeout": "a cell ran longer than the time limit and was stopped: "
    "look for a loop that never ends",
    "memory-limit": "a cell used more memory than allowed",
    "process-limit": "a cell started more processes than allowed",
    "output-limit": "a cell printed more than allowed",
    "crashed": "the notebook stopped the Python process",
    "unreadable": "the file could not be read (damaged or protected): "
    "hand it in again",
    "refused": "the file was not accepted (see the notes)",
    "grader-error": "the grader failed on your notebook: your teacher "
    "will look at it",
    "flagged": "the notebook reaches into the grader or takes a shortcut "
    "a task forbids (see the notes): your teacher will look at it",
    "not-graded": "not graded yet",
}
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*"
                   r"(?:\x07|\x1b\\)?|\x1b.")
_PATHS = [
    (re.compile(r"/\S*?/site-packages/"), ""),
    (re.compile(r"/\S*?ziptie-sandbox-[^/\s]*/run\d+/"), ""),
    (re.compile(re.escape(str(Path(__file__).resolve().parents[2])) + "/"),
     ""),
    (re.compile(r"\$\d+\."), "the object's "),
    (re.compile(r"\$\d+"), "the object"),
]


def clean(text: str) -> str:
    """``text`` safe for a terminal: no escape sequences, no control
    characters but newlines and tabs, nothing that is not UTF-8."""
    text = _ANSI.sub("", text.encode("utf-8", "replace").decode("utf-8"))
    return "".join(c for c in text if c in "\n\t" or (
        unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp")
        and not "\u202a" <= c <= "\u202e"
        and not "\u2066" <= c <= "\u2069"))


def plain(text: str) -> str:
    """``text`` for a student: clean, no grader paths, no ``$0``."""
    text = clean(text)
    for pattern, repl in _PATHS:
        text = pattern.sub(repl, text)
    return text


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", errors="replace",
              newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def feedback_page(out: Path, result: Result, assignment: Assignment) -> Path:
    """The student's page: points and reasons, notes, their output."""
    path = out / "feedback" / result.student / result.assignment / (
        Path(result.notebook).stem + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    esc = lambda text: html.escape(plain(str(text)))  # noqa: E731
    rows = []
    for gid, task in assignment.tasks.items():
        got = result.points.get(gid, 0.0)
        why = result.reasons.get(gid, "passed" if got else "")
        rows.append(f"<tr><td>{esc(gid)}</td><td>{got:g} / "
                    f"{task.points:g}</td><td>{esc(why)}</td></tr>")
    notes = "".join(f"<li>{esc(n)}</li>" for n in result.notes)
    total = sum(assignment.max_points.values())
    status = STATUS_WORDS.get(result.status, result.status)
    write_atomic(path,
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{esc(result.assignment)}: feedback</title><style>"
        "body{font-family:sans-serif;max-width:50em;margin:2em auto}"
        "td,th{padding:.3em .8em;border-bottom:1px solid #ccc;"
        "text-align:left}</style></head><body>"
        f"<h1>{esc(result.assignment)} ({esc(result.notebook)})</h1>"
        f"<p>Student: {esc(result.name or result.student)}<br>Score: "
        f"<b>{result.total:g} / {total:g}</b><br>Status: "
        f"{esc(status)}</p>"
        "<table><tr><th>task</th><th>points</th><th>why</th></tr>"
        + "".join(rows) + "</table>"
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "<h2>Output of your notebook</h2><pre>"
        + esc(result.output[:20000]) + "</pre></body></html>")
    return path


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a
    formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets a ``'`` before it."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") \
        else text


def csv_rows(rows: list[list]) -> str:
    """``rows`` as CSV text, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def csv_text(results: list[Result], assignment: Assignment) -> str:
    """``grades.csv``: one row a submission, the platform's id apart."""
    tasks = list(assignment.tasks)
    total = sum(assignment.max_points.values())
    rows: list[list] = [["student", "name", "student_id", "assignment",
                         *tasks, "total", "max", "status", "notes"]]
    for r in sorted(results, key=lambda r: r.student):
        rows.append([r.student, r.name or r.student, r.student_id,
                     r.assignment,
                     *(f"{r.points.get(t, 0):g}" for t in tasks),
                     f"{r.total:g}", f"{total:g}", r.status,
                     "; ".join(r.notes)])
    return csv_rows(rows)


def write_csv(path: Path, results: list[Result],
              assignment: Assignment) -> None:
    """Write ``grades.csv`` whole or not at all."""
    write_atomic(path, csv_text(results, assignment))


#: Files not graded that the summary lists (all are in unmatched.csv).
SHOWN = 200


def summary(results: list[Result], found: Found, assignment: Assignment,
            seconds: float, fresh: int) -> str:
    """The table printed at the end of a run, safe for a terminal."""
    total = sum(assignment.max_points.values())
    who = {r.student: clean(r.student if not r.student_id
                            else f"{r.student} ({r.name})")[:60]
           for r in results}
    width = max([len(w) for w in who.values()] + [7])
    lines = [f"{'student':<{width}}  {'points':>11}  status"]
    for r in sorted(results, key=lambda r: r.student):
        note = f"  ({clean(r.notes[0])[:200]})" if r.notes else ""
        lines.append(f"{who[r.student]:<{width}}  {r.total:>5g} / "
                     f"{total:<3g}  {r.status}{note}")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append(f"{len(results)} submission(s) of {assignment.name}: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                 + f"; {fresh} graded now, {len(results) - fresh} from an "
                 f"earlier run, in {seconds:.1f} s")
    if found.unmatched:
        lines.append(f"{len(found.unmatched)} file(s) not graded "
                     f"(unmatched.csv):")
        lines += [f"  {clean(name)}: {clean(why)}"
                  for name, why in found.unmatched[:SHOWN]]
        if len(found.unmatched) > SHOWN:
            lines.append(f"  ... and {len(found.unmatched) - SHOWN} more")
    return "\n".join(lines)
