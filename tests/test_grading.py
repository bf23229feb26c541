"""``ziptie grade`` on the real assignments, with their checks in grading/.

For every assignment that has a checks file, one ``ziptie grade`` run
grades a small class: the solution (full marks), the untouched notebook
(nothing), a few wrong answers from the assignment's catalogue in
tests/test_exercise_NN_*.py (each loses the points of the cells it names)
and hostile notebooks (``HOSTILE``), each of which must earn no point it
should not.
"""

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import autograde

ROOT = autograde.ROOT
GRADED = [a for a in autograde.assignments()
          if (ROOT / "grading" / f"{a}.py").is_file()]

#: Wrong answers of each catalogue (by name) that the grader must catch.
WRONG = {
    "01_forward": ["square weights left untransposed (W.T only if the shapes "
                   "differ)", "relu changes its input in place",
                   "parameters replaced instead of copied into"],
    "02_loss": ["softmax shifted by the global max, not each row's",
                "labels indexed as columns for every row",
                "calls the function it should write"],
    "03_backward": ["db averaged instead of summed",
                    "relu_backward masks with dout > 0",
                    "ReLU mask from the wrong layer (off by one)"],
    "04_step": ["new memory: p.data = p - lr * p.grad",
                "zero_grad rebinds a local name",
                "zero_grad named, not called"],
    "05_sgd": ["np.random.permutation instead of rng",
               "velocity is p.grad itself (no copy)",
               "trained with torch.optim.SGD"],
    "06_adam": ["step counter off by one (t + 1)", "wraps torch.optim.Adam",
                "trained with torch.optim.Adam"],
}

#: Hostile notebooks: (name, the released notebook or the solution, cells
#: replaced by grade_id or added after one with "+grade_id", the points
#: they may keep: "none", or "all but" the tasks named).
UNIVERSAL = (
    "import json, os\n"
    "for k in range(60):\n"
    "    line = json.dumps({'event': 'probe', 'index': k, 'values': [0.0]})\n"
    "    os.write(3, line.encode() + b'\\n')\n"
    "os.write(3, b'{\"event\": \"done\"}\\n')\n"
    "os._exit(0)\n")
HOSTILE = {
    "01_forward": [
        ("universal", "released", {"+copy_params": UNIVERSAL}, "none"),
        ("empty_mlp", "solution", {"mlp_class": (
            "import torch\n"
            "class MLP(torch.nn.Module):\n"
            "    def __init__(self, sizes):\n"
            "        super().__init__()\n"
            "        self.sizes = sizes\n"
            "    def parameters(self):\n"
            "        for a, b in zip(self.sizes, self.sizes[1:]):\n"
            "            yield torch.zeros(b, a, requires_grad=True)\n"
            "            yield torch.zeros(b, requires_grad=True)\n"
            "    def forward(self, X):\n"
            "        return torch.zeros(len(X), self.sizes[-1])\n")},
         ("test_mlp_class",)),
    ],
    "02_loss": [
        ("universal", "released", {"+cross_entropy_torch": UNIVERSAL},
         "none"),
        ("patched_tests", "solution", {"cross_entropy": (
            "import numpy as np\nimport torch\n"
            "np.allclose = lambda *a, **k: True\n"
            "torch.allclose = lambda *a, **k: True\n\n"
            "def cross_entropy(logits, y):\n    return 0.0\n")}, "none"),
        ("bound_early", "solution", {"cross_entropy_torch": (
            "from torch.nn.functional import cross_entropy as _ce\n"
            "def cross_entropy_torch(logits, y):\n"
            "    return _ce(logits, y)\n")}, ("test_cross_entropy_torch",)),
        ("module_elsewhere", "solution", {
            "+accuracy": "import torch\nloss_module = torch.nn.CrossEntropyLoss()",
            "cross_entropy_torch": (
                "def cross_entropy_torch(logits, y):\n"
                "    return loss_module(logits, y)\n")},
         ("test_cross_entropy_torch",)),
        ("private_binding", "solution", {"cross_entropy_torch": (
            "import torch\n"
            "def cross_entropy_torch(logits, y):\n"
            "    return torch._C._nn.cross_entropy_loss(logits, y)\n")},
         "none"),
    ],
    "03_backward": [
        ("autograd", "solution", {"+mlp_backward": (
            "import torch\n"
            "def helper(X, y, params):\n"
            "    ts = [(torch.tensor(W, requires_grad=True),\n"
            "           torch.tensor(b, requires_grad=True))\n"
            "          for W, b in params]\n"
            "    H = torch.tensor(X)\n"
            "    for l, (W, b) in enumerate(ts):\n"
            "        H = H @ W + b\n"
            "        if l < len(ts) - 1:\n"
            "            H = torch.relu(H)\n"
            "    loss = torch.nn.functional.cross_entropy(H, torch.tensor(y))\n"
            "    loss.backward()\n"
            "    return [(W.grad.numpy(), b.grad.numpy()) for W, b in ts]\n"
            "mlp_backward = helper\n")}, ("test_mlp_backward",)),
    ],
    "05_sgd": [
        ("functional_sgd", "solution", {"+SGD": (
            "import torch\n"
            "from torch.optim.sgd import sgd as functional_sgd\n"
            "class SGD(SGD):\n"
            "    def step(self):\n"
            "        with torch.no_grad():\n"
            "            for p in self.params:\n"
            "                if p.grad is not None:\n"
            "                    functional_sgd([p], [p.grad], [None],\n"
            "                        weight_decay=0.0, momentum=0.0,\n"
            "                        lr=self.lr, dampening=0.0,\n"
            "                        nesterov=False, maximize=False)\n")},
         ("test_sgd_init", "test_sgd_step", "test_sgd_momentum",
          "test_digits_sgd")),
    ],
}


