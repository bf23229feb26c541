import json
import subprocess
import sys
import time

import pytest
from conftest import ROOT

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
    assert ("FAILED  test_double  (1 pt)  not answered yet: fill in the "
            "cell marked YOUR CODE HERE") in done.stdout
    assert "0 of 1 points" in done.stdout

    _answer(path, "return x + x")
    done = _check(path)
    assert done.returncode == 0, done.stdout
    assert "passed  test_double" in done.stdout
    assert "1 of 1 points" in done.stdout

    _answer(path, "return 3 * x")
    [result] = check.run(path)
    assert not result.passed and result.reason.startswith("AssertionError")
    assert result.advice().startswith("wrong answer")


def test_no_released_notebook_has_a_syntax_error():
    from ziptie.grader.assignment import cell_text

    released = sorted(ROOT.glob("exercises/*/*.ipynb"))
    assert released
    for path in released:
        nb = json.loads(path.read_text())
        code = [cell_text(c["source"]) for c in nb["cells"]
                if c["cell_type"] == "code"]
        assert check.syntax_errors(code) == [], path
    indented = "try:\n    import ziptie\nexcept ImportError:\n    %pip install x"
    assert check.syntax_errors([indented]) == []
    assert check.syntax_errors(["if x:\n%time f()"])[0].startswith(
        "SyntaxError in code cell 1, line 2")


@pytest.mark.slow
def test_a_syntax_error_is_printed_with_its_line(course):
    path = _student(course)
    _answer(path, "return (x +")
    done = _check(path)
    assert done.returncode == 1
    assert "SyntaxError in code cell 1, line 2: " in done.stdout
    assert "    return (x +" in done.stdout


@pytest.mark.slow
def test_what_the_grader_would_flag_is_said_before_hand_in(course):
    path = _student(course)
    _answer(path, "import os\n    os._exit(0)")
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None,
                        "source": "import gc\nprint(len(gc.get_objects()))"})
    path.write_text(json.dumps(nb))
    done = _check(path)
    assert done.returncode == 1
    assert "The grader will flag this notebook" in done.stdout
    assert "code cell 1, line 3: uses os._exit" in done.stdout
    assert "code cell 3, line 1: uses gc" in done.stdout

    _answer(path, "return x + x")       # the course's cells are not read
    nb = json.loads(path.read_text())
    nb["cells"].pop()
    path.write_text(json.dumps(nb))
    assert check.flagged([c for c in nb["cells"]
                          if c["cell_type"] == "code"]) == []


@pytest.mark.slow
def test_each_task_is_reported_while_the_notebook_still_runs(course):
    path = _student(course)
    _answer(path, "return x + x")
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None,
                        "source": "import time\ntime.sleep(4)"})
    path.write_text(json.dumps(nb))
    heard = []
    results = check.run(path, on_result=lambda r: heard.append(
        (r, time.monotonic())))
    end = time.monotonic()
    assert [r for r, _ in heard] == results and results[0].passed
    assert end - heard[0][1] > 3, "the result came only at the end"


@pytest.mark.slow
def test_no_argument_checks_every_notebook_in_work(course):
    _student(course)
    assert subprocess.run([sys.executable, "-m", "ziptie.cli", "start", "01"],
                          cwd=course, capture_output=True).returncode == 0
    mine = course / "work" / "01_double" / "double.ipynb"
    broken = course / "work" / "02_broken" / "broken.ipynb"
    broken.parent.mkdir()
    broken.write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "ziptie.cli", "check"],
                          cwd=course, capture_output=True, text=True)
    assert done.returncode == 1
    rows = done.stdout.splitlines()
    assert any(r.startswith("01_double/double.ipynb  no    0/1     "
                            "test_double: not answered yet") for r in rows)
    assert any(r.startswith("02_broken/broken.ipynb") and
               "not a readable notebook" in r for r in rows)
    broken.unlink()
    _answer(mine, "return x + x")
    done = subprocess.run([sys.executable, "-m", "ziptie.cli", "check"],
                          cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert "01_double/double.ipynb  yes   1/1" in done.stdout


def test_no_argument_and_no_work_says_how_to_start(course):
    done = subprocess.run([sys.executable, "-m", "ziptie.cli", "check"],
                          cwd=course, capture_output=True, text=True)
    assert done.returncode == 1
    assert "ziptie start 01_forward" in done.stdout


def test_plain_words_for_each_kind_of_failure():
    assert check.plain("NameError: name 'w' is not defined").startswith(
        "name 'w' is not defined: run the cells above it")
    assert check.plain("AssertionError").endswith("(a test's assert failed)")
    assert check.plain("the sandbox ended in this cell: timeout").startswith(
        "took too long")
    assert check.plain("ValueError: bad") == "the test raised ValueError: bad"


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
