"""Grade notebooks with nbgrader, as an instructor would, for the tests.

A test builds submissions from the released student notebook, then asks
nbgrader to autograde them in a scratch course and reads the points of
every graded cell back from the gradebook, or grades them with one
``ziptie grade`` run and reads ``grades.csv``::

    correct = filled(assignment)                      # the solution, typed in
    wrong = mutated(assignment, "sgd_step", "-=", "+=")
    scores = autograde(assignment, {"good": correct, "bad": wrong}, tmp_path)
    scores["bad"]["test_sgd_step"]                    # points of that cell
    rows = ziptie_grade(assignment, {"good": correct}, tmp_path / "z")

A mutation names the text it replaces and fails loudly when that text is not
in the solution cell, so a wrong answer can never silently be the right one.
"""

from __future__ import annotations

import ast
import atexit
import csv
import functools
import html
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "grading"))
import catalogue  # noqa: E402 - grading/catalogue.py, found on the line above

SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

_SOLUTION_BLOCK = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?",
    re.DOTALL | re.MULTILINE)


def assignments() -> list[str]:
    """Every assignment with a source notebook."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))


def notebook_name(assignment: str) -> str:
    """The file name of the (single) notebook of an assignment."""
    names = sorted(p.name for p in (SOLUTIONS / assignment).glob("*.ipynb"))
    if len(names) != 1:
        raise ValueError(f"{assignment} must hold one notebook, has {names}")
    return names[0]


def _cells_by_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if "nbgrader" in cell.metadata}


def source(assignment: str) -> nbformat.NotebookNode:
    """The instructors' notebook, with solutions and hidden tests."""
    return nbformat.read(SOLUTIONS / assignment / notebook_name(assignment),
                         as_version=4)


def student(assignment: str) -> nbformat.NotebookNode:
    """The released notebook, as a student receives it."""
    return nbformat.read(EXERCISES / assignment / notebook_name(assignment),
                         as_version=4)


def solution_code(cell_source: str) -> str:
    """A solution cell as a student would type it: the markers removed."""
    return _SOLUTION_BLOCK.sub(lambda m: m.group(1), cell_source)


def solution_namespace(assignment: str, skip: tuple[str, ...] = (),
                       wrong: catalogue.WrongAnswer | None = None,
                       right: catalogue.RightAnswer | None = None) -> dict:
    """The setup and solution cells of the source notebook, run in one
    namespace (leaving out the cells whose ``grade_id`` is in ``skip``),
    so tests can call the instructors' functions directly; with the one
    mistake of catalogue entry ``wrong`` made, if given, or one cell
    written another way, as the correct rewrite ``right`` has it."""
    namespace: dict = {}
    for grade_id, cell in _cells_by_id(source(assignment)).items():
        meta = cell.metadata["nbgrader"]
        if cell.cell_type == "code" and grade_id not in skip and (
                meta.get("solution") or grade_id == "setup"):
            code = solution_code(cell.source)
            if wrong is not None and wrong.cell == grade_id:
                code = wrong.apply(code)
            if right is not None and right.cell == grade_id:
                code = right.apply(code)
            exec(code, namespace)
    return namespace


def filled(assignment: str) -> nbformat.NotebookNode:
    """The student notebook with every solution cell answered correctly."""
    nb = student(assignment)
    answers = _cells_by_id(source(assignment))
    for grade_id, cell in _cells_by_id(nb).items():
        if cell.metadata["nbgrader"].get("solution") and \
                cell.cell_type == "code":
            cell.source = solution_code(answers[grade_id].source)
    return nb


def rewritten(assignment: str, *rights: catalogue.RightAnswer
              ) -> nbformat.NotebookNode:
    """The correct answers, with some cells written another way: each
    of ``rights`` (correct rewrites, at most one a cell) applied to its
    cell, as a student who wrote them would hand the notebook in."""
    nb = filled(assignment)
    cells = _cells_by_id(nb)
    if len({r.cell for r in rights}) != len(rights):
        raise ValueError("at most one rewrite a cell")
    for right in rights:
        cells[right.cell].source = right.apply(cells[right.cell].source)
    return nb


