"""The ``ziptie`` command: one front door for students and instructors.

    ziptie doctor               is everything installed and in place?
    ziptie start NAME           copy an exercise into your folder work/
    ziptie release [NAME ...]   generate exercises/ from solutions/
    ziptie release --check      is exercises/ what nbgrader generates?
    ziptie check [NOTEBOOK]     run a notebook's tests, task by task
                                (none: a table of every notebook in work/)
    ziptie grade SUBMISSIONS    autograde a class, isolated and in parallel

Each verb imports what it needs when it runs, so ``ziptie --help`` is quick.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ziptie import __version__
from ziptie.grader.sandbox import Limits

#: The one set of default limits (timeouts shown in --help).
_LIMITS = Limits()

#: The layouts of ``ziptie grade`` (as ziptie.grader.submissions.LAYOUTS,
#: here so that ``--help`` stays quick).
LAYOUTS = ("auto", "nbgrader", "canvas", "moodle", "folders")

#: ``--scheduler``: as ziptie.grader.grade_dask.ADDRESS, here so that
#: ``--help`` stays quick.
SCHEDULER = r"(tcp|tls)://[^\s/]+:\d{1,5}|local(:[1-9]\d{0,2})?"


def find_course(start: Path | None = None) -> Path:
    """The course root: the nearest folder upwards with nbgrader_config.py."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    raise SystemExit(
        f"ziptie: no course found in {here} or above it (looked for "
        f"nbgrader_config.py). Run this inside the course repository or pass "
        f"--course DIR."
    )


def _doctor(args: argparse.Namespace) -> int:
    from ziptie.doctor import run

    return run(args.course or find_course())


def _start(args: argparse.Namespace) -> int:
    from ziptie.start import start

    return start(args.course or find_course(), args.assignment)


def _release(args: argparse.Namespace) -> int:
    from ziptie.release import check, release

    course = args.course or find_course()
    if args.check:
        return check(course, args.assignments)
    return release(course, args.assignments)


def _check(args: argparse.Namespace) -> int:
    from ziptie.check import report, table

    if args.notebook is None:
        return table(args.course or find_course())
    return report(args.notebook)


def _grade(args: argparse.Namespace) -> int:
    from ziptie.grader.grade import grade

    scheduler = args.scheduler
    if scheduler and args.workers is not None:
        if scheduler != "local":
            raise SystemExit(
                f"ziptie: --workers does not apply to --scheduler "
                f"{scheduler}: the cluster's workers grade, each as many "
                f"at once as it has threads (use local:N for N here)")
        scheduler = f"local:{args.workers}"

    limits = Limits(cell_timeout=args.cell_timeout,
                    notebook_timeout=args.notebook_timeout,
                    memory=args.memory_mb << 20,
                    warm_start=not args.cold_start)
    return grade(args.course or find_course(), args.submissions,
                 args.assignment, args.workers, args.out, limits,
                 layout=args.layout,
                 accept_weak_sandbox=args.accept_weak_sandbox,
                 duedate=args.duedate, scheduler=scheduler,
                 diagnose=not args.no_diagnosis)


def _bounded(kind: type, low: float, high: float, unit: str):
    """An argparse ``type=``: a number of ``kind`` in ``[low, high]``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {'whole ' if kind is int else ''}"
                f"number") from None
        if not low <= value <= high:   # also refuses nan
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: give {kind(low)} to "
                f"{kind(high)} {unit}")
        return value
    parse.__name__ = kind.__name__   # argparse names it in its errors
    return parse


def _scheduler(text: str) -> str:
    """An argparse ``type=``: a Dask scheduler's address, or local[:N]."""
    if not re.fullmatch(SCHEDULER, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not tcp://HOST:PORT (a Dask scheduler), local "
            f"or local:N (N workers started here)")
    return text


