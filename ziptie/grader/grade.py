"""``ziptie grade``: autograde a class, in parallel, each notebook isolated.

For each submission the grader

1. finds whose notebook is whose (``ziptie.grader.submissions``);
2. decides each one's points (``ziptie.grader.verdict``): the student's
   solution cells and own cells with the source's locked cells, run in a
   sandbox of their own (``ziptie.grader.sandbox``), the checks of
   ``grading/<assignment>.py`` called on inputs the notebook has never
   seen, compared here, where no student code runs;
3. records the points in nbgrader's gradebook, ``grades.csv`` and the
   feedback, several submissions at once.

Every student found gets a row in ``grades.csv``, whatever their file
holds; nothing in one submission stops the run. Each result is journalled
as soon as it is known and folded into ``results.jsonl`` at the end;
``grades.csv`` and ``results.jsonl`` are written whole or not at all. A
second run over the same ``--out`` reuses a result only when the notebook,
the course files, the limits and the grader (``setup_key``) are the same,
and says why it regrades the rest: an interrupted run resumes and a
repeated run gives the same grades.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
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
from ziptie.grader.assignment import Assignment, load_assignment
from ziptie.grader.gradebook import Book, gradebook_setup
from ziptie.grader.gradebook_record import gradebook_record, gradebook_status
from ziptie.grader.report import (
    Result,
    clean,
    csv_rows,
    csv_text,
    feedback_page,
    summary,
    write_atomic,
)
from ziptie.grader.submissions import (
    Found,
    LayoutError,
    Submission,
    find,
    unzip,
)
from ziptie.grader.verdict import grade_one

#: Unprivileged user ids for the sandboxes (one per worker) when root.
UID_BASE = 210000
#: Results as they come, for a run that is interrupted; folded into
#: ``results.jsonl`` at the end.
JOURNAL = "results.journal"


# -- the batch ----------------------------------------------------------------

def _known_assignments(course: Path) -> list[str]:
    folder = course / "solutions"
    return sorted(p.name for p in folder.iterdir()  # not .ipynb_checkpoints
                  if p.is_dir() and not p.name.startswith(".")
                  ) if folder.is_dir() else []


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def setup_key(spec: Assignment, limits: sandbox.Limits) -> dict[str, str]:
    """What a grade depends on besides the notebook: the course files, the
    limits and the grader's version (its own source, hashed)."""
    import platform

    import ziptie

    package = Path(ziptie.__file__).parent
    code = [p.read_bytes() for p in sorted(package.rglob("*.py"))]
    files = [x for name, data in sorted(spec.files.items())
             for x in (name, data)]
    return {"course": _digest(spec.digest, *files),
            "limits": _digest(json.dumps(asdict(limits), sort_keys=True)),
            "grader": _digest(ziptie.__version__,
                              platform.python_version(), *code)}


_CHANGED = {"course": "the course files changed",
            "limits": "the limits changed",
            "grader": "the grader changed"}


