"""``ziptie grade --scheduler``: the batch on a Dask cluster
(``dask.distributed``), one task per submission.

Each task grades one submission on a worker, in a sandbox started there,
and sends its ``Result`` back; only this process writes the journal,
``grades.csv``, the feedback and the gradebook, as a local run does
(``grade_workers``). The workers read the course, the submissions and
``--out`` at the paths this process gives, so they must share a file
system with it; every worker is checked before the first task: the same
course files, limits and grader (``grade_resume.setup_key``), a sandbox
as strict as ``--accept-weak-sandbox`` allows.

A submission whose task kills its worker is not tried again: its row is a
``grader-error`` saying so (a rerun regrades it), and the others are
graded. That needs a scheduler that gives up on a task at its first dead
worker (``distributed.scheduler.allowed-failures: 0``); one that retries
is refused. A lost scheduler leaves "not-graded" rows, as a stopped run
does, and the same command resumes.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from ziptie.grader import sandbox
from ziptie.grader.assignment import Assignment, load_assignment
from ziptie.grader.diagnosis import Diagnosis
from ziptie.grader.grade_resume import setup_key
from ziptie.grader.grade_workers import (
    STOPPED,
    _Batch,
    _keep,
    _missing,
    _not_graded,
)
from ziptie.grader.report import Result
from ziptie.grader.sandbox_zygote import zygote
from ziptie.grader.submissions import Submission

#: ``tcp://host:port`` (or ``tls://``), ``local`` or ``local:N``.
ADDRESS = re.compile(r"(tcp|tls)://[^\s/]+:\d{1,5}|local(:[1-9]\d{0,2})?")

#: Seconds to wait for the scheduler to answer, then for a first worker.
CONNECT_TIMEOUT = 10.0
WORKER_TIMEOUT = 120.0

#: What a scheduler started here is told: a task whose worker dies is not
#: given to another worker.
CONFIG = {"distributed.scheduler.allowed-failures": 0}

KILLED = ("its Dask worker died while grading it (or while it waited "
          "there): it was not tried again, so that it could kill no other "
          "worker. Run the same command again to regrade it; if it fails "
          "again, grade it alone with ziptie grade (no --scheduler) to see "
          "why")

LOST = ("the connection to the Dask scheduler was lost before this one "
        "was graded: run again to grade it")


class WorkerUnfit(RuntimeError):
    """A worker that cannot grade like this process would."""


@dataclass(frozen=True)
class _Job:
    """What every task needs besides its submission (small, sent along)."""

    course: str
    assignment: str
    secret: str
    limits: sandbox.Limits
    setup: tuple[tuple[str, str], ...]   # setup_key, as seen here
    visible: tuple[str, ...]             # paths a worker must see
    roots: tuple[str, ...]               # folders the sandbox hides
    accept_weak: bool


_DIFFER = {"course": "other course files", "limits": "other limits",
           "grader": "another ziptie or Python"}

_BATCHES: dict[_Job, _Batch] = {}
_LOCK = threading.Lock()


def _worker_batch(job: _Job) -> _Batch:
    """This worker process's batch for ``job``: checked once, then shared
    by its threads (a sandbox uid each, as ``grade_workers`` gives)."""
    with _LOCK:
        if job not in _BATCHES:
            _BATCHES[job] = _prepare(job)
        return _BATCHES[job]


def _prepare(job: _Job) -> _Batch:
    here = f"the worker on {socket.gethostname()} (pid {os.getpid()})"
    for path in job.visible:
        if not Path(path).exists():
            raise WorkerUnfit(
                f"{here} sees no {path}: the course, the submissions and "
                f"--out must be on a file system every worker shares, at "
                f"the same path")
    spec = load_assignment(Path(job.course), job.assignment)
    mine = setup_key(spec, job.limits)
    differ = [_DIFFER[k] for k, v in job.setup if mine.get(k) != v]
    if differ:
        raise WorkerUnfit(
            f"{here} would grade differently: it has {' and '.join(differ)}"
            f" (install the same ziptie and Python there, and share the "
            f"course)")
    try:
        iso = sandbox.require(job.accept_weak)
    except SystemExit as err:
        raise WorkerUnfit(f"{here}: {err}") from None
    hide = sandbox.hidden_paths(*map(Path, job.roots),
                                Path(sandbox.__file__).resolve().parents[2])
    return _Batch(spec, job.secret, job.limits, hide, _threads(),
                  iso.separate_user)


def _threads() -> int:
    from distributed import get_worker

    try:
        return max(1, int(get_worker().state.nthreads))
    except (ValueError, AttributeError):   # not on a worker
        return 1


def _check(job: _Job) -> tuple[int, str]:
    """On a worker: its threads and its sandbox, or ``WorkerUnfit``; its
    zygote starts here (in the worker's own lasting thread), so that its
    imports overlap the grader's set-up."""
    batch = _worker_batch(job)
    described = sandbox.require(job.accept_weak).describe()
    if job.limits.warm_start:
        zygote().launch()
    return batch.workers, described


def _grade_task(job: _Job, sub: Submission,
                diagnosis: Diagnosis | None = None) -> Result:
    """One task: grade ``sub`` on this worker."""
    return _worker_batch(job).work(sub, diagnosis)


def _connect(address: str):
    """A client of the scheduler at ``address``, and the cluster started
    here for ``local``/``local:N`` (else None)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit(
            "ziptie: --scheduler needs dask.distributed: pip install "
            "'ziptie[cluster]' (or the distributed package)") from None
    if not ADDRESS.fullmatch(address):
        raise SystemExit(f"ziptie: --scheduler {address!r} is not "
                         f"tcp://HOST:PORT, local or local:N")
    cluster = None
    if address.startswith("local"):
        n = int(address[6:] or os.cpu_count() or 1)
        with dask.config.set(CONFIG):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        address = cluster.scheduler_address
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        raise SystemExit(
            f"ziptie: no Dask scheduler answered at {address} within "
            f"{CONNECT_TIMEOUT:g} s ({type(err).__name__}): start one "
            f"('dask scheduler') or check the address") from None
    return client, cluster


class DaskBatch:
    """``_Batch``'s interface (``run``), the submissions graded on a Dask
    cluster; connected and every worker checked when made."""

    def __init__(self, address: str, course: Path, spec: Assignment,
                 secret: str, limits: sandbox.Limits, visible: list[Path],
                 roots: list[Path], accept_weak: bool):
        self.spec, self.limits = spec, limits
        #: set: a lost task's feedback names the mistake it looks like
        self.diagnosis: Diagnosis | None = None
        self.job = _Job(str(course), spec.name, secret, limits,
                        tuple(sorted(setup_key(spec, limits).items())),
                        tuple(map(str, visible)), tuple(map(str, roots)),
                        accept_weak)
        self.client, self.cluster = _connect(address)
        try:
            self.workers, self.isolation = self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self) -> tuple[int, str]:
        allowed = self.client.run_on_scheduler(_allowed_failures)
        if allowed != 0:
            raise SystemExit(
                f"ziptie: the scheduler gives a task whose worker died to "
                f"another worker (allowed-failures: {allowed}), so a "
                f"submission that kills its worker would kill "
                f"{allowed + 1}: start it with "
                f"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0")
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise SystemExit(f"ziptie: no Dask worker joined the scheduler "
                             f"within {WORKER_TIMEOUT:g} s") from None
        answers = self.client.run(_check, self.job, on_error="return")
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                raise SystemExit(f"ziptie: Dask worker {worker}: {answer}")
        threads = sum(n for n, _ in answers.values())
        kinds = sorted({kind for _, kind in answers.values()})
        return threads, (f"on {len(answers)} Dask worker(s) "
                         f"({self.client.scheduler.address}): "
                         + "; ".join(kinds))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def run(self, todo, results, journal: Path, setup, record, bar) -> bool:
        """Grade ``todo`` into ``results``; False when interrupted or the
        scheduler was lost (what is left gets a row saying so).

        No more tasks are out than the cluster has threads: a worker holds
        only what it is grading, so one that dies takes no waiting
        submission with it, and a worker that joins later gets work."""
        from distributed import as_completed

        run = uuid.uuid4().hex[:8]
        waiting = [(n, (sub, file)) for n, (sub, file) in enumerate(todo)
                   if not _nothing_to_run(sub)][::-1]
        futures: dict = {}
        running = as_completed()
        lost = False
        diagnosis = None

        def send() -> None:
            free = max(1, sum(self.client.nthreads().values())) - \
                running.count()
            for _ in range(min(free, len(waiting))):
                n, (sub, file) = waiting.pop()
                future = self.client.submit(
                    _grade_task, self.job, sub, diagnosis, pure=False,
                    retries=0,
                    key=f"ziptie-grade-{run}-{n}")
                futures[future] = sub, file
                running.add(future)
        try:
            with open(journal, "a", encoding="utf-8") as log:
                log.write("\n")   # after a line an interruption cut short
                for sub, file in todo:   # as grade_one would, here
                    if _nothing_to_run(sub):
                        results[sub.key] = _missing(
                            sub, self.spec, sub.status or "missing")
                        _keep(log, sub, file, setup, results[sub.key],
                              record, bar)
                if self.diagnosis is not None:   # once to each worker
                    diagnosis = self.client.scatter(self.diagnosis,
                                                    broadcast=True)
                send()
                for future in running:
                    sub, file = futures.pop(future)
                    result = self._result(future, sub)
                    if result is None:
                        lost = True
                        break
                    results[sub.key] = result
                    _keep(log, sub, file, setup, result, record, bar)
                    send()
        except KeyboardInterrupt:
            self.client.cancel(list(futures))
            _not_graded(todo, results, self.spec, STOPPED)
            return False
        finally:
            self.close()
        if lost:
            print("ziptie: the connection to the Dask scheduler was lost",
                  file=sys.stderr)
            _not_graded(todo, results, self.spec, LOST)
        return not lost

    def _result(self, future, sub: Submission) -> Result | None:
        """The task's result, a row saying why there is none, or None
        when the task was cancelled (the scheduler is gone)."""
        from distributed import KilledWorker

        if future.status == "finished":
            return future.result()
        if future.status != "error":
            return None
        err = future.exception()
        note = KILLED if isinstance(err, KilledWorker) \
            else f"{type(err).__name__}: {err}"
        return _missing(sub, self.spec, "grader-error", note)


def _nothing_to_run(sub: Submission) -> bool:
    """No notebook, or one that could not be read: graded here."""
    return bool(sub.status) or sub.path is None


def _allowed_failures(dask_scheduler) -> int:
    return int(dask_scheduler.allowed_failures)
