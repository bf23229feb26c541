"""``ziptie doctor``: is everything installed and in place?

Prints the versions of the packages the course needs, the device that
``ziptie.device()`` chooses, the protections the grader's sandbox gets on
this machine, and checks the course files: the book's
configuration, every chapter named in ``_toc.yml``, and a student version
in ``exercises/`` for every assignment in ``solutions/``.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "numpy", "matplotlib", "scikit-learn", "tqdm",
            "jupyter-book", "nbgrader", "jupyterlab")
COURSE_FILES = ("_config.yml", "_toc.yml", "nbgrader_config.py",
                "requirements.txt")
MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")


def versions() -> dict[str, str | None]:
    """Installed version of each package the course uses (None: missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def toc_files(toc: dict) -> list[str]:
    """The root and every ``file:`` of a jupyter-book table of contents,
    in reading order."""
    def files(node) -> list[str]:
        if isinstance(node, dict):
            found = [node["file"]] if "file" in node else []
            return found + [f for key, value in node.items() if key != "file"
                            for f in files(value)]
        if isinstance(node, list):
            return [f for item in node for f in files(item)]
        return []

    return ([toc["root"]] if "root" in toc else []) + files(toc)


def course_problems(course: Path) -> list[str]:
    """What is missing or inconsistent in the course folder."""
    import yaml

    problems = [f"missing {name}" for name in COURSE_FILES
                if not (course / name).is_file()]
    toc_path = course / "_toc.yml"
    if toc_path.is_file():
        toc = yaml.safe_load(toc_path.read_text()) or {}
        for entry in toc_files(toc):
            stem = course / entry
            if not any(stem.with_name(stem.name + ext).is_file()
                       for ext in ("", ".md", ".ipynb")):
                problems.append(f"_toc.yml names {entry}, which is missing")
    source, released = course / "solutions", course / "exercises"
    names = sorted(p.name for p in source.iterdir()
                   if p.is_dir()) if source.is_dir() else []
    for name in names:
        for notebook in sorted((source / name).glob("*.ipynb")):
            student = released / name / notebook.name
            if not student.is_file():
                problems.append(f"exercises/{name}/{notebook.name} is "
                                f"missing: run 'ziptie release'")
            elif any(m in student.read_text() for m in MARKERS):
                problems.append(f"exercises/{name}/{notebook.name} holds "
                                f"solutions: run 'ziptie release'")
    return problems


def sandbox_lines() -> None:
    """Print what the grader's sandbox gets on this machine, one protection
    a line; what is missing in capitals ('ziptie grade' then asks for
    --accept-weak-sandbox). Not a problem for students' own checks."""
    from ziptie.grader.sandbox import isolation

    for k, (_, ok, text) in enumerate(isolation().protections()):
        label = "sandbox" if k == 0 else ""
        print(f"  {label:<14}{'' if ok else 'MISSING: '}{text}")


def run(course: Path) -> int:
    """Print the report; return 1 when something is wrong."""
    ok = True
    print(f"ziptie doctor: {course}")
    print(f"  {'platform':<14}{platform.platform()}")
    for name, version in versions().items():
        print(f"  {name:<14}{version or 'NOT INSTALLED'}")
        ok &= version is not None or name == "jupyterlab"
    try:
        from ziptie import device

        print(f"  {'device':<14}{device()}")
    except (ImportError, ValueError) as err:
        print(f"  {'device':<14}ERROR: {err}")
        ok = False
    sandbox_lines()
    problems = course_problems(course)
    for problem in problems:
        print(f"  problem: {problem}")
    print("all good" if ok and not problems else "problems found")
    sys.stdout.flush()
    return 0 if ok and not problems else 1
