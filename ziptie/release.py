"""Generate the student notebooks from the instructors' source notebooks.

``solutions/NN_name/*.ipynb`` hold the solutions and every test; nbgrader's
``generate_assignment`` removes what lies between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` and the hidden tests, and writes the student version to
``exercises/NN_name/``. ``exercises/`` is never edited by hand: ``check``
proves that it is exactly what nbgrader generates.

Every student notebook starts with the cell that installs ziptie where it
is missing (nbgrader's header, see ``header``). A full release also writes
the chapter notebooks ``book/NN_name.ipynb`` (``ziptie.chapters``).

A release never destroys a person's work. ``exercises.sha256`` records the
bytes the last release wrote; a released file (in ``exercises/`` or a
chapter notebook) that differs from that record and from the new output
was changed by someone, so it is moved to the student folder
``work/NN_name/`` (``work/book/``) before the new version is written, and
the move is printed. Editor litter (``.ipynb_checkpoints/``,
dot files, backups ending in ``~``) is neither compared nor touched.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ziptie import chapters

SOURCE = "solutions"
RELEASE = "exercises"
#: The student folder: ``ziptie start`` fills it, git ignores it.
WORK = "work"
#: What the last release wrote: ``sha256sum -c exercises.sha256`` reads it.
RECORD = "exercises.sha256"


def is_litter(rel: Path) -> bool:
    """Editor and system litter: checkpoints, dot files, ``~`` backups."""
    return any(part.startswith(".") or part == "__pycache__"
               or part.endswith("~") for part in rel.parts)


def files(folder: Path, pattern: str = "**/*") -> list[Path]:
    """The files under ``folder`` that match and are not litter, relative
    to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder) for p in folder.glob(pattern)
                  if p.is_file() and not is_litter(p.relative_to(folder)))


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as ``sha256sum`` prints it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_record(course: Path) -> dict[str, str]:
    """``{"exercises/NN_name/file": sha256}`` as the last release wrote."""
    path = course / RECORD
    if not path.is_file():
        return {}
    record = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            record[name] = digest
    return record


def write_record(course: Path, record: dict[str, str]) -> None:
    lines = [f"{record[name]}  {name}\n" for name in sorted(record)]
    (course / RECORD).write_text("".join(lines))


def assignments(course: Path) -> list[str]:
    """Names of the assignments in ``solutions/``, in order."""
    source = course / SOURCE
    if not source.is_dir():
        raise SystemExit(f"ziptie: {course} has no {SOURCE}/ folder of "
                         f"source notebooks.")
    return sorted(p.name for p in source.iterdir()
                  if p.is_dir() and not is_litter(Path(p.name))
                  and any(p.glob("*.ipynb")))


def _chosen(course: Path, names: Sequence[str]) -> list[str]:
    known = assignments(course)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(
            f"ziptie: no assignment {unknown[0]!r} in {SOURCE}/; the "
            f"assignments are: {', '.join(known) or 'none'}."
        )
    return list(names) or known


def header(course: Path, folder: Path) -> Path | None:
    """A notebook of one cell that installs ziptie where it is missing
    (``chapters.install_cell``); nbgrader puts it first in every student
    notebook. None where the course has no ``_config.yml``."""
    import nbformat

    if not (course / "_config.yml").is_file():
        return None
    cell = nbformat.v4.new_code_cell(chapters.install_cell(course))
    cell.id = "install-ziptie"
    path = folder / "header.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


def generate(course: Path, name: str, release_dir: Path,
             db_url: str) -> None:
    """Run ``nbgrader generate_assignment`` for one assignment, with the
    install cell of ``header`` first."""
    command = [
        sys.executable, "-m", "nbgrader", "generate_assignment", name,
        "--force", "--log-level=WARN",
        f"--CourseDirectory.root={course}",
        f"--CourseDirectory.release_directory={release_dir}",
        f"--CourseDirectory.db_url={db_url}",
    ]
    first = header(course, release_dir.parent)
    if first is not None:
        command.append(f"--IncludeHeaderFooter.header={first}")
    # nbgrader runs the ``alembic`` command: find it beside this Python.
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    done = subprocess.run(command, cwd=course, capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(
            f"ziptie: nbgrader could not generate {name}:\n"
            f"{done.stdout}{done.stderr}"
        )


def aside(course: Path, name: str, rel: Path) -> Path:
    """A free path for a changed file in the student folder ``work/``."""
    target = course / WORK / name / rel
    n = 0
    while target.exists():
        n += 1
        target = target.with_name(f"{rel.stem}-edited-{n}{rel.suffix}")
    return target


def _replace(course: Path, folder: str, fresh: Path,
             record: dict[str, str], pattern: str = "**/*") -> None:
    """Write ``fresh`` over the files of ``folder`` that match ``pattern``,
    moving each one a person changed to ``work/`` first."""
    target = course / folder
    for rel in files(target, pattern):
        key = f"{folder}/{rel.as_posix()}"
        old, new = target / rel, fresh / rel
        changed = record.get(key) != sha256(old)
        if changed and not (new.is_file() and filecmp.cmp(old, new, False)):
            kept = aside(course, Path(folder).name, rel)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(old, kept)
            print(f"kept your changed {key} as "
                  f"{kept.relative_to(course).as_posix()}")
        else:
            old.unlink()
        record.pop(key, None)
    for rel in files(fresh):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fresh / rel, target / rel)
        record[f"{folder}/{rel.as_posix()}"] = sha256(target / rel)


