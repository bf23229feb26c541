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

The parts: ``grade_resume`` (what a grade depends on, which results are
reused), ``grade_workers`` (submissions graded several at once),
``grade_dask`` (the same on a Dask cluster) and ``grade_output`` (the
files a run writes).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ziptie.grader import diagnosis, sandbox
from ziptie.grader.assignment import Assignment, load_assignment
from ziptie.grader.grade_output import _finish, _Gradebook
from ziptie.grader.grade_resume import JOURNAL, _load_state, _plan, setup_key
from ziptie.grader.grade_workers import _Batch
from ziptie.grader.gradebook_record import gradebook_status
from ziptie.grader.report import clean, summary
from ziptie.grader.sandbox_zygote import zygote
from ziptie.grader.submissions import Found, LayoutError, find, unzip

if TYPE_CHECKING:
    from ziptie.grader.grade_dask import DaskBatch

# -- the batch ----------------------------------------------------------------

def _known_assignments(course: Path) -> list[str]:
    folder = course / "solutions"
    return sorted(p.name for p in folder.iterdir()  # not .ipynb_checkpoints
                  if p.is_dir() and not p.name.startswith(".")
                  ) if folder.is_dir() else []



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



def grade(course: Path, submissions: Path, assignment: str | None = None,
          workers: int | None = None, out: Path | None = None,
          limits: sandbox.Limits | None = None, progress: bool = True,
          layout: str = "auto", accept_weak_sandbox: bool = False,
          duedate: str | None = None, scheduler: str | None = None,
          diagnose: bool = True) -> int:
    """Grade every submission of one assignment; the exit status.

    Whatever the submissions hold, ``grades.csv`` and ``results.jsonl``
    are written, with a row for every student found. ``out`` is also an
    nbgrader course (``ziptie.grader.gradebook``); ``duedate`` is the
    assignment's, for late penalties; ``scheduler``, a Dask scheduler's
    address, grades on its workers (``ziptie.grader.grade_dask``).
    With ``diagnose``, a lost task's feedback names the catalogued
    mistakes it looks like (``ziptie.grader.diagnosis``)."""
    iso = None if scheduler else sandbox.require(accept_weak_sandbox)
    if iso is not None and (limits or sandbox.Limits()).warm_start:
        zygote().launch()   # its imports overlap the set-up below
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
        roots = [course, out, found.root, submissions]
        batch: _Batch | DaskBatch
        if iso is None:
            from ziptie.grader.grade_dask import DaskBatch

            batch = DaskBatch(str(scheduler), course, spec, _secret(out),
                              limits or sandbox.Limits(), roots[:3], roots,
                              accept_weak_sandbox)
            isolation = batch.isolation
        else:
            hide = sandbox.hidden_paths(
                *roots, Path(sandbox.__file__).resolve().parents[2])
            workers = max(1, workers or os.cpu_count() or 1)
            batch = _Batch(spec, _secret(out), limits or sandbox.Limits(),
                           hide, workers, iso.separate_user)
            isolation = iso.describe()
        finished = _run(batch, found, out, progress, isolation, book,
                        course if diagnose else None)
    if not finished:
        print("ziptie: stopped; run the same command again to grade the "
              "rest", file=sys.stderr)
        return 130
    if not found.submissions:
        print("ziptie: no submissions found", file=sys.stderr)
        return 1
    return 0


def _run(batch: _Batch | DaskBatch, found: Found, out: Path, progress: bool,
         isolation: str, book: _Gradebook, course: Path | None) -> bool:
    """Reuse what can be, grade the rest, write every file; False when
    the run was stopped. With the ``course``, a lost task's feedback names
    the catalogued mistake it looks like."""
    spec = batch.spec
    setup = setup_key(spec, batch.limits, "off" if course is None
                      else diagnosis.catalogue_digest(course, spec.name))
    results, todo, why = _plan(found.submissions, _load_state(out), setup)
    book.record(list(results.values()))
    print(_header(found, spec, results, todo, why, batch.workers,
                  isolation), file=sys.stderr)
    if course is not None and todo:
        batch.diagnosis = diagnosis.prepare(course, spec, out, _secret(out),
                                            setup, batch.limits)
        print(clean(f"  {batch.diagnosis.note}"), file=sys.stderr)
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
