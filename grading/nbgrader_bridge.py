"""The hidden half of every graded cell when nbgrader autogrades: the
checks of ``ziptie grade`` (``grading/<assignment>.py``), run in the
student's kernel. A graded cell of a source notebook ends with::

    ### BEGIN HIDDEN TESTS
    from nbgrader_bridge import check
    check("test_mse")
    ### END HIDDEN TESTS

``nbgrader_config.py`` puts this folder on the ``PYTHONPATH`` that the
kernels nbgrader starts inherit, and nbgrader runs a notebook in its own
folder, named after the assignment. ``check`` draws the inputs from a
fresh generator, runs each probe with the sandbox runner's own code in
the notebook's namespace, sends job and values through JSON as the
sandbox's channel does, and compares them as ``ziptie grade`` does; the
first failed case raises AssertionError with the check's reason, and the
cell loses its points.

This runs in the student's process, so against a notebook that tampers
with its grader it is as strong as nbgrader is, no stronger: credit that
must be trusted comes from ``ziptie grade``.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

from ziptie.grader import runner, tripwire, verdict
from ziptie.grader.probe import Task, load

GRADING = Path(__file__).resolve().parent


@functools.cache
def tasks(assignment: str) -> dict[str, Task]:
    """The checks of ``assignment``, by grade id."""
    path = GRADING / f"{assignment}.py"
    if not path.is_file():
        raise AssertionError(f"no checks {path}: the notebook must run in a "
                             f"folder named after its assignment")
    return load(path)


def reason(probe, expect, namespace: dict) -> str | None:
    """Run one probe in ``namespace`` as the sandbox's runner does (the
    task's forbidden functions refused, the inputs sent back after each
    call); why its values are wrong, or None, decided as ``ziptie grade``
    decides (``verdict.reason``)."""
    job = json.loads(json.dumps(probe.to_job()))
    called: list[str] = []
    after: dict = {}
    forbidden = tripwire.Forbidden(job.get("forbid", []))
    try:
        values = runner._run_probe(namespace, job, forbidden, called, after)
        got: dict = json.loads(json.dumps(
            {"values": values, "args_after": after}, allow_nan=True))
    except Exception as err:  # noqa: BLE001 - what the student's code raised
        got = {"error": runner._error_line(err)}
    if called:
        got["forbidden"] = called
    return verdict.reason(probe, expect, got)


def check(grade_id: str, assignment: str | None = None,
          namespace: dict | None = None) -> None:
    """Grade the cell ``grade_id`` in ``namespace`` (by default the
    caller's: the notebook's); raise AssertionError with the reason if any
    case fails. ``assignment`` is the name of the current folder unless
    given."""
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    assignment = assignment or Path.cwd().name
    task = tasks(assignment)[grade_id]
    for probe, expect in task.draw(np.random.default_rng()):
        why = reason(probe, expect, namespace)
        if why:
            raise AssertionError(why)
