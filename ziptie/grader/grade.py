"""``ziptie grade``: autograde a class, in parallel, each notebook isolated.

For each submission the grader

1. builds the cells to run: the student's solution cells and own cells,
   the locked cells taken from the source notebook (as nbgrader restores
   them), and none of the test cells;
2. draws the inputs of every check (``grading/<assignment>.py``) from a
   generator seeded with a key the sandbox never sees and the submitted
   file's content, and reads the student's cells for tampering and
   forbidden shortcuts (``ziptie.grader.scan``);
3. runs cells and calls in a sandbox of their own
   (``ziptie.grader.sandbox``) and gets plain JSON back;
4. compares in its own process, where no student code runs, takes the
   points of what the notebook's tripwires (``ziptie.grader.tripwire``)
   or the reading caught, and records the points in nbgrader's gradebook,
   ``grades.csv`` and the feedback.

Each result is appended to ``results.jsonl`` as soon as it is known; a
second run over the same ``--out`` skips every submission whose file (and
checks) did not change, so an interrupted run resumes and a repeated run
gives the same grades.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import queue
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ziptie.grader import sandbox, scan
from ziptie.grader.assignment import (
    COURSE,
    Assignment,
    grade_cells,
    load_assignment,
    runnable_cells,
)
from ziptie.grader.probe import changed_inputs
from ziptie.grader.report import (
    Result,
    feedback_page,
    gradebook_record,
    gradebook_setup,
    summary,
    write_csv,
)
from ziptie.grader.submissions import Submission, find, unzip
from ziptie.grader.wire import from_json

#: Unprivileged user ids for the sandboxes (one per worker) when root.
UID_BASE = 210000


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


def _read_notebook(sub: Submission, assignment: Assignment,
                   result: Result) -> dict | None:
    """The submitted notebook, or None with the result's status set."""
    if sub.path is None:
        result.status = "missing"
        return None
    try:
        submitted = json.loads(sub.path.read_bytes())
        if not isinstance(submitted, dict) or not isinstance(
                submitted.get("cells"), list):
            raise ValueError("no list of cells")
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        result.status = "invalid-notebook"
        result.notes.append(f"not a notebook: {str(err)[:200]}")
        return None
    source_ids = {gid for gid, c in grade_cells(assignment.source).items()
                  if c["metadata"]["nbgrader"].get("solution")}
    their_ids = set(grade_cells(submitted))
    if their_ids and not source_ids & their_ids:
        result.status = "wrong-assignment"
        result.notes.append(f"none of the cells of {assignment.name} in "
                            f"{sub.path.name}")
        return None
    return submitted


def _draw(assignment: Assignment, secret: str, sub: Submission) -> list:
    """Every check's cases, drawn from the key and the submission itself:
    the same file meets the same inputs on every run, a changed one new
    inputs, so that no answer can be looked up from an earlier run."""
    import numpy as np

    content = hashlib.sha256(sub.path.read_bytes()).hexdigest()
    cases = []
    for gid, task in assignment.tasks.items():
        rng = np.random.default_rng(_seed(secret, content, sub.student,
                                          assignment.name, gid))
        cases += [(gid, probe, expect) for probe, expect in task.draw(rng)]
    return cases


def _review(cells: list[tuple[str, str]], cases: list,
            assignment: Assignment) -> tuple[list[str], dict[str, str]]:
    """What the student's cells hold that the grader refuses, read before
    they run: tampering (costs every point), and per task, a function the
    task forbids written in its own solution cell (costs that task)."""
    forbidden = sorted({(name, gid) for gid, probe, _ in cases
                        for name in probe.forbidden})
    findings = scan.scan([(i, text) for i, (text, _) in enumerate(cells)],
                         forbidden)
    tampering = [str(f) for f in findings
                 if f.task is None and cells[f.cell][1] != COURSE]
    shortcuts: dict[str, str] = {}
    for f in findings:
        if f.task and cells[f.cell][1] in assignment.solutions.get(f.task,
                                                                   []):
            shortcuts.setdefault(f.task, str(f))
    return tampering, shortcuts


def _cell_forbid(cells: list[tuple[str, str]], cases: list,
                 assignment: Assignment) -> dict[str, list[str]]:
    """For each solution cell, what its tasks forbid: a task's shortcut
    taken while the cell runs (training a model, say) counts too."""
    names: dict[str, set[str]] = {}
    for gid, probe, _ in cases:
        for solution in assignment.solutions.get(gid, []):
            names.setdefault(solution, set()).update(probe.forbidden)
    return {str(k): sorted(names[origin]) for k, (_, origin)
            in enumerate(cells) if names.get(origin)}


