"""Start a training script on several processes, from a notebook or a test.

Data parallelism runs the same four lines in ``N`` processes, each on its own
shard of every batch, and averages their gradients after
``loss.backward()``. ``torch.multiprocessing.spawn`` cannot start those
processes from a notebook: each new process imports the function it runs by
its module's name, and a function defined in a notebook lives in no module
it can import. So the script goes into a file, and ``torchrun`` (PyTorch's
launcher, ``python -m torch.distributed.run``) starts it ``N`` times::

    from ziptie.parallel import run

    first, second = run("grad.py", nproc=2, args=["--batch-size", 64])

In the script, ``args = arguments(batch_size=64)`` reads its options and
``--out FOLDER``, a fresh folder that ``run`` passes, and every process
writes what it measured with ``report(args.out, name=value, ...)``; ``run``
reads them back, in the order of rank (``reports``). ``torchrun`` alone
starts the processes and returns when they are done; ``workdir()`` is a
folder for a notebook's scripts, removed when its kernel exits.

The launcher gives each process its place through environment variables,
which ``init_process_group`` reads:

``RANK``        this process's number, 0 to ``WORLD_SIZE - 1``;
``LOCAL_RANK``  its number on this machine (which GPU it takes);
``WORLD_SIZE``  how many processes take part;
``MASTER_ADDR``, ``MASTER_PORT``  where they meet.

Everything here runs on a CPU with the ``gloo`` backend; see the chapter
"Training on several processes" (``book/08_parallel.md``).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["TorchrunError", "arguments", "command", "free_port", "report",
           "reports", "run", "torchrun", "workdir"]


class TorchrunError(RuntimeError):
    """The processes failed or ran out of time; the message holds their
    output, so the error that stopped them is in the traceback."""


def free_port(host: str = "localhost") -> int:
    """A TCP port that nothing on ``host`` listens on right now.

    The operating system picks it (binding port 0), so two runs at once, or
    a port a crashed run left behind, do not collide.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def command(script: str | os.PathLike[str], nproc: int = 2,
            args: Sequence[object] = (),
            port: int | None = None) -> list[str]:
    """The ``torchrun`` command line that starts ``nproc`` copies of
    ``script`` on this machine, meeting at ``localhost:port``.

    ``--rdzv-backend=c10d`` makes the launcher itself hold the store where
    the processes meet (the *rendezvous*); a fresh port per run (by default
    :func:`free_port`) keeps two runs apart.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int, got {nproc!r}")
    port = free_port() if port is None else port
    return [sys.executable, "-m", "torch.distributed.run",
            f"--nproc-per-node={nproc}", "--nnodes=1",
            "--rdzv-backend=c10d", f"--rdzv-endpoint=localhost:{port}",
            "--max-restarts=0", os.fspath(script), *map(str, args)]


def torchrun(script: str | os.PathLike[str], nproc: int = 2,
             args: Sequence[object] = (), *, threads: int = 1,
             timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on ``nproc`` processes with ``torchrun`` and wait.

    Each process gets ``OMP_NUM_THREADS=threads`` (default 1): ``nproc``
    processes that each start a thread per core would fight over the cores
    and run slower than one.

    Args:
        script: the Python file every process runs.
        nproc: how many processes (the world size).
        args: command-line arguments for the script.
        threads: CPU threads per process.
        timeout: seconds before every process is stopped.

    Returns:
        The finished process, with the output of all processes in
        ``stdout`` and ``stderr``.

    Raises:
        FileNotFoundError: there is no ``script``.
        TorchrunError: a process failed, or the run took longer than
            ``timeout``; the message ends with what the processes printed.
    """
    if not Path(script).is_file():
        raise FileNotFoundError(f"no script {os.fspath(script)!r} to run")
    cmd = command(script, nproc, args)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    # The output goes to files, not pipes: a worker that outlives the
    # launcher would hold a pipe open, and reading it would never end.
    with tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, text=True, stdout=out,
                                stderr=err)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise TorchrunError(
                f"{Path(script).name} on {nproc} processes took longer "
                f"than {timeout:g} s and was stopped. Its output:\n"
                f"{_tail(_read(out), _read(err))}") from None
        stdout, stderr = _read(out), _read(err)
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        raise TorchrunError(
            f"{Path(script).name} on {nproc} processes failed (exit status "
            f"{done.returncode}). Its output:\n{_tail(stdout, stderr)}")
    return done


