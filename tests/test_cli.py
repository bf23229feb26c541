import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ziptie import cli, doctor

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ziptie.cli", *args],
                          cwd=cwd, capture_output=True, text=True)


def test_import_and_help_do_not_import_heavy_packages():
    code = (
        "import sys, ziptie, ziptie.cli\n"
        "try:\n    ziptie.cli.main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = {'torch', 'matplotlib', 'sklearn', 'nbgrader'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_submodules_load_on_first_use():
    code = "import ziptie; print(ziptie.gradcheck.check_grad.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "check_grad"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import ziptie

        ziptie.nope  # noqa: B018


def test_help_lists_the_verbs():
    done = _run("--help")
    assert done.returncode == 0
    for verb in ("doctor", "release"):
        assert verb in done.stdout


def test_no_verb_prints_help(capsys):
    assert cli.main([]) == 0
    assert "usage: ziptie" in capsys.readouterr().out


def test_console_script_is_installed():
    exe = shutil.which("ziptie") or str(Path(sys.executable).with_name(
        "ziptie"))
    done = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ziptie ")


def test_outside_a_course_is_a_clear_error(tmp_path):
    done = _run("doctor", cwd=tmp_path)
    assert done.returncode == 1
    assert "no course found" in done.stderr


def test_doctor_on_this_course():
    done = _run("doctor")
    assert "torch" in done.stdout and "device" in done.stdout
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().endswith("all good")


def test_doctor_finds_missing_and_stale_files(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n- chapters:\n"
        "  - file: book/ch1\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "solutions" / "01_a").mkdir(parents=True)
    (tmp_path / "solutions" / "01_a" / "a.ipynb").write_text("{}")
    (tmp_path / "solutions" / "01_a" / "b.ipynb").write_text("{}")
    (tmp_path / "exercises" / "01_a").mkdir(parents=True)
    (tmp_path / "exercises" / "01_a" / "a.ipynb").write_text(
        "### BEGIN SOLUTION")
    problems = doctor.course_problems(tmp_path)
    assert "missing _config.yml" in problems
    assert "_toc.yml names book/ch1, which is missing" in problems
    assert any("01_a/a.ipynb holds solutions" in p for p in problems)
    assert any("01_a/b.ipynb is missing" in p for p in problems)
    assert not any("intro" in p for p in problems)
    done = _run("doctor", cwd=tmp_path)
    assert done.returncode == 1 and "problems found" in done.stdout


def test_doctor_finds_a_changed_release(tmp_path):
    (tmp_path / "exercises" / "01_a").mkdir(parents=True)
    (tmp_path / "exercises" / "01_a" / "a.ipynb").write_text("{}")
    (tmp_path / "exercises.sha256").write_text(
        f"{'0' * 64}  exercises/01_a/a.ipynb\n")
    problems = doctor.course_problems(tmp_path)
    assert ("exercises/01_a/a.ipynb was changed: the next 'make' moves it "
            "to work/; work in work/ ('ziptie start 01_a')") in problems


def test_doctor_prints_each_fix_on_its_own_line(tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.setattr(doctor, "versions", lambda: {"torch": None})
    monkeypatch.setattr(doctor, "course_problems",
                        lambda course: ["missing _toc.yml"])
    assert doctor.run(tmp_path) == 1
    out = capsys.readouterr().out.splitlines()
    fixes = [line for line in out if line.startswith("  fix: ")]
    assert fixes == ["  fix: torch is not installed: run 'make' in the "
                     "course folder, then 'source .venv/bin/activate'",
                     "  fix: missing _toc.yml"]
    assert out[-1].startswith("problems found: 2 thing(s) to fix")


def test_grade_and_start_skip_checkpoint_folders(course):
    from ziptie import start
    from ziptie.grader import grade

    (course / "solutions" / ".ipynb_checkpoints").mkdir()
    assert grade._known_assignments(course) == ["01_double"]
    released = course / "exercises"
    (released / ".ipynb_checkpoints").mkdir(parents=True)
    (released / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert start.released(course) == []


@pytest.mark.slow
def test_release_strips_solutions_and_check_finds_hand_edits(course):
    assert _run("release", "--check", cwd=course).returncode == 1
    done = _run("release", cwd=course)
    assert done.returncode == 0, done.stderr
    student = course / "exercises" / "01_double" / "double.ipynb"
    text = student.read_text()
    assert "return 2 * x" not in text and "double(5)" not in text
    assert "raise NotImplementedError()" in text and "double(2)" in text
    assert not (course / "gradebook.db").exists()
    checked = _run("release", "--check", cwd=course)
    assert checked.returncode == 0, checked.stdout
    nb = json.loads(text)
    nb["cells"][1]["source"] = "def double(x):\n    return 2 * x"
    student.write_text(json.dumps(nb))
    checked = _run("release", "--check", cwd=course)
    assert checked.returncode == 1
    assert "differs from nbgrader's output: double.ipynb" in checked.stdout
    (course / "exercises" / "99_orphan").mkdir()
    checked = _run("release", "--check", cwd=course)
    assert "99_orphan: has no source" in checked.stdout


def test_release_names_an_unknown_assignment(course):
    done = _run("release", "07_nope", cwd=course)
    assert done.returncode == 1
    assert "no assignment '07_nope'" in done.stderr
    assert "01_double" in done.stderr


def test_release_without_solutions_is_a_clear_error(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    done = _run("release", "--check", cwd=tmp_path)
    assert done.returncode == 1
    assert "has no solutions/ folder" in done.stderr


def test_what_the_commands_create_is_ignored_by_git():
    created = ["work/01_forward/forward.ipynb",          # ziptie start
               "work/book/01_forward.ipynb",            # a kept chapter
               "graded-01_forward/grades.csv",          # ziptie grade
               "sub/graded-02_loss/gradebook.db",
               "_build/html/index.html",                # make book
               "exercises/01_forward/.ipynb_checkpoints/a-checkpoint.ipynb",
               "book/.ipynb_checkpoints/01_forward-checkpoint.ipynb",
               "exercises/01_forward/forward.ipynb~"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *created],
                          cwd=ROOT, capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(created)


@pytest.mark.parametrize("args", [["--help"], ["--version"],
                                  ["grade", "no-such-folder"],
                                  ["grade", ".", "--workers", "zero"]])
def test_the_tests_warm_runner_is_python_m_ziptie_cli(args, tmp_path):
    """The class runs of the tests fork the command line from a warm server
    (``autograde.ziptie_cli``): it exits and prints as a fresh interpreter
    does."""
    import autograde

    fresh = _run(*args, cwd=tmp_path)
    warm = autograde.ziptie_cli(args, tmp_path, timeout=60)
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)


def test_the_tests_warm_runner_stops_at_its_timeout(tmp_path):
    import autograde

    autograde.ziptie_grade("02_loss", {"s": autograde.student("02_loss")},
                           tmp_path / "done")
    with pytest.raises(subprocess.TimeoutExpired):
        autograde.ziptie_grade("02_loss", {"s": autograde.student(
            "02_loss")}, tmp_path / "stopped", timeout=1)
