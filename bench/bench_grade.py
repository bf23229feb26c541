"""Plain ``nbgrader autograde`` against ``ziptie grade``, side by side.

Builds 40 submissions of the fixture assignment (``tests/corpus``: 30
right, 10 with a wrong answer), grades them with both in one run on this
machine, and measures the overhead per notebook of ``ziptie``'s sandbox
over a bare kernel start with the same imports. Prints a Markdown table::

    .venv/bin/python bench/bench_grade.py [--n 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import corpus  # noqa: E402


def _env() -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    return env


def build(folder: Path, n: int) -> None:
    cases = [corpus.Case(f"s{k:03d}", "ok", 4 if k % 4 else 3, "",
                         {} if k % 4 else {"double": corpus.WRONG_DOUBLE})
             for k in range(n)]
    corpus.build(folder, cases)
    shutil.rmtree(folder / "submitted" / "missing")


def nbgrader(work: Path, n: int) -> float:
    course = work / "nbgrader"
    shutil.copytree(corpus.COURSE, course)
    build(course, n)
    common = [f"--CourseDirectory.root={course}", "--log-level=ERROR",
              f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db"]
    run = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*run, "generate_assignment", corpus.ASSIGNMENT,
                    "--force", *common], cwd=course, env=_env(), check=True,
                   capture_output=True)
    start = time.perf_counter()
    subprocess.run([*run, "autograde", corpus.ASSIGNMENT, "--force",
                    *common], cwd=course, env=_env(), check=True,
                   capture_output=True)
    return time.perf_counter() - start


def ziptie(work: Path, n: int, workers: int) -> float:
    build(work / "class", n)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ziptie.cli", "grade",
                    str(work / "class"), "--out", str(work / "out"),
                    "--workers", str(workers)], cwd=corpus.COURSE,
                   env=_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def bare_kernel(repeats: int) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np")]
    start = time.perf_counter()
    for _ in range(repeats):
        NotebookClient(nb, kernel_name="python3").execute()
    return (time.perf_counter() - start) / repeats


def sandbox_run(repeats: int) -> float:
    import json

    from ziptie.grader import assignment, sandbox

    spec = assignment.load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    nb = json.loads(corpus.notebook_bytes(corpus.Case("x", "ok", 4, "")))
    cells, _ = assignment.cells_to_run(spec.source, nb)
    iso = sandbox.isolation()
    start = time.perf_counter()
    for _ in range(repeats):
        sandbox.run({"cells": cells, "probes": []}, {}, sandbox.Limits(),
                    sandbox.hidden_paths(corpus.COURSE),
                    209997 if iso.separate_user else None)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t_nbgrader = nbgrader(work, args.n)
        t_ziptie = ziptie(work, args.n, args.workers)
    t_kernel = bare_kernel(args.repeats)
    t_sandbox = sandbox_run(args.repeats)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), "?")
    from ziptie.grader.sandbox import isolation

    print(f"Machine: {os.cpu_count()} cores (nproc), {cpu}, "
          f"{platform.system()}; Python {platform.python_version()}; "
          f"{date.today()}; sandbox: {isolation().describe()}\n")
    print(f"| {args.n} submissions of 01_fixture | seconds | notebooks/s "
          f"| vs nbgrader |")
    print("| --- | ---: | ---: | ---: |")
    for name, t in [("`nbgrader autograde` (one at a time)", t_nbgrader),
                    (f"`ziptie grade --workers {args.workers}`", t_ziptie)]:
        print(f"| {name} | {t:.1f} | {args.n / t:.2f} | "
              f"{t_nbgrader / t:.2f}x |")
    print(f"\n| per notebook, one at a time | seconds |\n| --- | ---: |\n"
          f"| bare kernel start + `import numpy` (nbclient) | "
          f"{t_kernel:.2f} |\n| ziptie sandbox (namespaces, limits, IPython "
          f"shell, the fixture's cells) | {t_sandbox:.2f} |\n"
          f"| overhead of the sandbox over the bare kernel | "
          f"{t_sandbox - t_kernel:+.2f} |")


if __name__ == "__main__":
    main()
