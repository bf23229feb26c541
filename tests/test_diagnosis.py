"""A failed task's feedback names the catalogued mistake it looks like
(``ziptie.grader.diagnosis``): a catalogue entry handed in gets its own
name, a right answer and a mistake the catalogue lacks get none, a rerun
reuses the fingerprints, a Dask cluster names the same, and a missing or
broken catalogue never stops grading. (On the course's own assignments,
every entry and a near miss of one: ``test_graders_agree.py``.)
"""

import csv
import shutil
from pathlib import Path

import corpus
import numpy as np
import pytest

import autograde
from ziptie.grader.diagnosis import CACHE, Diagnosis
from ziptie.grader.diagnosis_match import ATOL, RTOL, _near, matches
from ziptie.grader.sandbox import Outcome
from ziptie.grader.wire import to_json

KNOWN = "This looks like a known mistake"

#: A catalogue of the corpus's fixture assignment.
FIXTURE_WRONG = '''\
from catalogue import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("double returns three times x", cell="double",
                old="2 * x", new="3 * x", loses=("test_double",)),
    WrongAnswer("the mean of the absolute error", cell="mse",
                old="(np.asarray(pred) - np.asarray(y)) ** 2",
                new="np.abs(np.asarray(pred) - np.asarray(y))",
                loses=("test_mse",)),
    WrongAnswer("add(n) adds one", cell="counter",
                old="self.count += n", new="self.count += 1",
                loses=("test_counter",)),
]
'''


def _value(x) -> dict:
    """A probe's message with one value, as the runner sends it."""
    return {"values": [to_json(x)], "args_after": {}}


def test_outputs_match_numbers_within_tolerance_and_errors_by_kind():
    assert matches([_value(np.array([1.0, 2.0]))],
                   [_value(np.array([1.0, 2.0 + 1e-9]))])
    assert not matches([_value(np.array([1.0, 2.1]))],
                       [_value(np.array([1.0, 2.0]))])
    assert not matches([_value(np.array([1.0, 2.0]))],
                       [_value(np.array([1.0, 2.0, 3.0]))])
    assert not matches([_value(1.0)], [_value(np.array(1.0))]), \
        "a float is not a tensor"
    assert not matches([None], [_value(1.0)])
    assert not matches([], [])
    one = _value(np.array(1.0))
    assert matches([one, {"error": "ValueError: a"}],
                   [one, {"error": "ValueError: b"}])
    assert not matches([one, {"error": "TypeError: a"}],
                       [one, {"error": "ValueError: a"}])
    assert not matches([one, one], [one, {"error": "ValueError: a"}])
    # a mistake known by its errors alone: the message must be the same
    assert matches([{"error": "AttributeError: x"}],
                   [{"error": "AttributeError: x"}])
    assert not matches([{"error": "AttributeError: y"}],
                       [{"error": "AttributeError: x"}])
    called = {"error": "PermissionError: no", "forbidden": ["torch.f"]}
    assert matches([called], [dict(called)])
    assert not matches([dict(called, forbidden=["torch.g"])], [called])
    assert not matches([one], [called])


def _near_by_element(got, want) -> bool:
    """What ``_near`` means, one element at a time: ``np.allclose`` on
    every pair of numbers, types and shapes compared as they are."""
    if isinstance(got, dict) or isinstance(want, dict):
        return isinstance(got, dict) and isinstance(want, dict) and \
            got.keys() == want.keys() and all(
                _near_by_element(got[k], want[k]) for k in want)
    if isinstance(got, list) or isinstance(want, list):
        return isinstance(got, list) and isinstance(want, list) and \
            len(got) == len(want) and all(
                _near_by_element(g, w) for g, w in zip(got, want, strict=True))
    if got is None or want is None or isinstance(got, str | bool) or \
            isinstance(want, str | bool):
        return type(got) is type(want) and got == want
    if isinstance(got, np.ndarray) != isinstance(want, np.ndarray):
        return False
    a, b = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return a.shape == b.shape and bool(np.allclose(
        a, b, rtol=RTOL, atol=ATOL, equal_nan=True))


