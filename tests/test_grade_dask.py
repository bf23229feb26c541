"""``ziptie grade --scheduler``: the same class graded here and on a real
Dask cluster (a scheduler and two worker processes on localhost) gets the
same grades.csv; a submission that kills its worker gets a row saying so
and is not tried again; a bad address is a quick, clear error.
"""

import csv
import os
import time
from pathlib import Path

import corpus
import pytest

from ziptie import cli
from ziptie.grader.sandbox import Limits

distributed = pytest.importorskip("distributed")

LIMITS = Limits(cell_timeout=12, memory=1536 << 20)

#: As the README asks of a course team's scheduler.
CONFIG = {"distributed.scheduler.allowed-failures": 0}


@pytest.fixture(scope="module")
def cluster():
    import dask

    with dask.config.set(CONFIG):
        local = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=":0")
        local.wait_for_workers(2, timeout=120)   # slow on a busy machine
    yield local
    local.close()


def _class(folder: Path) -> Path:
    corpus.build(folder, [
        corpus.Case("ann", "ok", 4, ""),
        corpus.Case("bob", "ok", 3, "", {"double": corpus.WRONG_DOUBLE}),
        corpus.Case("cat", "ok", 2, "", {"mse": corpus.WRONG_MSE}),
    ])
    return folder


def _grade(submissions: Path, out: Path, **how) -> tuple[int, float]:
    from ziptie.grader.grade import grade

    start = time.monotonic()
    status = grade(corpus.COURSE, submissions, out=out, limits=LIMITS,
                   progress=False, **how)
    return status, time.monotonic() - start


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_the_same_class_gets_the_same_grades_here_and_on_dask(
        tmp_path, cluster, capsys):
    submissions = _class(tmp_path / "class")
    here, _ = _grade(submissions, tmp_path / "here", workers=2)
    there, _ = _grade(submissions, tmp_path / "there",
                      scheduler=cluster.scheduler_address)
    assert here == there == 0
    assert "on 2 Dask worker(s)" in capsys.readouterr().err
    rows = _rows(tmp_path / "here")
    assert _rows(tmp_path / "there") == rows
    assert [rows[s]["total"] for s in ("ann", "bob", "cat")] == \
        ["4", "3", "2"]
    again, _ = _grade(submissions, tmp_path / "there",
                      scheduler=cluster.scheduler_address)
    assert again == 0 and "reusing 5 result(s)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_submission_that_kills_its_worker_is_reported_not_retried(
        tmp_path, cluster):
    def arm(victim: str) -> None:   # on each worker: grading victim dies
        from ziptie.grader import grade_workers

        real = grade_workers.grade_one

        def grade_one(sub, *args, **kw):
            if sub.student == victim:
                os._exit(1)
            return real(sub, *args, **kw)
        grade_workers.grade_one = grade_one

    client = distributed.Client(cluster)
    try:
        client.run(arm, "bob")
        status, _ = _grade(_class(tmp_path / "class"), tmp_path / "out",
                           scheduler=cluster.scheduler_address)
    finally:
        client.restart()   # no worker stays armed
        client.close()
    assert status == 0
    rows = _rows(tmp_path / "out")
    assert rows["bob"]["status"] == "grader-error"
    assert "worker died while grading it" in rows["bob"]["notes"]
    assert "not tried again" in rows["bob"]["notes"]
    assert [rows[s]["total"] for s in ("ann", "cat")] == ["4", "2"]


