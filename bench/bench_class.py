"""A class graded four ways, side by side in one run, on the real
assignments: plain ``nbgrader autograde``, ``ziptie grade`` with each
sandbox forked warm (the default) and started cold (``--cold-start``),
and ``ziptie grade`` through a local Dask scheduler (``--scheduler
local``).

Each class is ``--n`` copies of the solution notebook of each assignment
(full marks expected, and checked, from every grader). For each way:
wall-clock seconds, seconds per submission, and the peak memory of the
grader with all its processes (proportional set size, sampled every
0.2 s, so that memory shared by forks counts once). Prints Markdown::

    .venv/bin/python bench/bench_class.py --n 8 --n 64 \\
        --assignment 02_loss --assignment 05_sgd
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "grading"))

import autograde  # noqa: E402


class Peak(threading.Thread):
    """The largest total proportional set size of a process and all its
    descendants, sampled until ``stop``."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root, self.peak, self.done = pid, 0, threading.Event()

    def _total(self) -> int:
        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
        return total

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, self._total())

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def _env() -> dict[str, str]:
    """This environment, its ``python`` and ``jupyter`` first on the path."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env["PATH"]])
    return env


def _timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak memory (bytes) of one command, all its processes."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = Peak(proc.pid)
    peak.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - start
    memory = peak.stop()
    if proc.returncode:
        raise RuntimeError(f"{command[:4]} failed:\n{output.decode()[-3000:]}")
    return seconds, memory


def _class(folder: Path, assignment: str, n: int) -> None:
    nb = autograde.filled(assignment)
    for k in range(n):
        path = folder / f"s{k:03d}" / assignment / \
            autograde.notebook_name(assignment)
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)


def _full_marks(out: Path, assignment: str, n: int) -> None:
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    top = sum(autograde.max_points(assignment).values())
    short = [r["student"] for r in rows if float(r["total"]) < top]
    if len(rows) != n or short:
        raise RuntimeError(f"{assignment}: not full marks for {short}")


def ziptie(work: Path, assignment: str, n: int, *extra: str):
    _class(work / "class", assignment, n)
    out = work / "out"
    result = _timed([sys.executable, "-m", "ziptie.cli", "grade",
                     str(work / "class"), "--assignment", assignment,
                     "--out", str(out), "--no-diagnosis", *extra], ROOT)
    _full_marks(out, assignment, n)
    return result


def nbgrader(work: Path, assignment: str, n: int):
    course = work / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / assignment,
                    course / "solutions" / assignment)
    shutil.copytree(ROOT / "grading", course / "grading",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _class(course / "submitted", assignment, n)
    db = f"sqlite:///{course}/gradebook.db"
    common = [f"--CourseDirectory.root={course}",
              f"--CourseDirectory.db_url={db}", "--log-level=ERROR"]
    run = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*run, "generate_assignment", assignment, "--force",
                    *common], cwd=course, env=_env(), check=True,
                   capture_output=True)
    result = _timed([*run, "autograde", assignment, "--force", *common],
                    course)
    from nbgrader.api import Gradebook

    top = sum(autograde.max_points(assignment).values())
    with Gradebook(db) as gradebook:
        got = [gradebook.find_submission(assignment, f"s{k:03d}").score
               for k in range(n)]
    if any(abs(g - top) > 1e-9 for g in got):
        raise RuntimeError(f"{assignment}: nbgrader gave {got}")
    return result


WAYS = {
    "`nbgrader autograde`": lambda w, a, n: nbgrader(w, a, n),
    "`ziptie grade` (warm, the default)": lambda w, a, n: ziptie(w, a, n),
    "`ziptie grade --cold-start`": lambda w, a, n: ziptie(
        w, a, n, "--cold-start"),
    "`ziptie grade --scheduler local`": lambda w, a, n: ziptie(
        w, a, n, "--scheduler", "local"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append")
    parser.add_argument("--assignment", action="append")
    args = parser.parse_args()
    sizes, assignments = args.n or [8], args.assignment or ["02_loss",
                                                             "05_sgd"]
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), "?")
    from ziptie.grader.sandbox import isolation

    print(f"Machine: {os.cpu_count()} cores, {cpu}, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GB, "
          f"{platform.system()}; Python {platform.python_version()}; "
          f"{date.today()}; load average before "
          f"{os.getloadavg()[0]:.1f}; sandbox: {isolation().describe()}\n")
    print("| class | grader | seconds | s per submission | peak memory "
          "(MB) | vs nbgrader |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for n in sizes:
        totals = dict.fromkeys(WAYS, 0.0)
        for assignment in assignments:
            base = None         # nbgrader's seconds, the first way
            for name, way in WAYS.items():
                with tempfile.TemporaryDirectory() as tmp:
                    seconds, memory = way(Path(tmp), assignment, n)
                base = base or seconds
                totals[name] += seconds
                _row(f"{n} x {assignment}", name, seconds, n, memory, base)
        for name, seconds in totals.items():
            _row(f"{n} x each", name, seconds, n * len(assignments), None,
                 totals[next(iter(WAYS))])


def _row(what: str, name: str, seconds: float, n: int, memory: int | None,
         base: float) -> None:
    """One line of the table; ``base`` is nbgrader's time for the same."""
    mb = "" if memory is None else f"{memory / 2**20:.0f}"
    print(f"| {what} | {name} | {seconds:.1f} | {seconds / n:.2f} | {mb} | "
          f"{base / seconds:.2f}x |", flush=True)

if __name__ == "__main__":
    main()
