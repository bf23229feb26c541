"""Whose notebook is whose: the layouts, hostile folders and broken zips."""

import os
import zipfile

import pytest

from ziptie.grader.submissions import LayoutError, find, unzip


def _touch(root, rel, when=0, text="{}"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if when:
        os.utime(path, (when, when))
    return path


def _subs(found):
    return {s.student: s for s in found.submissions}


def test_nbgrader_layout_with_timestamps_and_strays(tmp_path):
    _touch(tmp_path, "submitted/ann/01_a/a.ipynb")
    _touch(tmp_path, "submitted/ann/01_a/timestamp.txt",
           text="2026-01-02 10:00:00.000000 UTC")
    _touch(tmp_path, "submitted/ann/02_b/b.ipynb")
    _touch(tmp_path, "submitted/ben/01_a/data.csv")
    _touch(tmp_path, "submitted/.DS_Store")
    _touch(tmp_path, "submitted/cy/02_b/b.ipynb")
    found = find(tmp_path, "01_a", ["a.ipynb"], ["01_a", "02_b"])
    assert found.layout == "nbgrader"
    subs = _subs(found)
    assert subs["ann"].path.name == "a.ipynb" and subs["ann"].notes == []
    assert subs["ann"].when == 1767348000.0
    assert subs["ben"].path is None and subs["cy"].path is None
    reasons = dict(found.unmatched)
    assert reasons["submitted/ann/02_b/b.ipynb"] == \
        "for another assignment (02_b) (from ann)"
    assert reasons["submitted/ben/01_a/data.csv"] == \
        "not a notebook (from ben)"
    assert reasons["submitted/.DS_Store"] == "hidden or system file"


def test_a_submission_never_names_another_student(tmp_path):
    """mallory's folder holds victim's path and a timestamp of her own."""
    _touch(tmp_path, "submitted/victim/01_a/a.ipynb", when=1000,
           text="victim")
    _touch(tmp_path, "submitted/mallory/01_a/victim/01_a/a.ipynb",
           when=5000, text="forged")
    _touch(tmp_path, "submitted/mallory/01_a/victim/01_a/timestamp.txt",
           text="2030-01-01 00:00:00 UTC")
    _touch(tmp_path, "submitted/mallory/01_a/sub/timestamp.txt",
           text="2030-01-01 00:00:00 UTC")
    found = find(tmp_path, "01_a", ["a.ipynb"], ["01_a"])
    subs = _subs(found)
    assert set(subs) == {"mallory", "victim"}
    assert subs["victim"].path.read_text() == "victim"
    assert subs["victim"].when == 1000
    assert subs["mallory"].path is None
    assert "in a subfolder of 01_a/" in dict(found.unmatched)[
        "submitted/mallory/01_a/victim/01_a/a.ipynb"]


def test_canvas_ids_keep_namesakes_apart(tmp_path):
    _touch(tmp_path, "doejane_1001_5001_a.ipynb", when=1000)
    _touch(tmp_path, "doejane_late_1001_5002_a-1.ipynb", when=2000)
    _touch(tmp_path, "doejane_2002_5003_a.ipynb", when=1000)
    _touch(tmp_path, "notes.txt")
    found = find(tmp_path, "01_a", ["a.ipynb"])
    assert found.layout == "canvas"
    subs = _subs(found)
    assert set(subs) == {"1001", "2002"}
    assert subs["1001"].name == subs["2002"].name == "doejane"
    assert subs["1001"].student_id == "1001"
    assert subs["1001"].path.name == "doejane_late_1001_5002_a-1.ipynb"
    assert "handed in 2 times" in subs["1001"].notes[0]
    assert "marked late by Canvas" in subs["1001"].notes
    assert ("doejane_1001_5001_a.ipynb", "older submission of 1001") \
        in found.unmatched
    assert dict(found.unmatched)["notes.txt"].startswith("cannot tell whose")


def test_moodle_folders_and_files(tmp_path):
    _touch(tmp_path, "Lee Ray_77_assignsubmission_file_/a.ipynb")
    _touch(tmp_path, "Lee Ray_78_assignsubmission_file_/nested/a.ipynb")
    _touch(tmp_path, "Kim Bo_79_assignsubmission_file_a.ipynb")
    found = find(tmp_path, "01_a", ["a.ipynb"])
    assert found.layout == "moodle"
    subs = _subs(found)
    assert set(subs) == {"77", "78", "79"}
    assert subs["77"].name == subs["78"].name == "Lee Ray"
    assert subs["77"].path.name == "a.ipynb"
    assert subs["78"].path is None
    assert subs["79"].path.name == "Kim Bo_79_assignsubmission_file_a.ipynb"


def test_a_moodle_name_cannot_claim_another_id(tmp_path):
    """Eve names herself and her file after participant 78."""
    _touch(tmp_path, "Ann Lee_78_assignsubmission_file_/a.ipynb",
           text="ann")
    _touch(tmp_path, "Eve_78_assignsubmission_file_x_77_assignsubmission_"
           "file_/a.ipynb", text="eve")
    _touch(tmp_path, "Eve_77_assignsubmission_file_x_78_assignsubmission_"
           "file_a.ipynb", text="eve")
    found = find(tmp_path, "01_a", ["a.ipynb"], layout="moodle")
    subs = _subs(found)
    assert set(subs) == {"77", "78"}
    assert subs["78"].path.read_text() == "ann"
    assert subs["77"].name == "Eve_78_assignsubmission_file_x"
    assert "more than one Moodle participant id" in str(found.unmatched)


def test_a_mixture_is_refused_unless_a_layout_is_named(tmp_path):
    _touch(tmp_path, "kim_1_2_a.ipynb")
    _touch(tmp_path, "Lee Ray_77_assignsubmission_file_/a.ipynb")
    _touch(tmp_path, "ann/a.ipynb")
    with pytest.raises(LayoutError) as err:
        find(tmp_path, "01_a", ["a.ipynb"])
    for what in ("Canvas", "kim_1_2_a.ipynb", "Moodle", "ann/",
                 "--layout"):
        assert what in str(err.value)
    found = find(tmp_path, "01_a", ["a.ipynb"], layout="folders")
    assert set(_subs(found)) == {"ann", "Lee Ray_77_assignsubmission_file_"}
    assert "kim_1_2_a.ipynb" in dict(found.unmatched)


def test_a_wrapped_export_is_unwrapped(tmp_path):
    _touch(tmp_path, "export/ada_1_2_a.ipynb")
    _touch(tmp_path, "export/bo_3_4_a.ipynb")
    found = find(tmp_path, "01_a", ["a.ipynb"])
    assert set(_subs(found)) == {"1", "3"}
    assert "unwrapped the top folder export/" in found.notes
    _touch(tmp_path / "f", "solo/a.ipynb")    # one student, not a wrapper
    assert set(_subs(find(tmp_path / "f", "01_a", ["a.ipynb"]))) == {"solo"}


def test_one_students_folder_is_not_a_class(tmp_path):
    _touch(tmp_path, "submitted/ann/01_a/a.ipynb")
    found = find(tmp_path / "submitted" / "ann", "01_a", ["a.ipynb"],
                 ["01_a"])
    assert found.submissions == [] and found.layout == ""
    assert "no layout recognised" in dict(found.unmatched)["01_a/a.ipynb"]


def test_folder_names_that_are_not_utf8_are_kept_safely(tmp_path):
    raw = os.fsdecode(b"caf\xe9")
    _touch(tmp_path, f"{raw}/a.ipynb", text="mine")
    _touch(tmp_path, "caf%E9/a.ipynb", text="theirs")
    _touch(tmp_path, "x\x1b[31m/a.ipynb", text="red")
    subs = _subs(find(tmp_path, "01_a", ["a.ipynb"], layout="folders"))
    assert len(subs) == 3
    assert subs["caf%E9"].path.read_text() == "theirs"
    [mine] = [s for k, s in subs.items() if k.startswith("caf%E9~")]
    assert mine.path.read_text() == "mine" and "not plain text" in \
        mine.notes[0]
    assert subs["x%1B[31m"].path.read_text() == "red"


def test_links_and_huge_files_are_refused_with_a_row(tmp_path):
    secret = _touch(tmp_path, "secret.txt", text="grader's")
    (tmp_path / "class" / "eve").mkdir(parents=True)
    (tmp_path / "class" / "eve" / "a.ipynb").symlink_to(secret)
    _touch(tmp_path, "class/ann/a.ipynb")
    os.mkfifo(_touch(tmp_path, "class/fifo/x").parent / "a.ipynb")
    with open(_touch(tmp_path, "class/huge/a.ipynb"), "r+b") as f:
        f.truncate(200 << 20)          # sparse: costs no disk
    found = find(tmp_path / "class", "01_a", ["a.ipynb"], layout="folders")
    subs = _subs(found)
    assert subs["ann"].path is not None and not subs["ann"].status
    for student, why in [("eve", "symbolic link"), ("fifo", "plain file"),
                         ("huge", "200 MB, more than the 100 MB")]:
        assert subs[student].path is None, student
        assert subs[student].status == "refused", student
        assert why in " ".join(subs[student].notes), student


def _zip(path, members):
    """``members``: (name, data, how) with how a dict of ZipInfo fields
    changed after writing, so the central directory lies."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, how in members:
            info = zipfile.ZipInfo(name, how.pop("date_time",
                                                 (2026, 3, 1, 12, 0, 0)))
            info.external_attr = how.pop("mode", 0o100644) << 16
            zf.writestr(info, data)
            for key, value in how.items():
                setattr(zf.filelist[-1], key, value)
    return path


BROKEN = {   # student id -> (how the member is broken, the reason)
    "11": ({"CRC": 1}, "bad CRC"),
    "12": ({"flag_bits": 1}, "encrypted"),
    "13": ({"compress_type": 9}, "compression method"),
    "14": ({"file_size": 5}, "bad CRC"),
    "15": ({"file_size": 90000}, "damaged in the zip"),
    "16": ({"file_size": 10**12}, "more than the"),
    "17": ({"mode": 0o120777}, "symbolic link"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_every_broken_zip_member_gets_its_row(tmp_path):
    good = b'{"cells": []}' * 10
    members = [(f"s{k}_{k}_9_a.ipynb", good, how)
               for k, (how, _) in BROKEN.items()]
    members += [
        ("ok_1_9_a.ipynb", good, {}),
        ("date_2_9_a.ipynb", good, {"date_time": (2026, 0, 0, 0, 0, 0)}),
        ("dir_3_9_a.ipynb", good, {}),
        ("dir_3_9_a.ipynb/x.ipynb", good, {}),
        ("long_4_9_" + "x" * 300 + ".ipynb", good, {}),
        ("dup_5_9_a.ipynb", good, {}),
        ("dup_5_9_a.ipynb", b"second", {}),
        ("../up_6_9_a.ipynb", good, {}),
        ("/abs_7_9_a.ipynb", good, {}),
        ("caf\u00e9_8_9_a.ipynb", good, {}),
    ]
    archive = _zip(tmp_path / "class.zip", members)
    data = archive.read_bytes().replace(b"caf\xc3\xa9", b"caf\xe9\xe9")
    archive.write_bytes(data)
    unzipped = unzip(archive, tmp_path / "out")
    found = find(unzipped.root, "01_a", ["a.ipynb"], unzipped=unzipped)
    subs = _subs(found)
    for student, (_, why) in BROKEN.items():
        assert subs[student].path is None, student
        assert subs[student].status in ("unreadable", "refused"), student
        assert why in " ".join(subs[student].notes), (student,
                                                      subs[student].notes)
    assert subs["1"].path.read_bytes() == good and not subs["1"].status
    assert "impossible date" in " ".join(subs["2"].notes)
    assert subs["2"].path.read_bytes() == good
    assert "a file and a folder" in " ".join(subs["3"].notes) \
        or "a file and a folder" in str(found.unmatched)
    assert subs["4"].path.read_bytes() == good
    assert "too long" in " ".join(subs["4"].notes)
    assert subs["5"].path.read_bytes() == good
    assert "second file of the same name" in " ".join(subs["5"].notes)
    assert "6" not in subs and "7" not in subs
    assert not (tmp_path / "up_6_9_a.ipynb").exists()
    assert "unsafe path" in dict(found.unmatched)["../up_6_9_a.ipynb"]
    assert subs["8"].name == "caf%E9%E9"
    assert subs["8"].path.read_bytes() == good


def test_a_zip_bomb_is_refused_and_the_rest_kept(tmp_path, monkeypatch):
    from ziptie.grader import submissions_zip

    monkeypatch.setattr(submissions_zip, "MAX_FILES", 5)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w",
                         zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("boom_1_1_a.ipynb", bytes(30 << 20))
        for k in range(2, 10):
            zf.writestr(f"s_{k}_1_a.ipynb", b"{}")
    unzipped = unzip(tmp_path / "bomb.zip", tmp_path / "out")
    assert not (tmp_path / "out" / "boom_1_1_a.ipynb").exists()
    found = find(unzipped.root, "01_a", ["a.ipynb"], unzipped=unzipped)
    subs = _subs(found)
    assert subs["1"].status == "refused"
    assert "a zip bomb" in subs["1"].notes[0]
    assert sorted(subs) == ["1", "2", "3", "4", "5"]
    assert "the zip holds more than 5 files" in dict(found.unmatched)[
        "(4 more files)"]


def test_what_is_not_a_zip_is_a_clear_error(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    with pytest.raises(LayoutError, match="not a readable zip"):
        unzip(tmp_path / "x.zip", tmp_path / "out")


def test_misnamed_notebook_is_graded_and_said_so(tmp_path):
    _touch(tmp_path, "submitted/sam/01_a/Untitled.ipynb")
    [sub] = find(tmp_path, "01_a", ["a.ipynb"]).submissions
    assert sub.path.name == "Untitled.ipynb"
    assert sub.notes == ["misnamed: Untitled.ipynb, graded as a.ipynb"]
