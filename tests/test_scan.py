"""The grader's reading of the student's cells (``ziptie.grader.scan``):
every spelling of tampering and of a forbidden function is found, and the
course's own notebooks, solutions and try-it cells alike, hold none."""

import json

import numpy as np
import pytest

import autograde
from ziptie.grader.assignment import load_assignment, runnable_cells
from ziptie.grader.scan import scan

#: Cells that tamper, and what the finding must say.
TAMPERING = {
    "import os\nos.write(3, b'{}')": "uses os.write",
    "import os as o\no._exit(0)": "uses os._exit",
    "from os import write as w\nw(3, b'')": "uses os.write",
    "from os import *": "imports * from os",
    "import sys\nsys._getframe(1).f_locals": "uses sys._getframe",
    "import sys\nsys.modules['__main__']": "uses sys.modules",
    "import gc\ngc.get_objects()": "uses gc",
    "import ctypes": "uses ctypes",
    "import inspect": "uses inspect",
    "import threading": "uses threading",
    "from ziptie.grader import runner": "uses ziptie.grader",
    "f.__globals__['_OUT']": "reads the attribute __globals__",
    "().__class__.__bases__[0].__subclasses__()": "__subclasses__",
    "x = e.__traceback__.tb_frame": "tb_frame",
    "getattr(os, 'wr' + 'ite')": "calls getattr with a computed name",
    "getattr(f, '__globals__')": "reads the attribute __globals__",
    "getattr(self, name)": "calls getattr with a computed name",
    "getattr(*a)": "calls getattr with a computed name",
    "setattr(__import__('os'), name, 1)": "uses __import__",
    "setattr(self, f'__{name}__', None)": "calls setattr with a computed name",
    "getattr(self, f'f_{x}')": "calls getattr with a computed name",
    "getattr(self, f'{prefix}fc')": "calls getattr with a computed name",
    "import torch\nsetattr(torch, f'fc{i}', None)":
        "calls setattr with a computed name",
    "self = frame\ngetattr(self, f'fc{i}')": "calls getattr with a computed",
    "exec('x = 1')": "uses exec",
    "eval('1')": "uses eval",
    "__import__('os')": "uses __import__",
    "get_ipython().user_ns": "uses get_ipython",
    "!cat /proc/self/cmdline": "runs the command '!cat /proc/self/cmdline'",
    "%run other.py": "runs the command '%run other.py'",
    "%time os.system('id')": "uses os.system",
    "%%timeit -n 1\nimport ctypes": "uses ctypes",
    "!pip install x; cat /proc/1/environ":
        "runs the command '!pip install x; cat /proc/1/environ'",
    "import torch\ntorch._C._nn.cross_entropy_loss": "private",
    "import torch\ntorch.ops.aten.nll_loss_forward": "uses torch.ops",
    "import numpy as np\nnp.allclose = lambda *a, **k: True":
        "replaces numpy.allclose",
    "import builtins\nbuiltins.AssertionError = Warning": "builtins",
    "import json.encoder": "json.encoder",
    "name = 'f_back'": "names 'f_back'",
    # the digits the grader keeps back, read around ziptie.data
    "from sklearn.datasets import load_digits": "reads the digits",
    "import sklearn.datasets as d\nX = d.load_digits().data":
        "reads the digits",
    "import sklearn\nsklearn.datasets.load_digits()": "reads the digits",
    "path = 'data/digits.csv.gz'": "names 'data/digits.csv.gz'",
    "import ziptie\nziptie.data._digits(held_back=True)": "private",
    # a name in a string meets the rules of the attribute it names
    "import ziptie\ngetattr(ziptie.data, '_digits')(True)": "private",
    "import ziptie.data as d\nsetattr(d, '_hold_out', print)":
        "replaces ziptie.data._hold_out",
    "import numpy as np\nsetattr(np, 'allclose', print)":
        "replaces numpy.allclose",
    "import numpy as np\ndelattr(np, 'allclose')": "replaces numpy.allclose",
    "import sys\ngetattr(sys, 'modules')": "sys.modules",
    "import operator, ziptie\n"
    "operator.attrgetter('data._digits')(ziptie)(True)":
        "uses operator.attrgetter",
    "from operator import methodcaller as m\nm('_digits', True)":
        "uses operator.methodcaller",
}

