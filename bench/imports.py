"""What importing nbformat and nbgrader costs, in several environments.

Every ``ziptie grade``, ``ziptie release``, ``nbgrader`` command and
book build imports nbformat, which imports jsonschema. From 4.25 on,
jsonschema's ``format-nongpl`` extra (which jupyter-events asks for)
brings ``rfc3987-syntax``, which compiles its grammars when imported. This
times each import in a fresh process of each interpreter given, the
interpreters taking turns, and prints the medians side by side:

    python bench/imports.py --python A/bin/python --python B/bin/python
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IMPORTS = ("nbformat", "nbgrader.apps", "nbclient")


def seconds(python: str, module: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def version(python: str) -> list[str]:
    return subprocess.run(
        [python, "-c", "import importlib.metadata as m, importlib.util as u;"
         "print(m.version('jsonschema'), 'with' if u.find_spec("
         "'rfc3987_syntax') else 'without')"],
        check=True, capture_output=True, text=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    times: dict[tuple[str, str], list[float]] = {}
    for python in pythons:          # warm the file cache
        for module in IMPORTS:
            seconds(python, module)
    for _ in range(args.repeat):
        for module in IMPORTS:
            for python in pythons:
                times.setdefault((python, module), []).append(
                    seconds(python, module))
    print("| jsonschema | rfc3987-syntax | "
          + " | ".join(f"import {m} (s)" for m in IMPORTS) + " |")
    print("| --- | --- |" + " ---: |" * len(IMPORTS))
    for python in pythons:
        jsonschema, syntax = version(python)
        print(f"| {jsonschema} | {syntax} | " + " | ".join(
            f"{statistics.median(times[python, m]):.2f}" for m in IMPORTS)
            + " |")


if __name__ == "__main__":
    main()
