"""``ziptie grade`` on a class of hostile and broken submissions.

The corpus (``tests/corpus``) says, for every submission, the status and
the score it must get; these tests hand the whole class to ``ziptie grade``
and compare. A cheat that works shows up as a score above the expected one.
"""

import csv
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import corpus
import pytest

import autograde

#: Short limits, so that a runaway cell costs seconds (torch imports in ~6 s
#: on a slow CI machine, hence not less than 12 s a cell).
LIMITS = ["--workers", "2", "--cell-timeout", "12", "--memory-mb", "1536"]


def _grade(submissions: Path, out: Path, *extra: str):
    return autograde.ziptie_cli(
        ["grade", str(submissions), "--out", str(out), *LIMITS, *extra],
        corpus.COURSE, timeout=900)


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
@pytest.mark.parametrize("start", [[], ["--cold-start"]],
                         ids=["warm", "cold"])
def test_every_corpus_submission_gets_its_status_and_score(start, tmp_path):
    out = tmp_path / "graded"
    cases = corpus.build(tmp_path / "class", corpus.corpus(out=out))
    not_utf8 = tmp_path / "class" / "submitted" / os.fsdecode(b"caf\xe9") \
        / corpus.ASSIGNMENT
    not_utf8.mkdir(parents=True)
    (not_utf8 / corpus.NOTEBOOK).write_bytes(corpus.notebook_bytes(
        corpus.Case("x", "ok", 4, "")))
    done = _grade(tmp_path / "class", out, *start)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {c.student: (c.status, float(c.score)) for c in cases}
    expected["missing"] = ("missing", 0.0)
    expected["mallory"] = ("missing", 0.0)
    expected["caf%E9"] = ("ok", 4.0)
    rows = _rows(out)
    got = {s: (r["status"], float(r["total"])) for s, r in rows.items()}
    wrong = {s: f"got {got.get(s)}, expected {want} ({c.why})"
             for c in cases for s, want in [(c.student, expected[c.student])]
             if got.get(s) != want}
    assert not wrong, "\n".join(f"{s}: {w}" for s, w in wrong.items())
    assert set(got) == set(expected)
    assert "README.txt: not a notebook (from missing)" in done.stdout
    assert "mallory/01_fixture/good/01_fixture/fixture.ipynb: in a " \
        "subfolder" in done.stdout
    assert rows["misnamed"]["notes"].startswith("misnamed: Untitled.ipynb")
    assert rows["good"]["test_mse"] == "2" and rows["good"]["max"] == "4"

    for student in expected:   # feedback for everyone, gradebook agrees
        page = out / "feedback" / student / corpus.ASSIGNMENT / "fixture.html"
        assert page.is_file()
    assert "largest difference" in (
        out / "feedback" / "wrong" / corpus.ASSIGNMENT / "fixture.html"
    ).read_text()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, (_, score) in expected.items():
            assert gb.find_submission(corpus.ASSIGNMENT, student).score \
                == score, student
    theirs = {"unzipped", "submitted", "autograded"}   # its notebook's text
    for path in out.rglob("*"):   # write_results wrote nothing of ours
        if path.is_file() and not theirs & set(path.relative_to(out).parts):
            assert b"all full marks" not in path.read_bytes(), path

    # Twice the same input: nothing regraded, the same grades.
    before = (out / "grades.csv").read_text()
    again = _grade(tmp_path / "class", out)
    assert again.returncode == 0 and "0 graded now" in again.stdout
    assert (out / "grades.csv").read_text() == before

    # An interruption: lost results and a half-written line are regraded.
    state = out / "results.jsonl"
    lines = state.read_text().splitlines()
    lost = {"good", "wrong", "stubs"}
    kept = [ln for ln in lines if json.loads(ln)["result"]["student"]
            not in lost]
    state.write_text("\n".join(kept) + "\n" + lines[0][:50])
    resumed = _grade(tmp_path / "class", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(lost)} graded now" in resumed.stdout
    assert (out / "grades.csv").read_text() == before


