"""A correct answer keeps its points however it is written.

Students write correct code unlike the solution: loops for vector code,
other names, float64 inside, torch for NumPy or back, another equivalent
formula. Each assignment's catalogue of such rewrites
(``grading/<assignment>_right.py``, entries ``catalogue.RightAnswer``)
holds 2 to 4 of them for every solution cell but the training of the
digit classifiers. Here each rewrite runs in this process, and every task
that calls what its cell defines is checked, as both graders check it, on
several fresh draws of inputs (each draw alone must pass); a task that
reaches it only through another function of the notebook (``mlp_forward``
through ``relu``), on one draw. The grader's reading of the
cell (``ziptie.grader.scan``) must find nothing in it either. The
rewrites of 02_loss are also handed in as a class to ``ziptie grade``.
"""

import ast
import contextlib
import io
import types

import catalogue
import nbgrader_bridge
import numpy as np
import pytest

import autograde
from ziptie.grader import scan

DRAWS = 3
#: Draws that once parted a rewrite from the solution, met again by
#: every rewrite of the assignment: an input near a large running mean
#: with a small variance, in eval mode, for a layer kept in float32.
REPLAYS = {"10_normalisation": (1549765225,)}
#: Tasks scored on fixed data, and the cells that train for them.
CLASSIFIERS, TRAINING = "test_digits", ("train_digits",)


def _draws(assignment: str, rng: np.random.Generator) -> list[tuple]:
    """``DRAWS`` fresh draws of the cases of every task, then the
    assignment's ``REPLAYS``, each draw with its seed:
    ``(seed, {grade_id: [(probe, expect), ...]})``. Every rewrite of the
    assignment meets the same draws."""
    draws = []
    seeds = [int(rng.integers(2**32)) for _ in range(DRAWS)]
    for seed in seeds + list(REPLAYS.get(assignment, ())):
        draws.append((seed, {
            gid: list(task.draw(np.random.default_rng(seed)))
            for gid, task in nbgrader_bridge.tasks(assignment).items()
            if not gid.startswith(CLASSIFIERS)}))
    return draws


def _targets(cases: dict[str, list]) -> dict[str, set[str]]:
    """The notebook names each task calls (``mlp_forward``, ``SGD``)."""
    return {gid: {step["target"].split(".")[0] for probe, _ in pairs
                  for step in probe.steps
                  if not step.get("target", "$").startswith("$")}
            for gid, pairs in cases.items()}


def _names_in(obj) -> set[str]:
    """Every name the code of a function, or of a class's methods and
    bases, mentions: what it may call."""
    if isinstance(obj, type):
        names = {base.__name__ for base in obj.__mro__[1:]}
        for member in vars(obj).values():
            names |= _names_in(member)
        return names
    code = getattr(obj, "__code__", None)
    names, todo = set(), [code] if code else []
    while todo:
        code = todo.pop()
        names |= set(code.co_names)
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _reaches(namespace: dict, start: set[str], defined: set[str]) -> bool:
    """Whether calling the names ``start`` can run a name in ``defined``."""
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in namespace:
            continue
        seen.add(name)
        if name in defined:
            return True
        todo += _names_in(namespace[name])
    return False


def _defined(code: str) -> set[str]:
    """The names a cell defines at its top level."""
    return {node.name for node in ast.parse(code).body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def _cell_code(assignment: str, right: catalogue.RightAnswer) -> str:
    cell = autograde._cells_by_id(autograde.source(assignment))[right.cell]
    return right.apply(autograde.solution_code(cell.source))


@pytest.mark.parametrize("assignment", autograde.assignments())
def test_every_cell_has_correct_rewrites(assignment):
    cells = [gid for gid, cell in autograde._cells_by_id(
        autograde.source(assignment)).items()
        if cell.metadata["nbgrader"].get("solution")
        and cell.cell_type == "code" and gid not in TRAINING]
    rights = catalogue.load_right(assignment)
    counts = {gid: sum(r.cell == gid for r in rights) for gid in cells}
    assert all(2 <= k <= 4 for k in counts.values()), counts
    assert {r.cell for r in rights} <= set(cells)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
@pytest.mark.parametrize("assignment", autograde.assignments())
def test_every_correct_rewrite_passes_every_draw(assignment, rng):
    draws = _draws(assignment, rng)
    targets = _targets(draws[0][1])
    # what each task forbids, as the grader hands it to its reading
    forbidden = sorted({(name, gid) for gid, pairs in draws[0][1].items()
                        for probe, _ in pairs for name in probe.forbidden})
    lost = []
    for right in catalogue.load_right(assignment):
        code = _cell_code(assignment, right)
        lost += [f"{right.name!r}: the grader's reading flags {finding}"
                 for finding in scan.scan([(0, code)], forbidden)]
        with contextlib.redirect_stdout(io.StringIO()):
            namespace = autograde.solution_namespace(
                assignment, skip=TRAINING, right=right)
        defined = _defined(code)
        tasks = [gid for gid, names in targets.items()
                 if _reaches(namespace, names, defined)]
        assert tasks, f"{right.name!r} takes part in no task"
        for gid in tasks:
            # through another function: one draw is enough
            count = len(draws) if targets[gid] & defined else 1
            for draw, (seed, cases) in enumerate(draws[:count]):
                with contextlib.redirect_stdout(io.StringIO()):
                    why = next(filter(None, (
                        nbgrader_bridge.reason(probe, expect, namespace)
                        for probe, expect in cases[gid])), None)
                if why:
                    lost.append(f"{right.name!r} loses {gid} on draw "
                                f"{draw} (seed {seed}): {why}")
    assert not lost, "\n".join(lost)


def _class_of_rewrites(assignment: str) -> dict:
    """Students ``right0``, ``right1``, ...: student k hands in the k-th
    rewrite of every cell that has one (the solution elsewhere), so that a
    few notebooks hold every rewrite, side by side as a class writes them."""
    by_cell: dict[str, list] = {}
    for right in catalogue.load_right(assignment):
        by_cell.setdefault(right.cell, []).append(right)
    count = max(len(rights) for rights in by_cell.values())
    return {f"right{k}": autograde.rewritten(
        assignment, *(rights[k] for rights in by_cell.values()
                      if k < len(rights))) for k in range(count)}


@pytest.mark.slow
def test_ziptie_grade_gives_every_rewrite_full_points(tmp_path):
    assignment = "02_loss"
    class_ = _class_of_rewrites(assignment)
    rows = autograde.ziptie_grade(assignment, class_, tmp_path,
                                  options=("--no-diagnosis",))
    points = autograde.max_points(assignment)
    for who in class_:
        got = autograde.points_of(rows[who], assignment).cells
        assert rows[who]["status"] == "ok" and got == points, \
            f"{who}: {got}, {rows[who]['notes']}"