def mutated(assignment: str, grade_id: str, old: str, new: str,
            count: int = 1) -> nbformat.NotebookNode:
    """The correct answers, with ``old`` replaced by ``new`` in one cell.

    Raises if ``old`` does not occur in that solution cell exactly
    ``count`` times, so the mutation cannot silently change nothing, and
    if the result is not valid Python, so it cannot lose points merely by
    breaking the cell.
    """
    nb = filled(assignment)
    cells = _cells_by_id(nb)
    if grade_id not in cells:
        raise KeyError(f"{assignment} has no cell {grade_id!r}; it has "
                       f"{sorted(cells)}")
    cell = cells[grade_id]
    found = cell.source.count(old)
    if found != count:
        raise ValueError(
            f"{assignment}/{grade_id}: expected {count} occurrence(s) of "
            f"{old!r}, found {found}:\n{cell.source}")
    cell.source = cell.source.replace(old, new)
    try:  # a mistake a student makes, not a cell that cannot even run
        ast.parse(cell.source)
    except SyntaxError as err:
        raise ValueError(f"{assignment}/{grade_id}: the mutation "
                         f"{old!r} -> {new!r} is not valid Python: {err}"
                         ) from None
    return nb


def max_points(assignment: str) -> dict[str, float]:
    """Points of every autograded cell of the source notebook: its test
    cells. (A written answer, a graded solution cell, waits for a person in
    both graders, so neither gives it points.)"""
    return {gid: float(cell.metadata["nbgrader"]["points"])
            for gid, cell in _cells_by_id(source(assignment)).items()
            if cell.metadata["nbgrader"].get("grade")
            and not cell.metadata["nbgrader"].get("solution")}


@dataclass
class Scores:
    """Points of one graded submission, by ``grade_id``."""

    cells: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, grade_id: str) -> float:
        return self.cells[grade_id]

    @property
    def total(self) -> float:
        return sum(self.cells.values())


@functools.cache
def _warm_kernel_server(env_items: frozenset) -> dict[str, str]:
    """Start this process's warm kernel server (tests/warm_kernel.py) with
    ``env``; the variables that make nbgrader's kernels fork from it."""
    folder = Path(tempfile.mkdtemp(prefix="ziptie-kernel-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    script = Path(__file__).with_name("warm_kernel.py")
    spec = folder / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({
        "argv": [sys.executable, str(script), "launch", "-f",
                 "{connection_file}"],
        "display_name": "Python 3", "language": "python",
        "interrupt_mode": "signal"}))
    socket_path = str(folder / "socket")
    server = subprocess.Popen([sys.executable, str(script), "serve",
                               socket_path], env=dict(env_items),
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    while not os.path.exists(socket_path):
        if server.poll() is not None:
            raise RuntimeError("the warm kernel server did not start")
        time.sleep(0.05)
    return {"JUPYTER_PATH": str(folder), "ZIPTIE_WARM_KERNEL": socket_path}


def _warm_kernel(env: dict[str, str]) -> dict[str, str]:
    """What makes the kernels that nbgrader starts with ``env`` fork from
    a warm server with the same environment (one per environment; the name
    of the test that pytest puts there is no part of it)."""
    return _warm_kernel_server(frozenset(
        (k, v) for k, v in env.items() if k != "PYTEST_CURRENT_TEST"))


def autograde(assignment: str, submissions: dict[str, nbformat.NotebookNode],
              workdir: Path, timeout: int = 300) -> dict[str, Scores]:
    """Autograde each ``{student: notebook}`` with nbgrader; read the points.

    A scratch course in ``workdir`` gets this repository's nbgrader
    configuration, source notebook and checks (the hidden tests call them
    through ``grading/nbgrader_bridge.py``); nbgrader generates the
    assignment, autogrades every submission (restoring locked cells first,
    as it does for a class) and records the points in a gradebook, which
    is read back.
    """
    from nbgrader.api import Gradebook

    course = workdir / "course"
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOLUTIONS / assignment, course / "solutions" / assignment)
    shutil.copytree(ROOT / "grading", course / "grading",
                    ignore=shutil.ignore_patterns("__pycache__"))
    name = notebook_name(assignment)
    for who, nb in submissions.items():
        folder = course / "submitted" / who / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    db = f"sqlite:///{course}/gradebook.db"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env.update(_warm_kernel(env))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    common = [f"--CourseDirectory.root={course}",
              f"--CourseDirectory.db_url={db}", "--log-level=WARN"]
    for step in (["generate_assignment", assignment, "--force"],
                 ["autograde", assignment, "--force"]):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *step,
                               *common], cwd=course, env=env, text=True,
                              capture_output=True, timeout=timeout)
        if done.returncode != 0 and step[0] != "autograde":
            raise RuntimeError(f"nbgrader {step[0]} failed:\n{done.stdout}"
                               f"{done.stderr}")
    scores: dict[str, Scores] = {}
    tested = max_points(assignment)
    with Gradebook(db) as gradebook:
        for who in submissions:
            try:
                submission = gradebook.find_submission(assignment, who)
            except Exception as err:  # not graded at all
                raise RuntimeError(
                    f"nbgrader did not grade {who}:\n{done.stdout}"
                    f"{done.stderr}") from err
            scores[who] = Scores({
                grade.name: float(grade.score)
                for notebook in submission.notebooks
                for grade in notebook.grades if grade.name in tested})
    return scores


