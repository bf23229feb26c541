"""Unpack a ``.zip`` of submissions safely, member by member.

What cannot be unpacked (an unsafe path, a link, a zip bomb, a damaged or
encrypted member, too many files or bytes) is refused with its reason and
the rest is kept, so that its student still gets a row. Long names are
shortened, names that are not UTF-8 kept under safe names, and each file
dated as the zip dates it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ziptie.grader.submissions_layouts import LayoutError
from ziptie.grader.submissions_names import NAMES_CODEC

#: Limits on what a zip may unpack to, and on one notebook.
MAX_FILES, MAX_BYTES = 20000, 4 << 30
MAX_NOTEBOOK = 100 << 20
#: A member over 10 MB that unpacks to this many times its packed size is
#: a zip bomb (notebooks pack 3 to 20 times).
MAX_RATIO = 200
#: A name part longer than this (bytes) is shortened when unpacked.
MAX_NAME = 200
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}



@dataclass
class Unzipped:
    """What ``unzip`` made of an archive."""

    root: Path
    refused: list[tuple[str, str, str]]   # (member, status, reason)
    notes: dict[str, list[str]]           # unpacked file -> what to know


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
        return zipfile.ZipFile(archive, metadata_encoding=NAMES_CODEC)
    except UnicodeDecodeError:
        pass
    with _any_names():
        zf = zipfile.ZipFile(archive, metadata_encoding=NAMES_CODEC)
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
        _unpack_members(zf, target, result)
        if getattr(zf, "names_not_utf8", False):
            result.notes.setdefault("", []).append(
                "the zip has names that are not UTF-8: kept under safe names")
    return result


def _unpack_members(zf: zipfile.ZipFile, target: Path,
                    result: Unzipped) -> None:
    """Each member unpacked into ``target`` or refused with its reason;
    the caps on files and bytes hold for the whole zip."""
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