def test_a_scheduler_that_does_not_answer_is_a_quick_clear_error(
        tmp_path, monkeypatch):
    import socket

    from ziptie.grader import grade_dask

    with socket.socket() as s:     # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(grade_dask, "CONNECT_TIMEOUT", 2.0)
    start = time.monotonic()
    with pytest.raises(SystemExit, match="no Dask scheduler answered at "
                       f"tcp://127.0.0.1:{port} within 2 s"):
        _grade(_class(tmp_path / "class"), tmp_path / "out",
               scheduler=f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("address", ["localhost:8786", "tcp://host",
                                     "local:0", "http://host:8787"])
def test_an_address_that_is_no_scheduler_is_refused(address, capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", "x", "--scheduler", address])
    assert "is not tcp://HOST:PORT" in capsys.readouterr().err


def test_workers_with_a_remote_scheduler_is_refused(capsys):
    with pytest.raises(SystemExit, match="--workers does not apply"):
        cli.main(["grade", "x", "--workers", "3", "--scheduler",
                  "tcp://127.0.0.1:8786"])


def test_workers_with_local_is_the_number_of_local_workers(monkeypatch):
    from ziptie.grader import grade

    asked = {}
    monkeypatch.setattr(grade, "grade",
                        lambda *a, **kw: asked.update(kw) or 0)
    assert cli.main(["--course", str(corpus.COURSE), "grade", "x",
                     "--workers", "3", "--scheduler", "local"]) == 0
    assert asked["scheduler"] == "local:3"


def _batch(address: str, tmp_path: Path, visible=()):
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.grade_dask import DaskBatch

    spec = load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    return DaskBatch(address, corpus.COURSE, spec, "key", LIMITS,
                     [corpus.COURSE, *visible], [corpus.COURSE, tmp_path],
                     accept_weak=False)


@pytest.mark.slow
def test_every_worker_is_checked_before_the_first_task(tmp_path, cluster):
    batch = _batch(cluster.scheduler_address, tmp_path)
    assert batch.workers == 2
    batch.close()
    elsewhere = tmp_path / "not-shared"
    with pytest.raises(SystemExit, match=f"sees no {elsewhere}: the "
                       "course, the submissions and --out must be on a "
                       "file system every worker shares"):
        _batch(cluster.scheduler_address, tmp_path, [elsewhere])


@pytest.mark.slow
def test_a_scheduler_that_retries_dead_workers_is_refused(tmp_path,
                                                          cluster):
    def allow(n: int):
        def on_scheduler(dask_scheduler):
            dask_scheduler.allowed_failures = n
        with distributed.Client(cluster) as client:
            client.run_on_scheduler(on_scheduler)

    allow(3)
    try:
        with pytest.raises(SystemExit, match="allowed-failures: 3.*kill 4"
                           ".*ALLOWED_FAILURES=0"):
            _batch(cluster.scheduler_address, tmp_path)
    finally:
        allow(0)


@pytest.mark.slow
def test_a_lost_scheduler_leaves_clear_rows_and_no_hang(tmp_path,
                                                        monkeypatch):
    """A scheduler and a worker started by hand, as on a cluster; the
    scheduler is killed while a notebook runs."""
    import signal
    import socket
    import subprocess
    import sys
    import threading

    corpus.build(tmp_path / "class", [
        corpus.Case("a_loop", "timeout", 2, "", {
            "mse": "while True:\n    pass\n"}),
        corpus.Case("b", "ok", 4, "")])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES":
           "0"}
    started = [subprocess.Popen(
        [dask, *how], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) for how in (
            ["scheduler", "--host", "127.0.0.1", "--port", port,
             "--no-dashboard"],
            ["worker", address, "--nthreads", "1", "--no-dashboard",
             "--no-nanny"])]
    scheduler, worker = started
    kill = threading.Timer(3, scheduler.send_signal, [signal.SIGKILL])
    from ziptie.grader import grade_dask

    real = grade_dask.DaskBatch.run

    def run(self, *args):   # the scheduler dies 3 s into the run
        kill.start()
        return real(self, *args)
    monkeypatch.setattr(grade_dask.DaskBatch, "run", run)
    try:
        status, seconds = _grade(tmp_path / "class", tmp_path / "out",
                                 scheduler=address)
    finally:
        kill.cancel()
        for process in started:
            process.kill()
            process.wait()
    assert status == 130 and seconds < 30
    rows = _rows(tmp_path / "out")
    assert rows["b"]["status"] == "not-graded"
    assert "connection to the Dask scheduler was lost" in rows["b"]["notes"]


@pytest.mark.slow
def test_local_starts_a_cluster_for_the_run(tmp_path, capsys):
    corpus.build(tmp_path / "class", [corpus.Case("ann", "ok", 4, "")])
    status, _ = _grade(tmp_path / "class", tmp_path / "out",
                       scheduler="local:1")
    assert status == 0 and "on 1 Dask worker(s)" in capsys.readouterr().err
    assert _rows(tmp_path / "out")["ann"]["total"] == "4"


def test_a_worker_that_would_grade_differently_is_named(tmp_path):
    from dataclasses import replace

    from ziptie.grader.grade_dask import WorkerUnfit, _Job, _prepare

    job = _Job(str(corpus.COURSE), corpus.ASSIGNMENT, "key", LIMITS,
               (("course", "another"), ("grader", "another")),
               (str(corpus.COURSE),), (), accept_weak=True)
    with pytest.raises(WorkerUnfit, match="would grade differently: it has "
                       "other course files and another ziptie or Python"):
        _prepare(job)
    with pytest.raises(WorkerUnfit, match="sees no /nowhere"):
        _prepare(replace(job, visible=("/nowhere",)))


def test_without_dask_the_error_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from ziptie.grader.grade_dask import _connect

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SystemExit, match=r"pip install 'ziptie\[cluster\]'"):
        _connect("local:1")


@pytest.mark.slow
def test_ctrl_c_stops_the_run_with_its_rows(tmp_path):
    import signal
    import subprocess
    import sys

    corpus.build(tmp_path / "class", [
        corpus.Case("a_loop", "timeout", 2, "", {
            "mse": "while True:\n    pass\n"}),
        corpus.Case("b", "ok", 4, "")])
    run = subprocess.Popen(
        [sys.executable, "-m", "ziptie.cli", "grade",
         str(tmp_path / "class"), "--out", str(tmp_path / "out"),
         "--scheduler", "local:1", "--cell-timeout", "12"],
        cwd=corpus.COURSE, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, preexec_fn=corpus.interruptible)
    assert run.stderr is not None
    for line in run.stderr:          # the header, then grading starts
        if line.startswith("  grading"):
            break
    time.sleep(2)                    # a_loop is running, b waits
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    rows = _rows(tmp_path / "out")
    assert rows["b"]["status"] == "not-graded"
    assert "run again" in rows["b"]["notes"]
    assert rows["missing"]["status"] == "missing"
