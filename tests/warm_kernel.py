"""A warm Python kernel for the tests' nbgrader runs: a server that imports
what every notebook's kernel imports once, then forks a kernel for each
notebook.

nbgrader starts a fresh kernel for every notebook it autogrades: Python,
ipykernel, torch and ``torch._dynamo`` (a ``torch.optim`` optimizer's first
step imports it) cost about three seconds of CPU before the notebook's
first line, for each of the tests' hundred and fifty notebooks.
``autograde.autograde`` instead points nbgrader (``JUPYTER_PATH``) at a
``python3`` kernel whose command is this file's *launcher*::

    python tests/warm_kernel.py launch -f {connection_file}

The launcher, a bare interpreter, connects to the *server*
(``python tests/warm_kernel.py serve SOCKET``, started with the
environment nbgrader's kernels get), sends its folder, its environment and
its stdin, stdout and stderr, and waits. The server forks a child that
becomes the kernel, as ``python -m ipykernel_launcher -f ...`` would in the
launcher's place: its folder, environment, ``sys.path`` and output; its
random generators seeded afresh, as a new interpreter's are. The launcher
passes on the signals nbgrader sends it (an interrupt, a terminate) and
exits when the kernel does; when the launcher is killed (nbgrader ends
each kernel so), the kernel ends at once.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import threading

#: What every notebook's kernel imports: loaded once, in the server. Not
#: ``ipykernel.kernelapp``, whose class reads the kernel's environment
#: (``JPY_PARENT_PID``) as it is defined: the kernel imports it itself,
#: in a few milliseconds once ``ipykernel.ipkernel`` is loaded.
PRELOAD = ("ipykernel.ipkernel", "numpy", "torch", "torch._dynamo",
           "ziptie.data", "ziptie.grader.runner", "ziptie.grader.verdict")
#: The environment variable that names the server's socket.
SOCKET = "ZIPTIE_WARM_KERNEL"


def serve(path: str) -> None:
    """Fork a kernel for every launcher that connects to ``path``."""
    base = [p for p in sys.path[1:] if p not in _pythonpath(os.environ)]
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)    # kernels reap alone
    # the tests' end closes stdin: the server ends, its kernels go on
    threading.Thread(target=lambda: os.read(0, 1) or os._exit(0),
                     daemon=True).start()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen()
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _kernel(conn, base)
        conn.close()


def _pythonpath(env) -> list[str]:
    return [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]


def _kernel(conn: socket.socket, base: list[str]) -> None:
    """In the forked child: become the launcher's kernel."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    job = json.loads(message)
    for fd, received in enumerate(fds):
        os.dup2(received, fd)
        os.close(received)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.path[:] = [*_pythonpath(job["env"]), *base]   # as ipykernel_launcher
    _seed_afresh()
    conn.sendall(str(os.getpid()).encode())
    # the launcher's end closes when it ends, killed or not: so does this
    threading.Thread(target=lambda: conn.recv(1) or os._exit(1),
                     daemon=True).start()
    from ipykernel import kernelapp

    sys.argv = [kernelapp.__file__, *job["argv"]]
    kernelapp.launch_new_instance(job["argv"])
    os._exit(0)


def _seed_afresh() -> None:
    """The generators a fresh interpreter seeds from the system: not the
    server's state, which every kernel would otherwise share."""
    import random

    import numpy as np
    import torch

    random.seed()
    np.random.seed()
    torch.seed()


def launch(argv: list[str]) -> None:
    """Have the server fork a kernel with these arguments; wait for it."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(os.environ[SOCKET])
    job = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    socket.send_fds(conn, [json.dumps(job).encode()], [0, 1, 2])
    pid = int(conn.recv(32))

    def forward(signum, frame):
        os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    while conn.recv(1):     # nothing more comes: the kernel's end closes
        pass


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        launch(sys.argv[2:])
