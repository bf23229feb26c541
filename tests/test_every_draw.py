"""A wrong answer loses its points on every draw of inputs, not on lucky
ones.

Each entry of each assignment's catalogue of wrong answers
(``grading/<assignment>_wrong.py``) is the solution with one idea made
wrong. Here its functions run in this process, and every task the entry
must lose is checked, as both graders check it (``verdict.reason``,
through ``grading/nbgrader_bridge.py``), on several fresh draws of inputs:
each draw alone must fail the task. The trained classifiers
(``test_digits_*``) are scored on the grader's fixed held-back digits, not
on a draw; ``test_graders_agree.py`` grades their entries.
"""

import contextlib
import io

import catalogue
import nbgrader_bridge
import numpy as np
import pytest

import autograde

DRAWS = 4
#: Tasks scored on fixed data, and the cells that train for them.
CLASSIFIERS, TRAINING = "test_digits", ("train_digits",)


def _failing(assignment: str, grade_id: str, namespace: dict,
             rng: np.random.Generator) -> bool:
    """Whether one draw of the task's inputs finds the mistake."""
    task = nbgrader_bridge.tasks(assignment)[grade_id]
    for probe, expect in task.draw(rng):
        if nbgrader_bridge.reason(probe, expect, namespace):
            return True
    return False


@pytest.mark.parametrize("assignment", autograde.assignments())
def test_every_catalogued_mistake_fails_on_every_draw(assignment, rng):
    kept = []
    for wrong in catalogue.load(assignment):
        tasks = [t for t in wrong.loses if not t.startswith(CLASSIFIERS)]
        if not tasks or wrong.cell in TRAINING:
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            namespace = autograde.solution_namespace(
                assignment, skip=TRAINING, wrong=wrong)
            for grade_id in tasks:
                for draw in range(DRAWS):
                    seed = int(rng.integers(2**32))
                    if not _failing(assignment, grade_id, namespace,
                                    np.random.default_rng(seed)):
                        kept.append(f"{wrong.name!r} passes {grade_id} "
                                    f"on draw {draw} (seed {seed})")
    assert not kept, "\n".join(kept)


@pytest.mark.parametrize("assignment", autograde.assignments())
def test_the_solution_passes_every_draw(assignment, rng):
    with contextlib.redirect_stdout(io.StringIO()):
        namespace = autograde.solution_namespace(assignment, skip=TRAINING)
        ids = [t for t in nbgrader_bridge.tasks(assignment)
               if not t.startswith(CLASSIFIERS)]
        failing = [t for t in ids for _ in range(DRAWS)
                   if _failing(assignment, t, namespace, rng)]
    assert not failing


#: Seeds whose draw once divided by zero: 07_signal's gradient_gain drew
#: a ReLU network with every hidden unit dead on its batch (the gain was
#: 0 / 0, and nbgrader's hidden test raised on a correct answer).
DEAD_RELU = [2536, 3481, 3574, 4173]


@pytest.mark.parametrize("seed", DEAD_RELU)
def test_a_draw_with_nothing_to_divide_by_is_drawn_again(seed):
    with contextlib.redirect_stdout(io.StringIO()):
        namespace = autograde.solution_namespace("07_signal", skip=TRAINING)
    assert not _failing("07_signal", "test_gradient_gain", namespace,
                        np.random.default_rng(seed))