def _zip(path: Path, files: dict[str, tuple[bytes, tuple]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, when) in files.items():
            zf.writestr(zipfile.ZipInfo(name, when), data)
    return path


@pytest.mark.slow
def test_a_zip_from_a_learning_management_system(tmp_path):
    right = corpus.notebook_bytes(corpus.Case("x", "ok", 4, ""))
    wrong = corpus.notebook_bytes(corpus.Case(
        "x", "ok", 3, "", {"double": corpus.WRONG_DOUBLE}))
    day = (2026, 3, 1, 12, 0, 0)
    later = (2026, 3, 2, 9, 30, 0)
    archive = _zip(tmp_path / "export.zip", {
        "ada_1001_5001_fixture.ipynb": (right, later),
        "ada_LATE_1001_5002_fixture-1.ipynb": (wrong, day),
        "zoë李_1002_5003_fixture.ipynb": (wrong, day),
        "bo_1003_5004_fixture.ipynb": (wrong, day),
        "bo_1003_5005_fixture-1.ipynb": (right, later),
        "cy_1004_5006_answers.pdf": (b"%PDF", day),
        "notes.txt": (b"hi", day),
        "../escape.ipynb": (right, day),
    })
    out = tmp_path / "out"
    done = _grade(archive, out)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(out)   # students by Canvas user id, the name beside it
    assert {s: float(r["total"]) for s, r in rows.items()} == {
        "1001": 4.0, "1003": 4.0, "1002": 3.0, "1004": 0.0}
    assert rows["1002"]["name"] == "zoë李"
    assert rows["1004"]["status"] == "missing"
    assert "handed in 2 times; graded the newest, " \
           "ada_1001_5001_fixture.ipynb" in rows["1001"]["notes"]
    assert "bo_1003_5005_fixture-1.ipynb" in rows["1003"]["notes"]
    assert "older submission of 1001" in done.stdout
    assert "unsafe path in the zip" in done.stdout
    assert "cy_1004_5006_answers.pdf: not a notebook (from 1004)" \
        in done.stdout
    assert "notes.txt: cannot tell whose file this is" in done.stdout
    assert not (tmp_path / "escape.ipynb").exists()


@pytest.mark.slow
def test_an_empty_zip_is_a_clear_error_not_a_crash(tmp_path):
    archive = _zip(tmp_path / "empty.zip", {})
    done = _grade(archive, tmp_path / "out")
    assert done.returncode == 1
    assert "no submissions found" in done.stderr
    assert (tmp_path / "out" / "grades.csv").read_text().startswith(
        "student,name,student_id,assignment,test_double,test_mse,"
        "test_counter,total")


def test_what_is_not_a_zip_or_an_assignment_is_named(tmp_path):
    (tmp_path / "class.zip").write_bytes(b"not a zip")
    done = _grade(tmp_path / "class.zip", tmp_path / "out")
    assert done.returncode == 1 and "not a readable zip" in done.stdout
    assert "no submissions found" in done.stderr
    assert (tmp_path / "out" / "grades.csv").is_file()
    done = _grade(tmp_path, tmp_path / "out", "--assignment", "07_nope")
    assert done.returncode == 1 and "no assignment '07_nope'" in done.stderr


@pytest.mark.slow
def test_a_moodle_export_keeps_namesakes_apart(tmp_path):
    right = corpus.notebook_bytes(corpus.Case("x", "ok", 4, ""))
    wrong = corpus.notebook_bytes(corpus.Case(
        "x", "ok", 3, "", {"double": corpus.WRONG_DOUBLE}))
    day = (2026, 3, 1, 12, 0, 0)
    top = "CS101-Assignment 1-12345"
    archive = _zip(tmp_path / "moodle.zip", {
        f"{top}/Ann Lee_77_assignsubmission_file_/fixture.ipynb":
            (right, day),
        f"{top}/Ann Lee_78_assignsubmission_file_/fixture.ipynb":
            (wrong, day),
        f"{top}/Bo Chen_79_assignsubmission_file_fixture.ipynb":
            (right, day),
        f"{top}/Ann Lee_78_assignsubmission_file_/Ann Lee_77_"
        "assignsubmission_file_/fixture.ipynb": (right, day),
    })
    done = _grade(archive, tmp_path / "out", "--layout", "moodle")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(tmp_path / "out")
    assert {s: (r["name"], r["total"]) for s, r in rows.items()} == {
        "77": ("Ann Lee", "4"), "78": ("Ann Lee", "3"),
        "79": ("Bo Chen", "4")}
    assert "in a subfolder of a student's folder" in done.stdout


def test_an_ambiguous_layout_is_refused_with_what_was_found(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / "fixture.ipynb").write_text("{}")
    (tmp_path / "class" / "kim_1_2_fixture.ipynb").write_text("{}")
    done = _grade(tmp_path / "class", tmp_path / "out")
    assert done.returncode == 1
    assert "mix layouts" in done.stderr and "ann/" in done.stderr
    assert "kim_1_2_fixture.ipynb" in done.stderr
    assert "--layout {canvas,folders}" in done.stderr


def test_output_and_input_never_overlap(tmp_path):
    (tmp_path / "class").mkdir()
    done = _grade(tmp_path / "class", tmp_path / "class" / "graded")
    assert done.returncode == 1 and "is inside the submissions" in \
        done.stderr
    (tmp_path / "out" / "unzipped").mkdir(parents=True)
    archive = _zip(tmp_path / "out" / "unzipped" / "class.zip", {})
    done = _grade(archive, tmp_path / "out")
    assert done.returncode == 1 and "which grading rewrites" in done.stderr
    assert archive.is_file()


def test_two_runs_never_write_the_same_output(tmp_path):
    import fcntl

    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = _grade(_zip(tmp_path / "c.zip", {}), tmp_path / "out")
    assert done.returncode == 1
    assert "another ziptie grade is writing to" in done.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.parametrize("flag, value, message", [
    ("--cell-timeout", "0", "0 is out of range: give 1.0 to 3600.0 seconds"),
    ("--cell-timeout", "nan", "out of range"),
    ("--cell-timeout", "-3", "out of range"),
    ("--memory-mb", "0", "0 is out of range: give 256 to 1048576 MB"),
    ("--memory-mb", "99999999", "out of range"),
    ("--workers", "0", "0 is out of range: give 1 to 256 workers"),
    ("--workers", "two", "'two' is not a whole number"),
    ("--layout", "blackboard", "invalid choice: 'blackboard'"),
])
def test_flags_are_checked_before_anything_runs(tmp_path, flag, value,
                                                message):
    done = autograde.ziptie_cli(
        ["grade", str(tmp_path), "--out", str(tmp_path / "out"), flag, value],
        corpus.COURSE, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_checks_must_cover_every_graded_cell(tmp_path):
    import shutil

    from ziptie.grader.assignment import load_assignment

    course = tmp_path / "course"
    shutil.copytree(corpus.COURSE, course)
    checks = course / "grading" / f"{corpus.ASSIGNMENT}.py"
    checks.write_text(checks.read_text().replace('"test_counter"',
                                                 '"test_count"'))
    with pytest.raises(SystemExit, match=r"no check for \['test_counter'\]"):
        load_assignment(course, corpus.ASSIGNMENT)


def test_locked_cells_come_from_the_source_and_tests_never_run():
    from ziptie.grader.assignment import cells_to_run

    source = json.loads(corpus.SOURCE.read_text())
    submitted = json.loads(corpus.notebook_bytes(corpus.Case(
        "x", "ok", 0, "", {"setup": "import os; os._exit(1)",
                           "test_double": "print('tampered')",
                           "+double": "print('mine')"})))
    cells, notes = cells_to_run(source, submitted)
    assert cells[0] == "import numpy as np"
    assert "print('mine')" in cells
    assert not any("tampered" in c or "assert" in c for c in cells)
    assert notes == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_broken_hostile_export_grades_every_student_and_reruns(tmp_path):
    archive = tmp_path / "export.zip"
    want = corpus.canvas_export(archive)
    out = tmp_path / "out"
    done = _grade(archive, out)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(out)
    assert set(rows) == set(want)
    for sid, row in want.items():
        got = rows[sid]
        assert (got["status"], float(got["total"])) == (row.status,
                                                        row.score), sid
        assert got["student_id"] == sid
        assert row.note in got["notes"], (sid, got["notes"])
    names = {sid: r["name"] for sid, r in rows.items()}
    assert names["2002"] == names["2003"] == "doejane"
    assert names["2004"] == "'=SUM(A1)"   # not a formula
    assert "unwrapped the top folder Assignment 1 Submissions/" in done.stderr
    assert "unsafe path" in done.stdout and "notes.txt" in done.stdout
    assert not (tmp_path / "escape_2030_1_fixture.ipynb").exists()
    for text in (done.stdout, done.stderr):   # nothing for a terminal
        assert "\x1b" not in text and "\x07" not in text
    page = (out / "feedback" / "2005" / corpus.ASSIGNMENT /
            "fixture.html").read_text()
    assert "\x1b" not in page and "$0" not in page
    assert "the object cleared" in page
    assert not (out / "results.journal").exists()
    assert not list(out.glob(".*.tmp"))

    before = (out / "grades.csv").read_text()
    again = _grade(archive, out)
    assert again.returncode == 0 and "0 graded now" in again.stdout
    assert f"reusing {len(want)} result(s)" in again.stderr
    assert (out / "grades.csv").read_text() == before

    longer = _grade(archive, out, "--cell-timeout", "13")
    assert longer.returncode == 0, longer.stderr
    assert f"grading {len(want)}: {len(want)} the limits changed" \
        in longer.stderr
    assert (out / "grades.csv").read_text() == before


def test_output_is_safe_for_spreadsheets_terminals_and_students(tmp_path):
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.report import Result, clean, csv_rows, feedback_page

    assert csv_rows([["=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok"]]) == \
        "'=1+1,'+1,'-1,'@x,'\tx,\"'\rx\",ok\r\n"
    assert clean("a\x1b[2J\x1b]0;title\x07b\rc\x00d\u202ee\n") == "abcde\n"
    spec = load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    result = Result("s", corpus.ASSIGNMENT, corpus.NOTEBOOK, "timeout",
                    reasons={"test_counter": "$0.add(3) raised Error"},
                    output="/tmp/ziptie-sandbox-ab12/run0/x.py:3: "
                    f"Warning\n{corpus.COURSE}/grading/x.py\n"
                    "/usr/lib/python3/site-packages/numpy/core.py:9")
    page = feedback_page(tmp_path, result, spec).read_text()
    assert "$0" not in page and "the object&#x27;s add(3) raised" in page
    assert "ziptie-sandbox" not in page and str(corpus.COURSE) not in page
    assert "x.py:3: Warning" in page and "numpy/core.py:9" in page
    assert "look for a loop that never ends" in page


@pytest.mark.slow
def test_a_stopped_run_writes_its_files_and_resumes(tmp_path):
    import signal

    cases = [corpus.Case("a_loop", "timeout", 2, "", {
        "mse": "while True:\n    pass\n"})] + [
        corpus.Case(name, "ok", 4, "") for name in ("b", "c", "d")]
    corpus.build(tmp_path / "class", cases)
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "ziptie.cli", "grade",
         str(tmp_path / "class"), "--out", str(out), "--workers", "1",
         "--cell-timeout", "12"], cwd=corpus.COURSE, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=corpus.interruptible)
    for line in run.stderr:          # the header, then grading starts
        if line.startswith("  grading"):
            break
    time.sleep(3)                    # a_loop is running, the rest waits
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 130, stdout + stderr
    rows = _rows(out)
    assert set(rows) == {"a_loop", "b", "c", "d", "missing", "mallory"}
    assert rows["d"]["status"] == "not-graded"
    assert "run again" in rows["d"]["notes"]
    resumed = _grade(tmp_path / "class", out)
    assert resumed.returncode == 0, resumed.stderr
    assert "not graded last time" in resumed.stderr
    rows = _rows(out)
    assert [rows[s]["total"] for s in "bcd"] == ["4", "4", "4"]
    assert rows["a_loop"]["status"] == "timeout"


