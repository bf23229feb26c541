"""A warm ``python -m ziptie.cli``: a server that imports what the command
line's grading imports once, then forks a child for each command.

A fresh interpreter that runs ``ziptie grade`` spends about four seconds
of CPU importing torch, ``torch._dynamo`` and nbgrader before it grades a
notebook; the tests run it dozens of times. This server (started by
``autograde.ziptie_cli``, one per test process) imports ``PRELOAD``, then
reads one command a line on stdin, as JSON::

    {"argv": [...], "cwd": "...", "env": {...}, "stdout": "file",
     "stderr": "file"}

and forks. The child leaves the server's loop and becomes the command: in
``cwd``, with ``env``, its stdin empty and its output in the two files, it
runs ``ziptie.cli.main(argv)`` and exits as ``python -m ziptie.cli`` does
(``sys.exit``, with the interpreter's own handling of a return code, an
uncaught exception, the exit handlers). The server answers with the
child's process id, a line, then with its exit status, a line, as
``subprocess`` gives it (negative: ended by that signal).
"""

from __future__ import annotations

import importlib
import json
import os
import sys

#: What a ``ziptie grade`` run imports before it grades a notebook:
#: torch, ``torch._dynamo`` (a ``torch.optim`` optimizer's first step
#: imports it), nbgrader, the grader.
PRELOAD = ("torch", "torch._dynamo", "nbgrader.utils", "ziptie.cli",
           "ziptie.grader.grade", "ziptie.grader.diagnosis")


def serve() -> dict:
    """Fork a child for each command on stdin; in the child, return the
    command. The server itself exits when stdin ends."""
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return job
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}),
              flush=True)
    sys.exit(0)


def become(job: dict) -> None:
    """Turn this forked child into the command's process."""
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.dont_write_bytecode = "PYTHONDONTWRITEBYTECODE" in job["env"]
    sys.argv = ["ziptie", *job["argv"]]
    for fd, path in enumerate([os.devnull, job["stdout"], job["stderr"]]):
        opened = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        os.dup2(opened, fd)
        os.close(opened)


if __name__ == "__main__":
    for name in PRELOAD:
        importlib.import_module(name)
    command = serve()
    become(command)
    from ziptie import cli

    sys.exit(cli.main(command["argv"]))
