"""The found set: each student's files, and which one counts.

A ``Finder`` collects, file by file, whose it is (by the layout) and why
it is not graded when it is not; ``choose`` then gives each student one
``Submission`` per notebook: the newest that can be read, the others
listed in ``unmatched`` with the reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ziptie.grader.submissions_layouts import OWNERS, Owner, visible
from ziptie.grader.submissions_names import shown

_RESUBMITTED = re.compile(r"(?:-(\d+)| \((\d+)\))$")


@dataclass
class Submission:
    """One student's notebook for one assignment (``path`` None: none
    graded; ``status`` set: why it cannot be)."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    notes: list[str] = field(default_factory=list)
    when: float = 0.0
    name: str = ""          # the student's name as the layout shows it
    student_id: str = ""    # the learning platform's id of the student
    status: str = ""        # "unreadable" or "refused" when not gradable
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
    layout: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class _Candidate:
    rel: str
    path: Path | None
    file: str
    when: float
    notes: list[str]
    problem: tuple[str, str] | None = None

    @property
    def stem(self) -> tuple[str, int]:
        return _stem(self.file)


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
    if not stamp.is_file() or stamp.is_symlink():
        return None
    with open(stamp, "rb") as f:
        text = f.read(100).decode("utf-8", "replace").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z",
                "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _timestamp(folder: Path, fallback: float) -> float:
    """nbgrader's ``timestamp.txt`` in ``folder``, else ``fallback``."""
    stamp = read_timestamp(folder)
    return stamp.timestamp() if stamp else fallback


class Finder:
    """The state of one ``find``: students, their candidates, strays."""

    def __init__(self, root: Path, layout: str, assignment: str,
                 others: set[str]):
        self.root, self.layout, self.assignment = root, layout, assignment
        self.owner_of = OWNERS[layout]
        self.others = others
        self.unmatched: list[tuple[str, str]] = []
        self.students: dict[str, Owner] = {}
        self.raw: dict[str, str] = {}
        self.candidates: dict[str, list[_Candidate]] = {}

    def student(self, owner: Owner) -> str:
        """The safe, unique key of ``owner`` (two people never share one)."""
        key = shown(owner.student)
        if self.raw.setdefault(key, owner.student) != owner.student:
            digest = hashlib.sha256(owner.student.encode(
                "utf-8", "surrogateescape")).hexdigest()[:8]
            key = f"{key}~{digest}"
            self.raw[key] = owner.student
        if key not in self.students:
            self.students[key] = Owner(owner.student, shown(owner.name),
                                       owner.student_id, "")
            if key != owner.student:
                self.students[key].notes.append(
                    f"the name {key} stands for one that is not plain text "
                    f"or not unique")
        return key

    def add(self, rel: str, parts: list[str], path: Path | None,
            problem: tuple[str, str] | None, notes: list[str]) -> None:
        owner = self.owner_of(parts, self.assignment, self.others)
        rel = shown(rel)
        if isinstance(owner, str):
            self.unmatched.append((rel, f"{problem[1]}; {owner}"
                                   if problem else owner))
            return
        student = self.student(owner)
        if owner.why:
            why = f"{problem[1]}; {owner.why}" if problem else owner.why
            self.unmatched.append((rel, f"{why} (from {student})"))
        elif self.layout == "nbgrader" and owner.file == "timestamp.txt":
            return
        elif not owner.file.endswith(".ipynb"):
            why = problem[1] if problem else "not a notebook"
            self.unmatched.append((rel, f"{why} (from {student})"))
        else:
            when = 0.0
            if path is not None and problem is None:
                when = path.lstat().st_mtime
                if self.layout == "nbgrader":
                    when = _timestamp(path.parent, when)
            self.candidates.setdefault(student, []).append(_Candidate(
                rel, path, owner.file, when, owner.notes + notes, problem))

    def folders(self) -> None:
        """Students with a folder and nothing in it still get a row."""
        if self.layout == "canvas":
            return
        for entry in visible(self.root):
            if entry.is_dir() and not entry.is_symlink():
                owner = self.owner_of([entry.name, ""], self.assignment,
                                      self.others)
                if not isinstance(owner, str):
                    self.student(owner)

    def choose(self, student: str, notebook: str) -> Submission:
        """The submission of ``notebook`` by ``student``: the newest that
        can be read; older ones and unreadable ones are listed."""
        owner = self.students[student]
        sub = Submission(student, self.assignment, notebook, None,
                         list(owner.notes), name=owner.name,
                         student_id=owner.student_id)
        hits = self._hits(student, notebook, sub)
        good = self._readable(student, hits, sub)
        if good:
            self._newest(student, good, sub)
        elif hits and hits[-1].problem is not None:
            sub.status = hits[-1].problem[0]
        else:
            sub.notes.insert(0, f"no notebook {notebook}")
        return sub

    def _hits(self, student: str, notebook: str,
              sub: Submission) -> list[_Candidate]:
        """The student's files named as ``notebook`` (their only file, if
        misnamed); the others are listed as not of this assignment."""
        mine = self.candidates.get(student, [])
        want = _stem(notebook)[0]
        hits = [c for c in mine if c.stem[0] == want
                or c.stem[0].endswith("_" + want)]
        if not hits and len(mine) == 1:
            hits = mine
            sub.notes.append(f"misnamed: {mine[0].rel.rsplit('/', 1)[-1]}, "
                             f"graded as {notebook}")
        for c in mine:
            if not any(c is h for h in hits):
                self.unmatched.append((c.rel, f"not a notebook of "
                                              f"{self.assignment} (from "
                                              f"{student})"))
        return hits

    def _readable(self, student: str, hits: list[_Candidate],
                  sub: Submission) -> list[_Candidate]:
        """The hits that can be read; the others are listed, and noted."""
        good = [c for c in hits if c.problem is None]
        for bad in hits:
            if bad.problem is None:
                continue
            self.unmatched.append((bad.rel, f"{bad.problem[1]} "
                                            f"(from {student})"))
            sub.notes.append(f"{bad.rel.rsplit('/', 1)[-1]}: "
                             f"{bad.problem[1]}")
        return good

    def _newest(self, student: str, good: list[_Candidate],
                sub: Submission) -> None:
        """Grade the newest of ``good``; older ones are listed."""
        good.sort(key=lambda c: (c.when, c.stem[1], c.file))
        newest = good[-1]
        if len(good) > 1:
            stamp = datetime.fromtimestamp(newest.when).strftime(
                "%Y-%m-%d %H:%M")
            sub.notes.append(f"handed in {len(good)} times; graded the "
                             f"newest, {newest.rel.rsplit('/', 1)[-1]} "
                             f"({stamp})")
            self.unmatched += [(c.rel, f"older submission of {student}")
                               for c in good[:-1]]
        sub.path, sub.when = newest.path, newest.when
        if self.layout == "nbgrader" and newest.path is not None:
            sub.timestamp = read_timestamp(newest.path.parent)
        sub.notes += newest.notes
