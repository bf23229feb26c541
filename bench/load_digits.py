"""What loading the digits costs a fresh kernel, in several checkouts.

Every notebook of the course that trains on the digits starts with
``import torch`` and ``ziptie.data.load("digits")``: each chapter of the
book, each nbgrader kernel, each student's kernel. This runs exactly that
in a fresh process of each interpreter given (each checkout's own virtual
environment; ``python -P``, so that ``ziptie`` is the checkout's, not the
one in the folder this runs from), the interpreters taking turns, and
prints the medians of the CPU time the process used (user + system), and
whether it imported scikit-learn:

    python bench/load_digits.py --python A/.venv/bin/python \\
        --python B/.venv/bin/python --repeat 7
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

LOAD = ("import sys, torch, ziptie.data as d\n"
        "d.load('digits', as_tensor=True)\n"
        "print('sklearn' in sys.modules)")


def cpu_seconds(python: str) -> tuple[float, str]:
    """The CPU time of one fresh process that loads the digits, and
    whether it imported scikit-learn."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([python, "-P", "-c", LOAD], check=True,
                          capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime
                                                 - before.ru_stime)
    return used, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    for python in pythons:          # warm the file cache
        cpu_seconds(python)
    times: dict[str, list[float]] = {}
    imported: dict[str, str] = {}
    for _ in range(args.repeat):
        for python in pythons:
            seconds, imported[python] = cpu_seconds(python)
            times.setdefault(python, []).append(seconds)
    print("| interpreter | imports scikit-learn | CPU (s), median "
          "| min | max |")
    print("| --- | --- | ---: | ---: | ---: |")
    for python in pythons:
        print(f"| {python} | {imported[python]} | "
              f"{statistics.median(times[python]):.2f} | "
              f"{min(times[python]):.2f} | {max(times[python]):.2f} |")


if __name__ == "__main__":
    main()
