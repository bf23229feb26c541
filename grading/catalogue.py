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


def load(assignment: str) -> list[WrongAnswer]:
    """The catalogue of ``assignment``; its names must be distinct."""
    path = GRADING / f"{assignment}_wrong.py"
    spec = importlib.util.spec_from_file_location(
        f"ziptie_wrong_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = list(module.WRONG_ANSWERS)
    names = [w.name for w in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: two entries share a name")
    return entries


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
        found = code.count(self.old)
        if found != self.count:
            raise ValueError(f"{self.name}: expected {self.count} "
                             f"occurrence(s) of {self.old!r} in {self.cell}, "
                             f"found {found}")
        return code.replace(self.old, self.new)


def load_right(assignment: str) -> list[RightAnswer]:
    """The correct rewrites of ``assignment``
    (``grading/<assignment>_right.py``, a list ``RIGHT_ANSWERS``); their
    names must be distinct."""
    path = GRADING / f"{assignment}_right.py"
    spec = importlib.util.spec_from_file_location(
        f"ziptie_right_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entries = list(module.RIGHT_ANSWERS)
    names = [r.name for r in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: two entries share a name")
    return entries
