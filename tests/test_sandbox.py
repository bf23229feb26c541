"""The sandbox holds: every limit is tried by a submission that passes it.

Each protection's test either shows it held, or, where this machine cannot
give it, asserts that ``isolation()`` says so in capitals (``ziptie grade``
then refuses to run without ``--accept-weak-sandbox``) and reports a skip
naming it. Sizes are small and times short: the limits are set low.

These cells run without the runner's tripwires (``"tripwires": False``,
which only the grader can ask for), so that each attack meets the
operating system's protection alone: ``test_tripwire.py`` tries the same
attacks against the tripwires.
"""

import contextlib
import dataclasses
import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import corpus
import pytest

import ziptie
from ziptie.grader import runner_probe, sandbox
from ziptie.grader.wire import from_json

ISO = sandbox.isolation()


def in_force(key: str) -> None:
    """Go on if protection ``key`` is in force here; else check that
    ``isolation()`` names it missing, in capitals, and skip saying so."""
    for name, ok, text in ISO.protections():
        if name == key:
            if ok:
                return
            assert text in ISO.missing() and text.split(" (")[0].isupper()
            pytest.skip(f"not in force on this machine: {text}")
    raise AssertionError(f"isolation() says nothing about {key!r}")


#: How the sandbox starts in the test that runs: forked from the warm
#: interpreter (``sandbox_zygote``) or as a fresh one. Every attack here is
#: tried against both starts.
START = {"warm_start": True}


@pytest.fixture(autouse=True, params=["warm", "cold"])
def start(request, monkeypatch):
    monkeypatch.setitem(START, "warm_start", request.param == "warm")
    return request.param


def _run(*cells, probes=(), on_event=None, **limits):
    limits = sandbox.Limits(**{"cell_timeout": 10, **START, **limits})
    uid = 209998 if sandbox.isolation().separate_user else None
    return sandbox.run({"cells": list(cells), "probes": list(probes),
                        "tripwires": False},
                       {"data.txt": b"the submission's own file"}, limits,
                       sandbox.hidden_paths(corpus.COURSE), uid, on_event)


def test_no_network_but_loopback():
    in_force("net")
    out = _run(
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        "s.connect(('1.1.1.1', 53))",
        "import socket\nserver = socket.create_server(('127.0.0.1', 0))\n"
        "c = socket.create_connection(server.getsockname(), timeout=2)\n"
        "c.sendall(b'gloo')\nassert server.accept()[0].recv(4) == b'gloo'")
    assert out.finished
    assert out.cells[0].startswith("OSError")
    assert out.cells[1] is None


def test_course_files_hidden_and_own_user():
    in_force("mount")
    out = _run(
        f"open({str(corpus.SOURCE)!r}).read()",
        "import os\nassert os.getuid() != 0 or not "
        f"{ISO.separate_user}, 'runs as root'",
        "import os\nmine = [n for n in os.listdir() if n[0] != '.']\n"
        "assert mine == ['data.txt'], mine")
    assert out.finished
    assert out.cells[0].startswith(("FileNotFoundError", "PermissionError"))
    assert out.cells[1] is None and out.cells[2] is None


PACKAGE = Path(ziptie.__file__).parent

#: Tries to change the grader's own files: the package and Python's.
TAMPER = (f"import os, sys\nfor p in [{str(PACKAGE / 'planted.py')!r}, "
          f"{str(PACKAGE / '__init__.py')!r},\n"
          "          os.path.join(sys.prefix, 'planted')]:\n"
          "    assert os.statvfs(os.path.dirname(p)).f_flag & os.ST_RDONLY\n"
          "    try:\n        open(p, 'a').write('# planted')\n"
          "    except OSError as err:\n"
          "        assert err.errno in (13, 30), (p, err)  # EACCES, EROFS\n"
          "    else:\n        raise AssertionError(f'wrote {p}')\n")


def _as_user_namespace() -> sandbox.Isolation:
    """This machine's isolation as a grader without root gets it: an
    unprivileged user namespace, no uid of its own (mapped to root here, so
    only the read-only mounts stand between it and the grader's files)."""
    prefix = ISO.prefix[:1] + ("--map-root-user",) + ISO.prefix[1:]
    return dataclasses.replace(ISO, prefix=prefix, separate_user=False,
                               namespaces=(*ISO.namespaces, "user"),
                               cgroups=())


