"""Whose notebook is whose: nbgrader's layout and LMS exports."""

import os

from ziptie.grader.submissions import find


def _touch(root, rel, when=0, text="{}"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if when:
        os.utime(path, (when, when))
    return path


def test_nbgrader_layout_with_timestamps_and_strays(tmp_path):
    _touch(tmp_path, "submitted/ann/01_a/a.ipynb")
    _touch(tmp_path, "submitted/ann/01_a/timestamp.txt",
           text="2026-01-02 10:00:00.000000 UTC")
    _touch(tmp_path, "submitted/ann/02_b/b.ipynb")
    _touch(tmp_path, "submitted/ben/01_a/data.csv")
    _touch(tmp_path, "submitted/.DS_Store")
    found = find(tmp_path, "01_a", ["a.ipynb"], ["01_a", "02_b"])
    subs = {s.student: s for s in found.submissions}
    assert subs["ann"].path.name == "a.ipynb" and subs["ann"].notes == []
    assert subs["ben"].path is None
    reasons = dict(found.unmatched)
    assert reasons["submitted/ann/02_b/b.ipynb"] == \
        "for another assignment (02_b)"
    assert reasons["submitted/ben/01_a/data.csv"] == "not a notebook (from ben)"
    assert reasons["submitted/.DS_Store"] == "hidden or system file"


def test_flat_and_folder_exports_newest_counts(tmp_path):
    _touch(tmp_path, "kim_1_2_a.ipynb", when=1000)
    _touch(tmp_path, "kim_LATE_1_3_a-1.ipynb", when=2000)
    _touch(tmp_path, "Lee Ray_77_assignsubmission_file_/a.ipynb")
    _touch(tmp_path, "mo_1_4_a (2).ipynb")
    found = find(tmp_path, "01_a", ["a.ipynb"])
    subs = {s.student: s for s in found.submissions}
    assert subs["kim"].path.name == "kim_LATE_1_3_a-1.ipynb"
    assert "handed in 2 times" in subs["kim"].notes[0]
    assert subs["Lee Ray_77"].path.name == "a.ipynb"
    assert subs["mo"].path.name == "mo_1_4_a (2).ipynb"
    assert ("kim_1_2_a.ipynb", "older submission of kim") in found.unmatched


def test_misnamed_notebook_is_graded_and_said_so(tmp_path):
    _touch(tmp_path, "submitted/sam/01_a/Untitled.ipynb")
    [sub] = find(tmp_path, "01_a", ["a.ipynb"]).submissions
    assert sub.path.name == "Untitled.ipynb"
    assert sub.notes == ["misnamed: Untitled.ipynb, graded as a.ipynb"]
