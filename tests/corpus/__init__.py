"""A class of hostile and broken submissions for ``ziptie grade``.

``course/`` is a tiny course: one assignment, ``01_fixture`` (``double``,
``mean_squared_error``, a ``Counter``; 4 points), with its checks in
``course/grading/01_fixture.py``. ``CORPUS`` lists the submissions: each a
student name, how the notebook differs from a correct one, and the status
and score it must get. ``build(folder)`` writes them in nbgrader's
``submitted/<student>/01_fixture/fixture.ipynb`` layout::

    python -c "import sys; sys.path.insert(0, 'tests'); import corpus; \\
               corpus.build(__import__('pathlib').Path('/tmp/class'))"
"""

from __future__ import annotations

import copy
import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

COURSE = Path(__file__).resolve().parent / "course"
ASSIGNMENT = "01_fixture"
NOTEBOOK = "fixture.ipynb"
SOURCE = COURSE / "solutions" / ASSIGNMENT / NOTEBOOK

_BLOCK = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)"
                    r"^[ \t]*### END SOLUTION[ \t]*\n?", re.DOTALL | re.M)
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?",
                     re.DOTALL)

WRONG_DOUBLE = "def double(x):\n    return 3 * x\n"
WRONG_MSE = ("def mean_squared_error(pred, y):\n"
             "    return float(np.mean(np.abs(np.asarray(pred) - y)))\n")


