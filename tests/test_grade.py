"""``ziptie grade`` on a class of hostile and broken submissions.

The corpus (``tests/corpus``) says, for every submission, the status and
the score it must get; these tests hand the whole class to ``ziptie grade``
and compare. A cheat that works shows up as a score above the expected one.
"""

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import corpus
import pytest

#: Short limits, so that a runaway cell costs seconds (torch imports in ~6 s
#: on a slow CI machine, hence not less than 12 s a cell).
LIMITS = ["--workers", "2", "--cell-timeout", "12", "--memory-mb", "1536"]


def _grade(submissions: Path, out: Path, *extra: str):
    return subprocess.run(
        [sys.executable, "-m", "ziptie.cli", "grade", str(submissions),
         "--out", str(out), *LIMITS, *extra],
        cwd=corpus.COURSE, capture_output=True, text=True, timeout=900)


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_every_corpus_submission_gets_its_status_and_score(tmp_path):
    out = tmp_path / "graded"
    cases = corpus.build(tmp_path / "class", corpus.corpus(out=out))
    done = _grade(tmp_path / "class", out)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {c.student: (c.status, float(c.score)) for c in cases}
    expected["missing"] = ("missing", 0.0)
    rows = _rows(out)
    got = {s: (r["status"], float(r["total"])) for s, r in rows.items()}
    wrong = {s: f"got {got.get(s)}, expected {want} ({c.why})"
             for c in cases for s, want in [(c.student, expected[c.student])]
             if got.get(s) != want}
    assert not wrong, "\n".join(f"{s}: {w}" for s, w in wrong.items())
    assert set(got) == set(expected)
    assert "README.txt: not a notebook (from missing)" in done.stdout
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
    rows = _rows(out)
    assert {s: float(r["total"]) for s, r in rows.items()} == {
        "ada": 4.0, "bo": 4.0, "zoë李": 3.0, "cy": 0.0}
    assert rows["cy"]["status"] == "missing"
    assert "handed in 2 times; graded the newest, " \
           "ada_1001_5001_fixture.ipynb" in rows["ada"]["notes"]
    assert "bo_1003_5005_fixture-1.ipynb" in rows["bo"]["notes"]
    assert "older submission of ada" in done.stdout
    assert "unsafe path in the zip" in done.stdout
    assert "cy_1004_5006_answers.pdf: not a notebook (from cy)" in done.stdout
    assert "notes.txt: cannot tell whose file this is" in done.stdout
    assert not (tmp_path / "escape.ipynb").exists()


@pytest.mark.slow
def test_an_empty_zip_is_a_clear_error_not_a_crash(tmp_path):
    archive = _zip(tmp_path / "empty.zip", {})
    done = _grade(archive, tmp_path / "out")
    assert done.returncode == 1
    assert "no submissions found" in done.stderr
    assert (tmp_path / "out" / "grades.csv").read_text().startswith(
        "student,assignment,test_double,test_mse,test_counter,total")


def test_what_is_not_a_zip_or_an_assignment_is_named(tmp_path):
    (tmp_path / "class.zip").write_bytes(b"not a zip")
    done = _grade(tmp_path / "class.zip", tmp_path / "out")
    assert done.returncode == 1 and "not a readable zip" in done.stderr
    done = _grade(tmp_path, tmp_path / "out", "--assignment", "07_nope")
    assert done.returncode == 1 and "no assignment '07_nope'" in done.stderr


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