def _cell_shortcuts(outcome: sandbox.Outcome, cells: list[tuple[str, str]],
                    assignment: Assignment) -> dict[str, str]:
    """The tasks whose solution cell called a function they forbid."""
    failed: dict[str, str] = {}
    for index, called in outcome.called.items():
        for gid, solutions in assignment.solutions.items():
            if cells[index][1] in solutions:
                failed.setdefault(gid, f"cell {index + 1} called "
                                       f"{', '.join(called)}, which this "
                                       f"task forbids")
    return failed


def _reason(probe, expect, got: dict | None) -> str | None:
    """Why one case failed, or None: decided here, from plain data."""
    if got is None:
        return f"{probe.text} did not run"
    if got.get("forbidden"):
        names = ", ".join(str(n) for n in got["forbidden"][:3])
        return f"{probe.text} called {names}, which this task forbids"
    if "error" in got or not isinstance(got.get("values"), list):
        error = str(got.get("error", "no values came back"))[:300]
        return ("not answered yet (NotImplementedError)"
                if error.startswith("NotImplementedError")
                else f"{probe.text} raised {error}")
    try:
        reason = changed_inputs(probe.steps, got.get("args_after")) or \
            expect(from_json(got["values"]))
    except Exception as err:  # noqa: BLE001 - odd data came back
        reason = f"unusable result ({err})"
    return reason and f"{probe.text}: {reason}"


def grade_one(sub: Submission, assignment: Assignment, secret: str,
              limits: sandbox.Limits, hide: list[str],
              uid: int | None) -> Result:
    """Grade one submission; never raises for anything the student did."""
    result = Result(sub.student, sub.assignment, sub.notebook, "ok",
                    {gid: 0.0 for gid in assignment.tasks},
                    notes=list(sub.notes))
    submitted = _read_notebook(sub, assignment, result)
    if submitted is None:
        return result
    cells, notes = runnable_cells(assignment.source, submitted)
    result.notes += notes
    cases = _draw(assignment, secret, sub)
    tampering, failed = _review(cells, cases, assignment)
    job = {"cells": [text for text, _ in cells],
           "cell_forbid": _cell_forbid(cells, cases, assignment),
           "probes": [p.to_job() for _, p, _ in cases]}
    outcome = sandbox.run(job, {assignment.notebook: sub.path.read_bytes(),
                                **assignment.files}, limits, hide, uid)
    failed.update(_cell_shortcuts(outcome, cells, assignment))
    result.output = outcome.output
    result.seconds = outcome.seconds
    result.status, details = _status(outcome)
    result.notes += details
    for index, (gid, probe, expect) in enumerate(cases):
        if gid not in failed:
            reason = _reason(probe, expect, outcome.probes.get(index))
            if reason:
                failed[gid] = reason
    flags = tampering + outcome.flags
    for gid, task in assignment.tasks.items():
        if flags:
            result.reasons[gid] = "not graded: the notebook was flagged"
        elif gid in failed:
            result.reasons[gid] = failed[gid]
        else:
            result.points[gid] = task.points
    if flags or any("forbids" in r for r in result.reasons.values()):
        result.status = "flagged"
        result.notes = [f"flagged for review: {f}" for f in flags[:10]] + \
            result.notes
    return result


# -- the batch ----------------------------------------------------------------

def _known_assignments(course: Path) -> list[str]:
    folder = course / "solutions"
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir()) if folder.is_dir() else []


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
    gradebook_setup(db, spec)

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
    gradebook_record(db, list(results.values()))

    iso = sandbox.isolation()
    hide = sandbox.hidden_paths(course, out, root, submissions,
                                Path(sandbox.__file__).resolve().parents[2])
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
            gradebook_record(db, [result])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    ordered = [results[s.key] for s in found.submissions]
    for result in ordered:
        feedback_page(out, result, spec)
    write_csv(out / "grades.csv", ordered, spec)
    (out / "unmatched.txt").write_text(
        "".join(f"{name}\t{why}\n" for name, why in found.unmatched),
        encoding="utf-8")
    print(summary(ordered, found, spec, time.monotonic() - start,
                   len(todo)))
    print(f"grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}")
    if not found.submissions:
        print("ziptie: no submissions found", file=sys.stderr)
        return 1
    return 0
