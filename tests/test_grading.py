"""``ziptie grade`` on the real assignments, with their checks in grading/.

For every assignment that has a checks file, one ``ziptie grade`` run
grades a small class: the solution (full marks), the untouched notebook
(nothing), a few wrong answers from the assignment's catalogue in
tests/test_exercise_NN_*.py (each loses the points of the cells it names)
and, for 02_loss, a notebook that tries to fool the tests.
"""

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import autograde

ROOT = autograde.ROOT
GRADED = [a for a in autograde.assignments()
          if (ROOT / "grading" / f"{a}.py").is_file()]

#: Wrong answers of each catalogue (by name) that the grader must catch.
WRONG = {
    "01_forward": ["square weights left untransposed (W.T only if the shapes "
                   "differ)", "relu changes its input in place",
                   "parameters replaced instead of copied into"],
    "02_loss": ["softmax shifted by the global max, not each row's",
                "labels indexed as columns for every row",
                "calls the function it should write"],
    "03_backward": ["db averaged instead of summed",
                    "relu_backward masks with dout > 0",
                    "ReLU mask from the wrong layer (off by one)"],
    "04_step": ["new memory: p.data = p - lr * p.grad",
                "zero_grad rebinds a local name",
                "zero_grad named, not called"],
    "05_sgd": ["np.random.permutation instead of rng",
               "velocity is p.grad itself (no copy)",
               "trained with torch.optim.SGD"],
    "06_adam": ["step counter off by one (t + 1)", "wraps torch.optim.Adam",
                "trained with torch.optim.Adam"],
}

#: A solution cell that breaks the notebook's own tests, then answers wrong.
HOSTILE = {"02_loss": ("cross_entropy", (
    "import numpy as np\nimport torch\n"
    "np.allclose = lambda *a, **k: True\n"
    "np.isclose = lambda *a, **k: True\n"
    "torch.allclose = lambda *a, **k: True\n\n"
    "def cross_entropy(logits, y):\n    return 0.0\n"),
    "test_cross_entropy")}


def _wrong_answers(assignment: str) -> list[autograde.WrongAnswer]:
    module = importlib.import_module(f"test_exercise_{assignment}")
    catalogue = {w.name: w for w in module.WRONG_ANSWERS}
    return [catalogue[name] for name in WRONG[assignment]]


def _submit(folder: Path, assignment: str,
            notebooks: dict[str, nbformat.NotebookNode]) -> None:
    """nbgrader's submitted/<student>/<assignment>/<notebook> layout."""
    for student, nb in notebooks.items():
        path = folder / student / assignment / autograde.notebook_name(
            assignment)
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", GRADED)
def test_the_checks_grade_a_class(assignment, tmp_path):
    points = autograde.max_points(assignment)
    wrong = _wrong_answers(assignment)
    notebooks = {"solution": autograde.filled(assignment),
                 "untouched": autograde.student(assignment)}
    for k, answer in enumerate(wrong):
        notebooks[f"wrong{k}"] = autograde.mutated(
            assignment, answer.cell, answer.old, answer.new, answer.count)
    if assignment in HOSTILE:
        cell, source, loses = HOSTILE[assignment]
        nb = autograde.filled(assignment)
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == cell:
                c.source = source
        notebooks["hostile"] = nb
    _submit(tmp_path / "submitted", assignment, notebooks)

    out = tmp_path / "graded"
    done = subprocess.run(
        [sys.executable, "-m", "ziptie.cli", "--course", str(ROOT), "grade",
         str(tmp_path / "submitted"), "--assignment", assignment,
         "--out", str(out), "--workers", "2", "--cell-timeout", "60"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(notebooks)

    def got(student: str) -> dict[str, float]:
        return {gid: float(rows[student][gid]) for gid in points}

    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert got("solution") == points, rows["solution"]["notes"]
    assert float(rows["solution"]["max"]) == sum(points.values())
    assert got("untouched") == dict.fromkeys(points, 0.0)
    for k, answer in enumerate(wrong):
        scores = got(f"wrong{k}")
        kept = [gid for gid in answer.loses if scores[gid] > 0]
        assert not kept, f"{answer.name!r} kept the points of {kept}"
    if assignment in HOSTILE:
        scores = got("hostile")
        loses = HOSTILE[assignment][2]
        assert scores[loses] == 0, "a notebook that fools its tests"
        assert scores == {**points, loses: 0.0}