def _load_state(out: Path) -> dict[str, dict]:
    """The results of earlier runs: ``results.jsonl``, then the journal of
    an interrupted run; lines cut short are skipped."""
    state: dict[str, dict] = {}
    for path in (out / "results.jsonl", out / JOURNAL):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8",
                                   errors="replace").splitlines():
            try:
                entry = json.loads(line)
                Result(**entry["result"])
                state[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return state


def _file_key(sub: Submission) -> str:
    """The submission as graded: its bytes, identity and notes. Raises
    OSError when the file cannot be read."""
    data = sub.path.read_bytes() if sub.path is not None else b""
    return _digest(data, sub.status, sub.name, sub.student_id,
                   json.dumps(sub.notes))


def _why_regrade(entry: dict | None, file: str,
                 setup: dict[str, str]) -> str:
    """Why an earlier result cannot be reused ("" when it can)."""
    if entry is None:
        return "new"
    if entry["result"].get("status") in ("grader-error", "not-graded"):
        return "not graded last time"
    if "file" not in entry:
        return "graded by an older version of the grader"
    if entry.get("file") != file:
        return "the notebook changed"
    old = entry.get("setup") or {}
    for part, why in _CHANGED.items():
        if old.get(part) != setup[part]:
            return why
    return ""


def _plan(found_subs: list[Submission], state: dict[str, dict],
          setup: dict[str, str]):
    """Which results to reuse and which submissions to grade, and why."""
    results: dict[str, Result] = {}
    todo: list[tuple[Submission, str]] = []
    why: dict[str, int] = {}
    for sub in found_subs:
        try:
            file = _file_key(sub)
        except OSError as err:
            sub.status = "unreadable"
            sub.notes.append(f"the file cannot be read ({err.strerror})")
            sub.path, file = None, _file_key(sub)
        reason = _why_regrade(state.get(sub.key), file, setup)
        if reason:
            todo.append((sub, file))
            why[reason] = why.get(reason, 0) + 1
        else:
            results[sub.key] = Result(**state[sub.key]["result"])
    return results, todo, why


def _entry(sub: Submission, file: str, setup: dict[str, str],
           result: Result) -> str:
    return json.dumps({"key": sub.key, "file": file, "setup": setup,
                       "result": asdict(result)}) + "\n"


def _pick_assignment(course: Path, assignment: str | None) -> str:
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
    return assignment


def _find(submissions: Path, out: Path, spec: Assignment, layout: str,
          names: list[str]) -> Found:
    """What the submissions hold; an unreadable zip is listed, not fatal."""
    root, unzipped = submissions, None
    try:
        if submissions.is_file():
            unzipped = unzip(submissions, out / "unzipped")
            root = unzipped.root
    except LayoutError as err:
        return Found([], [(submissions.name, str(err))], submissions)
    try:
        return find(root, spec.name, [spec.notebook], names, layout,
                    unzipped)
    except LayoutError as err:
        raise SystemExit(f"ziptie: {err}") from err


def _missing(sub: Submission, spec: Assignment, status: str,
             note: str = "") -> Result:
    return Result(sub.student, sub.assignment, sub.notebook, status,
                  {g: 0.0 for g in spec.tasks},
                  notes=list(sub.notes) + ([note] if note else []),
                  name=sub.name, student_id=sub.student_id)


def _progress(bar, student: str, limits: sandbox.Limits):
    """Show on the progress bar which student, which cell, the time left."""
    if bar is None:
        return None
    name = "".join(c for c in student if c.isprintable())[:30]
    start = shown = time.monotonic()

    def show(event: dict) -> None:
        nonlocal shown
        kind, index = event["event"], event.get("index")
        if kind not in ("cell", "probe_start") or type(index) is not int:
            return
        now = time.monotonic()
        left = limits.notebook_timeout - (now - start)
        what = "cell" if kind == "cell" else "check"
        refresh = now - shown > 0.5  # at most twice a second
        bar.set_postfix_str(f"{name}: {what} {index + 1}, {left:.0f} s "
                            f"left", refresh=refresh)
        if refresh:
            shown = now
    return show


class _Batch:
    """One grading run: the workers, the journal, the results."""

    def __init__(self, spec: Assignment, secret: str,
                 limits: sandbox.Limits, hide: list[str], workers: int,
                 separate_user: bool):
        self.spec, self.secret, self.limits = spec, secret, limits
        self.hide, self.workers = hide, workers
        self.bar = None             # the progress bar, while one is shown
        self.uids: queue.Queue = queue.Queue()
        for k in range(workers):
            self.uids.put(UID_BASE + (os.getpid() % 1000) * 64 + k
                          if separate_user else None)

    def work(self, sub: Submission) -> Result:
        """Grade ``sub``; never raises."""
        if sub.status:   # the file could not be read: nothing to run
            result = _missing(sub, self.spec, sub.status)
        else:
            uid = self.uids.get()
            try:
                result = grade_one(sub, self.spec, self.secret, self.limits,
                                   self.hide, uid, _progress(
                                       self.bar, sub.student, self.limits))
            except Exception as err:  # noqa: BLE001 - the grader's fault
                result = _missing(sub, self.spec, "grader-error",
                                  f"{type(err).__name__}: {err}")
            finally:
                self.uids.put(uid)
        result.name, result.student_id = sub.name, sub.student_id
        return result

    def run(self, todo, results, journal: Path, setup, record, bar) -> bool:
        """Grade ``todo`` into ``results``; False when interrupted (what is
        left gets a row saying so)."""
        self.bar = bar
        pool = concurrent.futures.ThreadPoolExecutor(self.workers)
        futures = {pool.submit(self.work, sub): (sub, file)
                   for sub, file in todo}
        try:
            with open(journal, "a", encoding="utf-8") as log:
                log.write("\n")   # after a line an interruption cut short
                for future in concurrent.futures.as_completed(futures):
                    sub, file = futures[future]
                    result = results[sub.key] = future.result()
                    log.write(_entry(sub, file, setup, result))
                    log.flush()
                    os.fsync(log.fileno())
                    record([result])
                    if bar is not None:
                        bar.update(1)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            for sub, _ in todo:
                results.setdefault(sub.key, _missing(
                    sub, self.spec, "not-graded", "the run was stopped "
                    "before this one was graded: run again to grade it"))
            return False
        pool.shutdown()
        return True


def grade(course: Path, submissions: Path, assignment: str | None = None,
          workers: int | None = None, out: Path | None = None,
          limits: sandbox.Limits | None = None, progress: bool = True,
          layout: str = "auto", accept_weak_sandbox: bool = False,
          duedate: str | None = None) -> int:
    """Grade every submission of one assignment; the exit status.

    Whatever the submissions hold, ``grades.csv`` and ``results.jsonl``
    are written, with a row for every student found. ``out`` is also an
    nbgrader course (``ziptie.grader.gradebook``); ``duedate`` is the
    assignment's, for late penalties."""
    iso = sandbox.require(accept_weak_sandbox)
    course, submissions = course.resolve(), submissions.resolve()
    assignment = _pick_assignment(course, assignment)
    if not submissions.exists():
        raise SystemExit(f"ziptie: no submissions at {submissions}")
    spec = load_assignment(course, assignment)
    out = (out or Path.cwd() / f"graded-{assignment}").resolve()
    _check_places(submissions, out)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        book = _Gradebook(out, course, spec, duedate)
        found = _find(submissions, out, spec, layout,
                      _known_assignments(course))
        book.subs = {sub.key: sub for sub in found.submissions}
        hide = sandbox.hidden_paths(
            course, out, found.root, submissions,
            Path(sandbox.__file__).resolve().parents[2])
        workers = max(1, workers or os.cpu_count() or 1)
        batch = _Batch(spec, _secret(out), limits or sandbox.Limits(),
                       hide, workers, iso.separate_user)
        finished = _run(batch, found, out, progress, iso.describe(), book)
    if not finished:
        print("ziptie: stopped; run the same command again to grade the "
              "rest", file=sys.stderr)
        return 130
    if not found.submissions:
        print("ziptie: no submissions found", file=sys.stderr)
        return 1
    return 0


def _run(batch: _Batch, found: Found, out: Path, progress: bool,
         isolation: str, book: _Gradebook) -> bool:
    """Reuse what can be, grade the rest, write every file; False when
    the run was stopped."""
    spec = batch.spec
    setup = setup_key(spec, batch.limits)
    results, todo, why = _plan(found.submissions, _load_state(out), setup)
    book.record(list(results.values()))
    print(_header(found, spec, results, todo, why, batch.workers,
                  isolation), file=sys.stderr)
    start = time.monotonic()
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="notebook", file=sys.stderr,
                   desc="grading")
    finished = batch.run(todo, results, out / JOURNAL, setup, book.record,
                         bar)
    if bar is not None:
        bar.close()
    files = {sub.key: file for sub, file in todo}
    _finish(out, found, spec, results, setup, files, book)
    print(clean(summary([results[s.key] for s in found.submissions], found,
                        spec, time.monotonic() - start, len(todo))))
    print(clean(f"grades: {out / 'grades.csv'}; feedback: "
                f"{out / 'feedback'}"))
    if book.book is not None:
        print(clean(gradebook_status(book.book)))
    return finished


