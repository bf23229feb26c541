"""The layouts of a folder of submissions: who handed a file in, read
from where it lies and how it is named (``--layout``).

``detect`` tells which layout a folder shows (``auto``) and refuses a
mixture, listing what it found; ``unwrap`` steps into the one top folder
a platform's export is wrapped in; ``OWNERS`` reads, for each layout, a
file's path as its student, the student's name and id, and why it is not
graded when it is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ziptie.grader.submissions_names import shown

LAYOUTS = ("auto", "nbgrader", "canvas", "moodle", "folders")
_CANVAS = re.compile(r"^(?P<name>[^_/]+?)_(?P<late>late_)?(?P<id>\d+)_"
                     r"(?P<sub>\d+)_(?P<file>.+)$", re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_(?P<plugin>"
                     r"assignsubmission_\w+?|onlinetext)_(?P<file>.*)$")
_MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_(?P<plugin>"
                            r"assignsubmission_[a-z]+|onlinetext)_$")
_MOODLE_ID = re.compile(r"_\d+_(?:assignsubmission_[a-z]+|onlinetext)_")


class LayoutError(ValueError):
    """The folder's layout is not the one named, or cannot be told."""


_WHAT = {"nbgrader": "nbgrader student folder(s) <student>/<assignment>/",
         "canvas": "Canvas file(s) <lastfirst>_<id>_<id>_<name>",
         "moodle": "Moodle folder(s) or file(s) <Name>_<id>_assignsubmission_",
         "folders": "folder(s) of notebooks <student>/<notebook>"}


@dataclass
class Owner:
    """Who handed a file in, as the layout says."""

    student: str
    name: str
    student_id: str
    file: str                  # the file's own name, without the prefix
    why: str = ""              # set: the file is not graded, for this reason
    notes: list[str] = field(default_factory=list)


def hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db",
                                            "desktop.ini")


def visible(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not hidden(p.name))
    except OSError:
        return []


def _evidence(root: Path, assignments: set[str],
              unpacked: Sequence[str] = ()) -> dict[str, list[str]]:
    """For each layout, the entries of ``root`` (and the names of files
    that could not be unpacked into it) that look like it."""
    found: dict[str, list[str]] = {k: [] for k in LAYOUTS[1:]}
    for name in unpacked:
        top = name.split("/")[0]
        if _MOODLE.match(top):
            found["moodle"].append(shown(top))
        elif "/" not in name and _CANVAS.match(name):
            found["canvas"].append(shown(name))
    for entry in visible(root):
        name = shown(entry.name)
        if entry.is_symlink():
            continue
        if entry.is_dir():
            if any((entry / a).is_dir() for a in assignments):
                found["nbgrader"].append(name + "/")
            elif _MOODLE.match(entry.name):
                found["moodle"].append(name + "/")
            elif entry.name in assignments:   # one student's, not a class
                continue
            elif any(p.suffix == ".ipynb" for p in visible(entry)):
                found["folders"].append(name + "/")
        elif _MOODLE.match(entry.name):
            found["moodle"].append(name)
        elif _CANVAS.match(entry.name):
            found["canvas"].append(name)
    return found


def unwrap(root: Path, layout: str,
            assignments: set[str]) -> tuple[Path, list[str]]:
    """Step into the one top folder a platform's export is wrapped in, and
    into nbgrader's ``submitted/``."""
    notes = []
    entries = visible(root)
    if len(entries) == 1 and entries[0].is_dir() \
            and not entries[0].is_symlink():
        inner = entries[0]
        seen = _evidence(inner, assignments)
        platform = layout in ("auto", "canvas", "moodle") and (
            seen["canvas"] or seen["moodle"]) and not _MOODLE.match(
                inner.name)
        nbgrader = layout in ("auto", "nbgrader") and (
            inner / "submitted").is_dir()
        if platform or nbgrader:
            root = inner
            notes.append(f"unwrapped the top folder {shown(inner.name)}/")
    submitted = root / "submitted"
    if layout in ("auto", "nbgrader") and submitted.is_dir() \
            and not submitted.is_symlink():
        root = submitted
    return root, notes


def detect(root: Path, assignments: set[str],
           unpacked: Sequence[str] = ()) -> str:
    """The one layout ``root`` shows; "" when nothing is recognised.

    Raises LayoutError, listing what was found, when it shows several."""
    seen = {k: v for k, v in _evidence(root, assignments, unpacked).items()
            if v}
    if len(seen) <= 1:
        return next(iter(seen), "")
    listing = "; ".join(
        f"{len(v)} {_WHAT[k]}: {', '.join(v[:3])}"
        + (", ..." if len(v) > 3 else "") for k, v in seen.items())
    raise LayoutError(
        f"the submissions mix layouts ({listing}). Say which one to use "
        f"with --layout {{{','.join(seen)}}}; what does not fit it is "
        f"listed as not graded.")


def _nbgrader(parts: list[str], assignment: str,
              others: set[str]) -> Owner | str:
    if len(parts) < 2:
        return f"not in a folder <student>/{assignment}/"
    owner = Owner(parts[0], parts[0], "", parts[-1])
    if parts[1] in others:
        owner.why = f"for another assignment ({parts[1]})"
    elif parts[1] != assignment or len(parts) < 3:
        owner.why = f"not in a folder <student>/{assignment}/"
    elif len(parts) > 3:
        owner.why = (f"in a subfolder of {assignment}/: only the notebooks "
                     f"directly in it are graded")
    return owner


def _folders(parts: list[str], assignment: str,
             others: set[str]) -> Owner | str:
    if len(parts) < 2:
        return "not in a student's folder <student>/"
    owner = Owner(parts[0], parts[0], "", parts[-1])
    if len(parts) > 2:
        owner.why = ("in a subfolder of a student's folder: only the "
                     "notebooks directly in it are graded")
    return owner


def _canvas(parts: list[str], assignment: str,
            others: set[str]) -> Owner | str:
    match = _CANVAS.match(parts[0])
    if not match:
        return ("cannot tell whose file this is (not named "
                "<lastfirst>_<user id>_<submission id>_<name>)")
    owner = Owner(match["id"], match["name"], match["id"], match["file"])
    if match["late"]:
        owner.notes.append("marked late by Canvas")
    if len(parts) > 1:
        owner.file = parts[-1]
        owner.why = "in a folder: a Canvas export has none"
    return owner


def _moodle(parts: list[str], assignment: str,
            others: set[str]) -> Owner | str:
    """A student may name themself ``Eve_78_assignsubmission_file_`` and a
    file ``x_78_assignsubmission_file_a.ipynb``: a folder's id is the last
    in its name, a file whose name holds two is nobody's."""
    match = (_MOODLE.match(parts[0]) if len(parts) == 1
             else _MOODLE_FOLDER.match(parts[0]))
    if not match:
        return ("cannot tell whose file this is (not in a folder or file "
                "<Full Name>_<participant id>_assignsubmission_...)")
    if len(parts) == 1 and len(_MOODLE_ID.findall(parts[0])) > 1:
        return ("cannot tell whose file this is (its name holds more than "
                "one Moodle participant id)")
    owner = Owner(match["id"], match["name"], match["id"],
                  match["file"] if len(parts) == 1 else parts[-1])
    if len(parts) > 2:
        owner.why = ("in a subfolder of a student's folder: only the "
                     "notebooks directly in it are graded")
    return owner


OWNERS = {"nbgrader": _nbgrader, "folders": _folders, "canvas": _canvas,
           "moodle": _moodle}
