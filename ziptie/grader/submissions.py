"""Find whose notebook is whose in a folder or a ``.zip`` of submissions.

Two layouts are understood:

- nbgrader's: ``[submitted/]<student>/<assignment>/<notebook>.ipynb``
  (a ``timestamp.txt`` beside it dates the submission);
- what a learning-management system exports: flat files with the student
  id before the first underscore (``jdoe_LATE_1234_5678_forward-1.ipynb``,
  Canvas), or a folder per student (``Jane Doe_1234_assignsubmission_file_/
  forward.ipynb``, Moodle).

Every file ends up either in a ``Submission`` or in ``unmatched`` with the
reason: nothing is dropped silently. When a student handed in twice, the
newest counts and the notes say so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

#: Limits on what a zip may unpack to.
MAX_FILES, MAX_BYTES = 20000, 4 << 30
_RESUBMITTED = re.compile(r"(?:-(\d+)| \((\d+)\))$")
_MOODLE = re.compile(r"_(assignsubmission|onlinetext)_\w*$")


@dataclass
class Submission:
    """One student's notebook for one assignment (``path`` None: missing)."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    notes: list[str] = field(default_factory=list)
    when: float = 0.0
    #: When it was handed in, as the layout records it (nbgrader's
    #: ``timestamp.txt``); None when the layout does not say.
    timestamp: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}/{self.notebook}"


@dataclass
class Found:
    """What a folder of submissions holds."""

    submissions: list[Submission]
    unmatched: list[tuple[str, str]]   # (file, why it was not graded)
    root: Path


def unzip(archive: Path, target: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Unpack ``archive`` into ``target`` safely; the files it refused."""
    refused = []
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise SystemExit(f"ziptie: {archive} is not a readable zip file "
                         f"({err})") from err
    with zf:
        total = 0
        for count, info in enumerate(zf.infolist()):
            name = info.filename
            if not info.flag_bits & 0x800:  # not marked UTF-8: try it anyway
                with contextlib.suppress(UnicodeError):
                    name = name.encode("cp437").decode("utf-8")
            parts = [p for p in name.replace("\\", "/").split("/") if p]
            if info.is_dir() or not parts:
                continue
            if name.startswith("/") or ".." in parts or ":" in parts[0]:
                refused.append((name, "unsafe path in the zip"))
                continue
            total += info.file_size
            if count >= MAX_FILES or total > MAX_BYTES:
                refused.append((name, "the zip unpacks to too much"))
                continue
            path = target.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            stamp = datetime(*info.date_time).timestamp()
            os.utime(path, (stamp, stamp))
    return target, refused


def _stem(name: str) -> tuple[str, int]:
    """A file name without .ipynb and the resubmission number (-2, (2))."""
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    match = _RESUBMITTED.search(stem)
    if match:
        return stem[:match.start()], int(match.group(1) or match.group(2))
    return stem, 0


def read_timestamp(folder: Path) -> datetime | None:
    """The time in nbgrader's ``timestamp.txt`` in ``folder`` (UTC)."""
    stamp = folder / "timestamp.txt"
    if stamp.is_file():
        text = stamp.read_text(errors="replace").strip()
        for fmt in ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z",
                    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(text, fmt).replace(
                    tzinfo=timezone.utc)
            except ValueError:
                continue
    return None


def _timestamp(folder: Path, fallback: float) -> float:
    stamp = read_timestamp(folder)
    return stamp.timestamp() if stamp else fallback


def find(root: Path, assignment: str, notebooks: list[str],
         assignments: list[str] = ()) -> Found:
    """Match every file under ``root`` to a student and a notebook.

    ``notebooks`` are the file names of the assignment's notebooks,
    ``assignments`` all the course's assignment names (to recognise a
    notebook handed in for another one).
    """
    others = set(assignments) - {assignment}
    candidates: dict[str, list[tuple[Path, str, int, float]]] = {}
    students: set[str] = set()
    unmatched: list[tuple[str, str]] = []
    stamps: dict[Path, datetime | None] = {}   # nbgrader's timestamp.txt
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        parts = list(rel.parts)
        if "submitted" in parts[:-1]:
            parts = parts[parts.index("submitted") + 1:]
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            unmatched.append((str(rel), "hidden or system file"))
            continue
        if len(parts) >= 3:
            student, folder, name = parts[-3], parts[-2], parts[-1]
            if folder in others:
                unmatched.append((str(rel), f"for another assignment "
                                            f"({folder})"))
                continue
            if folder != assignment:
                unmatched.append((str(rel), "not in a folder <student>/"
                                            f"{assignment}/"))
                continue
            when = _timestamp(path.parent, path.stat().st_mtime)
            stamps[path] = read_timestamp(path.parent)
        elif len(parts) == 2:
            student, name = _MOODLE.sub("", parts[0]), parts[1]
            when = path.stat().st_mtime
        else:
            name = parts[0]
            student, sep, rest = name.partition("_")
            if not sep or not student:
                unmatched.append((str(rel), "cannot tell whose file this is "
                                            "(no <student>_ in the name)"))
                continue
            name, when = rest, path.stat().st_mtime
        if name == "timestamp.txt":
            continue
        students.add(student)
        if not name.endswith(".ipynb"):
            unmatched.append((str(rel), f"not a notebook (from {student})"))
            continue
        stem, number = _stem(name)
        candidates.setdefault(student, []).append((path, stem, number, when))

    found = []
    for student in sorted(students):
        mine = candidates.get(student, [])
        used: set[Path] = set()
        for notebook in notebooks:
            want = _stem(notebook)[0]
            hits = [c for c in mine if c[1] == want
                    or c[1].endswith("_" + want)]
            notes = []
            if not hits and len(notebooks) == 1 and len(mine) == 1:
                hits = mine
                notes.append(f"misnamed: {mine[0][0].name}, graded as "
                             f"{notebook}")
            if not hits:
                found.append(Submission(student, assignment, notebook, None,
                                        ["no notebook " + notebook]))
                continue
            hits.sort(key=lambda c: (c[3], c[2], c[0].name))
            newest = hits[-1]
            if len(hits) > 1:
                stamp = datetime.fromtimestamp(newest[3]).strftime(
                    "%Y-%m-%d %H:%M")
                notes.append(f"handed in {len(hits)} times; graded the "
                             f"newest, {newest[0].name} ({stamp})")
                for older in hits[:-1]:
                    unmatched.append((str(older[0].relative_to(root)),
                                      f"older submission of {student}"))
            used.update(c[0] for c in hits)
            found.append(Submission(student, assignment, notebook, newest[0],
                                    notes, newest[3], stamps.get(newest[0])))
        for path, *_ in mine:
            if path not in used:
                unmatched.append((str(path.relative_to(root)),
                                  f"not a notebook of {assignment} "
                                  f"(from {student})"))
    return Found(found, sorted(unmatched), root)