def _wrong_answers(assignment: str) -> list[autograde.WrongAnswer]:
    module = importlib.import_module(f"test_exercise_{assignment}")
    catalogue = {w.name: w for w in module.WRONG_ANSWERS}
    return [catalogue[name] for name in WRONG[assignment]]


def _edited(assignment: str, base: str, cells: dict[str, str]
            ) -> nbformat.NotebookNode:
    """The released notebook or the solution, with ``cells`` replaced by
    grade_id, or added after one (``"+grade_id"``)."""
    nb = autograde.student(assignment) if base == "released" else \
        autograde.filled(assignment)
    for key, source in cells.items():
        ids = [c.metadata.get("nbgrader", {}).get("grade_id")
               for c in nb.cells]
        at = ids.index(key.lstrip("+"))
        if key.startswith("+"):
            nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
        else:
            nb.cells[at].source = source
    return nb


def _submit(folder: Path, assignment: str,
            notebooks: dict[str, nbformat.NotebookNode]) -> None:
    """nbgrader's submitted/<student>/<assignment>/<notebook> layout."""
    for student, nb in notebooks.items():
        path = folder / student / assignment / autograde.notebook_name(
            assignment)
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", GRADED)
def test_the_checks_grade_a_class(assignment, tmp_path):
    points = autograde.max_points(assignment)
    wrong = _wrong_answers(assignment)
    notebooks = {"solution": autograde.filled(assignment),
                 "untouched": autograde.student(assignment)}
    for k, answer in enumerate(wrong):
        notebooks[f"wrong{k}"] = autograde.mutated(
            assignment, answer.cell, answer.old, answer.new, answer.count)
    for name, base, cells, _ in HOSTILE.get(assignment, []):
        notebooks[name] = _edited(assignment, base, cells)
    _submit(tmp_path / "submitted", assignment, notebooks)

    out = tmp_path / "graded"
    done = subprocess.run(
        [sys.executable, "-m", "ziptie.cli", "--course", str(ROOT), "grade",
         str(tmp_path / "submitted"), "--assignment", assignment,
         "--out", str(out), "--workers", "2", "--cell-timeout", "60"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(notebooks)

    def got(student: str) -> dict[str, float]:
        return {gid: float(rows[student][gid]) for gid in points}

    assert rows["solution"]["status"] == "ok", rows["solution"]["notes"]
    assert got("solution") == points, rows["solution"]["notes"]
    assert float(rows["solution"]["max"]) == sum(points.values())
    assert got("untouched") == dict.fromkeys(points, 0.0)
    for k, answer in enumerate(wrong):
        scores = got(f"wrong{k}")
        kept = [gid for gid in answer.loses if scores[gid] > 0]
        assert not kept, f"{answer.name!r} kept the points of {kept}"
    for name, _, _, keeps in HOSTILE.get(assignment, []):
        allowed = {} if keeps == "none" else {
            gid: p for gid, p in points.items() if gid not in keeps}
        gained = {gid: s for gid, s in got(name).items()
                  if s > allowed.get(gid, 0.0)}
        assert not gained, f"{name} gained {gained}: {rows[name]['notes']}"
        assert rows[name]["status"] in ("flagged", "ok"), rows[name]
        if keeps != "none":
            assert got(name) == {**points, **dict.fromkeys(keeps, 0.0)}, \
                f"{name}: {rows[name]['notes']}"
