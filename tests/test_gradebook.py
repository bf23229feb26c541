"""nbgrader's own tools on what ``ziptie grade`` writes."""

from datetime import datetime, timezone

from ziptie.grader.submissions import find


def test_the_submission_time_comes_from_nbgraders_timestamp(tmp_path):
    for who, stamp in [("ann", "2026-01-02 10:00:00.250000 UTC"),
                       ("ben", "not a time"), ("cy", None)]:
        folder = tmp_path / "submitted" / who / "01_a"
        folder.mkdir(parents=True)
        (folder / "a.ipynb").write_text("{}")
        if stamp:
            (folder / "timestamp.txt").write_text(stamp + "\n")
    (tmp_path / "dee_1_2_a.ipynb").write_text("{}")   # an export: no time
    found = find(tmp_path, "01_a", ["a.ipynb"])
    times = {s.student: s.timestamp for s in found.submissions}
    assert times == {"ann": datetime(2026, 1, 2, 10, 0, 0, 250000,
                                     tzinfo=timezone.utc),
                     "ben": None, "cy": None, "dee": None}