def _submit(folder: Path, assignment: str,
            notebooks: dict[str, nbformat.NotebookNode]) -> None:
    """nbgrader's submitted/<student>/<assignment>/<notebook> layout."""
    for who, nb in notebooks.items():
        path = folder / who / assignment / notebook_name(assignment)
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)


@functools.cache
def _warm_server() -> subprocess.Popen:
    """This process's warm ``ziptie`` server (tests/warm_cli.py), its
    answers unbuffered: ``select`` sees each line as it comes."""
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("warm_cli.py"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)


def _answer(server: subprocess.Popen, key: str) -> int:
    """The server's next answer, ``key`` of its line."""
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line:
        raise RuntimeError(f"the warm ziptie server ended ({server.wait()})")
    return json.loads(line)[key]


def ziptie_cli(argv: list[str], cwd: Path, timeout: float,
               env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess:
    """What ``subprocess.run([python, "-m", "ziptie.cli", *argv], cwd=cwd,
    capture_output=True, text=True, timeout=timeout, env=env)`` gives: the
    command runs in a process forked from a server that imported torch,
    nbgrader and the grader once (tests/warm_cli.py), with ``env`` (this
    process's environment if None), writing no bytecode.
    """
    server = _warm_server()
    assert server.stdin is not None
    with tempfile.TemporaryDirectory(prefix="ziptie-cli-") as folder:
        logs = {name: f"{folder}/{name}" for name in ("stdout", "stderr")}
        for path in logs.values():
            Path(path).touch()
        job = {"argv": argv, "cwd": str(cwd), "env": dict(
            os.environ if env is None else env, PYTHONDONTWRITEBYTECODE="1")}
        server.stdin.write(json.dumps(job | logs).encode() + b"\n")
        pid = _answer(server, "pid")
        ready, _, _ = select.select([server.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        status = _answer(server, "status")
        if not ready:
            raise subprocess.TimeoutExpired(["ziptie", *argv], timeout)
        out, err = (Path(path).read_text(encoding="utf-8", errors="replace")
                    for path in logs.values())
    return subprocess.CompletedProcess(["ziptie", *argv], status, out, err)


def ziptie_grade(assignment: str,
                 submissions: dict[str, nbformat.NotebookNode],
                 workdir: Path, timeout: int = 900,
                 options: tuple[str, ...] = ()) -> dict[str, dict]:
    """Grade each ``{student: notebook}`` with one ``ziptie grade`` run
    (with more command-line ``options``, such as ``--no-diagnosis``); the
    rows of its ``grades.csv``, by student."""
    _submit(workdir / "submitted", assignment, submissions)
    out = workdir / "graded"
    done = ziptie_cli(
        ["--course", str(ROOT), "grade", str(workdir / "submitted"),
         "--assignment", assignment, "--out", str(out), "--workers", "2",
         "--cell-timeout", "60", *options], cwd=workdir, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"ziptie grade failed:\n{done.stdout}"
                           f"{done.stderr}")
    with open(out / "grades.csv", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def feedback(out: Path, student: str, assignment: str,
             notebook: str | None = None) -> dict[str, str]:
    """What the feedback page of ``student`` in ``ziptie grade``'s ``out``
    says of each task (its "why" column), by grade id."""
    name = Path(notebook or notebook_name(assignment)).stem + ".html"
    page = (out / "feedback" / student / assignment / name).read_text(
        encoding="utf-8")
    rows = re.findall(r"<tr><td>(.*?)</td><td>.*?</td><td>(.*?)</td></tr>",
                      page)
    return {html.unescape(gid): html.unescape(why) for gid, why in rows}


def nbgrader_errors(workdir: Path, student: str, assignment: str
                    ) -> dict[str, str]:
    """The error each graded cell of ``student``'s notebook raised when
    :func:`autograde` ran it in ``workdir``, by grade id."""
    path = (workdir / "course" / "autograded" / student / assignment /
            notebook_name(assignment))
    errors = {}
    for cell in nbformat.read(path, as_version=4).cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        for out in cell.get("outputs", []):
            if gid and out.get("output_type") == "error":
                errors[gid] = f"{out['ename']}: {out['evalue']}"[:300]
    return errors


def points_of(row: dict, assignment: str) -> Scores:
    """The points of every graded cell in a row of ``grades.csv``."""
    return Scores({gid: float(row[gid]) for gid in max_points(assignment)})


def wrong_answers(assignment: str) -> dict[str, tuple[catalogue.WrongAnswer,
                                                     nbformat.NotebookNode]]:
    """The catalogue of ``assignment`` (``grading/<assignment>_wrong.py``),
    each entry with its notebook, by a student name ``wrongNN``."""
    entries = catalogue.load(assignment)
    points = max_points(assignment)
    made = {}
    for k, wrong in enumerate(entries):
        unknown = [gid for gid in wrong.loses if gid not in points]
        if unknown:
            raise ValueError(f"{wrong.name}: no graded cell {unknown}")
        made[f"wrong{k:02d}"] = (wrong, mutated(
            assignment, wrong.cell, wrong.old, wrong.new, wrong.count))
    return made


def packed(assignment: str, wrong: dict[str, tuple[catalogue.WrongAnswer,
                                                   nbformat.NotebookNode]]
           ) -> dict[str, tuple[list[str], nbformat.NotebookNode]]:
    """The entries of ``wrong`` (as :func:`wrong_answers` gives them)
    packed into as few notebooks as hold them apart: entries share a
    notebook only when no two touch the same cell (the solution cell each
    changes, the graded cells each loses). Each notebook, by a student
    name ``packNN`` (an entry alone keeps its own name and notebook), with
    the names of the entries it holds.

    nbgrader starts a kernel for every notebook: packed, a catalogue costs
    it far fewer of them.
    """
    packs: list[tuple[set[str], list[str]]] = []
    for who, (answer, _) in wrong.items():
        touched = {answer.cell, *answer.loses}
        free = next((p for p in packs if not p[0] & touched), None)
        if free is None:
            free = (set(), [])
            packs.append(free)
        free[0].update(touched)
        free[1].append(who)
    made = {}
    for k, (_, members) in enumerate(packs):
        if len(members) == 1:   # a pack of one is the entry's own notebook
            made[members[0]] = (members, wrong[members[0]][1])
            continue
        nb = filled(assignment)
        cells = _cells_by_id(nb)
        for who in members:
            answer = wrong[who][0]
            cells[answer.cell].source = answer.apply(
                cells[answer.cell].source)
        made[f"pack{k:02d}"] = (members, nb)
    return made