def _outputs(rng, depth=0):
    """A random answer as ``from_json`` gives it back, and a near copy."""
    kind = rng.integers(8 if depth < 3 else 5)
    numbers = [0.0, -0.0, 1.0, np.nan, np.inf, -np.inf, 3, 2**70, 1e308]
    if kind == 0:
        x = numbers[rng.integers(len(numbers))] if rng.random() < 0.3 \
            else float(rng.normal() * 10.0 ** rng.integers(-8, 8))
    elif kind == 1:
        x = [True, False, None, "a", "b"][rng.integers(5)]
    elif kind == 2:
        x = int(rng.integers(-5, 5))
    elif kind in (3, 4):
        x = rng.normal(size=rng.integers(0, 4, size=rng.integers(0, 3)))
        if x.size and rng.random() < 0.3:
            x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf,
                                                       -np.inf, 1e308])
    elif kind == 5:
        x = [_outputs(rng, depth + 1)[0] for _ in range(rng.integers(4))]
    elif kind == 6:
        x = [float(v) for v in rng.normal(size=rng.integers(6))]
    else:
        x = {str(k): _outputs(rng, depth + 1)[0]
             for k in range(rng.integers(3))}
    return x, _nudged(rng, x)


def _nudged(rng, x):
    """``x`` moved by about the tolerance, here and there."""
    if isinstance(x, dict):
        return {k: _nudged(rng, v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nudged(rng, v) for v in x]
    if not isinstance(x, np.ndarray | float) or not np.isfinite(x).all():
        return x
    if rng.random() < 0.5:        # about the tolerance away, either side
        edge = (ATOL + RTOL * np.abs(x)) * rng.uniform(0.999, 1.001,
                                                       np.shape(x))
        moved = x + rng.choice([-1.0, 1.0], np.shape(x)) * edge
    else:
        moved = x + 10.0 ** rng.integers(-8, -3) * rng.normal(
            size=np.shape(x))
    return moved if isinstance(x, np.ndarray) else float(moved)


def test_numbers_are_compared_as_allclose_compares_them(rng):
    """``_near`` compares plain numbers, and lists of them, without NumPy
    where it can: the same answer as ``np.allclose`` element by element,
    on fresh random answers and near copies of them."""
    for _ in range(3000):
        got, near = _outputs(rng)
        other = _outputs(rng)[0]
        for a, b in ((got, near), (near, got), (got, other), (got, got)):
            assert _near(a, b) == _near_by_element(a, b), (a, b)


def test_an_int_too_large_for_a_float_is_no_match_and_no_crash():
    huge = 10 ** 400
    assert not matches([_value(huge)], [_value(1.0)])
    assert not matches([_value([huge, 1.0])], [_value([1.0, 1.0])])
    assert not matches([{"values": [{"$nd": [huge], "dtype": "float64"}],
                         "args_after": {}}], [_value(np.array([1.0]))])
    assert matches([_value(huge)], [_value(huge)]) is False


def test_a_task_that_passed_is_never_diagnosed():
    mistake = _value(np.array(3.0))
    diagnosis = Diagnosis("", {"test_a": [{"steps": [1]}]},
                          {"test_a": [("sum instead of mean", [mistake])]})
    failed = {"test_a": "mse(...): expected 2., got 6."}
    assert diagnosis.explain(failed, [mistake]) == {"test_a": (
        f"mse(...): expected 2., got 6. {KNOWN}: sum instead of mean.")}
    assert diagnosis.explain({}, [mistake]) == {}
    assert diagnosis.explain(failed, [_value(np.array(2.0))]) == {}
    two = Diagnosis("", diagnosis.cases, {"test_a": [
        ("sum instead of mean", [mistake]),
        ("square of the mean", [mistake])]})
    assert two.explain({"test_a": "wrong"}, [mistake]) == {"test_a": (
        f"wrong. {KNOWN}: sum instead of mean; or: square of the mean.")}


def test_diagnosis_probes_change_no_grade():
    diagnosis = Diagnosis("", {"test_a": [{"steps": [1]}, {"steps": [2]}]})
    extra, where = diagnosis.probes([{"steps": [2]}, {"steps": [3]}])
    assert extra == [{"steps": [1]}], "a graded case is asked once"
    assert where == [2, 0]
    # the sandbox ended in a diagnosis probe, and again in the last run
    ended = Outcome(probes={0: _value(1.0), 1: {"error": "CellTimeout: x"},
                            2: {"error": "the sandbox ended here: "
                                         "memory-limit"}},
                    problems=["memory-limit"])
    graded, seen = diagnosis.split(ended, 2, where)
    assert graded.problems == [] and set(graded.probes) == {0, 1}
    assert seen == [ended.probes[2], ended.probes[0]]
    last = Outcome(probes={0: _value(1.0), 1: _value(2.0),
                           2: {"error": "did not finish"}},
                   problems=["timeout"])
    assert diagnosis.split(last, 2, where)[0].problems == []
    # what ended it in a graded probe still counts
    graded_end = Outcome(probes={0: {"error": "the sandbox ended here: "
                                              "timeout"}, 2: _value(1.0)},
                         problems=["timeout"])
    assert diagnosis.split(graded_end, 2, where)[0].problems == ["timeout"]


def _course(tmp_path: Path, catalogue: str | None) -> Path:
    """A copy of the corpus's course, with ``catalogue`` as the fixture's
    catalogue of mistakes."""
    course = tmp_path / "course"
    shutil.copytree(corpus.COURSE, course)
    if catalogue is not None:
        shutil.copy(autograde.ROOT / "grading" / "catalogue.py",
                    course / "grading")
        (course / "grading" / f"{corpus.ASSIGNMENT}_wrong.py").write_text(
            catalogue)
    return course


def _grade(course: Path, submissions: Path, out: Path, *extra: str):
    done = autograde.ziptie_cli(
        ["--course", str(course), "grade", str(submissions), "--out",
         str(out), "--workers", "2", "--cell-timeout", "12", "--memory-mb",
         "1536", *extra], Path.cwd(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _why(out: Path, student: str) -> dict[str, str]:
    return autograde.feedback(out, student, corpus.ASSIGNMENT,
                              corpus.NOTEBOOK)


@pytest.mark.slow
def test_the_fixture_names_its_mistakes_and_reruns_from_the_cache(tmp_path):
    course = _course(tmp_path, FIXTURE_WRONG)
    cases = [corpus.Case("good", "ok", 4, ""),
             corpus.Case("triple", "ok", 3, "", {
                 "double": corpus.WRONG_DOUBLE}),
             corpus.Case("both", "ok", 1, "", {"double": corpus.WRONG_DOUBLE,
                                               "mse": corpus.WRONG_MSE}),
             corpus.Case("plus_two", "ok", 3, "", {
                 "double": "def double(x):\n    return x + 2\n"}),
             corpus.Case("stubs", "ok", 0, "", base="released")]
    corpus.build(tmp_path / "class", cases)
    out = tmp_path / "out"
    done = _grade(course, tmp_path / "class", out)
    assert "diagnosis: 3 of 3 mistakes of grading/01_fixture_wrong.py " \
        "known by their outputs (computed in" in done.stderr
    assert _why(out, "triple")["test_double"].endswith(
        f"{KNOWN}: double returns three times x.")
    both = _why(out, "both")
    assert both["test_double"].endswith(
        f"{KNOWN}: double returns three times x.")
    assert both["test_mse"].endswith(
        f"{KNOWN}: the mean of the absolute error.")
    assert both["test_counter"] == "passed"
    for student in ("good", "plus_two", "stubs"):   # no claim
        assert not any(KNOWN in why for why in _why(out, student).values())
    assert "largest difference" in _why(out, "plus_two")["test_double"]

    cache = out / CACHE
    before = cache.read_bytes()
    corpus.build(tmp_path / "class", [corpus.Case(
        "late", "ok", 3, "", {"double": corpus.WRONG_DOUBLE})])
    again = _grade(course, tmp_path / "class", out)
    assert "grading 1: 1 new" in again.stderr
    assert "known by their outputs (from an earlier run)" in again.stderr
    assert cache.read_bytes() == before
    assert KNOWN in _why(out, "late")["test_double"]

    off = _grade(course, tmp_path / "class", out, "--no-diagnosis")
    assert "the catalogue of mistakes changed" in off.stderr
    assert "diagnosis" not in off.stderr.replace(
        "the catalogue of mistakes changed", "")
    assert not any(KNOWN in why for why in _why(out, "triple").values())


#: Mistakes that draw from NumPy's global random state (the second seeds
#: it first), and one that draws nothing: only the first one's answers
#: change with the state it meets.
RANDOM_WRONG = '''\
from catalogue import WrongAnswer

WRONG_ANSWERS = [
    WrongAnswer("double adds noise", cell="double", old="2 * x",
                new="2 * x + np.random.rand()", loses=("test_double",)),
    WrongAnswer("double seeds, then adds noise", cell="double",
                old="2 * x", new="(np.random.seed(0) or 2) * x + "
                                 "np.random.rand()",
                loses=("test_double",)),
    WrongAnswer("double returns three times x", cell="double",
                old="2 * x", new="3 * x", loses=("test_double",)),
]
'''


def test_answers_that_depend_on_the_global_random_state_are_no_fingerprint(
        tmp_path):
    from ziptie.grader.assignment import load_assignment
    from ziptie.grader.diagnosis import fingerprints
    from ziptie.grader.sandbox import Limits

    course = _course(tmp_path, RANDOM_WRONG)
    spec = load_assignment(course, corpus.ASSIGNMENT)
    found = fingerprints(course, spec, "a key", Limits())
    assert found["left_out"] == {"double adds noise": "its answers depend "
                                 "on the global random state"}
    assert [name for name, _ in found["known"]["test_double"]] == [
        "double seeds, then adds noise", "double returns three times x"]


@pytest.mark.slow
@pytest.mark.parametrize("catalogue,note", [
    (None, "diagnosis: off, no catalogue of mistakes "
           "(grading/01_fixture_wrong.py)"),
    ("raise RuntimeError('half written')\n",
     "diagnosis: off, grading/01_fixture_wrong.py could not be used "
     "(RuntimeError: half written)"),
    ("from catalogue import WrongAnswer\nWRONG_ANSWERS = [WrongAnswer("
     "'gone', cell='double', old='no such text', new='x', "
     "loses=('test_double',))]\n",
     "diagnosis: 0 of 1 mistakes of grading/01_fixture_wrong.py known by "
     "their outputs (computed in")])
def test_a_missing_or_broken_catalogue_never_stops_grading(tmp_path,
                                                           catalogue, note):
    course = _course(tmp_path, catalogue)
    corpus.build(tmp_path / "class", [
        corpus.Case("good", "ok", 4, ""),
        corpus.Case("triple", "ok", 3, "", {"double": corpus.WRONG_DOUBLE})])
    out = tmp_path / "out"
    done = _grade(course, tmp_path / "class", out)
    assert note in done.stderr
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = {row["student"]: row["total"] for row in csv.DictReader(f)}
    assert rows["good"] == "4" and rows["triple"] == "3"
    assert not any(KNOWN in why for why in _why(out, "triple").values())


@pytest.mark.slow
def test_a_dask_cluster_names_the_same_mistakes(tmp_path):
    pytest.importorskip("distributed")
    from ziptie.grader.grade import grade
    from ziptie.grader.sandbox import Limits

    course = _course(tmp_path, FIXTURE_WRONG)
    corpus.build(tmp_path / "class", [
        corpus.Case("good", "ok", 4, ""),
        corpus.Case("triple", "ok", 3, "", {"double": corpus.WRONG_DOUBLE})])
    out = tmp_path / "out"
    assert grade(course, tmp_path / "class", out=out, progress=False,
                 limits=Limits(cell_timeout=12, memory=1536 << 20),
                 scheduler="local:1") == 0
    assert _why(out, "triple")["test_double"].endswith(
        f"{KNOWN}: double returns three times x.")
    assert not any(KNOWN in why for why in _why(out, "good").values())
