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
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

#: Limits on what a zip may unpack to, and on one notebook.
MAX_FILES, MAX_BYTES = 20000, 4 << 30
MAX_NOTEBOOK = 100 << 20
#: A member over 10 MB that unpacks to this many times its packed size is
#: a zip bomb (notebooks pack 3 to 20 times).
MAX_RATIO = 200
#: A name part longer than this (bytes) is shortened when unpacked.
MAX_NAME = 200
LAYOUTS = ("auto", "nbgrader", "canvas", "moodle", "folders")
_RESUBMITTED = re.compile(r"(?:-(\d+)| \((\d+)\))$")
_CANVAS = re.compile(r"^(?P<name>[^_/]+?)_(?P<late>late_)?(?P<id>\d+)_"
                     r"(?P<sub>\d+)_(?P<file>.+)$", re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_(?P<plugin>"
                     r"assignsubmission_\w+?|onlinetext)_(?P<file>.*)$")
_MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_(?P<plugin>"
                            r"assignsubmission_[a-z]+|onlinetext)_$")
_MOODLE_ID = re.compile(r"_\d+_(?:assignsubmission_[a-z]+|onlinetext)_")
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class LayoutError(ValueError):
    """The folder's layout is not the one named, or cannot be told."""


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
class Unzipped:
    """What ``unzip`` made of an archive."""

    root: Path
    refused: list[tuple[str, str, str]]   # (member, status, reason)
    notes: dict[str, list[str]]           # unpacked file -> what to know


def shown(text: str) -> str:
    """``text`` safe to show and store: bytes that are not UTF-8 and
    control characters become ``%XX``."""
    raw = text.encode("utf-8", "surrogateescape")
    out = []
    for char in raw.decode("utf-8", "surrogateescape"):
        if "\udc80" <= char <= "\udcff":
            out.append(f"%{ord(char) - 0xdc00:02X}")
        elif unicodedata.category(char) in ("Cc", "Zl", "Zp") \
                or "\u202a" <= char <= "\u202e" \
                or "\u2066" <= char <= "\u2069":   # bidi overrides
            out.append("".join(f"%{b:02X}" for b in char.encode()))
        else:
            out.append(char)
    return "".join(out)


def _names_codec(name: str):
    """``ziptie-names``: UTF-8, keeping bytes that are not (see shown)."""
    if name.replace("_", "-") != "ziptie-names":
        return None
    utf8 = codecs.lookup("utf-8")

    def decode(data, errors="strict"):
        return utf8.decode(data, "surrogateescape")

    return codecs.CodecInfo(utf8.encode, decode, name="ziptie-names")


codecs.register(_names_codec)


# --- unpacking a zip -------------------------------------------------------

@contextlib.contextmanager
def _any_names():
    """Read names flagged UTF-8 that are not as ``ziptie-names`` too
    (zipfile's flag is a module constant; unpacking is single-threaded)."""
    mask = zipfile._MASK_UTF_FILENAME
    zipfile._MASK_UTF_FILENAME = 0
    try:
        yield
    finally:
        zipfile._MASK_UTF_FILENAME = mask


def _open_zip(archive: Path) -> zipfile.ZipFile:
    """Open ``archive``; names that claim UTF-8 but are not still open."""
    try:
        return zipfile.ZipFile(archive, metadata_encoding="ziptie-names")
    except UnicodeDecodeError:
        pass
    with _any_names():
        zf = zipfile.ZipFile(archive, metadata_encoding="ziptie-names")
    zf.names_not_utf8 = True           # type: ignore[attr-defined]
    return zf


def _member_problem(info: zipfile.ZipInfo,
                    parts: list[str]) -> tuple[str, str] | None:
    """Why a member must not be unpacked, before reading it."""
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith(("/", "\\")) or ".." in parts or (
            parts and re.match(r"^[A-Za-z]:", parts[0])) or "\0" in name:
        return "refused", "an unsafe path in the zip (absolute or ..)"
    if stat.S_ISLNK(mode):
        return "refused", "a symbolic link in the zip: not followed"
    if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "refused", "not a plain file in the zip"
    if info.flag_bits & 0x1:
        return "unreadable", "encrypted (password-protected) in the zip"
    if info.compress_type not in _ZIP_METHODS:
        return "unreadable", (f"packed with a compression method the "
                              f"grader cannot read ({info.compress_type})")
    if info.file_size > MAX_NOTEBOOK:
        return "refused", (f"unpacks to {info.file_size >> 20} MB, more "
                           f"than the {MAX_NOTEBOOK >> 20} MB allowed")
    if info.file_size > 10 << 20 and info.file_size > MAX_RATIO * max(
            info.compress_size, 1):
        return "refused", (f"a zip bomb: {info.compress_size >> 10} KB "
                           f"that unpack to {info.file_size >> 20} MB")
    return None


def _short(part: str) -> str:
    """A name part that fits on any disk: long ones keep their start, a
    hash of the whole and their extension."""
    if len(part.encode("utf-8", "surrogateescape")) <= MAX_NAME:
        return part
    stem, dot, ext = part.rpartition(".")
    ext = dot + ext if stem and len(ext) < 12 else ""
    digest = hashlib.sha256(part.encode("utf-8", "surrogateescape"))
    raw = part[:MAX_NAME // 2].encode("utf-8", "surrogateescape")
    head = raw[:MAX_NAME // 2].decode("utf-8", "ignore")
    return f"{head}~{digest.hexdigest()[:10]}{ext}"


def _read_error(err: BaseException) -> tuple[str, str]:
    """A member that failed to unpack: the status and a plain reason."""
    text = str(err)
    if isinstance(err, OSError) and err.errno == errno.ENAMETOOLONG:
        return "unreadable", "a name too long for the disk"
    if isinstance(err, OSError) and err.errno in (
            errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        return "unreadable", "a file and a folder of the same name in the zip"
    if "CRC" in text:
        return "unreadable", "damaged in the zip (bad CRC)"
    if isinstance(err, NotImplementedError):
        return "unreadable", f"packed in a way the grader cannot read ({text})"
    if isinstance(err, RuntimeError) and "encrypt" in text:
        return "unreadable", "encrypted (password-protected) in the zip"
    if isinstance(err, OSError) and not isinstance(err, EOFError):
        return "unreadable", f"could not be unpacked ({err.strerror or text})"
    return "unreadable", f"damaged in the zip ({text[:120]})"


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> int:
    """Unpack one member to ``path``; its size. Raises when it cannot."""
    size = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _any_names() if getattr(zf, "names_not_utf8", False) \
                else contextlib.nullcontext():
            src = zf.open(info)
        with src, open(path, "xb") as dst:
            while chunk := src.read(1 << 20):
                size += len(chunk)
                if size > MAX_NOTEBOOK:
                    raise zipfile.BadZipFile("size larger than it says")
                dst.write(chunk)
        if size != info.file_size:
            raise zipfile.BadZipFile(f"the zip says {info.file_size} bytes, "
                                     f"it holds {size}")
    except BaseException:
        if path.is_file():
            path.unlink()
        raise
    return size


def _member_time(info: zipfile.ZipInfo, path: Path) -> str | None:
    """Date ``path`` as the zip does; a note when the zip's date is bad."""
    try:
        stamp = datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        os.utime(path, (0, 0))
        return "the zip gives it an impossible date; submission time unknown"
    os.utime(path, (stamp, stamp))
    return None


def unzip(archive: Path, target: Path) -> Unzipped:
    """Unpack ``archive`` into ``target`` safely, member by member: what
    cannot be unpacked is refused with its reason, the rest is kept."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    result = Unzipped(target, [], {})
    try:
        zf = _open_zip(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise LayoutError(f"{archive} is not a readable zip file "
                          f"({err})") from err
    with zf:
        total, seen = 0, set()
        members = zf.infolist()
        for count, info in enumerate(members):
            if count >= MAX_FILES:
                result.refused.append((
                    f"({len(members) - count} more files)", "refused",
                    f"the zip holds more than {MAX_FILES} files"))
                break
            name = info.filename
            parts = [p for p in name.replace("\\", "/").split("/") if p]
            if info.is_dir() or not parts:
                continue
            problem = _member_problem(info, parts)
            total += 0 if problem else info.file_size
            if not problem and total > MAX_BYTES:
                problem = "refused", (f"the zip unpacks to more than "
                                      f"{MAX_BYTES >> 30} GB")
            rel = "/".join(_short(p) for p in parts)
            if not problem and rel in seen:
                problem = ("unreadable", "a second file of the same name "
                           "in the zip (the first is kept)")
            if problem:
                result.refused.append((name, *problem))
                continue
            _unpack(zf, info, target, rel, result)
            seen.add(rel)
        if getattr(zf, "names_not_utf8", False):
            result.notes.setdefault("", []).append(
                "the zip has names that are not UTF-8: kept under safe names")
    return result


def _unpack(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
            rel: str, result: Unzipped) -> None:
    path = target.joinpath(*rel.split("/"))
    try:
        _extract(zf, info, path)
    except Exception as err:  # noqa: BLE001 - zlib.error, EOFError, ...
        result.refused.append((info.filename, *_read_error(err)))
        return
    notes = []
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_NAME
           for p in info.filename.replace("\\", "/").split("/")):
        notes.append(f"a name too long for the disk: kept as "
                     f"{rel.rsplit('/', 1)[-1]}")
    note = _member_time(info, path)
    if note:
        notes.append(note)
    if notes:
        result.notes[rel] = notes


# --- layouts -----------------------------------------------------------------

_WHAT = {"nbgrader": "nbgrader student folder(s) <student>/<assignment>/",
         "canvas": "Canvas file(s) <lastfirst>_<id>_<id>_<name>",
         "moodle": "Moodle folder(s) or file(s) <Name>_<id>_assignsubmission_",
         "folders": "folder(s) of notebooks <student>/<notebook>"}


@dataclass
class _Owner:
    """Who handed a file in, as the layout says."""

    student: str
    name: str
    student_id: str
    file: str                  # the file's own name, without the prefix
    why: str = ""              # set: the file is not graded, for this reason
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


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db",
                                            "desktop.ini")


def _visible(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not _hidden(p.name))
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
    for entry in _visible(root):
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
            elif any(p.suffix == ".ipynb" for p in _visible(entry)):
                found["folders"].append(name + "/")
        elif _MOODLE.match(entry.name):
            found["moodle"].append(name)
        elif _CANVAS.match(entry.name):
            found["canvas"].append(name)
    return found


def _unwrap(root: Path, layout: str,
            assignments: set[str]) -> tuple[Path, list[str]]:
    """Step into the one top folder a platform's export is wrapped in, and
    into nbgrader's ``submitted/``."""
    notes = []
    entries = _visible(root)
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
              others: set[str]) -> _Owner | str:
    if len(parts) < 2:
        return f"not in a folder <student>/{assignment}/"
    owner = _Owner(parts[0], parts[0], "", parts[-1])
    if parts[1] in others:
        owner.why = f"for another assignment ({parts[1]})"
    elif parts[1] != assignment or len(parts) < 3:
        owner.why = f"not in a folder <student>/{assignment}/"
    elif len(parts) > 3:
        owner.why = (f"in a subfolder of {assignment}/: only the notebooks "
                     f"directly in it are graded")
    return owner


def _folders(parts: list[str], assignment: str,
             others: set[str]) -> _Owner | str:
    if len(parts) < 2:
        return "not in a student's folder <student>/"
    owner = _Owner(parts[0], parts[0], "", parts[-1])
    if len(parts) > 2:
        owner.why = ("in a subfolder of a student's folder: only the "
                     "notebooks directly in it are graded")
    return owner


def _canvas(parts: list[str], assignment: str,
            others: set[str]) -> _Owner | str:
    match = _CANVAS.match(parts[0])
    if not match:
        return ("cannot tell whose file this is (not named "
                "<lastfirst>_<user id>_<submission id>_<name>)")
    owner = _Owner(match["id"], match["name"], match["id"], match["file"])
    if match["late"]:
        owner.notes.append("marked late by Canvas")
    if len(parts) > 1:
        owner.file = parts[-1]
        owner.why = "in a folder: a Canvas export has none"
    return owner


def _moodle(parts: list[str], assignment: str,
            others: set[str]) -> _Owner | str:
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
    owner = _Owner(match["id"], match["name"], match["id"],
                   match["file"] if len(parts) == 1 else parts[-1])
    if len(parts) > 2:
        owner.why = ("in a subfolder of a student's folder: only the "
                     "notebooks directly in it are graded")
    return owner


_OWNERS = {"nbgrader": _nbgrader, "folders": _folders, "canvas": _canvas,
           "moodle": _moodle}


# --- finding the submissions -------------------------------------------------

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
            if _hidden(name):
                unmatched.append((rel + "/", "hidden or system folder"))
                dirs.remove(name)
            elif (here / name).is_symlink():
                unmatched.append((rel, "a symbolic link: not followed"))
        dirs.sort()
        for name in sorted(names):
            path = here / name
            rel = "/".join(path.relative_to(base).parts)
            if _hidden(name):
                unmatched.append((shown(rel), "hidden or system file"))
            else:
                files.append((path, rel, list(path.relative_to(root).parts)))
    return files


class _Finder:
    """The state of one ``find``: students, their candidates, strays."""

    def __init__(self, root: Path, layout: str, assignment: str,
                 others: set[str]):
        self.root, self.layout, self.assignment = root, layout, assignment
        self.owner_of = _OWNERS[layout]
        self.others = others
        self.unmatched: list[tuple[str, str]] = []
        self.students: dict[str, _Owner] = {}
        self.raw: dict[str, str] = {}
        self.candidates: dict[str, list[_Candidate]] = {}

    def student(self, owner: _Owner) -> str:
        """The safe, unique key of ``owner`` (two people never share one)."""
        key = shown(owner.student)
        if self.raw.setdefault(key, owner.student) != owner.student:
            digest = hashlib.sha256(owner.student.encode(
                "utf-8", "surrogateescape")).hexdigest()[:8]
            key = f"{key}~{digest}"
            self.raw[key] = owner.student
        if key not in self.students:
            self.students[key] = _Owner(owner.student, shown(owner.name),
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
        for entry in _visible(self.root):
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
        good = [c for c in hits if c.problem is None]
        for bad in hits:
            if bad.problem is None:
                continue
            self.unmatched.append((bad.rel, f"{bad.problem[1]} "
                                            f"(from {student})"))
            sub.notes.append(f"{bad.rel.rsplit('/', 1)[-1]}: "
                             f"{bad.problem[1]}")
        if not good:
            if hits and hits[-1].problem is not None:
                sub.status = hits[-1].problem[0]
            else:
                sub.notes.insert(0, f"no notebook {notebook}")
            return sub
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
        return sub


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
    root, notes = _unwrap(root, layout, names)
    refused = [_inside(base, root, m) for m, *_ in
               (unzipped.refused if unzipped else ())]
    if layout == "auto":
        layout = detect(root, names, [m for m in refused if m])
    finder = _Finder(root, layout or "nbgrader", assignment,
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
