"""Catalogues of wrong answers: the mistakes students make, one an entry.

Each assignment keeps its catalogue next to its checks, in
``grading/<assignment>_wrong.py``, as a list ``WRONG_ANSWERS`` of
:class:`WrongAnswer`. An entry is the full solution with one idea made
wrong, in one solution cell (by ``grade_id``): ``old`` replaced by ``new``.
The tests grade every entry with ``ziptie grade`` and with nbgrader, and
both must take the points of the cells in ``loses``, and agree cell by
cell.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

GRADING = Path(__file__).resolve().parent


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake: ``old`` becomes ``new`` in solution ``cell``.

    ``name`` says what is wrong, in the words feedback would use;
    ``loses`` names the graded cells that must lose points because of it;
    ``old`` must occur ``count`` times in the cell.
    """

    name: str
    cell: str
    old: str
    new: str
    loses: tuple[str, ...]
    count: int = 1

    def apply(self, code: str) -> str:
        """The solution cell ``code`` (markers removed), with the mistake."""
        return _replaced(self.name, self.cell, code, self.old, self.new,
                         self.count)


def _replaced(name: str, cell: str, code: str, old: str, new: str,
              count: int) -> str:
    """``code`` with ``old`` replaced by ``new``; ``old`` must occur
    ``count`` times, so an entry can never silently change nothing."""
    found = code.count(old)
    if found != count:
        raise ValueError(f"{name}: expected {count} occurrence(s) of "
                         f"{old!r} in {cell}, found {found}")
    return code.replace(old, new)


def _entries(assignment: str, kind: str, variable: str) -> list:
    """The list ``variable`` of ``grading/<assignment>_<kind>.py``; the
    names of its entries must be distinct."""
    path = GRADING / f"{assignment}_{kind}.py"
    spec = importlib.util.spec_from_file_location(
        f"ziptie_{kind}_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = list(getattr(module, variable))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: two entries share a name")
    return entries


def load(assignment: str) -> list[WrongAnswer]:
    """The catalogue of ``assignment``; its names must be distinct."""
    return _entries(assignment, "wrong", "WRONG_ANSWERS")


@dataclass(frozen=True)
class RightAnswer:
    """A correct answer written another way, as honest students write it
    (loops for vector code, other names, float64 inside, torch for NumPy
    or back, another equivalent formula): it must keep every point.

    ``old`` becomes ``new`` in solution ``cell``, where ``old`` must occur
    ``count`` times; with ``old=None``, ``new`` is the whole cell as the
    student hands it in (signature, docstring and all), which suits a
    class whose methods are all written anew.
    """

    name: str
    cell: str
    old: str | None
    new: str
    count: int = 1

    def apply(self, code: str) -> str:
        """The solution cell ``code`` (markers removed), rewritten."""
        if self.old is None:
            return self.new
        return _replaced(self.name, self.cell, code, self.old, self.new,
                         self.count)


def load_right(assignment: str) -> list[RightAnswer]:
    """The correct rewrites of ``assignment``
    (``grading/<assignment>_right.py``, a list ``RIGHT_ANSWERS``); their
    names must be distinct."""
    return _entries(assignment, "right", "RIGHT_ANSWERS")
