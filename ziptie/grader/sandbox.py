"""Run a student's notebook in a separate, locked-down process.

Only a process boundary holds against code in the same process, so every
submission runs in a process of its own (``ziptie.grader.runner``), never
forked from the grader: forked from a *zygote* that has imported torch and
holds nothing else (``sandbox_zygote``, the warm start), or started fresh
with ``subprocess`` (``Limits(warm_start=False)``), and killed as a whole
when it is done. Where the machine allows it (root, or
unprivileged user namespaces), a submission gets, for all its processes
together:

- new mount, network, PID, IPC and UTS namespaces (``unshare``): no
  network but its own loopback; its own process table and ``/proc``, so
  the grader's command lines are out of sight; its own SysV shared memory,
  gone with it; when its first process ends, the kernel ends every other;
- every file system read-only, the course's ``solutions/``, ``grading/``,
  the gradebook and other students' work under empty folders, and one
  writable place: a private ``/tmp`` (a ``tmpfs`` capped in bytes and
  files, ``/dev/shm`` inside it) holding a copy of its files;
- control groups (v2, or v1 where that is what the machine mounts) that
  cap the memory and the processes of the whole tree and count its CPU
  time; the group is removed after the run;
- an unprivileged user id of its own (when the grader runs as root);
- per-process resource limits as a second line: address space, file
  size, CPU seconds, no core files;
- a wall-clock limit per cell and per notebook, kept by the grader, and a
  cap on printed output and on the results channel (file descriptor 3).

``isolation()`` says which of these this machine gives; ``ziptie doctor``
and every grading run print it, and ``ziptie grade`` refuses a weaker
sandbox unless the instructor accepts it (``--accept-weak-sandbox``).

Why not bubblewrap: it is not installed on the course's machines (an extra
system package, fetched from the network), it has no cgroups, so the limits
for the whole tree need this code anyway, and its tmpfs has no cap on the
number of files. The jail (``sandbox_jail``) is short, and the tests try
each of its promises.

This module is the front door: ``run`` starts a submission, again without
the cell that killed it, and ``require`` checks the isolation first. The
parts, in the order a run uses them:

- ``sandbox_limits``: ``Limits``, what one submission may use;
- ``sandbox_isolation``: what this machine gives (``isolation()``);
- ``sandbox_cgroups``: the control groups of one run;
- ``sandbox_process``: one start, watched from the grader;
- ``sandbox_zygote``: the warm start, a fork of a prepared interpreter;
- ``sandbox_jail``: inside, the namespaces and files, then the runner;
- ``sandbox_channel``: the output and the results that come back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ziptie.grader.sandbox_channel import Outcome
from ziptie.grader.sandbox_isolation import Isolation, isolation
from ziptie.grader.sandbox_jail import hidden_paths
from ziptie.grader.sandbox_limits import GRACE, Limits
from ziptie.grader.sandbox_process import Run

__all__ = ["GRACE", "Isolation", "Limits", "Outcome", "hidden_paths",
           "isolation", "require", "run"]


def require(accept_weak: bool = False) -> Isolation:
    """The isolation, or a clear refusal where protections are missing and
    the instructor has not accepted that (``--accept-weak-sandbox``)."""
    iso = isolation()
    if iso.missing() and not accept_weak:
        raise SystemExit(
            "ziptie: this machine cannot lock the sandbox down: "
            + "; ".join(iso.missing()) + ". Grade as root on Linux, or, if "
            "you trust every submission, accept this with "
            "--accept-weak-sandbox.")
    return iso


def _last_started(outcome: Outcome) -> tuple[str, int] | None:
    for kind, table in (("probe", outcome.probes), ("cell", outcome.cells)):
        pending = [i for i, v in table.items()
                   if v in ("did not finish", {"error": "did not finish"})]
        if pending:
            return kind, max(pending)
    return None


def _stage(base: Path, attempt: int, files: dict[str, bytes],
           uid: int | None) -> Path:
    """The files of one attempt, in a folder the sandbox starts from."""
    scratch = base / f"run{attempt}"
    scratch.mkdir()
    for name, data in files.items():
        (scratch / name).write_bytes(data)
    if uid is not None:
        os.chmod(base, 0o711)
        for path in (scratch, *scratch.rglob("*")):
            os.chown(path, uid, uid)
    os.chmod(scratch, 0o700)
    return scratch


def run(job: dict, files: dict[str, bytes], limits: Limits = Limits(),
        hide: Sequence[str] = (), uid: int | None = None,
        on_event: Callable[[dict], None] | None = None) -> Outcome:
    """Run ``job`` in a fresh sandbox holding only ``files``.

    When the sandbox dies or is killed in a cell or a probe, it runs again
    without that cell or probe (at most ``limits.restarts`` times), so one
    runaway cell costs only what depends on it.

    ``on_event`` is called in the grader's process (from a thread of its
    own: keep it short) with each event as it arrives: ``{"event": "cell",
    "index": 3}`` when cell 3 starts, ``"cell_done"``, ``"probe_start"``,
    ``"probe"``, ``"done"``; what it raises, ``run`` raises at the end.
    """
    base = Path(tempfile.mkdtemp(prefix="ziptie-sandbox-"))
    job = dict(job, cell_timeout=limits.cell_timeout)
    merged = Outcome()
    try:
        for attempt in range(limits.restarts + 1):
            scratch = _stage(base, attempt, files, uid)
            outcome = Run(isolation(), job, scratch, limits, list(hide),
                          uid, on_event).watch()
            _merge(merged, outcome)
            blame = _last_started(outcome)
            if outcome.finished or blame is None:
                break
            _skip(job, merged, outcome, blame)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return merged


def _merge(merged: Outcome, outcome: Outcome) -> None:
    merged.seconds += outcome.seconds
    merged.output += outcome.output
    merged.problems += outcome.problems
    merged.cells.update(outcome.cells)
    merged.probes.update(outcome.probes)
    merged.flags += outcome.flags[:20]
    merged.called.update(outcome.called)
    merged.finished = outcome.finished


def _skip(job: dict, merged: Outcome, outcome: Outcome,
          blame: tuple[str, int]) -> None:
    """Name the cell or probe the run ended in; skip it next time."""
    kind, index = blame
    reason = outcome.problems[-1] if outcome.problems else "crashed"
    if kind == "cell":
        merged.cells[index] = f"the sandbox ended in this cell: {reason}"
        job["skip_cells"] = [*job.get("skip_cells", []), index]
    else:
        merged.probes[index] = {"error": f"the sandbox ended here: {reason}"}
        job["skip_probes"] = [*job.get("skip_probes", []), index]

