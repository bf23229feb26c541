"""Find whose notebook is whose in a folder or a ``.zip`` of submissions.

Who handed a file in is read from the layout the instructor names, never
from what a submission holds. The layouts (``--layout``, default ``auto``):

- ``nbgrader``: ``[submitted/]<student>/<assignment>/<notebook>.ipynb``,
  with nbgrader's ``timestamp.txt`` beside the notebook (only there);
- ``canvas``: flat files ``<lastfirst>_[late_]<user id>_<submission id>_
  <original name>``; the student is the Canvas user id;
- ``moodle``: ``<Full Name>_<participant id>_assignsubmission_file_``
  folders holding the files, or flat files with that prefix; the student
  is the participant id;
- ``folders``: ``<student>/<notebook>.ipynb``.

``auto`` recognises one of them and refuses a mixture, listing what it
found. A platform export wrapped in one top folder is unwrapped. Files in
a subfolder of a student's submission are never read as another student's.

Every file ends up either in a ``Submission`` or in ``unmatched`` with the
reason: nothing is dropped silently. A file that cannot be read (a damaged
zip member, a symbolic link, a file too large) still gives its student a
row with the reason. When a student handed in twice, the newest counts
and the notes say so.

This module is the front door (``find``: the files under a folder, walked
and matched); the parts:

- ``submissions_zip``: unpack a zip, member by member (``unzip``);
- ``submissions_layouts``: which layout, and whose a file is by it;
- ``submissions_found``: each student's files, and which one counts;
- ``submissions_names``: names safe to show, whatever their bytes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ziptie.grader.submissions_found import Finder, Found, Submission
from ziptie.grader.submissions_layouts import (
    LAYOUTS,
    LayoutError,
    detect,
    hidden,
    unwrap,
)
from ziptie.grader.submissions_names import shown
from ziptie.grader.submissions_zip import MAX_NOTEBOOK, Unzipped, unzip

__all__ = ["LAYOUTS", "Found", "LayoutError", "Submission", "Unzipped",
           "find", "unzip"]


def _file_problem(path: Path) -> tuple[str, str] | None:
    """Why a file in the submissions folder must not be read."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "refused", "a symbolic link: not followed"
    if not stat.S_ISREG(info.st_mode):
        return "refused", "not a plain file"
    if info.st_size > MAX_NOTEBOOK:
        return "refused", (f"{info.st_size >> 20} MB, more than the "
                           f"{MAX_NOTEBOOK >> 20} MB allowed")
    return None


def _walk(root: Path, base: Path,
          unmatched: list) -> list[tuple[Path, str, list[str]]]:
    """Every file under ``root``: its path, its name from ``base`` and its
    parts from ``root``; hidden ones and links to folders go to
    ``unmatched``."""
    files = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in list(dirs):
            rel = shown(str((here / name).relative_to(base)))
            if hidden(name):
                unmatched.append((rel + "/", "hidden or system folder"))
                dirs.remove(name)
            elif (here / name).is_symlink():
                unmatched.append((rel, "a symbolic link: not followed"))
        dirs.sort()
        for name in sorted(names):
            path = here / name
            rel = "/".join(path.relative_to(base).parts)
            if hidden(name):
                unmatched.append((shown(rel), "hidden or system file"))
            else:
                files.append((path, rel, list(path.relative_to(root).parts)))
    return files


def find(root: Path, assignment: str, notebooks: list[str],
         assignments: Sequence[str] = (), layout: str = "auto",
         unzipped: Unzipped | None = None) -> Found:
    """Match every file under ``root`` to a student and a notebook.

    ``notebooks`` are the file names of the assignment's notebooks,
    ``assignments`` all the course's assignment names (to recognise a
    notebook handed in for another one), ``layout`` one of ``LAYOUTS``,
    ``unzipped`` what ``unzip`` refused when ``root`` came from a zip.
    Raises LayoutError when ``auto`` finds several layouts.
    """
    names = set(assignments) | {assignment}
    base = root
    root, notes = unwrap(root, layout, names)
    refused = [_inside(base, root, m) for m, *_ in
               (unzipped.refused if unzipped else ())]
    if layout == "auto":
        layout = detect(root, names, [m for m in refused if m])
    finder = Finder(root, layout or "nbgrader", assignment,
                    names - {assignment})
    if not layout:   # nothing recognised: every file says why
        finder.owner_of = lambda *a: ("cannot tell whose file this is "
                                      "(no layout recognised)")
    for path, rel, parts in _walk(root, base, finder.unmatched):
        file_notes = list(unzipped.notes.get(rel, ()) if unzipped else ())
        finder.add(rel, parts, path, _file_problem(path), file_notes)
    for inside, (member, status, why) in zip(
            refused, unzipped.refused if unzipped else (), strict=True):
        if inside and not (status == "refused" and "unsafe" in why):
            finder.add(member, inside.split("/"), None, (status, why), [])
        else:
            finder.unmatched.append((shown(member), why))
    finder.folders()
    found = [finder.choose(student, notebook)
             for student in sorted(finder.students) for notebook in notebooks]
    if unzipped:
        notes += unzipped.notes.get("", [])
    return Found(found, sorted(set(finder.unmatched)), root, layout, notes)


def _inside(base: Path, root: Path, member: str) -> str:
    """A zip member's name from ``root`` ("" when it is not under it)."""
    parts = [p for p in member.replace("\\", "/").split("/") if p]
    prefix = list(root.relative_to(base).parts)
    if parts[:len(prefix)] != prefix or len(parts) == len(prefix):
        return ""
    return "/".join(parts[len(prefix):])
