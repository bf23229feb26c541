"""Every assignment: one per chapter, released without its answers.
(How both graders grade each one is in test_graders_agree.py.)"""

import pytest

import autograde

ASSIGNMENTS = autograde.assignments()


def test_there_is_an_assignment_for_each_chapter():
    numbers = sorted(int(name[:2]) for name in ASSIGNMENTS)
    chapters = sorted(int(path.name[:2]) for path in
                      (autograde.ROOT / "book").glob("[0-9][0-9]_*.md"))
    assert numbers == [n for n in chapters if n > 0]   # 00: no exercise


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_hides_solutions_and_hidden_tests(assignment):
    text = (autograde.EXERCISES / assignment /
            autograde.notebook_name(assignment)).read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_grade_ids_are_readable(assignment):
    for cell in autograde.source(assignment).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        assert not grade_id.startswith("cell-"), grade_id