def test_a_result_is_reused_only_with_the_same_setup(tmp_path):
    import shutil

    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.grade_resume import _why_regrade, setup_key
    from ziptie.grader.sandbox import Limits

    course = tmp_path / "course"
    shutil.copytree(corpus.COURSE, course)
    spec = load_assignment(course, corpus.ASSIGNMENT)
    setup = setup_key(spec, Limits())
    entry = {"file": "f", "setup": setup, "result": {"status": "ok"}}
    assert _why_regrade(entry, "f", setup) == ""
    assert _why_regrade(None, "f", setup) == "new"
    assert _why_regrade(entry, "g", setup) == "the notebook changed"
    assert _why_regrade(entry, "f", setup_key(spec, Limits(
        cell_timeout=61))) == "the limits changed"
    assert _why_regrade(entry, "f", setup_key(spec, Limits(), "a digest")
                        ) == "the catalogue of mistakes changed"
    checks = course / "grading" / f"{corpus.ASSIGNMENT}.py"
    checks.write_text(checks.read_text() + "# a fix\n")
    changed = setup_key(load_assignment(course, corpus.ASSIGNMENT),
                        Limits())
    assert _why_regrade(entry, "f", changed) == "the course files changed"
    assert _why_regrade(dict(entry, setup=dict(setup, grader="old")), "f",
                        setup) == "the grader changed"
    assert "older version" in _why_regrade({"hash": "h", "result": {}},
                                           "f", setup)
    crashed = dict(entry, result={"status": "grader-error"})
    assert _why_regrade(crashed, "f", setup) == "not graded last time"


