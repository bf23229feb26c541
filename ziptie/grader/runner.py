"""What runs inside the sandbox: a student's cells, then the grader's probes.

``python -m ziptie.grader.runner`` reads one job (JSON) from stdin::

    {"cells": ["source", ...], "skip_cells": [3], "cell_timeout": 60,
     "cell_forbid": {"3": ["torch.optim.sgd.sgd", ...]},
     "probes": [{"steps": [...]}, ...], "skip_probes": [], "key": "..."}

and reports on file descriptor 3, one JSON object per line, each line
signed with the job's ``"key"`` (see ``Channel``), as it goes::

    {"event": "cell", "index": 0}                   a cell starts
    {"event": "cell_done", "index": 0, "error": null | "Name: message",
     "forbidden": [names of forbidden functions the cell called]}
    {"event": "probe", "index": 0, "values": [...]} or "error": "..."
    {"event": "done"}

Everything here runs with the student's code in the same process, so
nothing in this file is trusted: the grader validates what it receives,
and a result only ever counts if it equals what the grader computed itself
on inputs drawn after the student handed in. Values cross as plain JSON
(numbers, strings, lists; arrays as ``{"$nd": nested lists, "dtype": ...}``),
never as pickles.

A probe's steps, and the values they take and give back, are read and
run by ``ziptie.grader.runner_probe``.

Before the first cell the runner adds the tripwires of
``ziptie.grader.tripwire`` (an audit hook the notebook cannot remove), and
each refusal comes back as ``{"event": "flag", "what": "..."}``. Nothing a
notebook prints while it is probed is kept: standard output and error go
to ``/dev/null`` before the first probe. The timer that ends a cell is
Python's own ``default_int_handler``, so no function of this file is
reachable from the notebook's objects.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from ziptie.grader import tripwire
from ziptie.grader.runner_probe import _run_probe

#: The process that reports; a forked child of the student's code never does.
_ROOT_PID = os.getpid()


#: What the grader reads for a cell or probe stopped by the timer.
TIMEOUT = "CellTimeout: the cell ran past the time limit of one cell"


class Channel:
    """The results channel (fd 3): one JSON event a line, each signed with
    the run's key (HMAC-SHA256), so that the grader keeps only the lines
    this runner wrote. The key comes on stdin and is held here only: no
    global, no module attribute, nothing the notebook can name."""

    def __init__(self, fd: int, key: str):
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        self._key = key.encode()

    def emit(self, **message) -> None:
        if os.getpid() != _ROOT_PID or self._file is None:
            return
        data = json.dumps(message, allow_nan=True)
        self._file.write(f"{sign(self._key, data)} {data}\n")
        self._file.flush()

    def forget(self) -> None:
        """In a forked child: never write."""
        self._file = None    # type: ignore[assignment]


def sign(key: bytes, data: str) -> str:
    """The signature of one event line."""
    import hashlib
    import hmac

    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()[:32]


def _error_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().rstrip(":")
    return text.splitlines()[0][:500] if text else type(err).__name__

# -- cells ------------------------------------------------------------------

def _shell(namespace_dir: str):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    os.environ.setdefault("IPYTHONDIR", os.path.join(namespace_dir,
                                                     ".ipython"))
    return InteractiveShell.instance(config=config)


def _start_timer(seconds: float) -> None:
    """SIGALRM after ``seconds``, handled by Python's own handler (which
    raises KeyboardInterrupt): the notebook can read the handler with
    ``signal.getsignal``, and it leads nowhere."""
    signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _error_of(err: BaseException | None) -> str | None:
    if err is None:
        return None
    if isinstance(err, KeyboardInterrupt):
        return TIMEOUT
    return _error_line(err)


def _run_cell(shell, source: str, timeout: float) -> str | None:
    _start_timer(timeout)
    try:
        result = shell.run_cell(source, store_history=False, silent=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return _error_of(result.error_before_exec or result.error_in_exec)


def _silence() -> None:
    """Send what the notebook prints from now on to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _report_flags(out: Channel, hits: list, reported: list,
                  where: str) -> None:
    while len(reported) < len(hits):
        what = str(hits[len(reported)])[:300]
        reported.append(what)
        out.emit(event="flag", what=f"{where}: {what}")


def _run_cells(out: Channel, shell, job: dict, forbidden: dict,
               hits: list, reported: list) -> None:
    """Run the cells; while a solution cell runs, a function its task
    forbids raises too (``forbidden``: cell index -> ``Forbidden``)."""
    skip = set(job.get("skip_cells", []))
    for index, source in enumerate(job["cells"]):
        if index in skip:
            continue
        out.emit(event="cell", index=index)
        called: list = []
        if index in forbidden:
            sys.setprofile(tripwire.profiler(forbidden[index], called))
        try:
            error = _run_cell(shell, source, job.get("cell_timeout", 60))
        except BaseException as err:  # noqa: BLE001 - a student's cell
            error = _error_of(err)
        finally:
            sys.setprofile(None)
        if os.getpid() != _ROOT_PID:  # a child the student's code forked
            os._exit(0)
        _report_flags(out, hits, reported, f"cell {index + 1}")
        out.emit(event="cell_done", index=index, error=error,
                 forbidden=[str(name) for name in called])


def _run_probes(out: Channel, namespace: dict, job: dict, forbidden: dict,
                hits: list, reported: list) -> None:
    skip = set(job.get("skip_probes", []))
    for index, probe in enumerate(job.get("probes", [])):
        if index in skip:
            continue
        out.emit(event="probe_start", index=index)
        called: list[str] = []
        after: dict = {}
        _start_timer(job.get("cell_timeout", 60))
        try:
            message: dict = {"values": _run_probe(namespace, probe,
                                            forbidden.get(index), called,
                                            after), "args_after": after}
        except BaseException as err:  # noqa: BLE001
            message = {"error": _error_of(err)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if os.getpid() != _ROOT_PID:
            os._exit(0)
        if called:
            message["forbidden"] = [str(name) for name in called]
        _report_flags(out, hits, reported, "while probed")
        try:
            out.emit(event="probe", index=index, **message)
        except (TypeError, ValueError) as err:
            out.emit(event="probe", index=index, error=_error_line(err))


def main() -> int:
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    out = Channel(3, str(job.pop("key", "")))
    os.register_at_fork(after_in_child=out.forget)
    sys.path.insert(0, os.getcwd())
    shell = _shell(os.getcwd())
    # Resolved before any student code runs, so no rebinding can hide them.
    forbidden = {k: tripwire.Forbidden(p["forbid"])
                 for k, p in enumerate(job.get("probes", []))
                 if p.get("forbid")}
    in_cells = {int(k): tripwire.Forbidden(names)
                for k, names in job.get("cell_forbid", {}).items()}
    hits: list = []
    reported: list = []
    namespace = shell.user_ns       # the one the cells fill: no stand-in
    if job.get("tripwires", True):   # off only in the sandbox's own tests
        tripwire.install_audit_hook(hits)
    _run_cells(out, shell, job, in_cells, hits, reported)
    _silence()
    _run_probes(out, namespace, job, forbidden, hits, reported)
    out.emit(event="done")
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