def release(course: Path, names: Sequence[str] = ()) -> int:
    """Regenerate ``exercises/`` for the chosen (default: all) assignments.

    A file that a person changed since the last release is moved to
    ``work/`` first (see the module's docstring); nothing is lost.
    """
    record = read_record(course)
    with tempfile.TemporaryDirectory() as tmp:
        for name in _chosen(course, names):
            generate(course, name, Path(tmp) / RELEASE,
                     f"sqlite:///{tmp}/gradebook.db")
            _replace(course, f"{RELEASE}/{name}", Path(tmp) / RELEASE / name,
                     record)
            write_record(course, record)
            print(f"released {RELEASE}/{name}")
        if not names:
            fresh = Path(tmp) / chapters.BOOK
            done = chapters.generate(course, fresh)
            _replace(course, chapters.BOOK, fresh, record, "*.ipynb")
            write_record(course, record)
            print(f"wrote {len(done)} chapter notebook(s) in "
                  f"{chapters.BOOK}/")
    return 0


def _differences(expected: Path, actual: Path,
                 pattern: str = "**/*") -> list[str]:
    """Files that differ between two folders, compared as notebooks."""
    problems = []
    want = set(files(expected, pattern))
    have = set(files(actual, pattern))
    for rel in sorted(want - have):
        problems.append(f"missing: {rel}")
    for rel in sorted(have - want):
        problems.append(f"not generated by nbgrader: {rel}")
    for rel in sorted(want & have):
        a, b = expected / rel, actual / rel
        if rel.suffix == ".ipynb":
            same = json.loads(a.read_text()) == json.loads(b.read_text())
        else:
            same = filecmp.cmp(a, b, shallow=False)
        if not same:
            problems.append(f"differs from nbgrader's output: {rel}")
    return problems


def _stale_record(course: Path, folders: dict[str, str]) -> list[str]:
    """Released files whose bytes are not those in the record."""
    record = read_record(course)
    return [f"{RECORD}: does not record {folder}/{rel.as_posix()} as "
            f"released" for folder, pattern in folders.items()
            for rel in files(course / folder, pattern)
            if record.get(f"{folder}/{rel.as_posix()}")
            != sha256(course / folder / rel)]


def _extra(course: Path, chosen: Sequence[str]) -> list[str]:
    released = course / RELEASE
    extra = sorted(p.name for p in released.iterdir()
                   if p.is_dir() and p.name not in chosen
                   and not is_litter(Path(p.name))) \
        if released.exists() else []
    return [f"{RELEASE}/{e}: has no source in {SOURCE}/" for e in extra]


def check(course: Path, names: Sequence[str] = ()) -> int:
    """Exit status 0 when ``exercises/`` is exactly nbgrader's output and
    the chapter notebooks are those of the chapters (all, by default)."""
    chosen = _chosen(course, names)
    folders = {f"{RELEASE}/{name}": "**/*" for name in chosen}
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            generate(course, name, Path(tmp) / RELEASE,
                     f"sqlite:///{tmp}/gradebook.db")
        if not names:
            chapters.generate(course, Path(tmp) / chapters.BOOK)
            folders[chapters.BOOK] = "*.ipynb"
            problems += _extra(course, chosen)
        for folder, pattern in folders.items():
            problems += [f"{folder}: {p}" for p in _differences(
                Path(tmp) / folder, course / folder, pattern)]
    problems += _stale_record(course, folders)
    for problem in problems:
        print(problem)
    if problems:
        print("Run 'ziptie release' to regenerate exercises/ from "
              "solutions/ and the chapter notebooks from book/.")
        return 1
    print(f"{RELEASE}/ matches nbgrader's output for {len(chosen)} "
          f"assignment(s), and the chapter notebooks their chapters.")
    return 0
