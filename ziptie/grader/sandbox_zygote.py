"""The warm start: every submission's sandbox forked from an interpreter
that has imported torch already.

A fresh interpreter for every submission pays Python's start and the torch
import (about a second and a half) again and again. The grader instead
starts one *zygote* per grading process: ``python -I -m
ziptie.grader.sandbox_zygote`` in the runner's own environment, which
imports the libraries every notebook imports (``PRELOADED``), runs no
code of theirs, holds no submission and no secret, and then only ever
forks. For each run the grader sends it, over a socket, the jail's spec
and the ends of four pipes (stdin, output, the results channel, and the
status); the zygote forks a child and answers with its process id.

The child does what ``unshare --fork --kill-child`` and the cold jail do,
in this order:

1. a session of its own, the pipes on file descriptors 0 to 3, every
   other descriptor closed, the run's control groups joined;
2. new namespaces (``unshare(2)``; in a user namespace of its own where
   the grader is not root), then one more fork, so that the runner is
   process 1 of its PID namespace; the first child waits for it and
   writes its exit status on the status pipe;
3. ``sandbox_jail.lock_down``, the same as the cold start: files, limits,
   user id, folder;
4. the runner (``ziptie.grader.runner``), imported afresh as
   ``__main__`` in the environment the cold start gives it, with the
   random generators seeded afresh as a new interpreter's are.

So the sandbox's guarantees are the cold start's: the tests that try the
attacks run against both starts.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import IO

from ziptie.grader import sandbox_jail

#: What every notebook imports: loaded once, in the zygote, before forking.
#: ``torch._dynamo`` is what ``torch.optim`` imports on its first step or
#: ``zero_grad`` (through ``torch._disable_dynamo``): about a second and a
#: half of every run that trains, or checks against ``torch.optim``.
#: scikit-learn is not here: ``ziptie.data`` loads the digits without it,
#: and the few notebooks that use it import it in their own run.
PRELOADED = ("numpy", "torch", "torch._dynamo",
             "IPython.core.interactiveshell", "traitlets.config")

_CLONE = {"mount": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000,
          "user": 0x10000000, "pid": 0x20000000, "net": 0x40000000}
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
#: The run's pipes, on these descriptors in the child.
_STDIN, _OUTPUT, _CHANNEL, _STATUS = 0, 1, 3, 4


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _unshare(namespaces: list[str]) -> None:
    """New namespaces for this process (a new PID namespace for its next
    child); as root of a user namespace of its own if asked."""
    if not namespaces:
        return
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE["uts"]
    for name in namespaces:
        flags |= _CLONE[name]
    if _libc().unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    if "user" in namespaces:     # what unshare --map-root-user writes
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


def _pipes_in_place(fds: list[int]) -> None:
    """The run's pipes on descriptors 0-4 (stderr shares the output),
    every other descriptor closed."""
    stdin, output, channel, status = fds
    for fd, target in ((stdin, _STDIN), (output, _OUTPUT),
                       (output, 2), (channel, _CHANNEL), (status, _STATUS)):
        os.dup2(fd, target, inheritable=True)
    os.closerange(_STATUS + 1, os.sysconf("SC_OPEN_MAX"))


def _mapped() -> int:
    """Bytes of address space this process has mapped: the preloaded
    libraries, which the cold start's runner maps too once a notebook
    imports torch. The per-process cap on address space counts from here,
    as the memory the libraries take is the zygote's, not the run's."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _wait_and_report(pid: int) -> None:
    """The first child, outside the PID namespace: wait for the runner,
    write its status (``os.waitpid``'s), end."""
    for fd in (0, 1, 2, _CHANNEL):
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(_STATUS, f"{status}\n".encode())
    os._exit(0)


