"""One start of the sandbox, seen from the grader: start the jail in its
control groups, read what comes back, end it at a limit, say why it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ziptie.grader.sandbox_cgroups import Group
from ziptie.grader.sandbox_channel import Outcome, Output, Reader, record
from ziptie.grader.sandbox_isolation import Isolation
from ziptie.grader.sandbox_jail import runtime_paths
from ziptie.grader.sandbox_limits import GRACE, Limits
from ziptie.grader.sandbox_zygote import WarmProcess, zygote


class Run:
    """One start of the sandbox: the process, its readers, its groups."""

    def __init__(self, iso: Isolation, job: dict, scratch: Path,
                 limits: Limits, hide: list[str], uid: int | None,
                 on_event: Callable[[dict], None] | None):
        self.iso, self.limits, self.on_event = iso, limits, on_event
        self.outcome = Outcome()
        self.error: BaseException | None = None
        self.closed = False
        self.sizes = len(job["cells"]), len(job.get("probes", []))
        self.group = Group(iso, limits)
        try:
            self._spawn(job, scratch, hide, uid)
        except BaseException:
            self.group.kill()
            self.group.remove()
            raise

    def _spawn(self, job: dict, scratch: Path, hide: list[str],
               uid: int | None) -> None:
        iso, limits = self.iso, self.limits
        read_events, write_events = os.pipe()
        # the grader's temporary folder holds the others' staged files
        hide = [*hide, os.path.realpath(tempfile.gettempdir())]
        spec = {"staging": str(scratch), "hide": hide, "uid": uid,
                "keep": [os.path.realpath(p) for p in runtime_paths()],
                "mount": "mount" in iso.namespaces,
                "cgroups": self.group.procs(), "channel": write_events,
                "limits": {k: getattr(limits, k) for k in (
                    "memory", "processes", "file_size", "cpu_time", "disk",
                    "files")}}
        self.start = time.monotonic()
        self.proc: subprocess.Popen | WarmProcess
        if limits.warm_start:
            spec.update(channel=3, namespaces=list(iso.namespaces)
                        if iso.prefix else [])
            self.proc = zygote().spawn(spec, write_events)
        else:
            self.proc = subprocess.Popen(
                [*iso.prefix, sys.executable, "-I", "-m",
                 "ziptie.grader.sandbox_jail", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, pass_fds=(write_events,),
                start_new_session=True, cwd=scratch,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                     "LANG": "C.UTF-8"})
            os.close(write_events)
        self.output = Output(self.proc.stdout, limits.output)
        key = secrets.token_hex(16)     # signs the runner's events
        self.events = Reader(os.fdopen(read_events, "rb"), limits.event,
                             limits.events, self._handle, key.encode())
        self.output.start()
        self.events.start()
        stdin = self.proc.stdin
        assert stdin is not None        # Popen(stdin=PIPE)
        with contextlib.suppress(BrokenPipeError):
            stdin.write(json.dumps(dict(job, key=key)).encode())
            stdin.close()

    def _handle(self, event: dict) -> None:
        if self.closed or not record(self.outcome, event, *self.sizes):
            return
        if self.on_event is not None and self.error is None:
            try:
                self.on_event(event)
            except Exception as err:  # noqa: BLE001 - raised in run()
                self.error = err

    def _limit_passed(self) -> str | None:
        now, limits = time.monotonic(), self.limits
        if self.output.total > limits.output_kill or self.events.over:
            return "output-limit"
        if self.group.count("cpu") > limits.cpu_time:
            return "cpu-limit"
        if now - max(self.start, self.events.last) > \
                limits.cell_timeout + GRACE or \
                now - self.start > limits.notebook_timeout:
            return "timeout"
        return None

    def watch(self) -> Outcome:
        """Wait for the end, or end it at a limit; what came back."""
        try:
            while True:
                try:
                    self.proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if problem := self._limit_passed():
                    self.outcome.problems.append(problem)
                    break
        finally:
            hits = self._stop()
        self._conclude(hits)
        if self.error is not None:
            raise self.error
        return self.outcome

    def _stop(self) -> dict[str, float]:
        """End every process of the run; what its groups counted."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.group.kill()
        self.proc.wait()
        self.events.join(timeout=5)
        self.output.join(timeout=5)
        self.closed = True
        hits = {c: self.group.count(c) for c in ("memory", "pids")}
        self.group.remove()
        return hits

    def _conclude(self, hits: dict[str, float]) -> None:
        outcome = self.outcome
        outcome.seconds = time.monotonic() - self.start
        self._keep_output()
        if self.events.forged:
            outcome.flags.append(f"{self.events.forged} line(s) on the "
                                 f"results channel that the grader's runner "
                                 f"did not write")
        if self.events.over and "output-limit" not in outcome.problems:
            outcome.problems.append("output-limit")
        if outcome.finished or outcome.problems:
            return
        if hits["memory"]:
            outcome.problems.append("memory-limit")
        elif hits["pids"]:
            outcome.problems.append("process-limit")
        else:
            code = self.proc.returncode
            why = f"signal {-code}" if code and code < 0 \
                else f"exit status {code}"
            outcome.problems.append(f"crashed ({why})")

    def _keep_output(self) -> None:
        output, limits = self.output, self.limits
        self.outcome.output = output.data.decode("utf-8", "replace")
        if output.total > limits.output:
            self.outcome.output += f"\n[... {output.total - limits.output} " \
                                   f"more bytes of output not kept]"
        if self.events.over:
            self.outcome.output += f"\n[the results channel passed its " \
                                   f"limit: {self.events.over}]"
