"""``ziptie grade``: autograde a class, in parallel, isolated, unfoolable.

For each submission the grader

1. builds the cells to run: the student's solution cells and own cells,
   the locked cells taken from the source notebook (as nbgrader restores
   them), and none of the test cells;
2. draws the inputs of every check (``grading/<assignment>.py``) from a
   generator seeded with a secret made at grading time;
3. runs cells and calls in a sandbox of their own (``ziptie.sandbox``) and
   gets plain JSON back;
4. compares in its own process, where no student code runs, and records
   the points in nbgrader's gradebook, ``grades.csv`` and the feedback.

Each result is appended to ``results.jsonl`` as soon as it is known; a
second run over the same ``--out`` skips every submission whose file (and
checks) did not change, so an interrupted run resumes and a repeated run
gives the same grades.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import html
import json
import os
import queue
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ziptie import sandbox
from ziptie.checks import Task, from_json
from ziptie.submissions import Found, Submission, find, unzip

#: Unprivileged user ids for the sandboxes (one per worker) when root.
UID_BASE = 210000


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


@dataclass
class Assignment:
    """What the grader knows of one assignment."""

    name: str
    notebook: str
    source: dict            # the source notebook, as JSON
    tasks: dict[str, Task]
    files: dict[str, bytes]  # released files the notebook may need
    digest: str

    @property
    def max_points(self) -> dict[str, float]:
        return {gid: t.points for gid, t in self.tasks.items()}


def _grade_cells(nb: dict) -> dict[str, dict]:
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
                         f"grading/{name}.py (see ziptie.checks)")
    from ziptie.checks import load

    tasks = load(checks)
    source = json.loads(notebooks[0].read_text())
    graded = {gid: c for gid, c in _grade_cells(source).items()
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
                          graded).index(kv[0]))), files, digest)


def cells_to_run(source: dict, submitted: dict) -> tuple[list[str], list[str]]:
    """The code to run for a submission, and notes about what was changed.

    The source decides what every cell is, by its ``grade_id``: locked
    cells run as the source has them, test cells never run, solution
    cells and cells the student added run as submitted.
    """
    known = _grade_cells(source)
    cells, notes = [], []
    has_meta = False
    for cell in submitted.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        mine = known.get(gid)
        if mine is None:
            cells.append(cell_text(cell.get("source", "")))
            continue
        has_meta = True
        role = mine["metadata"]["nbgrader"]
        if role.get("grade"):
            continue  # a test cell: the checks decide instead
        if role.get("solution"):
            cells.append(cell_text(cell.get("source", "")))
        elif mine.get("cell_type") == "code":
            cells.append(cell_text(mine["source"]))
    if not has_meta:
        notes.append("no cell of the assignment found by its grade_id: ran "
                     "every code cell of the notebook")
    return cells, notes


def _seed(secret: str, *parts: str) -> int:
    text = "/".join([secret, *parts]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:16], "big")


def _status(outcome: sandbox.Outcome) -> tuple[str, list[str]]:
    details = [f"cell {i + 1}: {e}" for i, e in sorted(outcome.cells.items())
               if e]
    problems = " ".join(outcome.problems)
    errors = " ".join(e for e in outcome.cells.values() if e) + " " + " ".join(
        str(p.get("error", "")) for p in outcome.probes.values())
    if "output-limit" in problems:
        status = "output-limit"
    elif "timeout" in problems or "CellTimeout" in errors:
        status = "timeout"
    elif "MemoryError" in errors:
        status = "memory-limit"
    elif "BlockingIOError" in errors or "Resource temporarily" in errors:
        status = "process-limit"
    elif "crashed" in problems:
        status = "crashed"
    else:
        status = "ok"
    return status, details[:10]


def grade_one(sub: Submission, assignment: Assignment, secret: str,
              limits: sandbox.Limits, hide: list[str],
              uid: int | None) -> Result:
    """Grade one submission; never raises for anything the student did."""
    result = Result(sub.student, sub.assignment, sub.notebook, "ok",
                    {gid: 0.0 for gid in assignment.tasks},
                    notes=list(sub.notes))
    if sub.path is None:
        result.status = "missing"
        return result
    try:
        submitted = json.loads(sub.path.read_bytes())
        if not isinstance(submitted, dict) or not isinstance(
                submitted.get("cells"), list):
            raise ValueError("no list of cells")
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        result.status = "invalid-notebook"
        result.notes.append(f"not a notebook: {str(err)[:200]}")
        return result
    source_ids = {gid for gid, c in _grade_cells(assignment.source).items()
                  if c["metadata"]["nbgrader"].get("solution")}
    their_ids = set(_grade_cells(submitted))
    if their_ids and not source_ids & their_ids:
        result.status = "wrong-assignment"
        result.notes.append(f"none of the cells of {assignment.name} in "
                            f"{sub.path.name}")
        return result
    cells, notes = cells_to_run(assignment.source, submitted)
    result.notes += notes
    cases = []
    for gid, task in assignment.tasks.items():
        import numpy as np

        rng = np.random.default_rng(_seed(secret, sub.student,
                                          assignment.name, gid))
        for probe, expect in task.draw(rng):
            cases.append((gid, probe, expect))
    job = {"cells": cells, "probes": [p.to_job() for _, p, _ in cases]}
    outcome = sandbox.run(job, {assignment.notebook: sub.path.read_bytes(),
                                **assignment.files}, limits, hide, uid)
    result.output = outcome.output
    result.seconds = outcome.seconds
    result.status, details = _status(outcome)
    result.notes += details
    failed: dict[str, str] = {}
    for index, (gid, probe, expect) in enumerate(cases):
        if gid in failed:
            continue
        got = outcome.probes.get(index)
        reason = None
        if got is None:
            reason = f"{probe.text} did not run"
        elif "error" in got or not isinstance(got.get("values"), list):
            error = str(got.get("error", "no values came back"))[:300]
            reason = ("not answered yet (NotImplementedError)"
                      if error.startswith("NotImplementedError")
                      else f"{probe.text} raised {error}")
        else:
            try:
                reason = expect(from_json(got["values"]))
            except Exception as err:  # noqa: BLE001 - odd data came back
                reason = f"{probe.text}: unusable result ({err})"
            if reason:
                reason = f"{probe.text}: {reason}"
        if reason:
            failed[gid] = reason
    for gid, task in assignment.tasks.items():
        if gid in failed:
            result.reasons[gid] = failed[gid]
        else:
            result.points[gid] = task.points
    return result


# -- the outputs ----------------------------------------------------------

def _gradebook_setup(db: Path, assignment: Assignment) -> None:
    from nbgrader.api import Gradebook

    # nbgrader runs the ``alembic`` command: find it beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir,
                                              os.environ.get("PATH", "")])

    stem = Path(assignment.notebook).stem
    with Gradebook(f"sqlite:///{db}") as gb:
        gb.update_or_create_assignment(assignment.name)
        gb.update_or_create_notebook(stem, assignment.name)
        for gid, task in assignment.tasks.items():
            gb.update_or_create_grade_cell(gid, stem, assignment.name,
                                           max_score=task.points,
                                           cell_type="code")


def _gradebook_record(db: Path, results: list[Result]) -> None:
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's, about nbgrader
        for r in results:
            stem = Path(r.notebook).stem
            gb.update_or_create_student(r.student)
            try:
                gb.find_submission(r.assignment, r.student)
            except MissingEntry:
                gb.add_submission(r.assignment, r.student)
            for gid, pts in r.points.items():
                grade = gb.find_grade(gid, stem, r.assignment, r.student)
                grade.auto_score = pts
            gb.db.commit()


def _feedback(out: Path, result: Result, assignment: Assignment) -> Path:
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


def _write_csv(path: Path, results: list[Result],
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


def _summary(results: list[Result], found: Found, assignment: Assignment,
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


def _known_assignments(course: Path) -> list[str]:
    folder = course / "solutions"
    return sorted(p.name for p in folder.iterdir()  # not .ipynb_checkpoints
                  if p.is_dir() and not p.name.startswith(".")
                  ) if folder.is_dir() else []


def grade(course: Path, submissions: Path, assignment: str | None = None,
          workers: int | None = None, out: Path | None = None,
          limits: sandbox.Limits | None = None, progress: bool = True) -> int:
    """Grade every submission of one assignment; the exit status."""
    course = course.resolve()
    submissions = submissions.resolve()
    names = _known_assignments(course)
    if assignment is None:
        if len(names) != 1:
            raise SystemExit(f"ziptie: say which assignment with "
                             f"--assignment (one of: {', '.join(names)})")
        assignment = names[0]
    if assignment not in names:
        raise SystemExit(f"ziptie: no assignment {assignment!r} in "
                         f"solutions/; the assignments are: "
                         f"{', '.join(names) or 'none'}")
    if not submissions.exists():
        raise SystemExit(f"ziptie: no submissions at {submissions}")
    spec = load_assignment(course, assignment)
    out = (out or Path.cwd() / f"graded-{assignment}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    refused: list[tuple[str, str]] = []
    root = submissions
    if submissions.is_file():
        root, refused = unzip(submissions, out / "unzipped")
    found = find(root, assignment, [spec.notebook], names)
    found.unmatched = sorted(found.unmatched + refused)
    secret_file = out / "secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()

    state_file = out / "results.jsonl"
    done: dict[str, tuple[str, Result]] = {}
    if state_file.exists():
        for line in state_file.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                done[entry["key"]] = (entry["hash"], Result(**entry["result"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by an interruption
    db = out / "gradebook.db"
    _gradebook_setup(db, spec)

    def fingerprint(sub: Submission) -> str:
        h = hashlib.sha256(spec.digest.encode())
        if sub.path is not None:
            h.update(sub.path.read_bytes())
        h.update(json.dumps(sub.notes).encode())
        return h.hexdigest()

    results: dict[str, Result] = {}
    todo = []
    for sub in found.submissions:
        digest = fingerprint(sub)
        if sub.key in done and done[sub.key][0] == digest:
            results[sub.key] = done[sub.key][1]
        else:
            todo.append((sub, digest))
    _gradebook_record(db, list(results.values()))

    iso = sandbox.isolation()
    hide = sandbox.hidden_paths(course, out, root, submissions,
                                Path(sandbox.__file__).resolve().parents[1])
    workers = max(1, workers or os.cpu_count() or 1)
    uids: queue.Queue = queue.Queue()
    for k in range(workers):
        uids.put(UID_BASE + (os.getpid() % 1000) * 64 + k
                 if iso.separate_user else None)
    limits = limits or sandbox.Limits()

    def work(sub: Submission) -> Result:
        uid = uids.get()
        try:
            return grade_one(sub, spec, secret, limits, hide, uid)
        except Exception as err:  # noqa: BLE001 - the grader's own fault
            return Result(sub.student, sub.assignment, sub.notebook,
                          "grader-error", {g: 0.0 for g in spec.tasks},
                          notes=[f"{type(err).__name__}: {err}"])
        finally:
            uids.put(uid)

    print(f"ziptie grade: {len(found.submissions)} submission(s) of "
          f"{assignment}, {len(todo)} to grade, {workers} worker(s); "
          f"sandbox: {iso.describe()}", file=sys.stderr)
    start = time.monotonic()
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="notebook", file=sys.stderr,
                   desc="grading")
    with concurrent.futures.ThreadPoolExecutor(workers) as pool, \
            open(state_file, "a", encoding="utf-8") as state:
        if state.tell() and not state_file.read_bytes().endswith(b"\n"):
            state.write("\n")  # after a line an interruption cut short
        futures = {pool.submit(work, sub): (sub, digest)
                   for sub, digest in todo}
        for future in concurrent.futures.as_completed(futures):
            sub, digest = futures[future]
            result = future.result()
            results[sub.key] = result
            state.write(json.dumps({"key": sub.key, "hash": digest,
                                    "result": asdict(result)}) + "\n")
            state.flush()
            os.fsync(state.fileno())
            _gradebook_record(db, [result])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    ordered = [results[s.key] for s in found.submissions]
    for result in ordered:
        _feedback(out, result, spec)
    _write_csv(out / "grades.csv", ordered, spec)
    (out / "unmatched.txt").write_text(
        "".join(f"{name}\t{why}\n" for name, why in found.unmatched),
        encoding="utf-8")
    print(_summary(ordered, found, spec, time.monotonic() - start,
                   len(todo)))
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}")
    if not found.submissions:
        print("ziptie: no submissions found", file=sys.stderr)
        return 1
    return 0
