"""``ziptie start NAME``: a student's own copy of an exercise.

Copies ``exercises/NAME/`` into the student folder ``work/NAME/``, which
git ignores and no command of the course ever writes over: a file that is
already there is left as it is, and said so. Work in ``work/``; a later
``git pull``, ``make`` or ``ziptie release`` renews ``exercises/`` only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ziptie.release import RELEASE, WORK, files, is_litter


def released(course: Path) -> list[str]:
    """The assignments in ``exercises/``, in order."""
    folder = course / RELEASE
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not is_litter(Path(p.name)) and files(p)
                  ) if folder.is_dir() else []


def find(course: Path, name: str) -> str:
    """The assignment ``name`` names: ``01_forward``, ``01`` or ``forward``."""
    known = released(course)
    matches = [n for n in known if name in (n, n[:2], n[3:])]
    if len(matches) != 1:
        raise SystemExit(
            f"ziptie: no assignment {name!r} in {RELEASE}/; the assignments "
            f"are: {', '.join(known) or 'none (run make)'}.")
    return matches[0]


def start(course: Path, name: str) -> int:
    """Copy the released files of ``name`` into ``work/``, never over one."""
    name = find(course, name)
    source, target = course / RELEASE / name, course / WORK / name
    for rel in files(source):
        where = (target / rel).relative_to(course).as_posix()
        if (target / rel).exists():
            print(f"{where} is already there: kept as it is")
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)
        print(f"copied {RELEASE}/{name}/{rel.as_posix()} to {where}")
    notebooks = sorted(target.glob("*.ipynb"))
    if notebooks:
        print(f"Open it with: jupyter lab {notebooks[0].relative_to(course)}")
    return 0
