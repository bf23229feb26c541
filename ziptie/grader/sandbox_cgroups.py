"""The control groups of one run: caps on the memory and the processes of
a submission's whole process tree, and a count of its CPU time.

A group is made per run in each hierarchy ``isolation()`` found (v2, or v1
where that is what the machine mounts), the jail's first process writes
itself into it, and the grader reads the counts, kills what is left and
removes the group when the run ends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

from ziptie.grader.sandbox_isolation import Isolation
from ziptie.grader.sandbox_limits import Limits

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



class Group:
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
