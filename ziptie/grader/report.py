"""What a grading run writes: each submission's result, ``grades.csv``,
a feedback page per student, the printed summary (nbgrader's gradebook:
``ziptie.grader.gradebook``)."""

from __future__ import annotations

import csv
import html
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

    @property
    def total(self) -> float:
        return sum(self.points.values())


def feedback_page(out: Path, result: Result, assignment: Assignment) -> Path:
    path = out / "feedback" / result.student / result.assignment / (
        Path(result.notebook).stem + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for gid, task in assignment.tasks.items():
        got = result.points.get(gid, 0.0)
        why = result.reasons.get(gid, "passed" if got else "")
        rows.append(f"<tr><td>{html.escape(gid)}</td><td>{got:g} / "
                    f"{task.points:g}</td><td>{html.escape(why)}</td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    total = sum(assignment.max_points.values())
    path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(result.assignment)}: feedback</title><style>"
        "body{font-family:sans-serif;max-width:50em;margin:2em auto}"
        "td,th{padding:.3em .8em;border-bottom:1px solid #ccc;"
        "text-align:left}</style></head><body>"
        f"<h1>{html.escape(result.assignment)} "
        f"({html.escape(result.notebook)})</h1>"
        f"<p>Student: {html.escape(result.student)}<br>Score: "
        f"<b>{result.total:g} / {total:g}</b><br>Status: "
        f"{html.escape(result.status)}</p>"
        "<table><tr><th>task</th><th>points</th><th>why</th></tr>"
        + "".join(rows) + "</table>"
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + "<h2>Output of your notebook</h2><pre>"
        + html.escape(result.output[:20000]) + "</pre></body></html>",
        encoding="utf-8")
    return path


def write_csv(path: Path, results: list[Result],
               assignment: Assignment) -> None:
    tasks = list(assignment.tasks)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "assignment", *tasks, "total", "max",
                         "status", "notes"])
        total = sum(assignment.max_points.values())
        for r in sorted(results, key=lambda r: r.student):
            writer.writerow([r.student, r.assignment,
                             *(f"{r.points.get(t, 0):g}" for t in tasks),
                             f"{r.total:g}", f"{total:g}", r.status,
                             "; ".join(r.notes)])


def summary(results: list[Result], found: Found, assignment: Assignment,
             seconds: float, fresh: int) -> str:
    total = sum(assignment.max_points.values())
    width = max([len(r.student) for r in results] + [7])
    lines = [f"{'student':<{width}}  {'points':>11}  status"]
    for r in sorted(results, key=lambda r: r.student):
        lines.append(f"{r.student:<{width}}  {r.total:>5g} / {total:<3g}  "
                     f"{r.status}" + (f"  ({r.notes[0]})" if r.notes else ""))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append(f"{len(results)} submission(s) of {assignment.name}: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                 + f"; {fresh} graded now, {len(results) - fresh} from an "
                 f"earlier run, in {seconds:.1f} s")
    if found.unmatched:
        lines.append(f"{len(found.unmatched)} file(s) not graded:")
        lines += [f"  {name}: {why}" for name, why in found.unmatched]
    return "\n".join(lines)