def _become_runner(env: dict[str, str]) -> None:
    """Run the runner as ``python -I -m ziptie.grader.runner`` would, in
    this interpreter."""
    import random
    import runpy
    import tempfile

    import numpy as np

    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None
    random.seed()
    np.random.seed()
    sys.argv = [sys.executable]
    try:
        runpy.run_module("ziptie.grader.runner", run_name="__main__",
                         alter_sys=True)
    except SystemExit as end:
        code = end.code
        os._exit(code if isinstance(code, int) else 1)
    except BaseException:  # noqa: BLE001 - the runner's crash, reported
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _child(spec: dict, fds: list[int]) -> None:
    """In the forked child: from the zygote to a locked-down runner. What
    goes wrong before the runner starts is printed on the run's output,
    and the first child reports exit status 70."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _pipes_in_place(fds)
    first = os.getpid()
    try:
        sandbox_jail.join_groups(spec)
        _unshare(spec["namespaces"])
        pid = os.fork()
        if pid:
            _wait_and_report(pid)
        _die_with_parent()
        os.close(_STATUS)
        spec["limits"]["address_space"] = spec["limits"]["memory"] + \
            _mapped()
        env = sandbox_jail.lock_down(spec)
        _libc().prctl(_PR_SET_DUMPABLE, 1)   # as execve leaves it
    except BaseException:  # noqa: BLE001 - reported on the output
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        if os.getpid() == first:
            os.write(_STATUS, f"{70 << 8}\n".encode())
        os._exit(70)
    _become_runner(env)


def serve(sock: socket.socket) -> None:
    """The zygote's loop: a request (the spec, four descriptors) in, a
    forked child's process id out; ends when the grader hangs up."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # children reap alone
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 4)
        except OSError:
            return
        if not message or len(fds) != 4:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(json.loads(message), fds)
            os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(str(pid).encode())


def _main() -> None:
    _die_with_parent()
    sock = socket.socket(fileno=int(sys.argv[1]))
    for name in PRELOADED:
        __import__(name)
    sock.sendall(b"ready")
    serve(sock)


# -- the grader's side ------------------------------------------------------

class WarmProcess:
    """A forked run, seen from the grader as ``subprocess.Popen`` would
    show it: ``pid``, ``stdin``, ``stdout``, ``wait``, ``returncode``."""

    def __init__(self, pid: int, stdin: int, stdout: int, status: int):
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = os.fdopen(stdin, "wb")
        self.stdout = os.fdopen(stdout, "rb")
        self._status = status

    def wait(self, timeout: float | None = None) -> int:
        """The exit status as ``Popen.returncode`` gives it (minus the
        signal that killed it); ``TimeoutExpired`` after ``timeout``."""
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._status], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired("sandbox", timeout or 0)
        text = os.read(self._status, 64).decode().strip()
        os.close(self._status)
        if not text:           # the first child was killed before it told
            self.returncode = -signal.SIGKILL
        else:
            status = int(text)
            self.returncode = -os.WTERMSIG(status) \
                if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode


class Zygote:
    """The grader's handle on its zygote: started on first use (or
    beforehand, with ``launch``), started again if it died, shared by the
    grading threads of one process."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.errors: IO[bytes] | None = None
        self.ready = False

    def launch(self) -> None:
        """Start the zygote without waiting for its imports: call it early,
        from a thread that lives as long as the grading (the zygote ends
        with the thread that started it)."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._launch()

    def _launch(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX,
                                         socket.SOCK_SEQPACKET)
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - kept open
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "ziptie.grader.sandbox_zygote",
             str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.errors, start_new_session=True, env=self.env)
        theirs.close()
        self.sock, self.ready = ours, False

    def _wait_ready(self) -> None:
        assert self.sock is not None and self.proc is not None
        assert self.errors is not None
        if self.sock.recv(16) != b"ready":
            self.proc.kill()
            self.proc.wait()
            self.errors.seek(0)
            error = self.errors.read().decode(errors="replace")
            self.proc = self.sock = None
            raise RuntimeError(f"the sandbox's zygote did not start:\n"
                               f"{error[-2000:]}")
        self.ready = True

    def spawn(self, spec: dict, channel: int) -> WarmProcess:
        """Fork one run for ``spec``; its results channel is the write end
        ``channel`` (closed here, as ``Popen`` closes passed ends)."""
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        theirs = [stdin_r, out_w, channel, status_w]
        try:
            with self.lock:
                pid = self._ask(json.dumps(spec).encode(), theirs)
        except BaseException:
            for fd in (stdin_w, out_r, status_r):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        return WarmProcess(pid, stdin_w, out_r, status_r)

    def _ask(self, message: bytes, fds: list[int]) -> int:
        for attempt in (1, 2):
            if self.proc is None or self.proc.poll() is not None:
                self._launch()
            if not self.ready:
                self._wait_ready()
            assert self.sock is not None
            try:
                socket.send_fds(self.sock, [message], fds)
                return int(self.sock.recv(32))
            except (OSError, ValueError):
                self.proc = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


_ZYGOTE: Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def zygote() -> Zygote:
    """This grading process's zygote (a Dask worker has its own)."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is None:
            _ZYGOTE = Zygote(sandbox_jail.runner_env("/tmp/work"))
        return _ZYGOTE


if __name__ == "__main__":
    _main()
