"""Inside the sandbox, between ``unshare`` and the runner: the jail.

``python -m ziptie.grader.sandbox_jail SPEC`` runs as (namespace) root in
fresh namespaces: it joins the run's control groups, covers the course's
and other people's folders, makes every mount read-only but a private
``/tmp`` (capped in bytes and files), brings up the loopback, sets the
per-process limits, drops to the submission's user id, then becomes the
runner (``ziptie.grader.runner``). That is the cold start; the warm one
(``sandbox_zygote``) runs the same ``lock_down`` in a process forked from
an interpreter that has imported torch already. ``hidden_paths`` is the grader's side:
which course folders to cover.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from ziptie.grader.sandbox_isolation import mounts


def runtime_paths() -> list[str]:
    """What Python and the ``ziptie`` package need to run."""
    return [sys.prefix, sys.base_prefix, str(Path(__file__).parents[1])]


def hidden_paths(*roots: Path) -> list[str]:
    """Everything in the course folders a submission must not read.

    In each root every entry is hidden except what Python needs to run:
    the virtual environment and the ``ziptie`` package.
    """
    needed = {Path(p).resolve() for p in runtime_paths()}
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
    for point, options, _, _ in mounts():
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

    caps = [("RLIMIT_AS", limits.get("address_space", limits["memory"])),
            ("RLIMIT_NPROC", limits["processes"]),
            ("RLIMIT_FSIZE", limits["file_size"]),
            ("RLIMIT_CPU", int(limits["cpu_time"]) + 1),
            ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)]
    for name, value in caps:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def runner_env(work: str) -> dict[str, str]:
    """The environment the runner starts with, in its folder ``work``."""
    return {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
            "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "IPYTHONDIR": os.path.join(work, ".ipython"),
            "MPLCONFIGDIR": os.path.join(work, ".matplotlib"),
            "ZIPTIE_DEVICE": "cpu"}


def lock_down(spec: dict) -> dict[str, str]:
    """Lock this process down as ``spec`` says: its files, its limits, its
    user id, its folder; the environment the runner must start with.

    Runs as (namespace) root in fresh namespaces, already in the run's
    control groups; the grader has already said through ``isolation()``
    what this machine cannot give.
    """
    work = _private_files(spec) if spec["mount"] else spec["staging"]
    _set_limits(spec["limits"])
    uid = spec.get("uid")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.chdir(work)
    return runner_env(work)


def join_groups(spec: dict) -> None:
    """Move this process into the run's control groups (before anything
    else runs: its children are born there)."""
    for procs in spec["cgroups"]:
        Path(procs).write_text("0")


def jail(spec: dict) -> None:
    """The cold start, after ``unshare``: lock down, then become the runner
    in a fresh interpreter."""
    join_groups(spec)
    env = lock_down(spec)
    if spec["channel"] != 3:
        os.dup2(spec["channel"], 3)
        os.close(spec["channel"])
    os.execve(sys.executable,
              [sys.executable, "-I", "-m", "ziptie.grader.runner"], env)


if __name__ == "__main__":
    jail(json.loads(sys.argv[1]))