_scheduler.__name__ = "address"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ziptie`` command."""
    parser = argparse.ArgumentParser(
        prog="ziptie",
        description="The training loop, from first principles: "
        "course tools for students and instructors.",
        epilog="Run 'ziptie VERB --help' for a verb's options.",
    )
    parser.add_argument("--version", action="version",
                        version=f"ziptie {__version__}")
    parser.add_argument("--course", type=Path, default=None,
                        help="the course folder (default: found from the "
                        "current folder upwards)")
    verbs = parser.add_subparsers(title="verbs", metavar="VERB")

    doctor = verbs.add_parser(
        "doctor", help="check versions, the device and the course files",
        description="Print the versions of the course's packages and the "
        "device found, and check that the course files are present and "
        "consistent. Exits 1 when something is wrong.")
    doctor.set_defaults(func=_doctor)

    start = verbs.add_parser(
        "start", help="copy an exercise into your folder work/ (students)",
        description="Copy exercises/NAME/ into work/NAME/, the folder "
        "where you work: git ignores it and no course command writes over "
        "a file in it. A file already there is kept as it is.")
    start.add_argument("assignment", metavar="NAME",
                       help="the assignment: 01_forward, 01 or forward")
    start.set_defaults(func=_start)

    release = verbs.add_parser(
        "release", help="generate exercises/ from solutions/ (instructors)",
        description="Generate the student notebooks in exercises/ from the "
        "source notebooks in solutions/ with nbgrader: solutions and hidden "
        "tests are removed.")
    release.add_argument("assignments", nargs="*", metavar="NAME",
                         help="assignments to release (default: all)")
    release.add_argument("--check", action="store_true",
                         help="only check that exercises/ is exactly what "
                         "nbgrader generates; exit 1 if not")
    release.set_defaults(func=_release)

    check = verbs.add_parser(
        "check", help="run an exercise's tests and report each task "
        "(students)",
        description="Run the notebook from top to bottom in a fresh sandbox "
        "and report each graded task as it runs: passed, or what to fix. "
        "Without NOTEBOOK, check every notebook in work/ and print a "
        "table. Exits 1 unless every public test passes.")
    check.add_argument("notebook", type=Path, metavar="NOTEBOOK", nargs="?",
                       default=None, help="the exercise notebook, e.g. "
                       "work/05_sgd/sgd.ipynb (default: all of work/)")
    check.set_defaults(func=_check)

    grade = verbs.add_parser(
        "grade", help="autograde a class's submissions (instructors)",
        description="Grade every submission in a folder or .zip (nbgrader's "
        "submitted/<student>/<assignment>/ layout, or a Canvas or Moodle "
        "export; see --layout), each in an isolated sandbox, in parallel. "
        "Writes grades.csv (a row for every student, with the reason when "
        "a file could not be graded), the gradebook and one feedback page "
        "per student, which names the mistake of the course's catalogue "
        "(grading/<assignment>_wrong.py) a lost task looks like. A rerun "
        "reuses what was graded with the same "
        "notebook, course files, limits and grader, and says why it "
        "regrades the rest.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="a folder or a .zip of submitted notebooks")
    grade.add_argument("--assignment", metavar="NAME", default=None,
                       help="the assignment (default: the only one)")
    grade.add_argument("--workers", type=_bounded(int, 1, 256, "workers"),
                       default=None, metavar="N",
                       help="sandboxes at once, 1 to 256 (default: number "
                       "of cores); with --scheduler local, the number of "
                       "local Dask workers")
    grade.add_argument("--layout", default="auto", choices=LAYOUTS,
                       help="how the submissions name their students: "
                       "nbgrader's submitted/<student>/<assignment>/, a "
                       "Canvas or Moodle export, <student>/ folders, or "
                       "auto (recognise one; refuse a mixture). See the "
                       "README (default: auto)")
    grade.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="where grades, feedback and the gradebook go "
                       "(default: ./graded-<assignment>)")
    grade.add_argument("--cell-timeout", type=_bounded(
                           float, 1, 3600, "seconds"),
                       default=_LIMITS.cell_timeout, metavar="SECONDS",
                       help="wall-clock limit of one cell, 1 to 3600 "
                       f"(default: {_LIMITS.cell_timeout:g}, as in 'ziptie "
                       "check' and nbgrader)")
    grade.add_argument("--notebook-timeout", type=_bounded(
                           float, 1, 86400, "seconds"),
                       default=_LIMITS.notebook_timeout, metavar="SECONDS",
                       help="wall-clock limit of a whole notebook, 1 to "
                       f"86400 (default: {_LIMITS.notebook_timeout:g})")
    grade.add_argument("--memory-mb", type=_bounded(
                           int, 256, 1 << 20, "MB"), default=3072,
                       metavar="MB", help="memory of one sandbox, all its "
                       "processes together, 256 MB to 1 TB (default: 3072)")
    grade.add_argument("--cold-start", action="store_true",
                       help="start every sandbox as a fresh interpreter, "
                       "not forked from one with torch imported already "
                       "(slower by about a second a submission; the "
                       "sandbox is the same)")
    grade.add_argument("--accept-weak-sandbox", action="store_true",
                       help="grade even where this machine cannot give the "
                       "sandbox every protection ('ziptie doctor' lists "
                       "them); only for submissions you trust")
    grade.add_argument("--duedate", metavar="TIME", default=None,
                       help="the assignment's due date (e.g. '2026-03-01 "
                       "17:00:00 UTC'): submissions whose timestamp.txt is "
                       "later are late, penalised as the course's nbgrader "
                       "configuration says (default: the gradebook's)")
    grade.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       type=_scheduler,
                       help="grade on a Dask cluster: its scheduler's "
                       "tcp://HOST:PORT, or local[:N] for N workers started "
                       "here; needs 'pip install ziptie[cluster]' and the "
                       "course, submissions and --out on a file system the "
                       "workers share. See the README (default: graded "
                       "here, --workers at once)")
    grade.add_argument("--no-diagnosis", action="store_true",
                       help="do not name, in a lost task's feedback, the "
                       "mistake of grading/<assignment>_wrong.py it looks "
                       "like (naming it runs the catalogue's mistakes once "
                       "a run, a few seconds, and asks each notebook a few "
                       "more calls)")
    grade.set_defaults(func=_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ziptie`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
