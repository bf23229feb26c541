"""Shared fixtures: a fresh random seed per test, recorded for replay."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
# the course's grading files (checks, catalogues, the nbgrader bridge)
sys.path.insert(0, str(ROOT / "grading"))


#: The longest tests (minutes each: both graders over a whole class), run
#: first, the later (larger) assignments first. With ``--maxschedchunk 1``
#: (the Makefile's) pytest-xdist hands each worker its next test when it
#: is free, so the two workers share the long ones and end together,
#: instead of one class run going on alone at the end.
LONGEST = ("test_both_graders_agree_on_a_class",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest = sorted((i for i in items if i.originalname in LONGEST),
                     key=lambda i: i.nodeid, reverse=True)
    items[:] = longest + [i for i in items if i.originalname not in LONGEST]


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator with a fresh seed each run; the seed is in the report."""
    seed = int(os.environ.get("ZIPTIE_TEST_SEED", secrets.randbits(32)))
    request.node.user_properties.append(("seed", seed))
    print(f"seed={seed} (replay with ZIPTIE_TEST_SEED={seed})")
    return np.random.default_rng(seed)


@pytest.fixture
def torch_gen(rng):
    """A torch generator seeded from ``rng``."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(int(rng.integers(2**62)))
    return gen


def source_notebook() -> nbformat.NotebookNode:
    """A one-task nbgrader source notebook: write `double`."""
    def meta(grade_id, **kw):
        base = {"grade": False, "solution": False, "locked": False,
                "schema_version": 3, "grade_id": grade_id}
        base.update(kw)
        return {"nbgrader": base}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("Write `double`.", metadata=meta(
            "task", locked=True)),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
            "    ### END SOLUTION", metadata=meta("double", solution=True)),
        nbformat.v4.new_code_cell(
            "assert double(2) == 4\n### BEGIN HIDDEN TESTS\n"
            "assert double(5) == 10\n### END HIDDEN TESTS",
            metadata=meta("test_double", grade=True, locked=True, points=1)),
    ]
    return nb


@pytest.fixture
def course(tmp_path):
    """A scratch course with one assignment, 01_double."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / "01_double").mkdir(parents=True)
    nbformat.write(source_notebook(),
                   tmp_path / "solutions" / "01_double" / "double.ipynb")
    return tmp_path
