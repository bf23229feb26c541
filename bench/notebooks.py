"""Execution time of every solution notebook and every book chapter.

Each notebook runs in a fresh kernel, as nbgrader and the book build run
it; the table gives the whole run (kernel start included) and the slowest
cell, to compare with nbgrader's per-cell timeout (nbgrader_config.py):

    python bench/notebooks.py [--chapters]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> tuple[float, float]:
    """Seconds for the whole notebook, and for its slowest cell."""
    nb = (jupytext.read(path) if path.suffix == ".md"
          else nbformat.read(path, as_version=4))
    slowest = 0.0

    class Timed(NotebookClient):
        async def async_execute_cell(self, cell, index, **kw):
            nonlocal slowest
            start = time.perf_counter()
            out = await super().async_execute_cell(cell, index, **kw)
            slowest = max(slowest, time.perf_counter() - start)
            return out

    start = time.perf_counter()
    Timed(nb, timeout=600, kernel_name="python3",
          resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start, slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", action="store_true",
                        help="also time the book's chapters")
    args = parser.parse_args()
    config = (ROOT / "nbgrader_config.py").read_text()
    timeout = re.search(r"ExecutePreprocessor.timeout = (\d+)", config)
    print(f"nbgrader per-cell timeout: {timeout.group(1)} s\n")
    paths = sorted(ROOT.glob("solutions/*/*.ipynb"))
    if args.chapters:
        paths += sorted(ROOT.glob("book/0*.md"))
    print("| notebook | whole run (s) | slowest cell (s) |")
    print("| --- | ---: | ---: |")
    for path in paths:
        total, slowest = run(path)
        print(f"| {path.relative_to(ROOT)} | {total:.1f} | {slowest:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
