"""Run a student's notebook in a separate, locked-down process.

Only a process boundary holds against code in the same process, so every
submission runs in a process of its own (``ziptie.grader.runner``),
started fresh with ``subprocess`` (never forked from the grader), and is
killed as a whole when it is done. Where the machine allows it (root, or
unprivileged user namespaces), the process gets:

- new mount, network and PID namespaces (``unshare``): no network, and
  when the first process of the sandbox ends the kernel ends every other
  one, even those that left the process group;
- an empty ``/tmp`` holding only its scratch folder (the submission and the
  files the assignment needs), with the course's ``solutions/``,
  ``grading/``, the gradebook and other students' work hidden under empty
  folders;
- an unprivileged user id of its own (when the grader runs as root), so
  the limit on processes holds and nothing the grader owns is writable;
- resource limits: address space (memory), processes, CPU seconds, file
  size, no core files; a wall-clock limit per cell and per notebook is
  kept by the grader, and output beyond a cap is dropped or ends the run.

``isolation()`` says which of these this machine gives; the grader prints
it, so a weaker sandbox is never a silent one.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ziptie.grader.runner import sign


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    cell_timeout: float = 60.0      # seconds of wall clock per cell
    notebook_timeout: float = 300.0  # seconds of wall clock for everything
    memory: int = 3 << 30           # bytes of address space (torch needs ~1G)
    processes: int = 64             # processes and threads of the sandbox
    output: int = 256 << 10         # bytes of printed output kept
    output_kill: int = 64 << 20     # bytes of printed output that end a run
    file_size: int = 64 << 20       # bytes in any file it writes
    restarts: int = 2               # reruns without a cell that killed it


@dataclass
class Outcome:
    """What came back from one run of the sandbox."""

    cells: dict[int, str | None] = field(default_factory=dict)
    probes: dict[int, dict] = field(default_factory=dict)
    finished: bool = False
    #: why the run ended early: "timeout", "output-limit", "crashed"
    problems: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    #: what the notebook's tripwires refused (``ziptie.grader.tripwire``)
    flags: list[str] = field(default_factory=list)
    #: by cell, the functions its task forbids that it called
    called: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Isolation:
    """The protections this machine gives the sandbox."""

    namespaces: tuple[str, ...]   # e.g. ("mount", "net", "pid")
    separate_user: bool            # runs as an unprivileged uid of its own
    prefix: tuple[str, ...]        # the unshare command line, or ()

    def describe(self) -> str:
        parts = []
        parts.append("no network" if "net" in self.namespaces
                     else "NETWORK NOT ISOLATED (no network namespace)")
        parts.append("private /tmp, course files hidden"
                     if "mount" in self.namespaces
                     else "COURSE FILES READABLE (no mount namespace)")
        parts.append("whole process tree ended"
                     if "pid" in self.namespaces
                     else "process group ended")
        parts.append("own user id" if self.separate_user
                     else "same user id as the grader")
        return ", ".join(parts)


_UNSHARE_FLAGS = ("--mount", "--net", "--pid", "--fork", "--kill-child")


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Find out once which namespaces this machine lets the sandbox have."""
    unshare = shutil.which("unshare")
    root = os.geteuid() == 0
    if unshare:
        tries = [(unshare, *_UNSHARE_FLAGS)] if root else []
        tries.append((unshare, "--map-root-user", *_UNSHARE_FLAGS))
        for prefix in tries:
            try:
                done = subprocess.run([*prefix, "true"], capture_output=True,
                                      timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return Isolation(("mount", "net", "pid"), root, prefix)
    return Isolation((), root, ())


# -- inside: the jail, between unshare and the runner ----------------------

_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 4096, 16384, \
    1 << 18


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if libc.mount(enc(source), enc(target), enc(fstype),
                  ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _hide(path: str, keep: dict[str, int]) -> None:
    """Cover ``path`` with an empty folder; bring back the ``keep`` paths
    inside it (opened beforehand as file descriptors)."""
    if os.path.isdir(path):
        _mount("none", path, "tmpfs", _MS_NOSUID | _MS_NODEV,
               "size=1m,mode=0755")
        for kept, fd in keep.items():
            if kept.startswith(path.rstrip("/") + "/"):
                os.makedirs(kept, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", kept, None, _MS_BIND | _MS_REC)
    elif os.path.exists(path):
        _mount("/dev/null", path, None, _MS_BIND)


#: Folders that hold other people's files: empty in the sandbox.
SYSTEM_HIDDEN = ("/root", "/home", "/var/tmp", "/dev/shm", "/run", "/mnt",
                 "/media", "/srv", "/opt", "/work", "/tmp")


def jail(spec: dict) -> None:
    """Lock the process down as ``spec`` says, then become the runner.

    Runs as (namespace) root in fresh namespaces; what it cannot do it
    skips, and the grader has already said so through ``isolation()``.
    """
    import resource

    scratch = spec["scratch"]
    work = scratch
    if spec["mount"]:
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
        keep = {}
        for path in spec["keep"]:
            with contextlib.suppress(OSError):
                keep[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
        hide = [*spec["hide"], *SYSTEM_HIDDEN]
        for path in sorted(set(hide), key=len):
            if not any(k == path or path.startswith(k + "/") for k in keep):
                with contextlib.suppress(OSError):
                    _hide(path, keep)
        os.makedirs("/tmp/work", exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", "/tmp/work", None, _MS_BIND | _MS_REC)
        os.close(fd)
        for kept in keep.values():
            os.close(kept)
        work = "/tmp/work"
    limits = spec["limits"]
    for name, value in (("RLIMIT_AS", limits["memory"]),
                        ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_FSIZE", limits["file_size"]),
                        ("RLIMIT_CPU", int(limits["notebook_timeout"]) + 5),
                        ("RLIMIT_CORE", 0),
                        ("RLIMIT_NOFILE", 256)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.chdir(work)
    env = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
           "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
           "IPYTHONDIR": os.path.join(work, ".ipython"),
           "MPLCONFIGDIR": os.path.join(work, ".matplotlib"),
           "ZIPTIE_DEVICE": "cpu"}
    if spec["channel"] != 3:
        os.dup2(spec["channel"], 3)
        os.close(spec["channel"])
    os.execve(sys.executable,
              [sys.executable, "-I", "-m", "ziptie.grader.runner"], env)


# -- outside: start, watch and end one run ----------------------------------

def _needed() -> list[str]:
    """What Python and the ``ziptie`` package need to run."""
    return [sys.prefix, sys.base_prefix, str(Path(__file__).parents[1])]


def hidden_paths(*roots: Path) -> list[str]:
    """Everything in the course folders a submission must not read.

    In each root every entry is hidden except what Python needs to run:
    the virtual environment and the ``ziptie`` package.
    """
    needed = {Path(p).resolve() for p in _needed()}
    hide: set[str] = set()
    for root in roots:
        root = Path(root).resolve()
        if not root.is_dir():
            hide.add(str(root))
            continue
        for entry in root.iterdir():
            entry = entry.resolve()
            if any(entry == n or entry in n.parents for n in needed):
                continue
            hide.add(str(entry))
    return sorted(hide)


class _Reader(threading.Thread):
    """Drain a pipe; keep the first ``keep`` bytes, count the rest."""

    def __init__(self, stream, keep: int, lines: bool = False,
                 key: bytes = b""):
        super().__init__(daemon=True)
        self.stream, self.keep, self.lines = stream, keep, lines
        self.key = key              # events must be signed with it
        self.data = bytearray()
        self.total = 0
        self.events: list[dict] = []
        self.bad = 0
        self.forged = 0

    def run(self) -> None:
        if self.lines:
            self._lines()
            return
        while chunk := self.stream.read1(1 << 16):
            self.total += len(chunk)
            room = self.keep - len(self.data)
            if room > 0:
                self.data += chunk[:room]

    def _lines(self) -> None:
        buffer = bytearray()
        while chunk := self.stream.read1(1 << 16):
            self.total += len(chunk)
            buffer += chunk
            while (end := buffer.find(b"\n")) >= 0:
                line, buffer = bytes(buffer[:end]), buffer[end + 1:]
                self._parse(line)
            if len(buffer) > self.keep:  # one line too long: not ours
                self.bad += 1
                buffer.clear()

    def _parse(self, line: bytes) -> None:
        mac, _, data = line.partition(b" ")
        expected = sign(self.key, data.decode("utf-8", "replace"))
        if not hmac.compare_digest(mac, expected.encode()):
            self.forged += 1        # not written by the runner
            return
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            self.bad += 1
            return
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            self.events.append(event)
        else:
            self.bad += 1


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _once(job: dict, scratch: Path, limits: Limits, hide: list[str],
          uid: int | None) -> Outcome:
    iso = isolation()
    spec = {"scratch": str(scratch), "hide": hide, "uid": uid,
            "keep": [os.path.realpath(p) for p in _needed()],
            "mount": "mount" in iso.namespaces,
            "limits": {"memory": limits.memory,
                       "processes": limits.processes,
                       "file_size": limits.file_size,
                       "notebook_timeout": limits.notebook_timeout}}
    read_events, write_events = os.pipe()
    spec["channel"] = write_events
    key = secrets.token_hex(16)
    command = [*iso.prefix, sys.executable, "-I", "-m",
               "ziptie.grader.sandbox", json.dumps(spec)]
    start = time.monotonic()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, pass_fds=(write_events,),
        start_new_session=True, cwd=scratch,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "LANG": "C.UTF-8"},
    )
    os.close(write_events)
    output = _Reader(proc.stdout, limits.output)
    events = _Reader(os.fdopen(read_events, "rb"), 64 << 20, lines=True,
                     key=key.encode())
    output.start()
    events.start()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(json.dumps(dict(job, key=key)).encode())
        proc.stdin.close()
    outcome = Outcome()
    current_since = start
    seen = 0
    while True:
        try:
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if len(events.events) > seen:
            seen = len(events.events)
            current_since = now
        if output.total > limits.output_kill:
            outcome.problems.append("output-limit")
        elif (now - current_since > limits.cell_timeout + 5
              or now - start > limits.notebook_timeout):
            outcome.problems.append("timeout")
        else:
            continue
        _kill(proc)
        break
    proc.wait()
    _kill(proc)  # anything left in the process group
    events.join(timeout=5)
    output.join(timeout=5)
    outcome.seconds = time.monotonic() - start
    outcome.output = output.data.decode("utf-8", "replace")
    if output.total > limits.output:
        outcome.output += f"\n[... {output.total - limits.output} more " \
                          f"bytes of output not kept]"
    for event in events.events:
        kind, index = event.get("event"), event.get("index")
        if kind == "done":
            outcome.finished = True
        elif kind == "flag":
            outcome.flags.append(str(event.get("what"))[:300])
        elif not isinstance(index, int):
            continue
        elif kind == "cell":
            outcome.cells.setdefault(index, "did not finish")
        elif kind == "cell_done":
            error = event.get("error")
            outcome.cells[index] = str(error)[:500] if error else None
            if event.get("forbidden"):
                outcome.called[index] = [str(n)[:100]
                                         for n in event["forbidden"][:5]]
        elif kind == "probe_start":
            outcome.probes.setdefault(index, {"error": "did not finish"})
        elif kind == "probe":
            outcome.probes[index] = {k: event[k] for k in (
                "values", "error", "forbidden", "args_after") if k in event}
    if events.forged:
        outcome.flags.append(f"{events.forged} line(s) on the results "
                             f"channel that the grader's runner did not write")
    if not outcome.finished and not outcome.problems:
        code = proc.returncode
        why = f"signal {-code}" if code and code < 0 else f"exit status {code}"
        outcome.problems.append(f"crashed ({why})")
    return outcome


def _last_started(outcome: Outcome) -> tuple[str, int] | None:
    for kind, table in (("probe", outcome.probes), ("cell", outcome.cells)):
        pending = [i for i, v in table.items()
                   if v in ("did not finish", {"error": "did not finish"})]
        if pending:
            return kind, max(pending)
    return None


def run(job: dict, files: dict[str, bytes], limits: Limits = Limits(),
        hide: list[str] = (), uid: int | None = None) -> Outcome:
    """Run ``job`` in a fresh sandbox holding only ``files``.

    When the sandbox dies or is killed in a cell or a probe, it runs again
    without that cell or probe (at most ``limits.restarts`` times), so one
    runaway cell costs only what depends on it.
    """
    base = Path(tempfile.mkdtemp(prefix="ziptie-sandbox-"))
    job = dict(job, cell_timeout=limits.cell_timeout)
    merged = Outcome()
    try:
        for attempt in range(limits.restarts + 1):
            scratch = base / f"run{attempt}"
            scratch.mkdir()
            for name, data in files.items():
                (scratch / name).write_bytes(data)
            if uid is not None:
                os.chmod(base, 0o711)
                for path in (scratch, *scratch.rglob("*")):
                    os.chown(path, uid, uid)
            os.chmod(scratch, 0o700)
            outcome = _once(job, scratch, limits, list(hide), uid)
            merged.seconds += outcome.seconds
            merged.output += outcome.output
            merged.problems += outcome.problems
            merged.flags += outcome.flags[:20]
            merged.cells.update(outcome.cells)
            merged.called.update(outcome.called)
            merged.probes.update(outcome.probes)
            merged.finished = outcome.finished
            blame = _last_started(outcome)
            if outcome.finished or blame is None:
                break
            kind, index = blame
            reason = outcome.problems[-1] if outcome.problems else "crashed"
            if kind == "cell":
                merged.cells[index] = f"the sandbox ended in this cell: {reason}"
                job["skip_cells"] = [*job.get("skip_cells", []), index]
            else:
                merged.probes[index] = {"error": f"the sandbox ended here: "
                                                 f"{reason}"}
                job["skip_probes"] = [*job.get("skip_probes", []), index]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return merged


if __name__ == "__main__":
    jail(json.loads(sys.argv[1]))
