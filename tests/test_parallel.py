"""ziptie.parallel, run for real: two processes started by torchrun, with the
gloo backend and DistributedDataParallel, checked against plain PyTorch in
this process.

One launch (a module fixture) measures everything the chapter claims, on a
network, inputs and a data set size drawn fresh each run: the averaged
gradient, the shards of DistributedSampler, and accumulation with no_sync.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from ziptie import parallel

NPROC = 2
MICRO = 3                    # micro-batches per process with no_sync
LR = 0.1

# What every process runs: the data, the network and its weights come from
# a file the test wrote, so the test can compute the same thing alone.
WORKER = '''
import contextlib
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import (
    allreduce_hook)
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DistributedSampler

from ziptie.parallel import arguments, report

args = arguments(data="")
found_at_start = sorted(os.listdir(args.out))  # before any process reports
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
data = torch.load(args.data)
X, Y = data["X"], data["Y"]
model = nn.Sequential(nn.Linear(X.shape[1], data["hidden"]), nn.Tanh(),
                      nn.Linear(data["hidden"], Y.shape[1])).double()
model.load_state_dict(data["state"])
ddp = DDP(model)
calls = [0]


def counting_allreduce(state, bucket):
    calls[0] += 1
    return allreduce_hook(state, bucket)


ddp.register_comm_hook(None, counting_allreduce)
loss_fn = nn.MSELoss()
X_shard, Y_shard = X.chunk(world)[rank], Y.chunk(world)[rank]

# the averaged gradient: one backward on this process's shard
loss_fn(ddp(X_shard), Y_shard).backward()
grad = [p.grad.flatten().tolist() for p in model.parameters()]

# accumulation over micro-batches, all-reducing once (no_sync) or each time
def accumulate(sync_each):
    ddp.zero_grad()
    calls[0] = 0
    micro = list(zip(X_shard.chunk(data["micro"]), Y_shard.chunk(data["micro"])))
    for i, (X_micro, Y_micro) in enumerate(micro):
        last = i == len(micro) - 1
        quiet = contextlib.nullcontext() if sync_each or last else ddp.no_sync()
        with quiet:
            (loss_fn(ddp(X_micro), Y_micro) / len(micro)).backward()
    return calls[0], [p.grad.flatten().tolist() for p in model.parameters()]

allreduces_each, grad_each = accumulate(sync_each=True)
allreduces_no_sync, grad_no_sync = accumulate(sync_each=False)
torch.optim.SGD(ddp.parameters(), lr=data["lr"]).step()
after_step = [p.detach().flatten().tolist() for p in model.parameters()]

sampler = DistributedSampler(range(data["n"]), shuffle=True, seed=data["seed"])
sampler.set_epoch(0)
epoch0 = list(sampler)
again = list(sampler)                   # next epoch, set_epoch forgotten
sampler.set_epoch(1)
epoch1 = list(sampler)

report(args.out, rank=rank, world=world, grad=grad, grad_each=grad_each,
       grad_no_sync=grad_no_sync, allreduces_each=allreduces_each,
       allreduces_no_sync=allreduces_no_sync, after_step=after_step,
       epoch0=epoch0, again=again, epoch1=epoch1,
       found_at_start=found_at_start,
       omp=os.environ.get("OMP_NUM_THREADS"), threads=torch.get_num_threads())
dist.destroy_process_group()
'''


def _flat(tensors) -> torch.Tensor:
    return torch.cat([torch.as_tensor(t, dtype=torch.float64).flatten()
                      for t in tensors])


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """One torchrun of WORKER on fresh inputs; the inputs and the reports."""
    seed = int(os.environ.get("ZIPTIE_TEST_SEED", secrets.randbits(32)))
    print(f"seed={seed} (replay with ZIPTIE_TEST_SEED={seed})")
    gen = torch.Generator().manual_seed(seed)

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=gen))

    per_micro = draw(1, 5)
    batch = NPROC * MICRO * per_micro        # equal shards and micro-batches
    inputs, hidden, outputs = draw(2, 6), draw(2, 9), draw(1, 4)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(),
                          nn.Linear(hidden, outputs)).double()
    data = {"X": torch.randn(batch, inputs, generator=gen, dtype=torch.float64),
            "Y": torch.randn(batch, outputs, generator=gen,
                             dtype=torch.float64),
            "hidden": hidden, "state": model.state_dict(), "micro": MICRO,
            "lr": LR, "n": 2 * draw(10, 50), "seed": draw(0, 2**31)}
    folder = tmp_path_factory.mktemp("parallel")
    torch.save(data, folder / "data.pt")
    script = folder / "worker.py"
    script.write_text(WORKER)
    results = parallel.run(script, nproc=NPROC, timeout=240,
                           args=["--data", folder / "data.pt"])
    return model, data, results


def _full_batch_grad(model, data) -> torch.Tensor:
    """The gradient of the mean loss over the whole batch, in one process."""
    model.zero_grad()
    nn.MSELoss()(model(data["X"]), data["Y"]).backward()
    return _flat(p.grad for p in model.parameters())


def test_every_process_reports_with_one_thread(launched):
    _, _, results = launched
    assert [r["rank"] for r in results] == list(range(NPROC))
    assert all(r["world"] == NPROC for r in results)
    assert all(r["omp"] == "1" and r["threads"] == 1 for r in results)
    # run gave the script a folder of its own, empty when it started
    assert all(r["found_at_start"] == [] for r in results)


def test_averaged_gradient_is_the_full_batch_gradient(launched):
    model, data, results = launched
    expected = _full_batch_grad(model, data)
    for r in results:
        got = _flat(r["grad"])
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12), (
            f"rank {r['rank']}: largest difference from the full-batch "
            f"gradient {(got - expected).abs().max():.3g}")
    # and one shard alone does not give it: the average is what matters
    model.zero_grad()
    X0, Y0 = data["X"].chunk(NPROC)[0], data["Y"].chunk(NPROC)[0]
    nn.MSELoss()(model(X0), Y0).backward()
    alone = _flat(p.grad for p in model.parameters())
    assert not torch.allclose(alone, expected, rtol=1e-6, atol=1e-9)


def test_sampler_shards_are_disjoint_and_cover_the_data(launched):
    _, data, results = launched
    shards = [set(r["epoch0"]) for r in results]
    assert all(len(r["epoch0"]) == data["n"] // NPROC for r in results)
    assert set.union(*shards) == set(range(data["n"]))
    assert sum(map(len, shards)) == data["n"]          # no index twice


def test_set_epoch_changes_the_order_and_forgetting_it_repeats_it(launched):
    _, _, results = launched
    for r in results:
        assert r["again"] == r["epoch0"], "without set_epoch, the same order"
        assert r["epoch1"] != r["epoch0"], "set_epoch(1) gave epoch 0's order"
    # the new epoch still splits the data between the processes
    assert not set(results[0]["epoch1"]) & set(results[1]["epoch1"])


def test_no_sync_accumulation_is_one_big_batch_step(launched):
    model, data, results = launched
    expected = _full_batch_grad(model, data)
    before = _flat(p.detach() for p in model.parameters())
    for r in results:
        for key in ("grad_each", "grad_no_sync"):
            got = _flat(r[key])
            assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12), (
                f"rank {r['rank']}, {key}: largest difference from the "
                f"full-batch gradient {(got - expected).abs().max():.3g}")
        step = _flat(r["after_step"])
        assert torch.allclose(step, before - LR * expected,
                              rtol=1e-10, atol=1e-12)
        assert r["allreduces_no_sync"] >= 1
        assert r["allreduces_each"] == MICRO * r["allreduces_no_sync"]


def test_a_failing_process_raises_with_its_output(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(textwrap.dedent('''
        import os
        if os.environ["RANK"] == "1":
            raise ValueError("rank 1 cannot go on")
        print("rank 0 done")
    '''))
    with pytest.raises(parallel.TorchrunError) as error:
        parallel.torchrun(script, nproc=NPROC, timeout=120)
    message = str(error.value)
    assert "fails.py on 2 processes failed" in message
    assert "ValueError: rank 1 cannot go on" in message


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
    except FileNotFoundError:
        return False
    return state.split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc")
def test_a_timeout_stops_every_process(tmp_path):
    script = tmp_path / "sleeps.py"
    script.write_text(textwrap.dedent(f'''
        import os, pathlib, time
        pathlib.Path(r"{tmp_path}", f"pid{{os.environ['RANK']}}").write_text(
            str(os.getpid()))
        time.sleep(600)
    '''))
    start = time.monotonic()
    with pytest.raises(parallel.TorchrunError, match="longer than 12 s"):
        parallel.torchrun(script, nproc=NPROC, timeout=12)
    assert time.monotonic() - start < 60
    pids = [int(p.read_text()) for p in tmp_path.glob("pid*")]
    assert len(pids) == NPROC, "the workers did not start within 12 s"
    deadline = time.monotonic() + 10
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(_alive, pids)), "a worker outlived the timeout"


def test_reports_name_the_missing_rank(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    parallel.report(tmp_path, loss=1.5)
    (tmp_path / "notes.json").write_text("{}")          # not a report
    assert parallel.reports(tmp_path) == [{"loss": 1.5}]
    with pytest.raises(FileNotFoundError, match=r"ranks \[0\], expected"):
        parallel.reports(tmp_path, nproc=2)


def test_command_and_free_port():
    port = parallel.free_port()
    assert 0 < port < 65536
    cmd = parallel.command("train.py", nproc=3, args=["--epochs", 2],
                           port=port)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc-per-node=3" in cmd
    assert f"--rdzv-endpoint=localhost:{port}" in cmd
    assert cmd[-3:] == ["train.py", "--epochs", "2"]
    with pytest.raises(ValueError, match="nproc"):
        parallel.command("train.py", nproc=0)
    with pytest.raises(FileNotFoundError, match="no script"):
        parallel.torchrun("no/such/script.py")


def test_workdir_is_one_folder_removed_at_exit():
    code = ("from ziptie.parallel import workdir\n"
            "assert workdir() == workdir() and workdir().is_dir()\n"
            "(workdir() / 'a.py').write_text('')\n"
            "print(workdir())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)
    folder = Path(done.stdout.strip())
    assert folder.name.startswith("ziptie-scripts-")
    assert not folder.exists(), "the folder outlived its process"


def test_arguments_read_their_types_and_out(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "3",
                                      "--out", "/tmp/x", "--lr", "0.5"])
    args = parallel.arguments(epochs=30, lr=1e-3, batch_size=64, name="a")
    assert (args.epochs, args.lr, args.batch_size, args.name, args.out) == \
        (3, 0.5, 64, "a", "/tmp/x")
    monkeypatch.setattr(sys, "argv", ["train.py"])
    with pytest.raises(SystemExit):             # no --out
        parallel.arguments()
    with pytest.raises(TypeError, match="shuffle"):
        parallel.arguments(shuffle=True)
