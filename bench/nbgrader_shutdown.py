"""nbgrader's autograde with the kernel shut down gracefully (nbclient's
default) and at once (``shutdown_kernel = "immediate"``, this course's
``nbgrader_config.py``), side by side in one run.

A scratch course gets ``--n`` copies of an assignment's solution (full
marks expected, and checked); then ``nbgrader autograde`` grades them
again and again, the two settings taking turns (``--repeat`` rounds), each
run given its setting on the command line. Prints Markdown: the median
seconds of a run and per notebook, and the CPU seconds of nbgrader and
its kernels::

    .venv/bin/python bench/nbgrader_shutdown.py --assignment 07_signal \\
        --n 4 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "grading"))

import autograde  # noqa: E402

WAYS = ("graceful", "immediate")


def _run(course: Path, assignment: str, way: str) -> tuple[float, float]:
    """One ``nbgrader autograde`` of the whole class: wall and CPU
    seconds (nbgrader and every kernel it started)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", assignment,
         "--force", f"--CourseDirectory.root={course}",
         f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db",
         f"--ExecutePreprocessor.shutdown_kernel={way}",
         "--log-level=ERROR"], cwd=course, check=True, capture_output=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                                      before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="07_signal")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    points = autograde.max_points(args.assignment)
    with tempfile.TemporaryDirectory() as tmp:
        class_ = {f"s{k:02d}": autograde.filled(args.assignment)
                  for k in range(args.n)}
        scores = autograde.autograde(args.assignment, class_, Path(tmp))
        assert all(s.cells == points for s in scores.values()), scores
        course = Path(tmp) / "course"
        times: dict[str, list[tuple[float, float]]] = {w: [] for w in WAYS}
        for _ in range(args.repeat):
            for way in WAYS:
                times[way].append(_run(course, args.assignment, way))
    print(f"{args.assignment}, {args.n} notebooks, median of {args.repeat} "
          f"runs; {os.cpu_count()} cores, {platform.python_version()}, "
          f"{date.today()}\n")
    print("| shutdown_kernel | run (s) | per notebook (s) | CPU (s) |")
    print("| --- | ---: | ---: | ---: |")
    for way in WAYS:
        wall = statistics.median(w for w, _ in times[way])
        cpu = statistics.median(c for _, c in times[way])
        print(f"| {way} | {wall:.1f} | {wall / args.n:.2f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
