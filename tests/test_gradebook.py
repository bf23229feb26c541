"""nbgrader's own tools on what ``ziptie grade`` writes."""

import copy
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import corpus
import nbformat
import pytest
from traitlets.config import Config

import autograde
from ziptie.grader.submissions import Submission, find


def test_the_submission_time_comes_from_nbgraders_timestamp(tmp_path):
    for who, stamp in [("ann", "2026-01-02 10:00:00.250000 UTC"),
                       ("ben", "not a time"), ("cy", None)]:
        folder = tmp_path / "submitted" / who / "01_a"
        folder.mkdir(parents=True)
        (folder / "a.ipynb").write_text("{}")
        if stamp:
            (folder / "timestamp.txt").write_text(stamp + "\n")
    found = find(tmp_path, "01_a", ["a.ipynb"])
    times = {s.student: s.timestamp for s in found.submissions}
    assert times == {"ann": datetime(2026, 1, 2, 10, 0, 0, 250000,
                                     tzinfo=timezone.utc),
                     "ben": None, "cy": None}
    export = tmp_path / "export"                # a platform's: no time
    export.mkdir()
    (export / "dee_1_2_a.ipynb").write_text("{}")
    (export / "timestamp.txt").write_text("2026-01-02 10:00:00 UTC")
    [dee] = find(export, "01_a", ["a.ipynb"]).submissions
    assert dee.path.name == "dee_1_2_a.ipynb" and dee.timestamp is None


# --- a small class, graded, then handed to nbgrader's own tools ----------

ROOT = Path(__file__).resolve().parents[1]
DUE = "2026-03-01 17:00:00 UTC"
EXPLAIN = "Because 2 (x + y) = 2 x + 2 y, double is linear."
RUBRIC = "two points if linearity is named"
LIMITS = ["--workers", "2", "--cell-timeout", "12"]
BLANK = "zoë 李"   # hands in the released notebook; a name nbgrader must keep


def _meta(gid: str, **kw) -> dict:
    base = {"grade": False, "solution": False, "locked": False,
            "schema_version": 3, "grade_id": gid}
    return {"nbgrader": {**base, **kw}}


#: A manually graded answer and a manually graded task, after ``counter``.
MANUAL = [
    {"cell_type": "markdown", "source": "### BEGIN SOLUTION\n" + EXPLAIN
     + "\n### END SOLUTION", "metadata": _meta(
         "explain", grade=True, solution=True, points=2)},
    {"cell_type": "markdown", "source": "Say why `double` is linear.\n"
     "=== BEGIN MARK SCHEME ===\n" + RUBRIC + "\n=== END MARK SCHEME ===",
     "metadata": _meta("why_task", task=True, locked=True, points=1)},
]


def _course(tmp_path: Path) -> Path:
    """The fixture course, with the manual cells, and a late-submission
    plugin that takes every point of a late notebook."""
    course = tmp_path / "course"
    shutil.copytree(corpus.COURSE, course)
    (course / "nbgrader_config.py").write_text(
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        "get_config().LateSubmissionPlugin.penalty_method = 'zero'\n")
    path = course / "solutions" / corpus.ASSIGNMENT / corpus.NOTEBOOK
    nb = json.loads(path.read_text())
    at = 1 + next(i for i, c in enumerate(nb["cells"])
                  if c["metadata"].get("nbgrader", {}).get("grade_id")
                  == "counter")
    nb["cells"][at:at] = copy.deepcopy(MANUAL)
    path.write_text(json.dumps(nb, indent=1))
    return course


def _hand_in(folder: Path, case: corpus.Case, answer: str | None,
             stamp: str | None) -> None:
    """A student's notebook, its manual answer (None: left blank) and
    nbgrader's timestamp.txt."""
    nb = json.loads(corpus.notebook_bytes(case)) if case.raw is None else None
    if nb is not None:
        at = 1 + next(i for i, c in enumerate(nb["cells"])
                      if c["metadata"].get("nbgrader", {}).get("grade_id")
                      == "counter")
        cells = copy.deepcopy(MANUAL)
        cells[0]["source"] = answer or "YOUR ANSWER HERE"
        cells[1]["source"] = "Say why `double` is linear."
        nb["cells"][at:at] = cells
    target = folder / "submitted" / case.student / corpus.ASSIGNMENT
    target.mkdir(parents=True)
    (target / corpus.NOTEBOOK).write_bytes(
        case.raw if nb is None else json.dumps(nb).encode())
    if stamp:
        (target / "timestamp.txt").write_text(stamp)


