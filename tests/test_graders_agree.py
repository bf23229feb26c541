"""One truth, two graders: ``ziptie grade`` and nbgrader's autograde (whose
hidden tests call the same checks, through grading/nbgrader_bridge.py)
give the same points to every graded cell of every submission of a class:
the full solution (full marks), the blank release (nothing) and every
entry of the assignment's catalogue of wrong answers
(grading/<assignment>_wrong.py), which loses the points of the cells it
names. Each grader grades the whole class of an assignment in one run.

nbgrader starts a kernel for each notebook, so it grades the entries
packed: entries that touch no cell in common (the solution cell each
changes, the graded cells each loses) share a notebook
(``autograde.packed``), far fewer notebooks than entries. ``ziptie
grade`` grades each entry alone, and nbgrader must give each cell of a
pack the points its entries get there: none where one of them loses the
cell. (Packed entries act apart: a pack, graded by ``ziptie grade``, lost
exactly the cells its entries lose alone, for every pack of every
assignment, when packing was introduced.) ``ziptie grade``'s feedback
names each entry whose outputs it knows (``ziptie.grader.diagnosis``) on
the cells it lost, and no mistake where none is due: not for the
solution, the blank, nor a mistake near a catalogued one that no entry
makes.
"""

import json
import re
import time

import pytest

import autograde

ASSIGNMENTS = autograde.assignments()
#: A mistake no catalogue entry makes, near one that an entry makes
#: (cell, text, its replacement): it loses points, and its feedback claims
#: no known mistake.
UNCATALOGUED = {
    # the root of the mean squared error
    "02_loss": ("mse", "np.mean((pred - y) ** 2)",
                "np.sqrt(np.mean((pred - y) ** 2))"),
    # both moments corrected with beta1
    "06_adam": ("Adam", "v_hat = v / (1 - beta2 ** t)",
                "v_hat = v / (1 - beta1 ** t)"),
    # the generator seeded one further
    "08_parallel": ("shard", "generator.manual_seed(seed + epoch)",
                    "generator.manual_seed(seed + epoch + 1)"),
    # a third instead of a half
    "09_regularisation": (
        "penalty", "return lam / 2 * sum(w.pow(2).sum() for w in weights)",
        "return lam / 3 * sum(w.pow(2).sum() for w in weights)"),
    # running_var started at 2
    "10_normalisation": ("BatchNorm",
                         "self.running_var = torch.ones(num_features)",
                         "self.running_var = 2 * torch.ones(num_features)"),
    # twice eps
    "11_optimizers": ("RMSprop", "avg = v.sqrt() + self.eps",
                      "avg = v.sqrt() + 2 * self.eps"),
    # 1e-5 for the 1e-6 in the clipping factor
    "12_watching": ("clip_norm", "max_norm / (total_norm + 1e-6)",
                    "max_norm / (total_norm + 1e-5)"),
    # one weight fewer counted
    "13_efficiency": ("magnitude_prune_",
                      "k = round(amount * weight.numel())",
                      "k = round(amount * (weight.numel() - 1))"),
}
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


def _packed_points(members, by_ziptie) -> dict[str, float]:
    """The points of a pack by ``ziptie grade``'s points of its entries
    alone: a cell gets the least that one of them gets."""
    cells = by_ziptie[members[0]].cells
    return {gid: min(by_ziptie[m][gid] for m in members) for gid in cells}


def _disagreements(assignment, wrong, packs, by_ziptie, by_nbgrader,
                   workdir) -> list[str]:
    """Where nbgrader gives a pack other points than ``ziptie grade``
    gives its entries, or an entry keeps points it must lose, in words
    (with the error nbgrader's run of a cell raised)."""
    failures = []
    for who, (members, _) in packs.items():
        ours, theirs = _packed_points(members, by_ziptie), \
            by_nbgrader[who].cells
        if ours != theirs:
            cells = sorted(g for g in ours if ours[g] != theirs[g])
            raised = autograde.nbgrader_errors(workdir, who, assignment)
            failures.append(f"{who} {members}: the graders disagree on "
                            f"{cells}: ziptie grade {ours}, nbgrader {theirs}"
                            f"; nbgrader's errors "
                            f"{ {g: raised.get(g) for g in cells} }")
        for member in members:
            answer = wrong[member][0]
            kept = [gid for gid in answer.loses
                    if by_ziptie[member][gid] or theirs[gid]]
            if kept:
                failures.append(f"{answer.name!r} kept points on {kept}")
    return failures


def _misdiagnosed(assignment, wrong, by_ziptie, out) -> list[str]:
    """Where the feedback fails to name an entry it knows, on a cell the
    entry lost, or claims a mistake on a cell that kept its points, or in
    the solution or the blank release."""
    known = json.loads((out / "diagnosis.json").read_text())["known"]
    failures = []
    others = ["other"] if assignment in UNCATALOGUED else []
    for who in ["solution", "blank", *others, *wrong]:
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
    packs = autograde.packed(assignment, wrong)
    class_ = {"solution": autograde.filled(assignment),
              "blank": autograde.student(assignment)}
    alone = {who: nb for who, (_, nb) in wrong.items()}
    if assignment in UNCATALOGUED:
        alone["other"] = autograde.mutated(assignment,
                                           *UNCATALOGUED[assignment])
    start = time.monotonic()
    rows = autograde.ziptie_grade(assignment, class_ | alone,
                                  tmp_path / "ziptie")
    by_ziptie = {who: autograde.points_of(row, assignment)
                 for who, row in rows.items()}
    middle = time.monotonic()
    both = class_ | {who: nb for who, (_, nb) in packs.items()}
    by_nbgrader = autograde.autograde(assignment, both,
                                      tmp_path / "nbgrader", timeout=1800)
    print(f"{assignment}: ziptie grade {len(rows)} notebooks in "
          f"{middle - start:.0f} s, nbgrader {len(both)} (the "
          f"{len(wrong)} entries in {len(packs)}) in "
          f"{time.monotonic() - middle:.0f} s")
    assert set(by_nbgrader) == set(both)
    assert set(by_ziptie) == set(class_) | set(alone)
    if "other" in alone:
        assert by_ziptie["other"].total < sum(points.values())
    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert by_ziptie["solution"].cells == points, rows["solution"]["notes"]
    assert by_nbgrader["solution"].cells == points
    assert by_ziptie["blank"].cells == dict.fromkeys(points, 0.0)
    assert by_nbgrader["blank"].cells == dict.fromkeys(points, 0.0)
    failures = _disagreements(assignment, wrong, packs, by_ziptie,
                              by_nbgrader, tmp_path / "nbgrader") + \
        _misdiagnosed(assignment, wrong, by_ziptie,
                      tmp_path / "ziptie" / "graded")
    assert not failures, "\n".join(failures)
