"""The tests' nbgrader runs fork each kernel from a warm server
(tests/warm_kernel.py): a forked kernel must be what nbgrader's fresh one
is, to the notebook."""

import os
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

import autograde

#: What a notebook sees of its process: folder, import path, environment,
#: the first draws of each global generator, which modules it has loaded.
LOOK = ("import os, random, sys, numpy, torch\n"
        "print(repr((os.getcwd(), sys.path, os.environ.get('ZIPTIE_LOOK'),\n"
        "            'JPY_PARENT_PID' in os.environ, random.random(),\n"
        "            numpy.random.rand(), torch.rand(1).item())))")


def _run(cells: list[str], folder, env: dict, timeout: int = 60) -> list:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    old = dict(os.environ)
    os.environ.update(env)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}},
                                shutdown_kernel="immediate")  # as nbgrader's
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return [eval(c.outputs[0]["text"]) for c in nb.cells if c.outputs]


@pytest.mark.slow
def test_a_warm_kernel_sees_what_a_fresh_one_sees(tmp_path):
    env = {"ZIPTIE_LOOK": "seen", "PYTHONPATH": str(tmp_path)}
    (fresh,) = _run([LOOK], tmp_path, env)
    warm = dict(env, **autograde._warm_kernel(dict(os.environ)))
    (first,), (second,) = (_run([LOOK], tmp_path, warm) for _ in range(2))
    assert first[:4] == fresh[:4] == (str(tmp_path), fresh[1], "seen", True)
    assert first[1][0] == str(tmp_path)            # PYTHONPATH comes first
    for k in (4, 5, 6):                             # seeded afresh each time
        assert first[k] != second[k]


@pytest.mark.slow
def test_a_warm_kernel_that_runs_too_long_is_stopped(tmp_path):
    warm = autograde._warm_kernel(dict(os.environ))
    marker = tmp_path / "alive"
    loop = (f"import os, time\nopen({str(marker)!r}, 'w').write(str("
            f"os.getpid()))\nwhile True:\n    time.sleep(0.1)")
    with pytest.raises(CellTimeoutError):
        _run([loop], tmp_path, warm, timeout=5)
    pid = int(marker.read_text())
    for _ in range(50):                 # it ends within five seconds
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("the kernel outlived its launcher")
