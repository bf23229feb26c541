"""What this machine gives the sandbox: namespaces, control groups, a user
id of its own.

``isolation()`` finds out once: it tries ``unshare`` (as root, then in a
user namespace) and makes a group in each control group hierarchy the
grader may write to. ``ziptie doctor`` and every grading run print what it
found; ``sandbox.require`` refuses a weaker sandbox unless the instructor
accepts it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


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
    tries: list[tuple[tuple[str, ...], tuple[str, ...]]] = \
        [((unshare, *_UNSHARE_FLAGS), names)] if os.geteuid() == 0 else []
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


def mounts() -> list[tuple[str, str, str, str]]:
    """This process's mounts: (mount point, options, type, super options)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        tail = parts[parts.index("-") + 1:]
        found.append((_unescape(parts[4]), parts[5], tail[0],
                      tail[2] if len(tail) > 2 else ""))
    return found


def _cgroup_candidates() -> list[tuple[str, str, str]]:
    """Where each controller could put a sandbox's group: v2 first, where
    the grader's own group hands the controller down, else v1."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else ["v2"]:
            own[name] = path.lstrip("/")
    found: list[tuple[str, str, str]] = []
    for point, _, kind, options in mounts():
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
