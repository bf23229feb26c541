"""The workers of ``ziptie grade``: submissions graded several at once,
each in a sandbox with a user id of its own, each result journalled and
recorded as it comes; a result for every submission, even when one fails
or the run is stopped.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import time
from pathlib import Path

from ziptie.grader import sandbox
from ziptie.grader.assignment import Assignment
from ziptie.grader.diagnosis import Diagnosis
from ziptie.grader.grade_resume import _entry
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission
from ziptie.grader.verdict import grade_one

#: Unprivileged user ids for the sandboxes (one per worker) when root.
UID_BASE = 210000


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


#: The note of a submission a stopped run did not grade.
STOPPED = ("the run was stopped before this one was graded: run again to "
           "grade it")


def _keep(log, sub: Submission, file: str, setup, result: Result, record,
          bar) -> None:
    """Journal one result (on disk before the next), record it, count it."""
    log.write(_entry(sub, file, setup, result))
    log.flush()
    os.fsync(log.fileno())
    record([result])
    if bar is not None:
        bar.update(1)


def _not_graded(todo, results: dict, spec: Assignment, note: str) -> None:
    """A "not-graded" row for every submission of ``todo`` left without
    one."""
    for sub, _ in todo:
        results.setdefault(sub.key, _missing(sub, spec, "not-graded", note))


class _Batch:
    """One grading run: the workers, the journal, the results."""

    def __init__(self, spec: Assignment, secret: str,
                 limits: sandbox.Limits, hide: list[str], workers: int,
                 separate_user: bool):
        self.spec, self.secret, self.limits = spec, secret, limits
        self.hide, self.workers = hide, workers
        self.bar = None             # the progress bar, while one is shown
        #: set: a lost task's feedback names the mistake it looks like
        self.diagnosis: Diagnosis | None = None
        self.uids: queue.Queue = queue.Queue()
        for k in range(workers):
            self.uids.put(UID_BASE + (os.getpid() % 1000) * 64 + k
                          if separate_user else None)

    def work(self, sub: Submission, diagnosis: Diagnosis | None = None
             ) -> Result:
        """Grade ``sub``; never raises."""
        if sub.status:   # the file could not be read: nothing to run
            result = _missing(sub, self.spec, sub.status)
        else:
            uid = self.uids.get()
            try:
                result = grade_one(sub, self.spec, self.secret, self.limits,
                                   self.hide, uid, _progress(
                                       self.bar, sub.student, self.limits),
                                   diagnosis)
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
        futures = {pool.submit(self.work, sub, self.diagnosis): (sub, file)
                   for sub, file in todo}
        try:
            with open(journal, "a", encoding="utf-8") as log:
                log.write("\n")   # after a line an interruption cut short
                for future in concurrent.futures.as_completed(futures):
                    sub, file = futures[future]
                    results[sub.key] = future.result()
                    _keep(log, sub, file, setup, results[sub.key], record,
                          bar)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            _not_graded(todo, results, self.spec, STOPPED)
            return False
        pool.shutdown()
        return True
