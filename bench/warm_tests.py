"""What the tests' warm servers save, side by side in one run.

- *nbgrader*: ``nbgrader autograde`` of ``--n`` copies of an assignment's
  solution, its kernels fresh (``python -m ipykernel_launcher``, as for an
  instructor) or forked from the warm server of ``tests/warm_kernel.py``
  (as in the tests);
- *ziptie grade*: one ``ziptie grade --no-diagnosis`` of one copy, the
  command a fresh ``python -m ziptie.cli`` or forked from the warm server
  of ``tests/warm_cli.py`` (``autograde.ziptie_cli``).

The two ways take turns, ``--repeat`` rounds; each warm server is started
before the first round, as a test process starts it once. CPU time is the
whole machine's busy time (``/proc/stat``: forked kernels are not
nbgrader's children), so run it on an otherwise idle machine. Prints
Markdown, medians::

    .venv/bin/python bench/warm_tests.py --assignment 06_adam --n 6
"""

from __future__ import annotations

import argparse
import os
import platform
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

from grade_cpu import busy  # noqa: E402 - bench/grade_cpu.py, beside

import autograde  # noqa: E402


def timed(run, *args, **kwargs) -> tuple[float, float]:
    """Wall and CPU seconds of ``run(*args, **kwargs)``."""
    cpu, wall = busy(), time.perf_counter()
    run(*args, **kwargs)
    return time.perf_counter() - wall, busy() - cpu


def nbgrader(course: Path, assignment: str, env: dict) -> None:
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", assignment,
         "--force", f"--CourseDirectory.root={course}",
         f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db",
         "--log-level=ERROR"], cwd=course, check=True, capture_output=True,
        env=env)


def grade(folder: Path, assignment: str, warm: bool) -> None:
    out = tempfile.mkdtemp(dir=folder)      # a fresh run, not a resumed one
    argv = ["--course", str(ROOT), "grade", str(folder / "submitted"),
            "--assignment", assignment, "--out", out, "--no-diagnosis",
            "--workers", "1"]
    if warm:
        done = autograde.ziptie_cli(argv, folder, timeout=600)
    else:
        done = subprocess.run([sys.executable, "-m", "ziptie.cli", *argv],
                              cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="06_adam")
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    a = args.assignment
    points = autograde.max_points(a)
    times: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        class_ = {f"s{k:02d}": autograde.filled(a) for k in range(args.n)}
        scores = autograde.autograde(a, class_, Path(tmp) / "nb")
        assert all(s.cells == points for s in scores.values()), scores
        course = Path(tmp) / "nb" / "course"
        fresh = dict(os.environ, PYTHONWARNINGS="ignore")
        warm = fresh | autograde._warm_kernel(fresh)
        one = Path(tmp) / "one"
        autograde._submit(one / "submitted", a, {"s": class_["s00"]})
        grade(one, a, warm=True)                  # starts the warm server
        for _ in range(args.repeat):
            for way, env in (("fresh", fresh), ("warm", warm)):
                times.setdefault(f"nbgrader, kernels {way}", []).append(
                    timed(nbgrader, course, a, env))
                times.setdefault(f"ziptie grade, {way}", []).append(
                    timed(grade, one, a, warm=way == "warm"))
    print(f"{a}: nbgrader {args.n} notebooks, ziptie grade 1; median of "
          f"{args.repeat} rounds; {os.cpu_count()} cores, "
          f"{platform.python_version()}, {date.today()}\n")
    print("| run | wall (s) | CPU (s) |")
    print("| --- | ---: | ---: |")
    for name, runs in times.items():
        print(f"| {name} | {statistics.median(w for w, _ in runs):.1f} | "
              f"{statistics.median(c for _, c in runs):.1f} |")


if __name__ == "__main__":
    main()