@pytest.mark.parametrize("mode", ["as it runs here", "user namespace"])
def test_the_grader_files_are_read_only(mode, monkeypatch):
    in_force("mount")
    before = (PACKAGE / "__init__.py").read_bytes()
    if mode == "user namespace":
        if os.geteuid() != 0 or "user" in ISO.namespaces:
            pytest.skip("the grader runs without root: the case above is "
                        "this one")
        monkeypatch.setattr(sandbox, "isolation", _as_user_namespace)
    limits = sandbox.Limits(cell_timeout=10, **START)
    out = sandbox.run({"cells": [TAMPER]}, {}, limits,
                      sandbox.hidden_paths(corpus.COURSE),
                      209998 if sandbox.isolation().separate_user else None)
    assert out.cells == {0: None}, out.output
    assert (PACKAGE / "__init__.py").read_bytes() == before
    assert not (PACKAGE / "planted.py").exists()


def test_own_processes_and_proc():
    in_force("pid")
    out = _run(
        "import os\nseen = [open(f'/proc/{p}/cmdline', 'rb').read()\n"
        "        for p in os.listdir('/proc') if p.isdigit()]\n"
        "assert len(seen) < 5, seen\n"
        "assert not any(b'pytest' in c for c in seen), seen")
    assert out.cells == {0: None}, out.output


SHM = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
       "shm = libc.shmget({key}, 4096, {flags})\n")