def interruptible() -> None:
    """Run in a child process before it starts (``preexec_fn``): Ctrl-C
    (SIGINT) reaches it as at a terminal, even when the tests themselves
    were started in the background, where the shell ignores SIGINT and
    every child inherits that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cells(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if "nbgrader" in c["metadata"]}


def correct() -> dict:
    """The student notebook with every task answered correctly."""
    nb = json.loads(SOURCE.read_text())
    for cell in nb["cells"]:
        cell["source"] = _HIDDEN.sub("", _BLOCK.sub(
            lambda m: m.group(1), "".join(cell["source"])))
    return nb


def released() -> dict:
    """The notebook as released: every solution a stub."""
    nb = json.loads(SOURCE.read_text())
    for cell in nb["cells"]:
        cell["source"] = _HIDDEN.sub("", _BLOCK.sub(
            "raise NotImplementedError()\n", "".join(cell["source"])))
    return nb


@dataclass(frozen=True)
class Case:
    """One submission: ``cells`` replace the source of cells by grade_id
    (a ``+name`` key adds a new cell after cell ``name``)."""

    student: str
    status: str
    score: float
    why: str
    cells: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None          # the file's bytes, as they are
    base: str = "correct"             # or "released"
    edit: str | None = None           # name of an extra edit, see _edit
    name: str = NOTEBOOK


def _edit(nb: dict, how: str) -> dict:
    if how == "tamper_tests":          # edit, delete and re-tag test cells
        cells = _cells(nb)
        cells["test_double"]["source"] = "pass"
        cells["test_mse"]["metadata"]["nbgrader"].update(
            grade=False, points=100, locked=False)
        nb["cells"].remove(cells["test_counter"])
    elif how == "metadata":            # claim points; change the notebook's
        nb["metadata"]["nbgrader"] = {"score": 4, "graded": True}
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader")
            if meta:
                meta["points"] = 100
    elif how == "strip_metadata":      # an editor dropped nbgrader's metadata
        for cell in nb["cells"]:
            cell["metadata"].pop("nbgrader", None)
    elif how == "other_assignment":
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader")
            if meta:
                meta["grade_id"] = "other_" + meta["grade_id"]
    return nb


def corpus(course: Path = COURSE, out: Path | None = None) -> list[Case]:
    """The submissions; ``course`` and ``out`` are the paths a cheater
    would try to read or write."""
    solution = course / "solutions" / ASSIGNMENT / NOTEBOOK
    checks = course / "grading" / f"{ASSIGNMENT}.py"
    out = out or course / "graded"
    return [
        Case("good", "ok", 4, "every answer right"),
        Case("wrong", "ok", 3, "double is wrong", {"double": WRONG_DOUBLE}),
        Case("stubs", "ok", 0, "nothing answered", base="released"),
        Case("patch_numpy", "flagged", 0, "np.allclose always True, wrong answers",
             {"setup": "", "double": "import numpy as np\n"
              "np.allclose = lambda *a, **k: True\n"
              "np.isclose = lambda *a, **k: True\n" + WRONG_DOUBLE,
              "mse": WRONG_MSE}),
        Case("patch_torch", "flagged", 0, "torch.allclose and assert patched",
             {"double": "import torch, builtins\n"
              "torch.allclose = lambda *a, **k: True\n"
              "builtins.AssertionError = Warning\n" + WRONG_DOUBLE,
              "counter": "class Counter:\n    pass\n"}),
        Case("ast_transformer", "flagged", 0, "an AST transformer drops asserts",
             {"double": "import ast\nclass NoAssert(ast.NodeTransformer):\n"
              "    def visit_Assert(self, node):\n        return ast.Pass()\n"
              "get_ipython().ast_transformers.append(NoAssert())\n"
              + WRONG_DOUBLE, "mse": WRONG_MSE,
              "counter": "class Counter:\n    pass\n"}),
        Case("input_transformer", "flagged", 0, "later cells rewritten to pass",
             {"double": "def double(x):\n    return 2 * x\n"
              "get_ipython().input_transformers_cleanup.append(\n"
              "    lambda lines: ['pass\\n'])\n"}),
        Case("always_equal", "ok", 3, "returns an object equal to anything",
             {"double": "class Yes(float):\n"
              "    def __eq__(self, other):\n        return True\n"
              "    __ne__ = lambda s, o: False\n"
              "def double(x):\n    return Yes(0)\n"}),
        Case("always_equal_obj", "ok", 3, "a non-data object from double",
             {"double": "class Yes:\n"
              "    def __eq__(self, other):\n        return True\n"
              "    def __array__(self, *a, **k):\n"
              "        import numpy\n        return numpy.zeros(3)\n"
              "def double(x):\n    return Yes()\n"}),
        Case("fake_success", "ok", 2, "prints success, answers wrong",
             {"+counter": "print('test_double passed\\ntest_mse passed\\n"
              "Score: 4/4. All tests passed!')",
              "mse": WRONG_MSE}),
        Case("tamper_tests", "ok", 2, "test cells edited, re-tagged, deleted",
             {"mse": WRONG_MSE}, edit="tamper_tests"),
        Case("metadata", "ok", 3, "points and scores in the metadata",
             {"double": WRONG_DOUBLE}, edit="metadata"),
        Case("strip_metadata", "ok", 4, "no nbgrader metadata: every cell "
             "runs, tests included", edit="strip_metadata"),
        Case("read_hidden", "flagged", 0, "reads solutions and checks from disk",
             {"double": "import glob, os\nfound = []\n"
              f"for p in [{str(solution)!r}, {str(checks)!r}]:\n"
              "    try:\n        found.append(open(p).read())\n"
              "    except OSError:\n        pass\n"
              "for depth in range(1, 5):\n"
              "    found += glob.glob('/*' * depth + '/grading/*.py')\n"
              "def double(x):\n    return 2 * x if found else 0 * x\n"}),
        Case("write_results", "ok", 0, "writes the gradebook and results",
             {"double": "import os\n"
              f"for p in [{str(out / 'results.jsonl')!r},\n"
              f"          {str(out / 'gradebook.db')!r},\n"
              f"          {str(out / 'grades.csv')!r},\n"
              "          'results.jsonl', '../grades.csv']:\n"
              "    try:\n        open(p, 'w').write('all full marks')\n"
              "    except OSError:\n        pass\n" + WRONG_DOUBLE,
              "mse": WRONG_MSE, "counter": "Counter = None\n"}),
        Case("infinite_loop", "timeout", 2, "a loop that never ends",
             {"mse": "while True:\n    pass\n"}),
        Case("stubborn_loop", "timeout", 2, "a loop that swallows the "
             "timeout", {"mse": "while True:\n    try:\n        while True:\n"
                         "            pass\n    except BaseException:\n"
                         "        pass\n"}),
        Case("memory_bomb", "memory-limit", 3, "asks for a terabyte",
             {"counter": "x = bytearray(10**12)\n"}),
        Case("memory_creep", "memory-limit", 3, "grows until it breaks",
             {"counter": "held = []\nwhile True:\n"
              "    held.append(np.empty(50 * 2**20, dtype=np.uint8))\n"}),
        Case("fork_bomb", "flagged", 0, "forks forever",
             {"counter": "import os\nwhile True:\n    os.fork()\n"}),
        Case("exit", "flagged", 0, "os._exit in a cell",
             {"+mse": "import os\nos._exit(3)\n",
              "mse": WRONG_MSE}),
        Case("segfault", "flagged", 0, "the kernel dies",
             {"+counter": "import ctypes\nctypes.string_at(0)\n",
              "counter": "class Counter:\n    pass\n"}),
        Case("flood", "output-limit", 3, "gigabytes of output",
             {"+double": "import sys\nwhile True:\n"
              "    sys.stdout.write('x' * 2**20)\n",
              "counter": "Counter = 1\n"}),
        Case("probe_exit", "flagged", 0, "dies when its function is called",
             {"counter": "import os\nclass Counter:\n"
              "    def __init__(self, start=0):\n        os._exit(1)\n"}),
        Case("invalid_json", "invalid-notebook", 0, "not JSON",
             raw=b'{"cells": [{"cell_type": "code", "sour'),
        Case("wrong_assignment", "wrong-assignment", 0,
             "a notebook of another assignment", edit="other_assignment"),
        Case("misnamed", "ok", 4, "saved as Untitled.ipynb",
             name="Untitled.ipynb"),
        Case("zoë_李", "ok", 4, "a non-ASCII name"),
    ]


def notebook_bytes(case: Case) -> bytes:
    """The file a case hands in."""
    if case.raw is not None:
        return case.raw
    nb = copy.deepcopy(correct() if case.base == "correct" else released())
    by_id = _cells(nb)
    for key, text in case.cells.items():
        if key.startswith("+"):
            at = nb["cells"].index(by_id[key[1:]]) + 1
            nb["cells"].insert(at, {"cell_type": "code", "metadata": {},
                                    "source": text, "outputs": [],
                                    "execution_count": None})
        else:
            by_id[key]["source"] = text
    if case.edit:
        nb = _edit(nb, case.edit)
    return json.dumps(nb, indent=1).encode()


def build(folder: Path, cases: list[Case] | None = None) -> list[Case]:
    """Write the cases in nbgrader's layout under ``folder``; plus a
    student with no notebook at all (``missing``) and one (``mallory``)
    whose folder holds another student's path."""
    cases = cases if cases is not None else corpus()
    for case in cases:
        target = folder / "submitted" / case.student / ASSIGNMENT
        target.mkdir(parents=True, exist_ok=True)
        (target / case.name).write_bytes(notebook_bytes(case))
    missing = folder / "submitted" / "missing" / ASSIGNMENT
    missing.mkdir(parents=True, exist_ok=True)
    (missing / "README.txt").write_text("I forgot the notebook.\n")
    # mallory hands in good's path with a newer timestamp.txt, and no
    # notebook of her own: good keeps her grade, mallory is missing.
    forged = folder / "submitted" / "mallory" / ASSIGNMENT / "good" / \
        ASSIGNMENT
    forged.mkdir(parents=True, exist_ok=True)
    (forged / NOTEBOOK).write_bytes(notebook_bytes(
        Case("mallory", "ok", 0, "", base="released")))
    (forged / "timestamp.txt").write_text("2099-01-01 00:00:00.000000 UTC")
    return cases


