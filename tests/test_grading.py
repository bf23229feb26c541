"""``ziptie grade`` on a real assignment, against a notebook that tries to
fool its tests. (The full solution, the blank release and every wrong
answer of each catalogue are graded in test_graders_agree.py.)

nbgrader runs its tests in the student's kernel, where such a notebook can
break them; ``ziptie grade`` compares in its own process, so the cell the
notebook answers wrong loses its points and nothing else changes.
"""

import pytest

import autograde

ASSIGNMENT = "02_loss"
#: A solution cell that breaks the notebook's own tests, then answers wrong.
HOSTILE = ("cross_entropy", (
    "import numpy as np\nimport torch\n"
    "np.allclose = lambda *a, **k: True\n"
    "np.isclose = lambda *a, **k: True\n"
    "torch.allclose = lambda *a, **k: True\n\n"
    "def cross_entropy(logits, y):\n    return 0.0\n"),
    "test_cross_entropy")


@pytest.mark.slow
def test_a_notebook_that_fools_its_tests_loses_the_points(tmp_path):
    points = autograde.max_points(ASSIGNMENT)
    cell, source, loses = HOSTILE
    nb = autograde.filled(ASSIGNMENT)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == cell:
            c.source = source
    rows = autograde.ziptie_grade(ASSIGNMENT, {"hostile": nb}, tmp_path)
    assert autograde.points_of(rows["hostile"], ASSIGNMENT).cells == {
        **points, loses: 0.0}
