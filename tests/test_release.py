"""A release renews exercises/ and never destroys a person's edits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(course, *args):
    return subprocess.run([sys.executable, "-m", "ziptie.cli", *args],
                          cwd=course, capture_output=True, text=True)


def _edit(path, text):
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"] = text
    path.write_text(json.dumps(nb))


def _source_of(path):
    return "".join(json.loads(path.read_text())["cells"][1]["source"])


@pytest.mark.slow
def test_a_release_keeps_every_edit_and_says_where(course):
    assert _run(course, "release").returncode == 0
    exercise = course / "exercises" / "01_double" / "double.ipynb"
    fresh = exercise.read_bytes()
    assert _run(course, "start", "01").returncode == 0
    mine = course / "work" / "01_double" / "double.ipynb"
    _edit(mine, "def double(x):\n    return x + x  # in work/")
    _edit(exercise, "def double(x):\n    return x * 2  # in place")

    done = _run(course, "release")
    assert done.returncode == 0, done.stderr
    kept = course / "work" / "01_double" / "double-edited-1.ipynb"
    assert ("kept your changed exercises/01_double/double.ipynb as "
            "work/01_double/double-edited-1.ipynb") in done.stdout
    assert "# in place" in _source_of(kept)
    assert "# in work/" in _source_of(mine)
    assert exercise.read_bytes() == fresh
    assert _run(course, "release", "--check").returncode == 0

    again = _run(course, "release")
    assert "kept" not in again.stdout
    assert sorted(p.name for p in kept.parent.iterdir()) == [
        "double-edited-1.ipynb", "double.ipynb"]


@pytest.mark.slow
def test_a_new_solution_replaces_an_untouched_exercise(course):
    assert _run(course, "release").returncode == 0
    source = course / "solutions" / "01_double" / "double.ipynb"
    nb = json.loads(source.read_text())
    nb["cells"][0]["source"] = "Write `double`, twice as fast."
    source.write_text(json.dumps(nb))
    done = _run(course, "release")
    assert done.returncode == 0 and "kept" not in done.stdout
    exercise = course / "exercises" / "01_double" / "double.ipynb"
    assert "twice as fast" in exercise.read_text()
    assert not (course / "work").exists()


@pytest.mark.slow
def test_without_a_record_a_changed_file_is_kept(course):
    assert _run(course, "release").returncode == 0
    (course / "exercises.sha256").unlink()
    assert "kept" not in _run(course, "release").stdout
    (course / "exercises.sha256").unlink()
    exercise = course / "exercises" / "01_double" / "double.ipynb"
    _edit(exercise, "def double(x):\n    return 2 * x  # mine")
    done = _run(course, "release")
    assert "kept your changed" in done.stdout
    assert "# mine" in _source_of(course / "work" / "01_double" /
                                  "double.ipynb")


@pytest.mark.slow
def test_check_finds_a_stale_record(course):
    assert _run(course, "release").returncode == 0
    record = course / "exercises.sha256"
    stale = []              # every digest with its last bit flipped
    for line in record.read_text().splitlines():
        digest, name = line.split("  ", 1)
        stale.append(f"{int(digest, 16) ^ 1:064x}  {name}\n")
    record.write_text("".join(stale))
    done = _run(course, "release", "--check")
    assert done.returncode == 1
    assert "does not record exercises/01_double/double.ipynb" in done.stdout


@pytest.mark.slow
def test_editor_litter_is_ignored_and_left_alone(course):
    assert _run(course, "release").returncode == 0
    folder = course / "exercises" / "01_double"
    litter = [folder / ".ipynb_checkpoints" / "double-checkpoint.ipynb",
              folder / ".~double.ipynb", folder / "double.ipynb~",
              course / "exercises" / ".ipynb_checkpoints" / "x.ipynb"]
    for path in litter:
        path.parent.mkdir(exist_ok=True)
        path.write_text("{}")
    done = _run(course, "release", "--check")
    assert done.returncode == 0, done.stdout
    assert _run(course, "release").returncode == 0
    assert all(p.read_text() == "{}" for p in litter)


def test_start_copies_once_and_never_over_a_file(course):
    folder = course / "exercises" / "01_double"
    folder.mkdir(parents=True)
    (folder / "double.ipynb").write_text("released")
    done = _run(course, "start", "double")
    assert done.returncode == 0, done.stderr
    mine = course / "work" / "01_double" / "double.ipynb"
    assert mine.read_text() == "released"
    mine.write_text("my answers")
    done = _run(course, "start", "01_double")
    assert "work/01_double/double.ipynb is already there" in done.stdout
    assert mine.read_text() == "my answers"
    wrong = _run(course, "start", "07")
    assert wrong.returncode == 1
    assert "no assignment '07'" in wrong.stderr and "01_double" in wrong.stderr


def _copy(rel, to):
    (to / rel).parent.mkdir(parents=True, exist_ok=True)
    if (ROOT / rel).is_dir():
        shutil.copytree(ROOT / rel, to / rel)
    else:
        shutil.copy2(ROOT / rel, to / rel)


@pytest.mark.slow
def test_make_again_keeps_the_edits_to_released_notebooks(tmp_path):
    """The README's first command releases; edits survive it."""
    for rel in ("Makefile", "requirements.txt", "pyproject.toml",
                "nbgrader_config.py", "_config.yml", "exercises.sha256",
                "solutions/01_forward", "exercises/01_forward"):
        _copy(rel, tmp_path)
    exercise = tmp_path / "exercises" / "01_forward" / "forward.ipynb"
    nb = json.loads(exercise.read_text())
    edited = [i for i, c in enumerate(nb["cells"])
              if "YOUR CODE HERE" in "".join(c["source"])]
    for i in edited:
        nb["cells"][i]["source"] = f"# my answer {i}\n"
    exercise.write_text(json.dumps(nb))
    # This environment is the one to use: never set one up in the test.
    stamp = tmp_path / "installed"
    stamp.touch()
    done = subprocess.run(
        ["make", "release", f"VENV={ROOT / '.venv'}", f"STAMP={stamp}"],
        cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    kept = tmp_path / "work" / "01_forward" / "forward.ipynb"
    assert "as work/01_forward/forward.ipynb" in done.stdout
    cells = json.loads(kept.read_text())["cells"]
    assert edited and all(f"# my answer {i}" in "".join(cells[i]["source"])
                          for i in edited)
    assert exercise.read_bytes() == (ROOT / "exercises" / "01_forward" /
                                     "forward.ipynb").read_bytes()


CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Doubling

```{code-cell} ipython3
print(2 * 21)
```
"""


@pytest.mark.slow
def test_chapter_notebooks_are_written_checked_and_never_eaten(course):
    (course / "_config.yml").write_text(
        "repository:\n  url: https://github.com/me/course\n  branch: dev\n")
    (course / "book").mkdir()
    (course / "book" / "ch.md").write_text(CHAPTER)
    (course / "book" / "intro.md").write_text("# Not a notebook\n")
    assert _run(course, "release").returncode == 0
    chapter = course / "book" / "ch.ipynb"
    cells = json.loads(chapter.read_text())["cells"]
    assert "git+https://github.com/me/course@dev" in "".join(
        cells[0]["source"])
    assert "".join(cells[2]["source"]) == "print(2 * 21)"
    assert not (course / "book" / "intro.ipynb").exists()
    exercise = json.loads((course / "exercises" / "01_double" /
                           "double.ipynb").read_text())
    assert "".join(exercise["cells"][0]["source"]) == "".join(
        cells[0]["source"]), "the exercise's first cell installs ziptie"
    assert _run(course, "release", "--check").returncode == 0

    (course / "book" / "ch.md").write_text(CHAPTER.replace("21", "22"))
    done = _run(course, "release", "--check")
    assert done.returncode == 1
    assert "book: differs from nbgrader's output: ch.ipynb" in done.stdout
    assert "kept" not in _run(course, "release").stdout
    assert "2 * 22" in chapter.read_text()

    _edit(chapter, "print('my note')")
    done = _run(course, "release")
    assert "kept your changed book/ch.ipynb as work/book/ch.ipynb" \
        in done.stdout
    assert _source_of(course / "work" / "book" / "ch.ipynb") == \
        "print('my note')"
    assert _run(course, "release", "--check").returncode == 0