# --- a learning platform's export, broken and hostile -----------------------

#: Zip fields changed after writing a member, so that its central
#: directory lies the way a damaged or forged archive does.
_BROKEN = {
    "2011": ({"CRC": 1}, "unreadable", "bad CRC"),
    "2012": ({"flag_bits": 1}, "unreadable", "encrypted"),
    "2013": ({"compress_type": 9}, "unreadable", "compression method"),
    "2014": ({"file_size": 50}, "unreadable", "bad CRC"),
    "2015": ({"file_size": 10**12}, "refused", "more than the"),
    "2016": ({"mode": 0o120777}, "refused", "symbolic link"),
}
WRAPPER = "Assignment 1 Submissions"


@dataclass(frozen=True)
class Row:
    """What ``grades.csv`` must say of one student of the export."""

    name: str
    status: str
    score: float
    note: str = ""


def _member(zf, name: str, data: bytes, how: dict) -> None:
    import zipfile

    how = dict(how)
    info = zipfile.ZipInfo(f"{WRAPPER}/{name}",
                           how.pop("date_time", (2026, 3, 1, 12, 0, 0)))
    info.external_attr = how.pop("mode", 0o100644) << 16
    zf.writestr(info, data)
    for key, value in how.items():
        setattr(zf.filelist[-1], key, value)