def test_shared_memory_is_private_and_gone_afterwards():
    in_force("ipc")
    key = secrets.randbelow(1 << 30) + 1
    name = f"ziptie-secret-{key}"
    made = _run(SHM.format(key=key, flags="0o1666") + "assert shm >= 0, shm",
                "from multiprocessing import shared_memory as s\n"
                f"s.SharedMemory({name!r}, create=True, size=64)")
    assert made.cells == {0: None, 1: None}, made.output
    looked = _run(SHM.format(key=key, flags="0o666") + "assert shm == -1",
                  "from multiprocessing import shared_memory as s\n"
                  f"s.SharedMemory({name!r})")
    assert looked.cells[0] is None, looked.output
    assert looked.cells[1].startswith("FileNotFoundError")
    keys = [line.split()[0] for line in
            Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    assert str(key) not in keys
    assert not Path(f"/dev/shm/{name}").exists()


def test_disk_bytes_and_files_are_capped():
    in_force("mount")
    out = _run("open('big', 'wb').write(b'x' * (9 << 20))",
               "import os\nfor k in range(400):\n"
               "    open(f'f{k}', 'w').close()",
               "open('/dev/shm/big', 'wb').write(b'x' * (9 << 20))",
               disk=8 << 20, files=200)
    assert out.finished
    for k in range(3):
        assert "No space left on device" in out.cells[k], out.cells


def test_memory_of_all_processes_together():
    in_force("memory")
    out = _run(
        "import os, time\nkids = []\nfor _ in range(3):\n"
        "    pid = os.fork()\n    if pid == 0:\n"
        "        held = b'x' * (120 << 20)\n        time.sleep(3)\n"
        "        os._exit(0)\n    kids.append(pid)\n"
        "codes = [os.waitpid(p, 0)[1] for p in kids]\n"
        "assert codes == [0, 0, 0], codes",
        memory=256 << 20, restarts=0)
    held = out.finished and out.cells[0] is None
    assert not held, "three processes held 360 MB under a 256 MB limit"
    assert out.problems == ["memory-limit"] or out.cells[0].startswith(
        "AssertionError"), out


def test_processes_of_all_together():
    in_force("pids")
    out = _run(
        "import os, time\nkids = []\ntry:\n    for _ in range(40):\n"
        "        pid = os.fork()\n        if pid == 0:\n"
        "            time.sleep(5)\n            os._exit(0)\n"
        "        kids.append(pid)\nfinally:\n"
        "    print('forked', len(kids))\n",
        processes=16, restarts=0)
    assert out.cells[0].startswith("BlockingIOError"), out
    assert int(out.output.split("forked")[1].split()[0]) < 16


def test_cpu_time_of_all_processes_together():
    in_force("cpu")
    spin = "import os\nfor _ in range(2):\n    if os.fork() == 0:\n" \
           "        while True:\n            pass\nwhile True:\n    pass\n"
    out = _run(spin, cpu_time=2, cell_timeout=40, notebook_timeout=40,
               restarts=0)
    assert out.problems == ["cpu-limit"]
    assert out.cells[0] == "the sandbox ended in this cell: cpu-limit"
    assert out.seconds < 30


def test_an_endless_loop_is_stopped_and_named():
    out = _run("x = 1", "while True:\n    pass", "y = 2", cell_timeout=1)
    assert out.finished and out.cells[1].startswith("CellTimeout")
    stubborn = ("import signal\nsignal.signal(signal.SIGALRM, "
                "signal.SIG_IGN)\nwhile True:\n    pass")
    out = _run("x = 1", stubborn, "y = 2", cell_timeout=1)
    assert out.problems[0] == "timeout"
    assert out.cells == {0: None, 1: "the sandbox ended in this cell: "
                         "timeout", 2: None}
    assert out.seconds < 1 + sandbox.GRACE + 20


def test_the_notebook_wall_clock_limit():
    out = _run(*["import time\ntime.sleep(3)"] * 4, notebook_timeout=5,
               restarts=0)
    assert out.problems == ["timeout"]
    assert out.cells[0] is None
    assert out.cells[1] == "the sandbox ended in this cell: timeout"


def test_cells_and_probes_are_reported_as_they_run():
    seen = []
    out = _run("x = 1", "y = 2", probes=[{"steps": [{"target": "x"}]}],
               on_event=seen.append)
    assert out.finished
    assert [(e["event"], e.get("index")) for e in seen] == [
        ("cell", 0), ("cell_done", 0), ("cell", 1), ("cell_done", 1),
        ("probe_start", 0), ("probe", 0), ("done", None)]

    def broken(event):
        raise RuntimeError("the progress display broke")

    with pytest.raises(RuntimeError, match="progress display"):
        _run("x = 1", on_event=broken)


#: Sends 1 GB of events in lines of ~1 KB, or one line without an end.
FLOOD = ("import os\nline = b'{\"event\": \"probe\", \"index\": 0, "
         "\"values\": [' + b'0,' * 500 + b'0]}\\n'\n"
         "for _ in range(1 << 20):\n    os.write(3, line)\n")
ENDLESS = "import os\nwhile True:\n    os.write(3, b'[' * 65536)\n"


@pytest.mark.parametrize("cell", [FLOOD, ENDLESS], ids=["many", "one"])
def test_the_results_channel_is_capped(cell):
    out = _run(cell, probes=[{"steps": [{"target": "x"}]}], restarts=0,
               event=64 << 10, events=4 << 20)
    assert out.problems == ["output-limit"], out
    assert "the results channel passed its limit" in out.output
    assert out.seconds < 30


def test_the_grader_memory_stays_flat_under_a_flood():
    """1 GB of events, default limits, in a fresh grader process: its peak
    memory stays far below what it was sent."""
    code = ("import resource, sys\nsys.path.insert(0, 'tests')\n"
            "from test_sandbox import FLOOD, _run\n"
            "peak = lambda: resource.getrusage(resource.RUSAGE_SELF)"
            ".ru_maxrss\n"
            "_run('x = 1', restarts=0)\n"
            "before = peak()\n"
            "out = _run(FLOOD, probes=[{'steps': []}], restarts=0)\n"
            "assert out.problems == ['output-limit'], out.problems\n"
            "print(before, peak())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    before, after = (int(v) for v in done.stdout.split()[-2:])   # KiB
    assert after - before < 300 << 10, (before, after)


def test_no_sandbox_reaches_another_one():
    """While one submission runs with a secret file, another looks for it,
    and for the other's staged files, wherever a copy could be."""
    holder = threading.Thread(target=_run, args=(
        "import time\nopen('secret.txt', 'w').write('42')\n"
        "time.sleep(6)",))
    holder.start()
    try:
        out = _run("import glob, os, time\ntime.sleep(2)\nfound = [\n"
                   "    p for name in ('secret.txt', 'data.txt') for p in\n"
                   "    glob.glob(f'/proc/*/cwd/{name}')\n"
                   "    + glob.glob(f'/proc/*/root/tmp/*/{name}')\n"
                   "    + [q for root in ('/tmp', '/dev/shm', '/var/tmp')\n"
                   "       for q in glob.glob(f'{root}/**/{name}', "
                   "recursive=True)]\n"
                   "    if os.path.realpath(p) != '/tmp/work/data.txt']\n"
                   "assert not found, found")
    finally:
        holder.join()
    assert out.cells == {0: None}, out.output


def test_staged_files_hidden_wherever_the_temporary_folder_is(
        monkeypatch):
    """With TMPDIR outside /tmp, the files staged for one sandbox are still
    out of another's reach, even as a grader without root runs them (one
    user id for all, so only hiding protects them)."""
    in_force("mount")
    if not os.access("/var/lib", os.W_OK):
        pytest.skip("no folder outside /tmp to put TMPDIR in")
    if os.geteuid() == 0:
        monkeypatch.setattr(sandbox, "isolation", _as_user_namespace)
    folder = tempfile.mkdtemp(prefix="ziptie-test-tmp-", dir="/var/lib")
    monkeypatch.setattr(tempfile, "tempdir", folder)
    holder = threading.Thread(target=_run, args=("import time\n"
                                                 "time.sleep(5)",))
    try:
        holder.start()
        time.sleep(1)
        staged = glob.glob(f"{folder}/*/run0/data.txt")
        out = _run(f"for p in {staged}:\n"
                   "    try:\n        open(p).read()\n"
                   "    except FileNotFoundError:\n        pass\n"
                   "    else:\n        raise AssertionError(p)")
    finally:
        holder.join()
        shutil.rmtree(folder)
    assert staged and out.cells == {0: None}, out.output


def test_the_control_groups_are_removed():
    _run("x = 1")
    for _, _, folder in ISO.cgroups:
        left = [p for p in os.listdir(folder)
                if p.startswith(f"ziptie-{os.getpid()}-")]
        assert not left


def test_groups_left_by_a_killed_grader_are_removed():
    in_force("memory")
    dead = subprocess.Popen(["true"])  # a grader that is gone
    dead.wait()
    stale = [os.path.join(folder, f"ziptie-{dead.pid}-0")
             for _, _, folder in ISO.cgroups]
    for folder in stale:
        os.makedirs(folder, exist_ok=True)
    sandbox.isolation.cache_clear()
    try:
        assert sandbox.isolation() == ISO
        left = [folder for folder in stale if os.path.exists(folder)]
    finally:
        sandbox.isolation.cache_clear()
        for folder in stale:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
    assert not left


def test_isolation_names_what_is_missing(monkeypatch):
    weak = sandbox.Isolation((), False, ())
    assert len(weak.missing()) == len(weak.protections()) == 8
    for text in weak.missing():
        assert text.split(" (")[0].isupper(), text
    monkeypatch.setattr(sandbox, "isolation", lambda: weak)
    with pytest.raises(SystemExit, match="--accept-weak-sandbox") as err:
        sandbox.require()
    assert "NETWORK OPEN" in str(err.value)
    assert sandbox.require(accept_weak=True) is weak


def test_doctor_lists_every_protection(capsys):
    from ziptie import doctor

    doctor.sandbox_lines()
    printed = capsys.readouterr().out
    for _, ok, text in ISO.protections():
        assert ("" if ok else "MISSING: ") + text in printed


@pytest.mark.parametrize("bad", [{"cell_timeout": 0}, {"memory": 0},
                                 {"notebook_timeout": float("nan")},
                                 {"processes": 2.5}, {"disk": -1},
                                 {"restarts": -1}, {"cell_timeout": "60"}])
def test_limits_refuse_what_cannot_work(bad):
    with pytest.raises(ValueError, match=f"Invalid {next(iter(bad))}"):
        sandbox.Limits(**bad)


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
        runner_probe.encode(object())


def test_one_timeout_policy_for_check_grade_and_nbgrader():
    from traitlets.config import Config

    from ziptie import check, cli

    limits = sandbox.Limits()
    config = Config()
    path = Path(__file__).parents[1] / "nbgrader_config.py"
    exec(path.read_text(), {"get_config": lambda: config,
                            "__file__": str(path)})
    assert config.ExecutePreprocessor.timeout == limits.cell_timeout
    assert limits.cell_timeout == check.CELL_TIMEOUT
    args = cli.build_parser().parse_args(["grade", "x"])
    assert (args.cell_timeout, args.notebook_timeout) == (
        limits.cell_timeout, limits.notebook_timeout)
    helped = subprocess.run([sys.executable, "-m", "ziptie.cli", "grade",
                             "--help"], capture_output=True, text=True)
    assert f"(default: {limits.cell_timeout:g}" in " ".join(
        helped.stdout.split())


def test_grade_refuses_a_weak_sandbox_unless_accepted(monkeypatch, course,
                                                      tmp_path):
    from ziptie import cli
    from ziptie.grader import grade

    monkeypatch.setattr(sandbox, "isolation",
                        lambda: sandbox.Isolation((), False, ()))
    with pytest.raises(SystemExit, match="NETWORK OPEN.*accept-weak"):
        grade.grade(course, tmp_path / "none", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit, match="no submissions at"):
        grade.grade(course, tmp_path / "none", out=tmp_path / "out",
                    accept_weak_sandbox=True)
    seen = {}
    monkeypatch.setattr(grade, "grade", lambda *a, **k: seen.update(k))
    cli.main(["--course", str(course), "grade", "x", "--accept-weak-sandbox"])
    assert seen["accept_weak_sandbox"] is True


def test_grade_shows_student_cell_and_time_left():
    from ziptie.grader import grade_workers

    class Bar:
        def set_postfix_str(self, text, refresh):
            shown.append(text)

    shown = []
    show = grade_workers._progress(Bar(), "ada\x1b[2J", sandbox.Limits())
    for event in [{"event": "cell", "index": 2}, {"event": "cell_done",
                  "index": 2}, {"event": "probe_start", "index": 0},
                  {"event": "cell", "index": "\x1b[2J"}]:
        show(event)
    assert [s.split(",")[0] for s in shown] == ["ada[2J: cell 3",
                                                "ada[2J: check 1"]
    assert shown[0].split(", ")[1] in ("600 s left", "599 s left")


#: A cell that looks through its own process's writable memory for a
#: 32-digit hex token whose SHA-256 is {digest}: it never holds the token.
MEMORY_SCAN = """
import hashlib, re
found = []
with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb') as mem:
    for line in maps:
        span, perms = line.split()[:2]
        if not perms.startswith('rw'):
            continue
        start, end = (int(x, 16) for x in span.split('-'))
        try:
            mem.seek(start)
            data = mem.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        for token in set(re.findall(rb'[0-9a-f]{{32}}', data)):
            if hashlib.sha256(token).hexdigest() == '{digest}':
                found.append(token)
assert not found, 'an earlier run left its secret here'
"""


def test_a_run_finds_nothing_of_an_earlier_one_in_its_memory():
    """A warm run is forked from the zygote, which has served every
    earlier run of this grader: no job (cells, key, results) goes through
    it, so nothing of one submission is in the memory of the next."""
    import hashlib

    secret = secrets.token_hex(16)
    first = _run(f"secret = {secret!r}\nprint(secret)")
    assert secret in first.output
    digest = hashlib.sha256(secret.encode()).hexdigest()
    out = _run(MEMORY_SCAN.format(digest=digest))
    assert out.cells == {0: None}, out.output


def test_every_run_draws_fresh_random_numbers():
    """As in a fresh interpreter, numpy's and Python's global generators
    start from new entropy in every run: no two submissions share them."""
    cell = "import random, numpy as np\nprint(np.random.rand(), random.random())"
    outs = {_run(cell).output for _ in range(3)}
    assert len(outs) == 3, outs


def test_gloo_meets_on_the_sandboxs_own_loopback():
    """torch.distributed's gloo backend connects over the loopback, which
    the jail brings up in the sandbox's own network namespace (down, it
    would hang and fail: the trap of data-parallel code in a sandbox)."""
    in_force("net")
    out = _run(
        "import socket, torch, torch.distributed as dist\n"
        "with socket.socket() as s:\n"
        "    s.bind(('127.0.0.1', 0))\n"
        "    port = s.getsockname()[1]\n"
        "dist.init_process_group('gloo', rank=0, world_size=1,\n"
        "    init_method=f'tcp://127.0.0.1:{port}')\n"
        "t = torch.ones(3)\ndist.all_reduce(t)\n"
        "assert t.tolist() == [1.0, 1.0, 1.0], t\n"
        "dist.destroy_process_group()", cell_timeout=60)
    assert out.cells == {0: None}, out.output
