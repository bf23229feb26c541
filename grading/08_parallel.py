"""Checks of exercise 08_parallel: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the sizes of the data
sets, the world sizes, ranks, epochs and seeds, the gradients, networks
and batches (float64 unless a case is about float32). Every expected
value is computed here, in the grader's process: the shards by PyTorch's
own ``DistributedSampler`` (which needs no process group when it is told
the world size and the rank), the all-reduce as the mean over the ranks,
DDP's gradient by a backward pass per rank on a copy of the same network,
and the accumulated step by running the same steps on a copy, with the
optimizer and the loss function from ``torch.optim`` and ``torch.nn``.
"""

import copy
import itertools

import numpy as np
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from ziptie.grader.probe import Probe, close, task
from ziptie.grader.recipes import (
    count_backward,
    one_micro_batch_each,
    random_linear,
    random_tensor,
)
from ziptie.grader.wire import ref

#: The sampler's own code may not hand the indices to ``shard``.
SAMPLER = ("torch.utils.data.distributed.DistributedSampler.__iter__",)
OPTIMIZERS = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}
LOSSES = {"MSELoss": nn.MSELoss, "CrossEntropyLoss": nn.CrossEntropyLoss}


# -- task 1: the shards --------------------------------------------------------

def _sampled(n, world_size, rank, epoch, seed, shuffle, drop_last) -> list:
    """What DistributedSampler gives ``rank`` in ``epoch``."""
    sampler = DistributedSampler(range(n), num_replicas=world_size,
                                 rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last)
    sampler.set_epoch(epoch)
    return list(sampler)


def _indices(want: list, how: str):
    """The last value is the list of indices ``want``."""
    def compare(values):
        got = values[-1]
        try:
            flat = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return f"return a list of ints, got {got!r}"[:200]
        if flat.ndim != 1 or flat.shape[0] != len(want) or not np.array_equal(
                flat, np.asarray(want, dtype=float)):
            shown = got if np.size(got) <= 30 else f"{np.size(got)} indices"
            return (f"expected {want if len(want) <= 30 else want[:30]}"
                    f"{'' if len(want) <= 30 else ' ...'} ({len(want)} "
                    f"indices), got {shown}: {how}")
        return None
    return compare


