"""One truth, two graders: nbgrader's hidden tests call the checks of
``ziptie grade`` (grading/<assignment>.py) through grading/nbgrader_bridge.py,
instead of a second, hand-written grader.
"""

import re
import sys

import pytest

import autograde

ASSIGNMENTS = autograde.assignments()
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                     re.DOTALL)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_only_call_the_checks(assignment):
    for cell in autograde.source(assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            hidden = _HIDDEN.findall(cell.source)
            assert hidden == [f"from nbgrader_bridge import check\n\n"
                              f"check(\"{meta['grade_id']}\")\n"], \
                f"{meta['grade_id']}: the hidden tests must be the check"


def test_the_bridge_passes_the_solution_and_names_a_mistake():
    sys.path.insert(0, str(autograde.ROOT / "grading"))
    import nbgrader_bridge

    namespace = autograde.solution_namespace("02_loss")
    nbgrader_bridge.check("test_mse", "02_loss", namespace)
    namespace["mse"] = lambda pred, y: float(((pred - y) ** 2).sum())
    with pytest.raises(AssertionError, match=r"^mse\(.*expected"):
        nbgrader_bridge.check("test_mse", "02_loss", namespace)