def _read(file: IO[str]) -> str:
    file.seek(0)
    return file.read()


def _stop(proc: subprocess.Popen[str], grace: float = 40.0) -> None:
    """Stop the launcher ``proc`` and its workers.

    ``torchrun`` starts every worker in a session of its own, out of reach
    of a signal to the launcher's group; on SIGTERM the launcher stops them
    itself (SIGTERM, then SIGKILL) before it exits. Only a launcher that
    does not exit within ``grace`` seconds is killed outright.
    """
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(stdout: str, stderr: str, limit: int = 8000) -> str:
    """The last ``limit`` characters of the processes' output."""
    text = (stdout or "") + (stderr or "")
    return text if len(text) <= limit else "...\n" + text[-limit:]


def run(script: str | os.PathLike[str], nproc: int = 2,
        args: Sequence[object] = (), **kwargs: Any) -> list[dict[str, Any]]:
    """Run ``script`` on ``nproc`` processes; what each one reported.

    The script gets ``--out FOLDER`` after ``args``, a fresh folder for
    this run alone, where each process calls :func:`report`; so a report
    left by an earlier run is never read as this run's. ``kwargs`` go to
    :func:`torchrun`.

    Raises:
        TorchrunError: as :func:`torchrun`.
        FileNotFoundError: a process reported nothing.
    """
    with tempfile.TemporaryDirectory(prefix="ziptie-parallel-") as out:
        torchrun(script, nproc, [*map(str, args), "--out", out], **kwargs)
        return reports(out, nproc=nproc)


@functools.cache
def workdir() -> Path:
    """A folder for the scripts this Python process writes and starts.

    Made on first use, the same folder on every call, and removed when the
    process (a notebook's kernel) exits, so no script is left behind.
    """
    folder = Path(tempfile.mkdtemp(prefix="ziptie-scripts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def arguments(**defaults: Any) -> argparse.Namespace:
    """The command-line options of a script that :func:`run` started.

    Each keyword names an option and its default: ``batch_size=64`` reads
    ``--batch-size N`` as an int, 64 when it is not given. ``--out``, the
    folder for :func:`report` that :func:`run` passes, is always read::

        args = arguments(epochs=30, lr=1e-3)
        ...
        report(args.out, loss=loss.item())
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True,
                        help="the folder where report() writes")
    for name, default in defaults.items():
        if isinstance(default, bool) or not isinstance(default,
                                                       (int, float, str)):
            raise TypeError(f"the default of {name} must be an int, a "
                            f"float or a str, got {default!r}")
        parser.add_argument("--" + name.replace("_", "-"),
                            type=type(default), default=default)
    return parser.parse_args()


def report(folder: str | os.PathLike[str], **values: Any) -> Path:
    """Write this process's results, as JSON, to ``folder/rank<RANK>.json``.

    Call it in a script that ``torchrun`` started; the values must be what
    JSON holds (numbers, strings, lists: ``tensor.tolist()``). The file
    appears whole or not at all, so a reader never sees half of it.
    """
    rank = int(os.environ.get("RANK", "0"))
    path = Path(folder) / f"rank{rank}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(values))
    os.replace(partial, path)
    return path


def reports(folder: str | os.PathLike[str],
            nproc: int | None = None) -> list[dict[str, Any]]:
    """What every process wrote with :func:`report`, in the order of rank.

    With ``nproc``, exactly that many reports must be there, one per rank
    from 0 to ``nproc - 1``.

    Raises:
        FileNotFoundError: a report of a rank is missing.
    """
    found = sorted((p for p in Path(folder).glob("rank*.json")
                    if p.stem[4:].isdigit()), key=lambda p: int(p.stem[4:]))
    ranks = [int(p.stem[4:]) for p in found]
    expected = list(range(len(found) if nproc is None else nproc))
    if ranks != expected:
        raise FileNotFoundError(
            f"{os.fspath(folder)} holds the reports of ranks {ranks}, "
            f"expected {expected}: did every process call report()?")
    return [json.loads(p.read_text()) for p in found]