def _how(n, world_size, shuffle, drop_last) -> str:
    order = ("the order of torch.randperm(n) with a generator seeded with "
             "seed + epoch" if shuffle else "the order 0, 1, ..., n-1")
    if n % world_size == 0:
        equal = "no padding and nothing dropped, since world_size divides n"
    elif drop_last:
        equal = (f"the end of it cut to {n // world_size * world_size} "
                 f"indices (drop_last)")
    else:
        total = -(-n // world_size) * world_size
        equal = (f"padded to {total} indices with the indices at its start "
                 f"(repeated if needed)")
    return f"{order}, {equal}, then every world_size-th from position rank"


def _shard_case(n, world_size, rank, epoch, seed, shuffle, drop_last):
    probe = Probe.call("shard", n, world_size, rank, epoch=epoch, seed=seed,
                       shuffle=shuffle, drop_last=drop_last).forbid(*SAMPLER)
    want = _sampled(n, world_size, rank, epoch, seed, shuffle, drop_last)
    return probe, _indices(want, _how(n, world_size, shuffle, drop_last))


def _not_divisible(rng, low, high, world_size) -> int:
    while True:
        n = int(rng.integers(low, high))
        if n % world_size:
            return n


@task("test_shard", points=3)
def shard(rng):
    # the notebook's own cases: 10 on 4, padded or cut; 2 on 5, repeated
    for drop_last in (False, True):
        for rank in range(4):
            yield _shard_case(10, 4, rank, 0, 0, False, drop_last)
    for rank in range(5):
        yield _shard_case(2, 5, rank, 0, 0, False, False)

    # shuffled, later epochs, padded and cut: every rank of each
    for drop_last in (False, True, False):
        world_size = int(rng.integers(2, 6))
        n = _not_divisible(rng, 12, 40, world_size)
        epoch, seed = int(rng.integers(1, 6)), int(rng.integers(0, 1000))
        for rank in range(world_size):
            yield _shard_case(n, world_size, rank, epoch, seed, True,
                              drop_last)
    # in order, padded; divisible; one process; fewer examples than
    # processes, shuffled
    world_size = int(rng.integers(3, 6))
    n = _not_divisible(rng, 7, 30, world_size)
    for rank in range(world_size):
        yield _shard_case(n, world_size, rank, 0, 0, False, False)
    world_size = int(rng.integers(2, 5))
    n = world_size * int(rng.integers(3, 8))
    yield _shard_case(n, world_size, int(rng.integers(world_size)),
                      int(rng.integers(0, 4)), int(rng.integers(0, 100)),
                      True, bool(rng.integers(2)))
    yield _shard_case(int(rng.integers(5, 20)), 1, 0, int(rng.integers(4)),
                      int(rng.integers(100)), True, False)
    for rank in range(7):
        yield _shard_case(3, 7, rank, 1, int(rng.integers(100)), True, False)


# -- task 2: the all-reduce ----------------------------------------------------

def _mean_of(grads: list) -> list:
    return [torch.stack(list(per_rank)).mean(dim=0).numpy()
            for per_rank in zip(*grads, strict=True)]


def _averaged(want: list, rtol: float = 1e-6, atol: float = 1e-12):
    same = close(want, rtol, atol)

    def compare(values):
        got = values[-1]
        if not isinstance(got, list):
            return (f"return a list of tensors, one per parameter, got "
                    f"{type(got).__name__}")
        reason = same(values)
        return reason and (f"{reason}; every parameter's gradient is the "
                           f"mean over the ranks (sum over grads[r], divided "
                           f"by the number of ranks len(grads))")
    return compare


@task("test_all_reduce", points=1)
def all_reduce(rng):
    # the notebook's own case
    grads = [[torch.tensor([1.0, 2.0]), torch.tensor(3.0)],
             [torch.tensor([3.0, 6.0]), torch.tensor(-1.0)]]
    yield Probe.call("all_reduce_mean", grads), _averaged(_mean_of(grads))

    shapes = [(3, 4), (5,), (), (2, 1, 3)]
    for world_size, dtype in [(1, torch.float64), (2, torch.float64),
                              (int(rng.integers(3, 6)), torch.float64),
                              (int(rng.integers(2, 6)), torch.float32)]:
        kept = shapes[:int(rng.integers(2, 5))]
        if len(kept) == world_size:
            kept = shapes
        grads = [[random_tensor(rng, s, dtype) for s in kept]
                 for _ in range(world_size)]
        tol = (1e-6, 1e-12) if dtype == torch.float64 else (1e-5, 1e-6)
        yield (Probe.call("all_reduce_mean", grads),
               _averaged(_mean_of(grads), *tol))


# -- task 3: DDP's gradient ----------------------------------------------------

def _net(rng, sizes, activation=nn.Tanh, dtype=torch.float64):
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(sizes):
        layers += [random_linear(rng, d_in, d_out, dtype), activation()]
    return nn.Sequential(*layers[:-1])


def _batch(rng, n, d_in, d_out, loss, dtype=torch.float64):
    X = random_tensor(rng, (n, d_in), dtype)
    if loss == "MSELoss":
        return X, random_tensor(rng, (n, d_out), dtype)
    return X, torch.from_numpy(rng.integers(0, d_out, size=n))


def _ddp(net, loss, X, y, world_size) -> list:
    """The gradient of each parameter, averaged over the ranks' shards."""
    grads = []
    for rank in range(world_size):
        index = _sampled(len(X), world_size, rank, 0, 0, False, False)
        model = copy.deepcopy(net)
        LOSSES[loss]()(model(X[index]), y[index]).backward()
        grads.append([p.grad for p in model.parameters()])
    return _mean_of(grads)


def _reads(probe: Probe, net: nn.Sequential) -> int:
    """Read back every parameter of ``$0`` and its .grad; how many."""
    count = 0
    for k, layer in enumerate(net):
        if isinstance(layer, nn.Linear):
            for name in ("weight", "bias"):
                probe.get(f"$0.{k}.{name}").get(f"$0.{k}.{name}.grad")
                count += 1
    return count


def _ddp_like(net, loss, X, y, world_size):
    want = _ddp(net, loss, X, y, world_size)
    same = close(want, rtol=1e-6, atol=1e-10)
    n = len(X)
    if n % world_size == 0:
        why = (f"{n} examples on {world_size} equal shards: the mean of the "
               f"shards' gradients is the gradient of the whole batch")
    else:
        total = -(-n // world_size) * world_size
        why = (f"{n} examples on {world_size} processes: the shards of "
               f"shard(n, world_size, rank, shuffle=False) hold {total} "
               f"indices, the first {total - n} twice, and the mean of the "
               f"shards' gradients is the gradient of that padded batch, not "
               f"of the batch")
    sent = [p.detach().numpy() for p in net.parameters()]

    def compare(values):
        got = values[2]
        if not isinstance(got, list):
            return (f"return a list of tensors, one per parameter, got "
                    f"{type(got).__name__}")
        reason = same([got])
        if reason:
            return f"{reason}; {why}"
        reads = values[3:]
        for k, weight in enumerate(sent):
            if not np.array_equal(np.asarray(reads[2 * k], dtype=float),
                                  weight) or reads[2 * k + 1] is not None:
                return ("leave the model as it is, its .grad too: a "
                        "backward pass per rank on its own copy "
                        "(copy.deepcopy(model))")
        return None
    return compare


def _ddp_case(net, loss, X, y, world_size):
    probe = (Probe().put(net).keep(f"torch.nn.{loss}")
             .then("ddp_gradient", ref(0), ref(1), X, y, world_size))
    _reads(probe, net)
    probe.text = (f"ddp_gradient(model, torch.nn.{loss}(), X, y, "
                  f"world_size={world_size}) with {len(X)} examples")
    return probe, _ddp_like(net, loss, X, y, world_size)


@task("test_ddp_gradient", points=3)
def ddp_gradient(rng):
    cases = [("MSELoss", 2, 2 * int(rng.integers(2, 6))),
             ("MSELoss", 3, None), ("CrossEntropyLoss", 4, None),
             ("CrossEntropyLoss", int(rng.integers(2, 6)), None),
             ("MSELoss", 1, int(rng.integers(3, 10))),
             ("MSELoss", 3, 2)]
    for loss, world_size, n in cases:
        if n is None:
            n = _not_divisible(rng, world_size + 2, 16, world_size)
        net = _net(rng, (4, 6, 3), nn.Tanh if rng.random() < 0.5 else
                   nn.Sigmoid)
        X, y = _batch(rng, n, 4, 3, loss)
        yield _ddp_case(net, loss, X, y, world_size)


# -- task 4: gradient accumulation ---------------------------------------------

def _accumulated(net, optimizer, settings, loss, calls):
    """The mean losses and final weights of one accumulated step per call
    (a list of micro-batches), on a copy of ``net``; and for each call,
    the first layer's weight gradient of each micro-batch's loss."""
    model = copy.deepcopy(net)
    opt = OPTIMIZERS[optimizer](model.parameters(), **settings)
    loss_fn = LOSSES[loss]()
    losses, passes = [], []
    for micro in calls:
        opt.zero_grad()
        total, grads = 0.0, []
        for X, y in micro:
            part = loss_fn(model(X), y) / len(micro)
            before = model[0].weight.grad
            before = 0 if before is None else before.clone()
            part.backward()
            grads.append((model[0].weight.grad - before).numpy())
            total += part.item()
        opt.step()
        losses.append(total)
        passes.append(grads)
    return losses, [p.detach().numpy() for p in model.parameters()], passes


def _accumulate_like(net, optimizer, settings, loss, calls, rtol, atol,
                     start):
    """The values from ``start`` on: each call's loss, the weights, then
    the gradients of the backward passes through the first layer."""
    losses, final, passes = _accumulated(net, optimizer, settings, loss,
                                         calls)
    same = close(final, rtol, atol)
    count = len(calls)

    def compare(values):
        reason = _losses(values[start:start + count])
        if reason:
            return reason
        reason = same([values[start + count:-1]])
        if reason:
            return (f"after {count} call(s) the weights differ from those "
                    f"of optimizer.zero_grad() once, backward() on each "
                    f"micro-batch's loss divided by K, optimizer.step() "
                    f"once: {reason}")
        got, first = values[-1], 0
        for t, micro in enumerate(calls):
            if not isinstance(got, list) or not one_micro_batch_each(
                    got[first:first + len(micro)], [passes[t]],
                    1e-6 if rtol < 1e-5 else 1e-3):
                return (f"call {t + 1} of {count}: the weights are right, "
                        f"but its backward passes did not each carry one "
                        f"micro-batch's loss: call backward once for each "
                        f"(X, y) of micro_batches, never on them joined")
            first += len(micro)
        if len(got) != first:
            return (f"{len(got)} backward passes in {count} call(s) of "
                    f"{first} micro-batches in all: one for each")
        return None

    def _losses(got_losses):
        for t, (got, want) in enumerate(zip(got_losses, losses,
                                            strict=True)):
            try:
                number = float(np.asarray(got, dtype=float))
            except (TypeError, ValueError):
                return f"call {t + 1}: return the mean loss, a float, got " \
                       f"{got!r}"[:200]
            if not np.isclose(number, want, rtol=1e-6, atol=1e-10):
                return (f"call {t + 1} of {count}: expected the mean of the "
                        f"{len(calls[t])} micro-batches' losses, {want:.6g}, "
                        f"got {number:.6g}")
        return None
    return compare


def _micro(rng, k, size, loss, dtype=torch.float64):
    X, y = _batch(rng, k * size, 5, 3, loss, dtype)
    return list(zip(X.split(size), y.split(size), strict=True))


def _accumulate_case(rng, net, optimizer, settings, loss, calls, rtol=1e-6,
                     atol=1e-10, stale=False):
    """``calls`` of accumulate_step; with ``stale``, the model's .grad holds
    gradients of an earlier step before the first (they must not count)."""
    probe = (Probe().put(net).keep("$0.parameters")
             .keep(f"torch.optim.{optimizer}", ref(1), **settings)
             .keep(f"torch.nn.{loss}"))
    linears = [k for k, layer in enumerate(net)
               if isinstance(layer, nn.Linear)]
    if stale:
        for k in linears:
            for name in ("weight", "bias"):
                probe.set(f"$0.{k}.{name}.grad", random_tensor(
                    rng, getattr(net[k], name).shape, net[k].weight.dtype))
    hook = count_backward(probe, "$0.0.weight")
    start = len(probe.steps)
    for micro in calls:
        probe.then("accumulate_step", ref(0), ref(3), ref(2), micro)
    for k in linears:
        probe.get(f"$0.{k}.weight").get(f"$0.{k}.bias")
    probe.get(f"${hook}")
    shown = ", ".join(["params", *(f"{k}={v!r}" for k, v in
                                   settings.items())])
    probe.text = (f"accumulate_step(model, loss_fn, optimizer, "
                  f"micro_batches), {len(calls)} call(s) of "
                  f"{len(calls[0])} micro-batches with "
                  f"torch.optim.{optimizer}({shown}) and torch.nn.{loss}()"
                  f"{', with stale gradients in .grad' if stale else ''}")
    return probe, _accumulate_like(net, optimizer, settings, loss, calls,
                                   rtol, atol, start)


@task("test_accumulate", points=2)
def accumulate(rng):
    cases = [("SGD", {"lr": float(rng.uniform(0.05, 0.5))}, "MSELoss",
              [int(rng.integers(2, 5))], torch.float64),
             ("SGD", {"lr": float(rng.uniform(0.05, 0.3)), "momentum": 0.9},
              "CrossEntropyLoss", [3, 3], torch.float64),
             ("Adam", {"lr": float(rng.uniform(0.001, 0.05))}, "MSELoss",
              [2, 4], torch.float64),
             ("SGD", {"lr": float(rng.uniform(0.05, 0.5))}, "MSELoss", [1],
              torch.float64),
             ("SGD", {"lr": 0.1, "momentum": 0.5}, "CrossEntropyLoss",
              [4, 2], torch.float32)]
    for case, (optimizer, settings, loss, ks, dtype) in enumerate(cases):
        net = _net(rng, (5, 7, 3), nn.Tanh, dtype)
        calls = [_micro(rng, k, int(rng.integers(1, 6)), loss, dtype)
                 for k in ks]
        tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-6}
        yield _accumulate_case(rng, net, optimizer, settings, loss, calls,
                               stale=case in (1, 2), **tol)