@contextlib.contextmanager
def _locked(out: Path):
    """Hold ``out`` for this run: a second run on it is refused."""
    import fcntl

    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"ziptie: another ziptie grade is writing to "
                             f"{out}; wait for it to end") from None
        yield


def _check_places(submissions: Path, out: Path) -> None:
    """Refuse an ``--out`` that would be read as submissions, or whose
    unpacking would delete them."""
    if submissions.is_dir() and out.is_relative_to(submissions):
        raise SystemExit(f"ziptie: the output folder {out} is inside the "
                         f"submissions: give --out a folder outside "
                         f"{submissions}")
    if submissions.is_relative_to(out / "unzipped"):
        raise SystemExit(f"ziptie: {submissions} is inside {out}/unzipped, "
                         f"which grading rewrites: move it or give "
                         f"another --out")


def _secret(out: Path) -> str:
    secret_file = out / "secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    return secret_file.read_text().strip()


def _header(found: Found, spec: Assignment, results: dict, todo: list,
            why: dict[str, int], workers: int, isolation: str) -> str:
    lines = [f"ziptie grade: {len(found.submissions)} submission(s) of "
             f"{spec.name}; layout {found.layout or 'none recognised'}; "
             f"{workers} worker(s); sandbox: {isolation}"]
    lines += [f"  {note}" for note in found.notes]
    if results:
        lines.append(f"  reusing {len(results)} result(s) of an earlier run "
                     f"(same notebook, course files, limits and grader)")
    if todo:
        lines.append(f"  grading {len(todo)}: " + ", ".join(
            f"{n} {w}" for w, n in sorted(why.items())))
    return clean("\n".join(lines))


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
