"""The sandbox holds: no network, no course files, limits that end runs."""

import corpus
import pytest

from ziptie.grader import runner, sandbox
from ziptie.grader.wire import from_json

ISO = sandbox.isolation()
needs_namespaces = pytest.mark.skipif(
    not ISO.namespaces, reason="no namespaces on this machine: " +
    ISO.describe())


def _run(*cells, probes=(), **limits):
    limits = sandbox.Limits(**{"cell_timeout": 10, **limits})
    uid = 209998 if ISO.separate_user else None
    return sandbox.run({"cells": list(cells), "probes": list(probes)}, {},
                       limits, sandbox.hidden_paths(corpus.COURSE), uid)


@needs_namespaces
def test_no_network_no_course_files_no_root():
    out = _run(
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        "s.connect(('1.1.1.1', 53))",
        f"open({str(corpus.SOURCE)!r}).read()",
        "import os\nassert os.getuid() != 0 or not "
        f"{ISO.separate_user}, 'runs as root'",
        "import os\nprint(sorted(os.listdir('.')))")
    assert out.finished
    assert out.cells[0].startswith(("OSError", "PermissionError")) or \
        "unreachable" in out.cells[0]
    assert out.cells[1].startswith(("FileNotFoundError", "PermissionError"))
    assert out.cells[2] is None
    assert out.cells[3] is None


def test_probes_return_plain_data_only():
    out = _run("import numpy as np\ndef f(x):\n    return x * 2\n"
               "class Yes(float):\n    def __eq__(self, o):\n"
               "        return True\n"
               "def g():\n    return Yes(1)\n",
               probes=[{"steps": [{"target": "f", "args": [
                   {"$nd": [1.0, 2.0], "dtype": "float64"}]}]},
                   {"steps": [{"target": "g", "args": []}]},
                   {"steps": [{"target": "nope", "args": []}]}])
    assert from_json(out.probes[0]["values"])[0].tolist() == [2.0, 4.0]
    assert "not plain data" in out.probes[1]["error"]
    assert out.probes[2]["error"].startswith("NameError")


def test_output_is_capped_and_a_dead_process_is_reported():
    out = _run("print('x' * 10**6)", "import os\nos._exit(7)",
               output=1000, restarts=0)
    assert len(out.output) < 1200 and "more bytes of output not kept" \
        in out.output
    assert not out.finished and "crashed (exit status 7)" in out.problems


def test_from_json_refuses_what_is_not_data():
    with pytest.raises(ValueError, match="unknown dtype"):
        from_json({"$nd": [1], "dtype": "object"})
    with pytest.raises(TypeError, match="not plain data"):
        runner.encode(object())
