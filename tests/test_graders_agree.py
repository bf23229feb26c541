"""One truth, two graders: ``ziptie grade`` and nbgrader's autograde (whose
hidden tests call the same checks, through grading/nbgrader_bridge.py)
give the same points to every graded cell of every submission of a class:
the full solution (full marks), the blank release (nothing) and every
entry of the assignment's catalogue of wrong answers
(grading/<assignment>_wrong.py), which loses the points of the cells it
names. Each grader grades the whole class of an assignment in one run.
``ziptie grade``'s feedback names each entry whose outputs it knows
(``ziptie.grader.diagnosis``) on the cells it lost, and no mistake where
none is due.
"""

import json
import re
import time

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
    import nbgrader_bridge

    namespace = autograde.solution_namespace("02_loss")
    nbgrader_bridge.check("test_mse", "02_loss", namespace)
    namespace["mse"] = lambda pred, y: float(((pred - y) ** 2).sum())
    with pytest.raises(AssertionError, match=r"^mse\(.*expected"):
        nbgrader_bridge.check("test_mse", "02_loss", namespace)


def _disagreements(assignment, wrong, by_ziptie, by_nbgrader,
                   workdir) -> list[str]:
    """What goes wrong for each catalogue entry, in words (with the error
    nbgrader's run of a cell raised, where they disagree)."""
    failures = []
    for who, (answer, _) in wrong.items():
        ours, theirs = by_ziptie[who].cells, by_nbgrader[who].cells
        if ours != theirs:
            cells = sorted(g for g in ours if ours[g] != theirs[g])
            raised = autograde.nbgrader_errors(workdir, who, assignment)
            failures.append(f"{answer.name!r}: the graders disagree on "
                            f"{cells}: ziptie grade {ours}, nbgrader {theirs}"
                            f"; nbgrader's errors "
                            f"{ {g: raised.get(g) for g in cells} }")
        kept = [gid for gid in answer.loses if ours[gid] or theirs[gid]]
        if kept:
            failures.append(f"{answer.name!r} kept points on {kept}")
    return failures


def _misdiagnosed(assignment, wrong, by_ziptie, out) -> list[str]:
    """Where the feedback fails to name an entry it knows, on a cell the
    entry lost, or claims a mistake on a cell that kept its points, or in
    the solution or the blank release."""
    known = json.loads((out / "diagnosis.json").read_text())["known"]
    failures = []
    for who in ["solution", "blank", *wrong]:
        name = wrong[who][0].name if who in wrong else None
        for gid, why in autograde.feedback(out, who, assignment).items():
            claim = "This looks like a known mistake" in why
            if claim and (name is None or by_ziptie[who][gid]):
                failures.append(f"{who}: {gid} says {why!r}")
            named = [n for n, _ in known.get(gid, [])]
            if name in named and not by_ziptie[who][gid] and not (
                    claim and name in why):
                failures.append(f"{name!r} is not named on {gid}: {why!r}")
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_both_graders_agree_on_a_class(assignment, tmp_path):
    points = autograde.max_points(assignment)
    wrong = autograde.wrong_answers(assignment)
    assert len(wrong) >= 15, "a catalogue of at least 15 wrong ideas"
    class_ = {"solution": autograde.filled(assignment),
              "blank": autograde.student(assignment),
              **{who: nb for who, (_, nb) in wrong.items()}}
    start = time.monotonic()
    rows = autograde.ziptie_grade(assignment, class_, tmp_path / "ziptie")
    by_ziptie = {who: autograde.points_of(row, assignment)
                 for who, row in rows.items()}
    middle = time.monotonic()
    by_nbgrader = autograde.autograde(assignment, class_,
                                      tmp_path / "nbgrader", timeout=1800)
    print(f"{assignment}, {len(class_)} notebooks: ziptie grade "
          f"{middle - start:.0f} s, nbgrader {time.monotonic() - middle:.0f} s")
    assert set(by_ziptie) == set(by_nbgrader) == set(class_)
    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert by_ziptie["solution"].cells == points, rows["solution"]["notes"]
    assert by_nbgrader["solution"].cells == points
    assert by_ziptie["blank"].cells == dict.fromkeys(points, 0.0)
    assert by_nbgrader["blank"].cells == dict.fromkeys(points, 0.0)
    failures = _disagreements(assignment, wrong, by_ziptie, by_nbgrader,
                              tmp_path / "nbgrader") + \
        _misdiagnosed(assignment, wrong, by_ziptie,
                      tmp_path / "ziptie" / "graded")
    assert not failures, "\n".join(failures)
