"""One truth, two graders: ``ziptie grade`` and nbgrader's autograde (whose
hidden tests call the same checks, through grading/nbgrader_bridge.py)
give the same points to every graded cell of every submission of a class:
the full solution (full marks), the blank release (nothing) and every
entry of the assignment's catalogue of wrong answers
(grading/<assignment>_wrong.py), which loses the points of the cells it
names. Each grader grades the whole class of an assignment in one run.

Both graders grade the entries packed: entries that touch no cell in
common (the solution cell each changes, the graded cells each loses)
share a notebook (``autograde.packed``), far fewer notebooks than entries,
and a pack loses every cell one of its entries loses. (Packed entries act
apart: a pack lost exactly the cells its entries lose alone, for every
pack of every assignment, when packing was introduced; each entry alone
fails the draws of its tasks in tests/test_every_draw.py, the trained
classifiers excepted.)
``ziptie grade``'s feedback names each entry whose outputs it knows
(``ziptie.grader.diagnosis``, which runs every entry alone) on the cells
the entry lost, and no mistake where none is due: not for the solution,
the blank, nor a mistake near a catalogued one that no entry makes.
"""

import json
import re
import shutil
import time

import pytest

import autograde
from ziptie.grader.diagnosis import CACHE

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


def _disagreements(wrong, packs, rows, by_ziptie, by_nbgrader, explain
                   ) -> list[str]:
    """Where the graders give a pack other points, or a pack keeps points
    one of its entries must lose, or ``ziptie grade`` could not grade a
    pack, in words (``explain(who, cells)``: what each grader said there).
    """
    failures = []
    for who, (members, _) in packs.items():
        ours, theirs = by_ziptie[who].cells, by_nbgrader[who].cells
        if rows[who]["status"] not in ("ok", "flagged"):
            failures.append(f"{who} {members}: ziptie grade's status "
                            f"{rows[who]['status']}: {rows[who]['notes']}")
        if ours != theirs:
            cells = sorted(g for g in ours if ours[g] != theirs[g])
            failures.append(f"{who} {members}: the graders disagree on "
                            f"{cells}: ziptie grade {ours}, nbgrader {theirs}"
                            f"; {explain(who, cells)}")
        for member in members:
            answer = wrong[member][0]
            kept = [gid for gid in answer.loses if ours[gid] or theirs[gid]]
            if kept:
                failures.append(f"{answer.name!r} ({who}) kept points on "
                                f"{kept}: {explain(who, kept)}")
    return failures


def _misdiagnosed(assignment, wrong, packs, by_ziptie, out, plain=()
                  ) -> tuple[list[str], dict[str, list[str]]]:
    """Where the feedback claims a mistake on a cell that kept its points,
    or in a ``plain`` notebook (the solution, the blank release); and by
    entry, where it fails to name the entry on a cell the entry lost and
    is known by."""
    known = json.loads((out / CACHE).read_text())["known"]
    failures, missed = [], {}
    members = {who: m for who, (m, _) in packs.items()}
    for who in [*plain, *packs]:
        for gid, why in autograde.feedback(out, who, assignment).items():
            claim = "This looks like a known mistake" in why
            if claim and (who not in packs or by_ziptie[who][gid]):
                failures.append(f"{who}: {gid} says {why!r}")
            named = [n for n, _ in known.get(gid, [])]
            for member in members.get(who, []):
                answer = wrong[member][0]
                if gid in answer.loses and answer.name in named and not (
                        claim and answer.name in why):
                    missed.setdefault(member, []).append(
                        f"{answer.name!r} ({who}) is not named on {gid}: "
                        f"{why!r}")
    return failures, missed


def _named_alone(assignment, wrong, missed, out, workdir) -> list[str]:
    """The entries of ``missed`` graded alone, in a batch with the key of
    ``out`` (the same diagnosis cases, its cached fingerprints): where one
    keeps a point it must lose, or its feedback fails to name it, or claims
    a mistake where none is due."""
    (workdir / "graded").mkdir(parents=True)
    for name in ("secret", CACHE):
        shutil.copy(out / name, workdir / "graded" / name)
    alone = {who: ([who], wrong[who][1]) for who in missed}
    rows = autograde.ziptie_grade(
        assignment, {who: nb for who, (_, nb) in alone.items()}, workdir)
    by_ziptie = {who: autograde.points_of(row, assignment)
                 for who, row in rows.items()}
    failures, still = _misdiagnosed(assignment, wrong, alone, by_ziptie,
                                    workdir / "graded")
    for who in alone:
        kept = [g for g in wrong[who][0].loses if by_ziptie[who][g]]
        if kept:
            failures.append(f"{wrong[who][0].name!r} alone kept {kept}")
    return failures + [f"alone: {why}" for whys in still.values()
                       for why in whys]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_both_graders_agree_on_a_class(assignment, tmp_path):
    points = autograde.max_points(assignment)
    wrong = autograde.wrong_answers(assignment)
    assert len(wrong) >= 15, "a catalogue of at least 15 wrong ideas"
    packs = autograde.packed(assignment, wrong)
    class_ = {"solution": autograde.filled(assignment),
              "blank": autograde.student(assignment)} | {
        who: nb for who, (_, nb) in packs.items()}
    other = {"other": autograde.mutated(assignment, *UNCATALOGUED[
        assignment])} if assignment in UNCATALOGUED else {}
    start = time.monotonic()
    rows = autograde.ziptie_grade(assignment, class_ | other,
                                  tmp_path / "ziptie")
    by_ziptie = {who: autograde.points_of(row, assignment)
                 for who, row in rows.items()}
    middle = time.monotonic()
    by_nbgrader = autograde.autograde(assignment, class_,
                                      tmp_path / "nbgrader", timeout=1800)
    print(f"{assignment}: the {len(wrong)} entries in {len(packs)} "
          f"notebooks; ziptie grade {len(rows)} notebooks in "
          f"{middle - start:.0f} s, nbgrader {len(class_)} in "
          f"{time.monotonic() - middle:.0f} s")
    assert set(by_nbgrader) == set(class_)
    assert set(by_ziptie) == set(class_) | set(other)
    if other:
        assert by_ziptie["other"].total < sum(points.values())
    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert by_ziptie["solution"].cells == points, rows["solution"]["notes"]
    assert by_nbgrader["solution"].cells == points
    assert by_ziptie["blank"].cells == dict.fromkeys(points, 0.0)
    assert by_nbgrader["blank"].cells == dict.fromkeys(points, 0.0)

    def explain(who: str, cells: list[str]) -> str:
        said = autograde.feedback(tmp_path / "ziptie" / "graded", who,
                                  assignment)
        raised = autograde.nbgrader_errors(tmp_path / "nbgrader", who,
                                           assignment)
        return "; ".join(f"{g}: ziptie grade says {said.get(g)!r}, "
                         f"nbgrader's error {raised.get(g)!r}"
                         for g in cells)

    out = tmp_path / "ziptie" / "graded"
    failures = _disagreements(wrong, packs, rows, by_ziptie,
                              by_nbgrader, explain)
    claims, missed = _misdiagnosed(assignment, wrong, packs, by_ziptie, out,
                                   ["solution", "blank", *other])
    # A pack mate's mistake can change an entry's outputs (a function its
    # task calls, say): such an entry must be named when graded alone.
    print(f"graded alone: {sorted(missed)}")
    failures += claims + (_named_alone(assignment, wrong, missed, out,
                                       tmp_path / "alone") if missed else [])
    assert not failures, "\n".join(failures)
