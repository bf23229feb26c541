"""The autograded notebook, what a person grades in ``nbgrader
formgrader``: the student's cells in their order, nbgrader's cells as
released (by ``grade_id``; missing ones put back), outputs cleared, and a
failed check shown as the error of its test cell.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ziptie.grader.assignment import Assignment, cell_text
from ziptie.grader.gradebook import Book, grade_id, nbgrader_cells
from ziptie.grader.report import Result
from ziptie.grader.submissions import Submission


def autograded(book: Book, sub: Submission,
               result: Result) -> NotebookNode | None:
    """The notebook a person grades: the student's cells in their order,
    nbgrader's cells as released (by ``grade_id``; missing ones put back),
    outputs cleared, a failed check as its test cell's error. None when
    nothing readable was handed in."""
    submitted = _load(sub.path)
    if submitted is None:
        return None
    known = nbgrader_cells(book.released)
    cells: list[NotebookNode] = []
    seen: set[str] = set()
    for cell in submitted["cells"]:
        gid = grade_id(cell)
        if gid in known and gid not in seen:
            seen.add(gid)
            cells.append(_restored(known[gid], cell))
        elif isinstance(cell, dict):
            cells.append(_plain(cell))
    _put_back(cells, book.released, seen)
    for cell in cells:
        gid = grade_id(cell)
        if gid in book.assignment.tasks and cell.cell_type == "code":
            cell.outputs = _check_outputs(gid, result, book.assignment)
    meta = {k: copy.deepcopy(v) for k, v in book.released.metadata.items()
            if k in ("kernelspec", "language_info")}
    return nbformat.v4.new_notebook(cells=cells, metadata=meta)


def _load(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    ok = isinstance(nb, dict) and isinstance(nb.get("cells"), list)
    return nb if ok else None


def _restored(mine: NotebookNode, theirs: dict) -> NotebookNode:
    """An nbgrader cell as released; an answer keeps the student's text."""
    cell = copy.deepcopy(mine)
    if mine.metadata.nbgrader.get("solution"):
        cell.source = cell_text(theirs.get("source", ""))
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _plain(cell: dict) -> NotebookNode:
    """A cell of the student's own: its text only, no nbgrader role."""
    text = cell_text(cell.get("source", ""))
    kind = cell.get("cell_type")
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(text)
    if kind == "raw":
        return nbformat.v4.new_raw_cell(text)
    return nbformat.v4.new_code_cell(text)


def _put_back(cells: list[NotebookNode], released: NotebookNode,
              seen: set[str]) -> None:
    """Each nbgrader cell the student deleted, back after the one before
    it in the released notebook."""
    at = 0
    for cell in released.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            at = 1 + next(i for i, c in enumerate(cells)
                          if grade_id(c) == gid)
        else:
            cells.insert(at, copy.deepcopy(cell))
            at += 1


def _check_outputs(gid: str, result: Result,
                   assignment: Assignment) -> list[NotebookNode]:
    """Nothing when the check passed (nbgrader: full points), else the
    reason as an error (nbgrader: no points)."""
    if result.points.get(gid, 0.0) >= assignment.tasks[gid].points:
        return []
    why = result.reasons.get(gid) or f"no points ({result.status})"
    return [nbformat.v4.new_output("error", ename="CheckFailed", evalue=why,
                                   traceback=[f"CheckFailed: {why}"])]