#: Ways to reach torch's cross_entropy in a task that forbids it.
FORBIDDEN = [
    "import torch.nn.functional as F\n"
    "def cross_entropy_torch(z, y):\n    return F.cross_entropy(z, y)",
    "from torch.nn.functional import cross_entropy as ce\n"
    "def cross_entropy_torch(z, y):\n    return ce(z, y)",
    "import torch\nhelper = torch.nn.functional.cross_entropy\n"
    "def cross_entropy_torch(z, y):\n    return helper(z, y)",
    "def cross_entropy_torch(z, y):\n"
    "    return -z.log_softmax(1)[range(len(y)), y].mean()",
    "import torch\ndef cross_entropy_torch(z, y):\n"
    "    return getattr(torch.nn.functional, 'cross_entropy')(z, y)",
]


@pytest.mark.parametrize("cell", TAMPERING)
def test_tampering_is_found_in_any_spelling(cell):
    found = scan([(0, cell)])
    assert any(TAMPERING[cell] in str(f) and f.task is None
               for f in found), found


@pytest.mark.parametrize("cell", FORBIDDEN)
def test_a_forbidden_function_is_found_by_any_name(cell):
    forbidden = [("torch.nn.functional.cross_entropy", "test_ce"),
                 ("torch.Tensor.log_softmax", "test_ce")]
    found = scan([(3, cell)], forbidden)
    assert [f.task for f in found] and {f.task for f in found} == \
        {"test_ce"}, found
    assert all(f.cell == 3 and "which this task forbids" in str(f)
               for f in found)


def test_a_numbered_name_on_self_is_no_way_to_a_forbidden_function():
    cell = "getattr(self, f'cross{suffix}')"
    assert scan([(0, cell)]) == []
    found = scan([(0, cell)], [("torch.nn.functional.cross_entropy",
                                "test_ce")])
    assert ["computed name" in str(f) for f in found] == [True], found


def test_a_finding_says_where():
    found = scan([(0, "x = 1"), (1, "y = 2\nimport os\nos.dup(1)")])
    assert [str(f) for f in found] == ["cell 2, line 3: uses os.dup"]


def test_honest_code_of_every_kind_is_not_flagged():
    cells = ["import os\nprint(os.path.join('a', 'b'), os.getcwd())",
             "x = getattr()",           # a TypeError when it runs, no reach
             "import sys\nprint(sys.version)\nsys.stdout.flush()",
             "class SGD:\n    def __init__(self, params, lr):\n"
             "        self._params = list(params)\n"
             "        super().__init__()\n"
             "    def __repr__(self):\n        return f'SGD({self._lr})'",
             "h = getattr(model, 'lr')\nsetattr(model, 'lr', 0.1)",
             "class MLP(nn.Module):\n    def __init__(self, sizes):\n"
             "        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):\n"
             "            setattr(self, f'fc{i}', nn.Linear(a, b))\n"
             "    def forward(self, x):\n"
             "        return getattr(self, f'fc{0}')(x)",
             "import torch\ntorch.backends.cudnn.deterministic = True",
             "def softmax(z):\n    z = z - z.max(axis=1, keepdims=True)\n"
             "    e = np.exp(z)\n    return e / e.sum(axis=1, keepdims=True)",
             "%matplotlib inline\n%config InlineBackend.figure_format = "
             "'retina'\n%load_ext autoreload\n%autoreload 2",
             "%timeit softmax(z)\n!pip install ziptie\n%pip install torch",
             "from sklearn.datasets import make_moons\nX, y = make_moons()\n"
             "digits = ziptie.data.load('digits')"]
    assert scan(list(enumerate(cells))) == []


@pytest.mark.parametrize("assignment", autograde.assignments())
def test_no_cell_of_a_solution_notebook_is_flagged(assignment):
    spec = load_assignment(autograde.ROOT, assignment)
    notebook = json.loads(json.dumps(autograde.filled(assignment)))
    cells, _ = runnable_cells(spec.source, notebook)
    forbidden = sorted({(name, gid) for gid, task in spec.tasks.items()
                        for probe, _ in task.draw(np.random.default_rng(0))
                        for name in probe.forbidden})
    found = scan(list(enumerate(text for text, _ in cells)), forbidden)
    counted = [f for f in found if f.task is None or cells[f.cell][1] in
               spec.solutions.get(f.task, [])]
    assert counted == [], counted


def test_installs_are_not_run_and_the_cell_still_parses():
    from ziptie.grader.scan import without_installs

    cell = "if True:\n    !pip install ziptie\n%pip install torch\nx = 1"
    kept = without_installs(cell)
    assert "pip install ziptie" in kept and "x = 1" in kept
    assert scan([(0, kept)]) == []
    compile(kept.replace("%", "#"), "cell", "exec")