def _nbgrader(out: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args],
                          cwd=out, capture_output=True, text=True,
                          timeout=300, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _env() -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A class graded by ``ziptie grade``: on time, late, blank, an
    unreadable file and a student with no notebook; the out folder."""
    tmp = tmp_path_factory.mktemp("nbgrader")
    course, batch, out = _course(tmp), tmp / "class", tmp / "out"
    _hand_in(batch, corpus.Case("late", "ok", 4, ""), EXPLAIN,
             "2026-03-02 09:30:00.000000 UTC")
    _hand_in(batch, corpus.Case("ontime", "ok", 3, "", {
        "double": corpus.WRONG_DOUBLE}), None, "2026-03-01 12:00:00 UTC")
    _hand_in(batch, corpus.Case(BLANK, "ok", 0, "", base="released"),
             None, None)
    _hand_in(batch, corpus.Case("broken", "invalid-notebook", 0, "",
                                raw=b'{"cells": ['), None, None)
    (batch / "submitted" / "nobody" / corpus.ASSIGNMENT).mkdir(parents=True)
    (batch / "submitted" / "nobody" / corpus.ASSIGNMENT / "a.txt").write_text(
        "no notebook")
    done = autograde.ziptie_cli(
        ["grade", str(batch), "--out", str(out), *LIMITS, "--duedate", DUE],
        course, timeout=600, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"nbgrader course: {out} (3 submission(s) wait for a person in " \
        "nbgrader formgrader; 1 late)" in done.stdout
    return out


def test_the_gradebook_holds_times_points_and_manual_cells(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
        assert str(gb.find_assignment(corpus.ASSIGNMENT).duedate) == \
            "2026-03-01 17:00:00"
        late = gb.find_submission(corpus.ASSIGNMENT, "late")
        assert str(late.timestamp) == "2026-03-02 09:30:00"
        assert late.total_seconds_late == 16.5 * 3600
        assert gb.find_submission(corpus.ASSIGNMENT, "ontime"
                                  ).total_seconds_late == 0
        assert gb.find_submission(corpus.ASSIGNMENT, BLANK).timestamp \
            is None

        def grade(student, gid):
            return gb.find_grade(gid, "fixture", corpus.ASSIGNMENT, student)

        # An answer waits for a person, with its points; blank gets zero.
        assert grade("late", "explain").needs_manual_grade
        assert grade("late", "explain").max_score == 2
        assert grade("late", "why_task").needs_manual_grade
        assert not grade("ontime", "explain").needs_manual_grade
        assert grade("ontime", "explain").auto_score == 0
        assert grade("ontime", "why_task").needs_manual_grade
        assert not grade("nobody", "explain").needs_manual_grade
        assert grade("ontime", "test_double").auto_score == 0
        assert grade("ontime", "test_mse").auto_score == 2
        scores = {s: gb.find_submission(corpus.ASSIGNMENT, s).score
                  for s in ("late", "ontime", BLANK, "broken", "nobody")}
        assert scores == {"late": 4, "ontime": 3, BLANK: 0, "broken": 0,
                          "nobody": 0}
        assert gb.find_submission_notebook(
            "fixture", corpus.ASSIGNMENT, "late").late_submission_penalty == 4
        assert gb.find_submission_notebook(
            "fixture", corpus.ASSIGNMENT, "ontime"
        ).late_submission_penalty is None


def test_formgrader_lists_every_submission_and_renders_it(graded):
    from nbconvert.exporters import HTMLExporter
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py",
                                path=str(graded)).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    subs = {s["student"]: s for s in api.get_submissions(corpus.ASSIGNMENT)}
    assert set(subs) == {"late", "ontime", BLANK, "broken", "nobody"}
    assert {s for s in subs if not subs[s]["autograded"]} == {"broken"}
    assert subs["late"]["needs_manual_grade"]
    assert subs["late"]["timestamp"].startswith("2026-03-02T09:30:00")
    assignment = api.get_assignment(corpus.ASSIGNMENT)
    assert assignment["num_submissions"] == 4     # all who handed a file in
    assert assignment["display_duedate"].startswith("2026-03-01 17:00:00")
    notebooks = {n["student"]: n for n in api.get_notebook_submissions(
        corpus.ASSIGNMENT, "fixture")}
    assert set(notebooks) == {"late", "ontime", BLANK}   # readable ones
    assert notebooks["late"]["needs_manual_grade"]

    # The page a person grades on, as formgrader renders it.
    exporter = HTMLExporter(template_name="formgrade",
                            extra_template_basedirs=[handlers.template_path])
    page, _ = exporter.from_filename(
        str(graded / "autograded" / "late" / corpus.ASSIGNMENT
            / corpus.NOTEBOOK), resources={
            "assignment_id": corpus.ASSIGNMENT, "notebook_id": "fixture",
            "submission_id": notebooks["late"]["id"], "index": 0,
            "total": 3, "base_url": "", "student": "late",
            "last_name": None, "first_name": None, "notebook_path": ""})
    assert EXPLAIN in page and "explain" in page


def test_generate_feedback_and_export_run_on_it(graded):
    _nbgrader(graded, "generate_feedback", corpus.ASSIGNMENT)
    feedback = graded / "nbgrader_feedback"
    pages = {p.parts[-3]: p.read_text() for p in feedback.rglob("*.html")}
    assert set(pages) == {"late", "ontime", BLANK}
    assert EXPLAIN in pages["late"]
    assert "CheckFailed" in pages["ontime"]     # double is wrong
    assert "largest difference" in pages["ontime"]
    ours = graded / "feedback" / "late" / corpus.ASSIGNMENT / "fixture.html"
    assert "Output of your notebook" in ours.read_text()   # still ziptie's

    grades = (graded / "grades.csv").read_text()
    _nbgrader(graded, "export")
    assert (graded / "grades.csv").read_text() == grades   # ziptie's stays
    with open(graded / "nbgrader_grades.csv", encoding="utf-8") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"late", "ontime", BLANK, "broken", "nobody"}
    assert rows["late"]["duedate"] == "2026-03-01 17:00:00"
    assert rows["late"]["timestamp"] == "2026-03-02 09:30:00"
    assert float(rows["late"]["raw_score"]) == 4
    assert float(rows["late"]["late_submission_penalty"]) == 4
    assert float(rows["late"]["score"]) == 0
    assert float(rows["ontime"]["raw_score"]) == 3
    assert float(rows["ontime"]["late_submission_penalty"]) == 0
    assert float(rows["ontime"]["score"]) == 3
    assert float(rows["late"]["max_score"]) == 7     # 4 + 2 + 1 by hand


def test_no_hidden_test_rubric_or_check_reaches_the_notebooks(graded):
    checks = (corpus.COURSE / "grading" / "01_fixture.py").read_text()
    secret = (graded / "secret").read_text().strip()
    source = json.loads(corpus.SOURCE.read_text())
    hidden = [line for c in source["cells"] for line in
              "".join(c["source"]).split("\n")
              if line.startswith("assert") and "HIDDEN" not in line]
    for path in (graded / "autograded").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "double(5) == 10" not in text, path      # hidden tests
            assert RUBRIC not in text and secret not in text, path
            assert "rng.normal(size=shape)" not in text and "@task" not in \
                text, path
    blank = (graded / "autograded" / BLANK / corpus.ASSIGNMENT
             / corpus.NOTEBOOK).read_text()
    assert "return 2 * x" not in blank      # no solution filled in for them
    assert hidden and checks


def test_a_rerun_keeps_what_a_person_graded(graded):
    from nbgrader.api import Gradebook

    url = f"sqlite:///{graded / 'gradebook.db'}"
    with Gradebook(url) as gb:
        grade = gb.find_grade("explain", "fixture", corpus.ASSIGNMENT, "late")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    course = graded.parent / "course"
    done = autograde.ziptie_cli(
        ["grade", str(graded.parent / "class"), "--out", str(graded),
         *LIMITS], course, timeout=600, env=_env())
    assert done.returncode == 0 and "0 graded now" in done.stdout, done.stderr
    with Gradebook(url) as gb:
        grade = gb.find_grade("explain", "fixture", corpus.ASSIGNMENT, "late")
        assert grade.manual_score == 1.5 and not grade.needs_manual_grade
        assert str(gb.find_assignment(corpus.ASSIGNMENT).duedate) == \
            "2026-03-01 17:00:00"                  # kept without --duedate
        assert gb.find_submission_notebook(
            "fixture", corpus.ASSIGNMENT, "late").late_submission_penalty \
            == 5.5                                  # the plugin: all of it


def test_a_due_date_that_is_no_time_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "ziptie.cli", "grade", str(tmp_path / "in"),
         "--out", str(tmp_path / "out"), "--duedate", "tomorrowish"],
        cwd=corpus.COURSE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "--duedate 'tomorrowish' is not a time" in done.stderr


def test_the_notebook_a_person_grades_keeps_nbgraders_cells(tmp_path):
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.gradebook import gradebook_setup
    from ziptie.grader.gradebook_autograded import autograded
    from ziptie.grader.report import Result

    nb = json.loads(corpus.notebook_bytes(corpus.Case(
        "x", "ok", 2, "", {"mse": corpus.WRONG_MSE}, edit="tamper_tests")))
    cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c
             for c in nb["cells"]}
    nb["cells"].append(copy.deepcopy(cells["double"]))   # twice
    bonus = copy.deepcopy(cells["test_double"])
    bonus["metadata"]["nbgrader"].update(grade_id="bonus", points=100)
    nb["cells"].append(bonus)                              # made up
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    out = tmp_path / "out"
    out.mkdir()
    book = gradebook_setup(out, corpus.COURSE,
                           load_assignment(corpus.COURSE, corpus.ASSIGNMENT))
    result = Result("x", corpus.ASSIGNMENT, corpus.NOTEBOOK, "ok",
                    {"test_double": 1, "test_mse": 0, "test_counter": 1},
                    {"test_mse": "mean_squared_error(...): expected 1"})
    got = autograded(book, Submission("x", corpus.ASSIGNMENT,
                                      corpus.NOTEBOOK, path), result)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in got.cells]
    assert "bonus" not in ids and ids.count("double") == 1
    assert ids.index("test_counter") == ids.index("counter") + 1  # put back
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in got.cells
             if "nbgrader" in c.metadata}
    assert by_id["test_mse"].metadata.nbgrader.points == 2   # as released
    assert by_id["test_mse"].metadata.nbgrader.grade
    assert by_id["test_double"].source.startswith("assert np.allclose")
    assert by_id["test_mse"].outputs[0].evalue.endswith("expected 1")
    assert by_id["test_double"].outputs == []
    assert "mean(np.abs(" in by_id["mse"].source          # their answer
    assert got.metadata == {"kernelspec": nb["metadata"]["kernelspec"]}
    nbformat.validate(got)


def test_a_gradebook_with_cells_the_source_lost_is_refused(tmp_path):
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.gradebook import gradebook_setup
    from ziptie.grader.gradebook_record import gradebook_record
    from ziptie.grader.report import Result

    spec = load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    book = gradebook_setup(tmp_path, corpus.COURSE, spec)
    gradebook_record(book, [(Submission("x", spec.name, spec.notebook, None),
                             Result("x", spec.name, spec.notebook, "missing"))])
    for cell in spec.source["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_mse":
            cell["metadata"]["nbgrader"]["grade_id"] = "test_mse2"
    with pytest.raises(ValueError, match=r"no longer has \(test_mse\)"):
        gradebook_setup(tmp_path, corpus.COURSE, spec)


def test_a_new_gradebook_is_stamped_with_nbgraders_own_schema_version(
        tmp_path, monkeypatch):
    """The version written in this process is the one nbgrader asks the
    ``alembic`` command for, and nbgrader's upgrade finds nothing to do."""
    from nbgrader.api import get_alembic_version

    from ziptie.grader import gradebook

    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([bin_dir,
                                                os.environ["PATH"]]))
    assert gradebook.schema_version() == get_alembic_version()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    gradebook._gradebook(url, Config()).close()
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "db", "upgrade",
         f"--CourseDirectory.db_url={url}"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version"
                          ).fetchall() == [(get_alembic_version(),)]
