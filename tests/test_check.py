import json
import subprocess
import sys

import pytest

from ziptie import check


def _student(course):
    done = subprocess.run([sys.executable, "-m", "ziptie.cli", "release"],
                          cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return course / "exercises" / "01_double" / "double.ipynb"


def _answer(path, body):
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"] = f"def double(x):\n    {body}\n"
    path.write_text(json.dumps(nb))


def _check(path):
    return subprocess.run([sys.executable, "-m", "ziptie.cli", "check",
                           str(path)], capture_output=True, text=True)


@pytest.mark.slow
def test_check_reports_each_task(course):
    path = _student(course)
    done = _check(path)
    assert done.returncode == 1
    assert "FAILED  test_double  (1 pt)  not answered yet" in done.stdout
    assert "0 of 1 points" in done.stdout

    _answer(path, "return x + x")
    done = _check(path)
    assert done.returncode == 0, done.stdout
    assert "passed  test_double" in done.stdout
    assert "1 of 1 points" in done.stdout

    _answer(path, "return 3 * x")
    [result] = check.run(path)
    assert not result.passed and result.reason.startswith("AssertionError")


@pytest.mark.slow
def test_a_cell_that_never_ends_fails_without_hanging(course):
    path = _student(course)
    _answer(path, "while True:\n        pass")
    [result] = check.run(path, timeout=3)
    assert not result.passed
    assert "Timeout" in result.reason or "did not run" in result.reason


def test_check_rejects_what_is_not_a_notebook(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SystemExit, match="not a notebook"):
        check.report(tmp_path / "notes.txt")
    with pytest.raises(SystemExit, match="no notebook at"):
        check.report(tmp_path / "missing.ipynb")
