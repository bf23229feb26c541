"""The README's first command installs the right torch without network."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def _plan(tmp_path, gpu, *args):
    """The commands ``make`` would run to set up a fresh venv."""
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    for tool in ("sh", "grep", "cut", "uname"):
        (tools / tool).symlink_to(shutil.which(tool))
    if gpu:
        (tools / "nvidia-smi").write_text("#!/bin/sh\n")
        (tools / "nvidia-smi").chmod(0o755)
    venv = tmp_path / "venv"
    done = subprocess.run(
        [shutil.which("make"), "-n", f"{venv}/.installed", f"VENV={venv}",
         *args], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": str(tools), "HOME": os.environ.get("HOME", "/")})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _pin():
    return next(line.split()[0] for line in
                (ROOT / "requirements.txt").read_text().splitlines()
                if line.startswith("torch=="))


def test_without_a_gpu_torch_comes_from_the_cpu_index_first(tmp_path):
    plan = _plan(tmp_path, gpu=False)
    [first] = [i for i, line in enumerate(plan) if CPU_INDEX in line]
    assert f'"{_pin()}"' in plan[first]
    assert "--timeout" in plan[first] and "|| echo" in plan[first], \
        "an unreachable index must fall back to the default one"
    [then] = [i for i, line in enumerate(plan) if "-r requirements.txt" in line]
    assert first < then


def test_with_a_gpu_or_when_asked_torch_comes_from_the_default_index(
        tmp_path):
    assert not any(CPU_INDEX in line for line in _plan(tmp_path, gpu=True))
    (tmp_path / "bin").rename(tmp_path / "old")
    plan = _plan(tmp_path, False, "TORCH_INDEX=")
    assert not any(CPU_INDEX in line for line in plan)
    assert any("-r requirements.txt" in line for line in plan)


def test_the_cpu_pin_is_satisfied_by_the_cpu_build():
    """pip keeps torch 2.x.y+cpu for requirements.txt's torch==2.x.y."""
    from packaging.specifiers import SpecifierSet

    version = _pin().split("==")[1]
    assert SpecifierSet(f"=={version}").contains(f"{version}+cpu")


def test_pip_leaves_the_bytecode_to_one_compileall_after_it(tmp_path):
    """compileall works on every core, pip on one; and without the
    bytecode, every sandbox, which cannot write the environment, would
    compile torch again."""
    plan = _plan(tmp_path, gpu=False)
    installs = [i for i, line in enumerate(plan)
                if "pip install" in line and "--upgrade pip" not in line]
    assert installs and all("--no-compile" in plan[i] for i in installs)
    [compiled] = [i for i, line in enumerate(plan) if "-m compileall" in line]
    assert compiled > max(installs)


def test_the_environment_holds_the_bytecode_of_what_was_never_imported():
    """A module no test imports (its parents only): its bytecode is there,
    written when the environment was made."""
    import importlib.util

    spec = importlib.util.find_spec("torch.utils.tensorboard")
    assert spec is not None and spec.origin is not None
    assert Path(importlib.util.cache_from_source(spec.origin)).is_file()