def test_every_grader_module_is_in_the_graders_version(tmp_path,
                                                       monkeypatch):
    """A change to any module of the grader, however the stages are split
    into modules, regrades what was graded before it."""
    import shutil

    import ziptie
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.grade_resume import setup_key
    from ziptie.grader.sandbox import Limits

    package = tmp_path / "ziptie"
    shutil.copytree(Path(ziptie.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(ziptie, "__file__", str(package / "__init__.py"))
    spec = load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    before = setup_key(spec, Limits())["grader"]
    modules = sorted((package / "grader").glob("*.py"))
    assert {"sandbox_jail.py", "runner_probe.py"} <= {m.name for m in modules}
    for module in modules:
        text = module.read_text()
        module.write_text(text + "# changed\n")
        assert setup_key(spec, Limits())["grader"] != before, module.name
        module.write_text(text)
    assert setup_key(spec, Limits())["grader"] == before

def test_inputs_come_from_the_key_and_the_submitted_file(tmp_path):
    """The same file meets the same inputs again; a changed file, or
    another key, new ones: no answer can be looked up from an earlier
    round."""
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.submissions import Submission
    from ziptie.grader.verdict import _draw

    spec = load_assignment(corpus.COURSE, corpus.ASSIGNMENT)
    path = tmp_path / corpus.NOTEBOOK
    path.write_bytes(corpus.notebook_bytes(corpus.Case("x", "ok", 4, "")))
    sub = Submission("ada", corpus.ASSIGNMENT, corpus.NOTEBOOK, path)

    def inputs(secret: str) -> str:
        return json.dumps([p.to_job() for _, p, _ in _draw(spec, secret,
                                                             sub)])

    first = inputs("key")
    assert inputs("key") == first
    assert inputs("another key") != first
    path.write_bytes(path.read_bytes().replace(b"2 * x", b"x * 2"))
    assert inputs("key") != first