def canvas_export(path: Path) -> dict[str, Row]:
    """A Canvas export, wrapped in one top folder, holding honest students
    next to every kind of broken or hostile file; the rows it must give,
    by Canvas user id."""
    import zipfile

    good = notebook_bytes(Case("x", "ok", 4, ""))
    wrong = notebook_bytes(Case("x", "ok", 3, "", {"double": WRONG_DOUBLE}))
    noisy = notebook_bytes(Case("x", "ok", 4, "", {
        "+double": "print('\\x1b[2J\\x1b]0;pwned\\x07 $0 cleared')"}))
    rows = {"2001": Row("ann", "ok", 4),
            "2002": Row("doejane", "ok", 4),
            "2003": Row("doejane", "ok", 3),      # same name, not merged
            "2004": Row("=SUM(A1)", "ok", 4),
            "2005": Row("eve%1B[31m", "ok", 4),
            "2017": Row("folder", "ok", 4),
            "2018": Row("long", "ok", 4, "too long"),
            "2019": Row("date", "ok", 4, "impossible date"),
            "2020": Row("caf%E9%E9", "ok", 4),
            "2021": Row("junk", "invalid-notebook", 0),
            "2022": Row("dup", "ok", 4, "second file of the same name"),
            "2023": Row("late", "ok", 4, "marked late by Canvas")}
    with zipfile.ZipFile(path, "w") as zf:
        for sid in ("2001", "2002", "2004"):
            _member(zf, f"{rows[sid].name}_{sid}_1_fixture.ipynb", good, {})
        _member(zf, "doejane_2003_1_fixture.ipynb", wrong, {})
        _member(zf, "eve\x1b[31m_2005_1_fixture.ipynb", noisy, {})
        for sid, (how, status, why) in _BROKEN.items():
            _member(zf, f"broken{sid}_{sid}_1_fixture.ipynb", good, how)
            rows[sid] = Row(f"broken{sid}", status, 0, why)
        _member(zf, "folder_2017_1_fixture.ipynb", good, {})
        _member(zf, "folder_2017_1_fixture.ipynb/x.ipynb", good, {})
        _member(zf, "long_2018_1_" + "x" * 300 + ".ipynb", good, {})
        _member(zf, "date_2019_1_fixture.ipynb", good,
                {"date_time": (2026, 0, 0, 0, 0, 0)})
        _member(zf, "caf\u00e9_2020_1_fixture.ipynb", good, {})
        _member(zf, "junk_2021_1_fixture.ipynb", b'{"cells": [', {})
        _member(zf, "dup_2022_1_fixture.ipynb", good, {})
        _member(zf, "dup_2022_1_fixture.ipynb", wrong, {})
        _member(zf, "late_late_2023_1_fixture.ipynb", good, {})
        _member(zf, "../escape_2030_1_fixture.ipynb", good, {})
        _member(zf, "notes.txt", b"read me", {})
    data = path.read_bytes().replace("caf\u00e9".encode(), b"caf\xe9\xe9")
    path.write_bytes(data)    # a name flagged UTF-8 that is not
    return rows
