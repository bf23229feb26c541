"""``ziptie grade``: autograde a class, in parallel, isolated, unfoolable.

For each submission the grader

1. builds the cells to run: the student's solution cells and own cells,
   the locked cells taken from the source notebook (as nbgrader restores
   them), and none of the test cells;
2. draws the inputs of every check (``grading/<assignment>.py``) from a
   generator seeded with a secret made at grading time;
3. runs cells and calls in a sandbox of their own
   (``ziptie.grader.sandbox``) and gets plain JSON back;
4. compares in its own process, where no student code runs, and records
   the points in nbgrader's gradebook, ``grades.csv`` and the feedback.

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

from ziptie.grader import sandbox
from ziptie.grader.assignment import (
    Assignment,
    cells_to_run,
    grade_cells,
    load_assignment,
)
from ziptie.grader.gradebook import (
    gradebook_record,
    gradebook_setup,
    gradebook_status,
)
from ziptie.grader.report import Result, feedback_page, summary, write_csv
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
    source_ids = {gid for gid, c in grade_cells(assignment.source).items()
                  if c["metadata"]["nbgrader"].get("solution")}
    their_ids = set(grade_cells(submitted))
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


def _known_assignments(course: Path) -> list[str]:
    folder = course / "solutions"
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir()) if folder.is_dir() else []


def grade(course: Path, submissions: Path, assignment: str | None = None,
          workers: int | None = None, out: Path | None = None,
          limits: sandbox.Limits | None = None, progress: bool = True,
          duedate: str | None = None) -> int:
    """Grade every submission of one assignment; the exit status.

    ``out`` becomes an nbgrader course (``ziptie.grader.gradebook``);
    ``duedate`` is the assignment's, for late penalties."""
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
    book = gradebook_setup(out, course, spec, duedate)

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
    gradebook_record(book, [(s, results[s.key]) for s in found.submissions
                            if s.key in results])

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
            gradebook_record(book, [(sub, result)])
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
    print(gradebook_status(book))
    if not found.submissions:
        print("ziptie: no submissions found", file=sys.stderr)
        return 1
    return 0
