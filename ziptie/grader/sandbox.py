"""Run a student's notebook in a separate, locked-down process.

Only a process boundary holds against code in the same process, so every
submission runs in a process of its own (``ziptie.grader.runner``),
started fresh with ``subprocess`` (never forked from the grader), and is
killed as a whole when it is done. Where the machine allows it (root, or
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
number of files. The jail below is short, and the tests try each of its
promises.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hmac
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from ziptie.grader.runner import sign

#: Seconds the grader waits past the runner's own alarm before it kills.
GRACE = 5.0


@dataclass(frozen=True)
class Limits:
    """What one submission may use, all its processes together.

    The one place the time limits are set: ``ziptie check``, ``ziptie
    grade`` and nbgrader (``nbgrader_config.py``) take their defaults here.
    """

    cell_timeout: float = 60.0       # seconds of wall clock per cell
    notebook_timeout: float = 600.0  # seconds of wall clock for the run
    cpu_time: float = 600.0          # CPU seconds of all its processes
    memory: int = 3 << 30            # bytes of memory (torch needs ~1G)
    processes: int = 64              # processes and threads
    disk: int = 256 << 20            # bytes in its private /tmp
    files: int = 10_000              # files and folders in its /tmp
    file_size: int = 64 << 20        # bytes in any file it writes
    output: int = 256 << 10          # bytes of printed output kept
    output_kill: int = 64 << 20      # bytes of printed output that end it
    event: int = 1 << 20             # bytes of one result event
    events: int = 16 << 20           # bytes of all its result events
    restarts: int = 2                # reruns without a cell that killed it

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name == "restarts" else 1e-9
            kind = float if f.type == "float" else int
            if type(value) not in (int, kind) or isinstance(value, bool) \
                    or not low <= value < float("inf"):
                what = "a whole number" if kind is int else "a number"
                floor = "of 0 or more" if low == 0 else "above 0"
                raise ValueError(f"Invalid {f.name}: {value!r} (must be "
                                 f"{what} {floor})")


@dataclass
class Outcome:
    """What came back from one run of the sandbox."""

    cells: dict[int, str | None] = field(default_factory=dict)
    probes: dict[int, dict] = field(default_factory=dict)
    finished: bool = False
    #: why the run ended early: "timeout", "cpu-limit", "memory-limit",
    #: "process-limit", "output-limit", "crashed (...)"
    problems: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    #: what the notebook's tripwires refused (``ziptie.grader.tripwire``)
    flags: list[str] = field(default_factory=list)
    #: by cell, the functions its task forbids that it called
    called: dict[int, list[str]] = field(default_factory=dict)


# -- what this machine gives -------------------------------------------------

@dataclass(frozen=True)
class Isolation:
    """The protections this machine gives the sandbox."""

    namespaces: tuple[str, ...]   # of "mount", "net", "pid", "ipc", "user"
    separate_user: bool            # runs as an unprivileged uid of its own
    prefix: tuple[str, ...]        # the unshare command line, or ()
    #: (controller, cgroup version, folder its groups are made in), for
    #: "memory", "pids" and "cpu"
    cgroups: tuple[tuple[str, str, str], ...] = ()

    def protections(self) -> list[tuple[str, bool, str]]:
        """Each protection: a key, in force or not, what it means."""
        ns = set(self.namespaces)
        groups = {c: f"cgroup {v}" for c, v, _ in self.cgroups}

        def whole(key: str, what: str, fallback: str):
            if key in groups:
                return key, True, f"{what} capped for the whole process " \
                                  f"tree ({groups[key]})"
            return key, False, f"{what} {fallback}".upper() + \
                f" (no {key} cgroup)"

        def namespace(key: str, given: str, missing: str):
            return key, key in ns, given if key in ns else missing

        user = self.separate_user or "user" in ns
        return [
            namespace("net", "no network but its own loopback",
                      "NETWORK OPEN (no network namespace)"),
            namespace("mount", "course files hidden, all else read-only, "
                      "a private /tmp capped in bytes and files",
                      "COURSE FILES READABLE, GRADER'S FILES GUARDED BY "
                      "PERMISSIONS ONLY, NO DISK CAP (no mount namespace)"),
            namespace("pid", "own processes and /proc",
                      "HOST'S PROCESSES VISIBLE (no PID namespace)"),
            namespace("ipc", "private shared memory",
                      "SHARED MEMORY SHARED WITH THE HOST (no IPC "
                      "namespace)"),
            whole("memory", "memory", "limited per process only"),
            whole("pids", "process count", "limited per user id only"),
            whole("cpu", "CPU time", "limited per process only"),
            ("user", user, "own user id" if self.separate_user else
             "own user namespace" if user else "SAME USER ID AS THE GRADER"),
        ]

    def describe(self) -> str:
        """One line: what is in force, and what is MISSING in capitals."""
        return "; ".join(text for _, _, text in self.protections())

    def missing(self) -> list[str]:
        """The protections this machine does not give."""
        return [text for _, ok, text in self.protections() if not ok]


_UNSHARE_FLAGS = ("--mount", "--net", "--pid", "--ipc", "--uts", "--fork",
                  "--kill-child")


def _namespaces() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The namespaces ``unshare`` can give, and its command line."""
    unshare = shutil.which("unshare")
    if not unshare:
        return (), ()
    names = ("mount", "net", "pid", "ipc")
    tries = [((unshare, *_UNSHARE_FLAGS), names)] if os.geteuid() == 0 \
        else []
    tries.append(((unshare, "--map-root-user", *_UNSHARE_FLAGS),
                  (*names, "user")))
    for prefix, given in tries:
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True,
                                  timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return given, prefix
    return (), ()


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _mounts() -> list[tuple[str, str, str, str]]:
    """This process's mounts: (mount point, options, type, super options)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        tail = parts[parts.index("-") + 1:]
        found.append((_unescape(parts[4]), parts[5], tail[0],
                      tail[2] if len(tail) > 2 else ""))
    return found


#: Per controller and cgroup version: the file that caps it, the file that
#: counts (limit hits, or CPU time), and the key of the count in it.
_CGROUP_FILES = {
    ("memory", "v1"): ("memory.limit_in_bytes", "memory.oom_control",
                       "oom_kill"),
    ("memory", "v2"): ("memory.max", "memory.events", "oom_kill"),
    ("pids", "v1"): ("pids.max", "pids.events", "max"),
    ("pids", "v2"): ("pids.max", "pids.events", "max"),
    ("cpu", "v1"): ("", "cpuacct.usage", ""),
    ("cpu", "v2"): ("", "cpu.stat", "usage_usec"),
}


def _cgroup_candidates() -> list[tuple[str, str, str]]:
    """Where each controller could put a sandbox's group: v2 first, where
    the grader's own group hands the controller down, else v1."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else ["v2"]:
            own[name] = path.lstrip("/")
    found = []
    for point, _, kind, options in _mounts():
        if kind == "cgroup2" and "v2" in own:
            folder = os.path.join(point, own["v2"])
            with contextlib.suppress(OSError):
                given = Path(folder, "cgroup.subtree_control").read_text()
                found += [(c, "v2", folder) for c in ("memory", "pids", "cpu")
                          if c in given.split()]
        elif kind == "cgroup":
            for name in set(options.split(",")) & {"memory", "pids",
                                                   "cpuacct"}:
                controller = "cpu" if name == "cpuacct" else name
                found.append((controller, "v1",
                              os.path.join(point, own.get(name, ""))))
    return found


