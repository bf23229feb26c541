"""The tripwires inside the sandbox (``ziptie.grader.tripwire``) and the
signed results channel, tried from a notebook's cells in a real sandbox.

These run the cells as they are, without the grader's static reading
(``test_scan.py``), so each attack meets the run-time layer alone.
"""

import json

import corpus
import pytest

from ziptie.grader import sandbox
from ziptie.grader.probe import Probe

ISO = sandbox.isolation()

#: One cell per way into the grader's process or out of the notebook, and
#: the audit event that must refuse it.
ATTACKS = {
    "frame": ("import sys\nsys._getframe().f_back", "sys._getframe"),
    "inspect": ("import inspect\ninspect.stack()", "sys._getframe"),
    "traceback": ("try:\n    1 / 0\nexcept Exception as e:\n"
                  "    e.__traceback__.tb_frame", "tb_frame"),
    "generator": ("def g():\n    yield 1\ng().gi_frame", "gi_frame"),
    "gc": ("import gc\n[o for o in gc.get_objects() if isinstance(o, dict)"
           " and 'probes' in o]", "gc.get_objects"),
    "referrers": ("import gc\ngc.get_referrers(print)", "gc.get_referrers"),
    "ctypes": ("import ctypes\nctypes.string_at(0)", "ctypes."),
    "channel": ("import os\nos.fdopen(3, 'w').write('x')", "open"),
    "proc": ("open('/proc/self/cmdline').read()", "open"),
    "fd_list": ("import os\nos.listdir('/proc/self/fd')", "os.listdir"),
    "numpy_proxy": ("open.__call__('/dev/fd/3', 'w')", "open"),
    "subprocess": ("import subprocess\nsubprocess.run(['true'])",
                   "subprocess.Popen"),
    "fork": ("import os\nos.fork()", "os.fork"),
    "exec": ("exec('x = 1')", "compile"),
    "code": ("(lambda: 0).__code__", "__code__"),
    "settrace": ("import sys\nsys.settrace(None)", "sys.settrace"),
    "setprofile": ("import sys\nsys.setprofile(None)", "sys.setprofile"),
    "socket": ("import socket\nsocket.socket()", "socket."),
    # the digits the grader keeps back, read around ziptie.data
    "digits": ("from sklearn.datasets import load_digits\nload_digits()",
               "reads the digits"),
    "digits_file": ("import numpy as np, sklearn, os\nnp.loadtxt(os.path."
                    "join(os.path.dirname(sklearn.__file__), 'datasets', "
                    "'data', 'digits.csv.gz'), delimiter=',')",
                    "reads the digits"),
}

#: What honest notebooks do, which must pass untouched.
HONEST = [
    "import numpy as np\nimport torch\nimport ziptie\n"
    "device = ziptie.device()\nrng = ziptie.seed(0)",
    "from torch import nn\nmodel = nn.Sequential(nn.Linear(2, 4), nn.ReLU(),"
    " nn.Linear(4, 1))\nX, y = torch.randn(32, 2), torch.randn(32, 1)\n"
    "opt = torch.optim.SGD(model.parameters(), lr=0.1)\nfor _ in range(3):\n"
    "    loss = ((model(X) - y) ** 2).mean()\n    opt.zero_grad()\n"
    "    loss.backward()\n    opt.step()",
    "from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int = 1\n"
    "from collections import namedtuple\nQ = namedtuple('Q', 'a b')\n"
    "print(P(), Q(1, 2))",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)):\n    pass",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.savefig('a.png')",
    "X, y = ziptie.data.load('digits').train\nprint(X.shape)",
    "def f():\n    raise ValueError('a plain error')\ntry:\n    f()\n"
    "except ValueError as e:\n    print(e)",
]


def _run(cells, probes=(), **limits):
    limits = sandbox.Limits(**{"cell_timeout": 30, **limits})
    uid = 209994 if ISO.separate_user else None
    return sandbox.run({"cells": list(cells), "probes": list(probes)}, {},
                       limits, sandbox.hidden_paths(corpus.COURSE), uid)


@pytest.mark.slow
def test_every_way_out_is_refused_and_honest_code_runs():
    names = list(ATTACKS)
    out = _run([*HONEST, *(ATTACKS[n][0] for n in names)])
    assert out.finished, out.problems
    for k in range(len(HONEST)):
        assert out.cells[k] is None, (HONEST[k], out.cells[k])
    for k, name in enumerate(names, start=len(HONEST)):
        error, event = out.cells[k], ATTACKS[name][1]
        assert error and error.startswith("PermissionError") and \
            event in error, f"{name}: {error}"
    assert len(out.flags) == len(names), out.flags
    assert all(f.startswith(f"cell {len(HONEST) + k + 1}: ")
               for k, f in enumerate(out.flags)), out.flags
    assert "a plain error" in out.output


def _forge(index: int) -> str:
    """A cell that writes a probe's answer on the channel itself."""
    line = json.dumps({"event": "probe", "index": index, "values": [7.0]})
    return ("import os\n"
            f"os.write(3, {line!r}.encode() + b'\\n')\n"
            f"os.write(3, b'0' * 32 + b' ' + {line!r}.encode() + b'\\n')")


@pytest.mark.slow
def test_lines_the_runner_did_not_write_are_dropped_and_flagged():
    probe = Probe.call("answer").to_job()
    out = _run([_forge(0), "def answer():\n    return 1.0"], [probe])
    assert out.finished
    assert out.probes[0]["values"] == [1.0]       # the runner's own line
    assert any("did not write" in f for f in out.flags), out.flags


@pytest.mark.slow
def test_nothing_printed_while_probed_is_kept_and_no_runner_code_leaks():
    cells = ["import signal, sys\n"
             "def answer(x):\n"
             "    print('SECRET', x)\n"
             "    return [signal.getsignal(signal.SIGALRM) is "
             "signal.default_int_handler,\n"
             "            'Channel' in vars(sys.getprofile().__module__ and "
             "sys.modules[sys.getprofile().__module__])]\n"
             "print('kept')"]
    probe = (Probe.call("answer", 41.5).forbid("torch.logsumexp").to_job())
    out = _run(cells, [probe])
    assert out.finished and out.cells[0] is None
    assert "kept" in out.output and "SECRET" not in out.output
    assert out.probes[0]["values"] == [[True, False]]


@pytest.mark.slow
def test_a_forbidden_function_fails_its_probe_whatever_its_name():
    cells = ["import torch\nimport torch.nn.functional as F\n"
             "from torch.nn.functional import cross_entropy as early\n"
             "def alias(z, y):\n    return early(z, y)\n"
             "def module(z, y):\n    return torch.nn.CrossEntropyLoss()(z, y)\n"
             "def private(z, y):\n"
             "    return torch._C._nn.cross_entropy_loss(z, y)\n"
             "def honest(z, y):\n"
             "    return -(z - z.exp().sum(1, keepdim=True).log())"
             "[range(len(y)), y].mean()\n"]
    import torch

    z, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 2, 1, 1])
    banned = ("torch.nn.functional.cross_entropy",
              "torch._C._nn.cross_entropy_loss")
    names = ["alias", "module", "private", "honest"]
    out = _run(cells, [Probe.call(n, z, y).forbid(*banned).to_job()
                       for n in names])
    assert out.finished
    for k in range(3):
        assert out.probes[k].get("forbidden"), (names[k], out.probes[k])
        assert "PermissionError" in out.probes[k]["error"]
    value = out.probes[3]["values"][0]["$pt"]
    assert value == pytest.approx(torch.nn.functional.cross_entropy(z, y)
                                  .item())
