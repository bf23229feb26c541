"""The CPU time of ``ziptie grade``, in several checkouts of the course,
side by side.

Each ``--python`` is the interpreter of a checkout's own virtual
environment (``make`` there installs that checkout's ``ziptie``); the
course graded is that checkout's. For each one, taking turns, ``--repeat``
times:

- *class*: ``ziptie grade --no-diagnosis`` of ``--n`` copies of the
  solution notebook of ``--assignment`` (the sandbox, the checks);
- *diagnosis*: the fingerprints of that assignment's catalogue
  (``ziptie.grader.diagnosis.fingerprints``, the reference run), with a
  fixed key.

The CPU time is the whole machine's busy time from ``/proc/stat`` (the
sandbox's processes live in namespaces of their own, where ``time``
does not count them), so run it on an otherwise idle machine. Prints the
medians as Markdown::

    python bench/grade_cpu.py --python A/.venv/bin/python \\
        --python B/.venv/bin/python --assignment 06_adam --n 12
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

DIAGNOSIS = """\
import sys
from pathlib import Path
from ziptie.grader.assignment import load_assignment
from ziptie.grader.diagnosis import fingerprints
from ziptie.grader.sandbox import Limits
course = Path.cwd()
fingerprints(course, load_assignment(course, sys.argv[1]), "bench", Limits())
"""

CLASS = """\
import sys
from pathlib import Path
sys.path[:0] = ["tests", "grading"]
import autograde
a, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
nb = autograde.filled(a)
autograde.ziptie_grade(a, {f"s{k}": nb for k in range(n)}, out,
                       options=("--no-diagnosis",))
"""


def busy() -> float:
    """Seconds of CPU time the whole machine has spent busy so far."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _, _, irq, softirq = map(int, fields[:7])
    return (user + nice + system + irq + softirq) / 100


def checkout(python: str) -> Path:
    """The checkout a virtual environment's interpreter belongs to."""
    return Path(python).absolute().parents[2]


def measure(python: str, kind: str, assignment: str, n: int
            ) -> tuple[float, float]:
    """CPU and wall seconds of one run."""
    with tempfile.TemporaryDirectory() as scratch:
        args = ([python, "-c", CLASS, assignment, str(n), scratch]
                if kind == "class" else
                [python, "-c", DIAGNOSIS, assignment])
        cpu, wall = busy(), time.perf_counter()
        subprocess.run(args, check=True, cwd=checkout(python),
                       capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        return busy() - cpu, time.perf_counter() - wall


def commit(python: str) -> str:
    return subprocess.run(["git", "log", "-1", "--format=%h"],
                          cwd=checkout(python), check=True, text=True,
                          capture_output=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", required=True)
    parser.add_argument("--assignment", default="06_adam")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for kind in ("class", "diagnosis"):
            for python in args.python:
                runs.setdefault((python, kind), []).append(
                    measure(python, kind, args.assignment, args.n))
    print(f"| commit | class of {args.n}: CPU (s) | wall (s) | "
          f"diagnosis: CPU (s) | wall (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for python in args.python:
        cells = [f"{statistics.median(r[i] for r in runs[python, kind]):.1f}"
                 for kind in ("class", "diagnosis") for i in (0, 1)]
        print(f"| {commit(python)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