def _cgroups() -> tuple[tuple[str, str, str], ...]:
    """The controllers this grader can make groups with (tried once)."""
    chosen = {}
    for controller, version, folder in sorted(
            _cgroup_candidates(), key=lambda c: c[1] != "v2"):
        if controller in chosen:
            continue
        probe = os.path.join(folder, f"ziptie-probe-{os.getpid()}")
        try:
            os.mkdir(probe)
            os.rmdir(probe)
        except OSError:
            continue
        chosen[controller] = (controller, version, folder)
        _remove_stale(folder)
    return tuple(chosen[c] for c in sorted(chosen))


def _remove_stale(folder: str) -> None:
    """Remove the empty groups a grader that was killed left behind."""
    for name in os.listdir(folder):
        match = re.fullmatch(r"ziptie-(\d+)-\d+", name)
        if match and not os.path.exists(f"/proc/{match[1]}"):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(folder, name))


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Find out once which protections this machine gives the sandbox."""
    namespaces, prefix = _namespaces()
    try:
        groups = _cgroups()
    except (OSError, ValueError):
        groups = ()
    return Isolation(namespaces, os.geteuid() == 0 and bool(namespaces),
                     prefix, groups)


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


class _Group:
    """The control groups of one run: its whole process tree's limits."""

    _count = itertools.count()

    def __init__(self, iso: Isolation, limits: Limits):
        name = f"ziptie-{os.getpid()}-{next(self._count)}"
        self.parts: dict[str, tuple[str, str]] = {}
        try:
            for controller, version, parent in iso.cgroups:
                folder = os.path.join(parent, name)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder)
                self.parts[controller] = (version, folder)
            self._cap(limits)
        except OSError:
            self.remove()
            raise

    def _cap(self, limits: Limits) -> None:
        caps = {"memory": limits.memory, "pids": limits.processes}
        for controller, cap in caps.items():
            if controller in self.parts:
                self._write(controller, 0, str(cap))
        if "memory" in self.parts:  # no swapping past the cap
            for swap in ("memory.memsw.limit_in_bytes", "memory.swap.max"):
                with contextlib.suppress(OSError):
                    Path(self.parts["memory"][1], swap).write_text(
                        str(limits.memory) if "memsw" in swap else "0")

    def _file(self, controller: str, which: int) -> Path:
        version, folder = self.parts[controller]
        return Path(folder, _CGROUP_FILES[controller, version][which])

    def _write(self, controller: str, which: int, text: str) -> None:
        self._file(controller, which).write_text(text)

    def count(self, controller: str) -> float:
        """Limit hits (memory: processes killed; pids: forks refused), or
        CPU seconds; 0 without that controller."""
        if controller not in self.parts:
            return 0.0
        version = self.parts[controller][0]
        key = _CGROUP_FILES[controller, version][2]
        try:
            text = self._file(controller, 1).read_text()
        except OSError:
            return 0.0
        if not key:
            return int(text) / 1e9
        for line in text.splitlines():
            if line.startswith(key + " "):
                value = int(line.split()[1])
                return value / 1e6 if controller == "cpu" else value
        return 0.0

    def procs(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes itself into."""
        return sorted({os.path.join(f, "cgroup.procs")
                       for _, f in self.parts.values()})

    def kill(self) -> None:
        """End every process left in the groups."""
        for procs in self.procs():
            for _ in range(100):
                if Path(procs).with_name("cgroup.kill").exists():
                    Path(procs).with_name("cgroup.kill").write_text("1")
                try:
                    pids = [int(p) for p in Path(procs).read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)

    def remove(self) -> None:
        for folder in sorted({f for _, f in self.parts.values()}):
            for _ in range(200):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


# -- inside: the jail, between unshare and the runner ----------------------

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18
#: Mount options a read-only remount must keep (the kernel locks them).
_KEPT_OPTIONS = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV,
                 "noexec": _MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
                 "relatime": 1 << 21, "strictatime": 1 << 24}


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if libc.mount(enc(source), enc(target), enc(fstype),
                  ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _cover(path: str, options: str, keep: dict[str, int]) -> None:
    """Cover ``path`` with an empty ``tmpfs``; bring back the ``keep``
    paths inside it (opened beforehand as file descriptors)."""
    if os.path.isdir(path):
        _mount("none", path, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
        for kept, fd in keep.items():
            if kept.startswith(path.rstrip("/") + "/"):
                os.makedirs(kept, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", kept, None, _MS_BIND | _MS_REC)
    elif os.path.exists(path):
        _mount("/dev/null", path, None, _MS_BIND)


#: Folders that hold other people's files: empty in the sandbox.
SYSTEM_HIDDEN = ("/root", "/home", "/var/tmp", "/run", "/mnt", "/media",
                 "/srv", "/opt", "/work")
#: Where the sandbox may write: its private /tmp (and /dev/shm in it).
_WRITABLE = ("/tmp", "/dev/shm", "/proc")


def _hide(hide: list[str], keep: dict[str, int]) -> None:
    """Cover the course's and the system's folders of other people's
    files; a course folder that cannot be covered stops the sandbox."""
    for path in sorted({*hide, *SYSTEM_HIDDEN}, key=len):
        if any(k == path or path.startswith(k + "/") for k in keep):
            continue
        try:
            _cover(path, "size=64k,mode=755", keep)
        except OSError:
            if path in hide:
                raise


def _scratch(limits: dict, staging: int, keep: dict[str, int],
             uid: int | None) -> str:
    """A private /tmp, capped in bytes and files, holding a copy of the
    staged files in /tmp/work; /dev/shm lives in it too."""
    _cover("/tmp", f"size={limits['disk']},nr_inodes={limits['files']},"
           f"mode=1777", keep)
    shutil.copytree(f"/proc/self/fd/{staging}", "/tmp/work",
                    dirs_exist_ok=True)
    os.chmod("/tmp/work", 0o700)
    if uid is not None:
        for folder, names, files in os.walk("/tmp/work"):
            for name in [folder, *(os.path.join(folder, n)
                                   for n in names + files)]:
                os.lchown(name, uid, uid)
    if os.path.isdir("/dev/shm"):
        os.mkdir("/tmp/.shm", 0o1777)
        os.chmod("/tmp/.shm", 0o1777)
        _mount("/tmp/.shm", "/dev/shm", None, _MS_BIND)
    return "/tmp/work"


def _loopback() -> None:
    """Bring up ``lo`` in the new network namespace (SIOCSIFFLAGS)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, 0x8913,
                                                       request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))


def _read_only() -> None:
    """Remount every mount but the writable ones read-only."""
    done = set()
    for point, options, _, _ in _mounts():
        if point in done or point in _WRITABLE or point.startswith(
                "/proc/"):
            continue
        done.add(point)
        flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY
        for option in options.split(","):
            flags |= _KEPT_OPTIONS.get(option, 0)
        try:
            _mount(None, point, None, flags)
        except OSError as err:  # under a covered folder: out of reach
            if err.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                raise


def _private_files(spec: dict) -> str:
    """Own /proc, course files covered, all read-only but a private /tmp."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    staging = os.open(spec["staging"], os.O_RDONLY | os.O_DIRECTORY)
    keep = {}
    for path in spec["keep"]:
        with contextlib.suppress(OSError):
            keep[path] = os.open(path, os.O_PATH | os.O_DIRECTORY)
    _hide(spec["hide"], keep)
    work = _scratch(spec["limits"], staging, keep, spec["uid"])
    for fd in (staging, *keep.values()):
        os.close(fd)
    _loopback()
    _read_only()
    return work


def _set_limits(limits: dict) -> None:
    """Per-process limits, a second line behind the control groups (one
    process asking for too much memory gets a MemoryError, not a kill)."""
    import resource

    caps = [("RLIMIT_AS", limits["memory"]),
            ("RLIMIT_NPROC", limits["processes"]),
            ("RLIMIT_FSIZE", limits["file_size"]),
            ("RLIMIT_CPU", int(limits["cpu_time"]) + 1),
            ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)]
    for name, value in caps:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def jail(spec: dict) -> None:
    """Lock the process down as ``spec`` says, then become the runner.

    Runs as (namespace) root in fresh namespaces; the grader has already
    said through ``isolation()`` what this machine cannot give.
    """
    for procs in spec["cgroups"]:  # before anything else runs
        Path(procs).write_text("0")
    work = _private_files(spec) if spec["mount"] else spec["staging"]
    _set_limits(spec["limits"])
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


class _Output(threading.Thread):
    """Drain the printed output; keep the first ``keep`` bytes, count all."""

    def __init__(self, stream, keep: int):
        super().__init__(daemon=True)
        self.stream, self.keep = stream, keep
        self.data = bytearray()
        self.total = 0

    def run(self) -> None:
        while chunk := self.stream.read1(1 << 16):
            self.total += len(chunk)
            room = self.keep - len(self.data)
            if room > 0:
                self.data += chunk[:room]


class _Reader(threading.Thread):
    """Read the results channel: one JSON object a line, with a string
    ``"event"``, each handed to ``handle`` as it arrives.

    Nothing is kept here, so the grader's memory does not grow with what a
    submission sends. Reading stops and ``over`` says why at the first
    line longer than ``line_cap`` bytes, or once ``total_cap`` bytes came;
    the grader then ends the run (output-limit).
    """

    def __init__(self, stream, line_cap: int, total_cap: int,
                 handle: Callable[[dict], None], key: bytes):
        super().__init__(daemon=True)
        self.stream, self.handle = stream, handle
        self.line_cap, self.total_cap = line_cap, total_cap
        self.key = key              # every line is signed with it
        self.total = self.bad = self.forged = 0
        self.over = ""
        self.last = time.monotonic()   # when the last event came

    def run(self) -> None:
        buffer = bytearray()
        while not self.over and (chunk := self.stream.read1(1 << 16)):
            self.total += len(chunk)
            if self.total > self.total_cap:
                self.over = f"more than {self.total_cap} bytes of events"
                break
            buffer += chunk
            start = 0
            while not self.over and (end := buffer.find(b"\n", start)) >= 0:
                if end - start > self.line_cap:
                    self.over = f"an event of more than {self.line_cap} bytes"
                else:
                    self._line(bytes(buffer[start:end]))
                start = end + 1
            del buffer[:start]
            if len(buffer) > self.line_cap:
                self.over = f"an event of more than {self.line_cap} bytes"
        self.stream.close()

    def _line(self, line: bytes) -> None:
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
            self.last = time.monotonic()
            self.handle(event)
        else:
            self.bad += 1


def _record(outcome: Outcome, event: dict, cells: int, probes: int) -> bool:
    """Fold one event into ``outcome``; False if it makes no sense."""
    kind, index = event["event"], event.get("index")
    if kind == "done":
        outcome.finished = True
        return True
    if kind == "flag":
        outcome.flags.append(str(event.get("what"))[:300])
        return True
    size = probes if kind.startswith("probe") else cells
    if type(index) is not int or not 0 <= index < size:
        return kind not in ("cell", "cell_done", "probe_start", "probe")
    if kind == "cell":
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
    return True


class _Run:
    """One start of the sandbox: the process, its readers, its groups."""

    def __init__(self, job: dict, scratch: Path, limits: Limits,
                 hide: list[str], uid: int | None,
                 on_event: Callable[[dict], None] | None):
        self.limits, self.on_event = limits, on_event
        self.outcome = Outcome()
        self.error: BaseException | None = None
        self.closed = False
        self.sizes = len(job["cells"]), len(job.get("probes", []))
        self.group = _Group(isolation(), limits)
        try:
            self._spawn(job, scratch, hide, uid)
        except BaseException:
            self.group.kill()
            self.group.remove()
            raise

    def _spawn(self, job: dict, scratch: Path, hide: list[str],
               uid: int | None) -> None:
        iso, limits = isolation(), self.limits
        read_events, write_events = os.pipe()
        # the grader's temporary folder holds the others' staged files
        hide = [*hide, os.path.realpath(tempfile.gettempdir())]
        spec = {"staging": str(scratch), "hide": hide, "uid": uid,
                "keep": [os.path.realpath(p) for p in _needed()],
                "mount": "mount" in iso.namespaces,
                "cgroups": self.group.procs(), "channel": write_events,
                "limits": {k: getattr(limits, k) for k in (
                    "memory", "processes", "file_size", "cpu_time", "disk",
                    "files")}}
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [*iso.prefix, sys.executable, "-I", "-m",
             "ziptie.grader.sandbox", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=(write_events,),
            start_new_session=True, cwd=scratch,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                 "LANG": "C.UTF-8"})
        os.close(write_events)
        self.output = _Output(self.proc.stdout, limits.output)
        key = secrets.token_hex(16)     # signs the runner's events
        self.events = _Reader(os.fdopen(read_events, "rb"), limits.event,
                              limits.events, self._handle, key.encode())
        self.output.start()
        self.events.start()
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(json.dumps(dict(job, key=key)).encode())
            self.proc.stdin.close()

    def _handle(self, event: dict) -> None:
        if self.closed or not _record(self.outcome, event, *self.sizes):
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
        hide: list[str] = (), uid: int | None = None,
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
            outcome = _Run(job, scratch, limits, list(hide), uid,
                           on_event).watch()
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


if __name__ == "__main__":
    jail(json.loads(sys.argv[1]))
