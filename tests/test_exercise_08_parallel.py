"""Exercise 08_parallel: the solution computes what DistributedSampler and
DistributedDataParallel compute, when called from outside the notebook
(its wrong answers are in grading/08_parallel_wrong.py)."""

import copy
import math

import pytest

import autograde

ASSIGNMENT = "08_parallel"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _sampled(n, world_size, rank, epoch, seed, shuffle, drop_last):
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(n), num_replicas=world_size,
                                 rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_shards_are_the_samplers_equal_and_cover_the_data(solution, rng):
    shard = solution["shard"]
    for _ in range(40):
        n, world_size = int(rng.integers(1, 50)), int(rng.integers(1, 9))
        epoch, seed = int(rng.integers(0, 10)), int(rng.integers(0, 10**6))
        shuffle, drop_last = bool(rng.integers(2)), bool(rng.integers(2))
        shards = [shard(n, world_size, rank, epoch=epoch, seed=seed,
                        shuffle=shuffle, drop_last=drop_last)
                  for rank in range(world_size)]
        for rank, got in enumerate(shards):
            assert got == _sampled(n, world_size, rank, epoch, seed,
                                   shuffle, drop_last)
            assert all(type(i) is int for i in got)
        sizes = {len(s) for s in shards}
        every = [i for s in shards for i in s]
        if drop_last:
            assert sizes == {n // world_size}
            assert len(set(every)) == len(every)     # disjoint
        else:
            assert sizes == {math.ceil(n / world_size)}
            assert set(every) == set(range(n))       # every example


def test_set_epoch_changes_the_order_and_only_it_does(solution):
    shard = solution["shard"]
    epochs = [[shard(40, 2, rank, epoch=epoch, seed=3) for rank in range(2)]
              for epoch in range(4)]
    assert len({str(e) for e in epochs}) == 4
    assert epochs[0] == [shard(40, 2, rank, seed=3) for rank in range(2)]
    # the same seed + epoch, the same order
    assert shard(40, 2, 0, epoch=1, seed=3) == shard(40, 2, 0, epoch=0,
                                                     seed=4)


def test_all_reduce_is_the_mean_and_leaves_its_inputs(solution, torch_gen):
    import torch

    for world_size in (1, 2, 5):
        grads = [[torch.randn(3, 4, generator=torch_gen, dtype=torch.float64),
                  torch.randn((), generator=torch_gen, dtype=torch.float64)]
                 for _ in range(world_size)]
        kept = [[g.clone() for g in rank] for rank in grads]
        got = solution["all_reduce_mean"](grads)
        for i, g in enumerate(got):
            torch.testing.assert_close(
                g, torch.stack([rank[i] for rank in grads]).mean(dim=0))
        for rank, before in zip(grads, kept, strict=True):
            assert all(torch.equal(g, k) for g, k in zip(rank, before,
                                                         strict=True))


def _net(torch_gen):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=torch_gen))
    return net


def _gradient(net, loss_fn, X, y):
    model = copy.deepcopy(net)
    loss_fn(model(X), y).backward()
    return [p.grad for p in model.parameters()]


def test_ddp_gradient_is_the_batchs_for_equal_shards(solution, torch_gen):
    import torch

    net = _net(torch_gen)
    before = [p.detach().clone() for p in net.parameters()]
    X = torch.randn(24, 5, generator=torch_gen, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=torch_gen)
    loss_fn = torch.nn.CrossEntropyLoss()
    full = _gradient(net, loss_fn, X, y)
    for world_size in (1, 2, 3, 4, 6, 8):
        got = solution["ddp_gradient"](net, loss_fn, X, y, world_size)
        for g, f in zip(got, full, strict=True):
            torch.testing.assert_close(g, f, rtol=1e-9, atol=1e-12)
    for p, b in zip(net.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b) and p.grad is None


def test_padding_makes_ddps_gradient_the_padded_batchs(solution, torch_gen):
    import torch

    net = _net(torch_gen)
    X = torch.randn(10, 5, generator=torch_gen, dtype=torch.float64)
    y = torch.randn(10, 3, generator=torch_gen, dtype=torch.float64)
    loss_fn = torch.nn.MSELoss()
    full = torch.cat([g.flatten() for g in _gradient(net, loss_fn, X, y)])
    for world_size, padded in [(4, [*range(10), 0, 1]),
                               (3, [*range(10), 0, 1]),
                               (7, [*range(10), *range(4)])]:
        got = torch.cat([g.flatten() for g in solution["ddp_gradient"](
            net, loss_fn, X, y, world_size)])
        want = torch.cat([g.flatten() for g in _gradient(
            net, loss_fn, X[padded], y[padded])])
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
        assert (got - full).abs().max() > 1e-4


@pytest.mark.parametrize("make", ["SGD", "SGD momentum", "Adam"])
def test_accumulated_steps_are_the_big_batchs_steps(solution, torch_gen,
                                                    make):
    import torch

    optimizers = {
        "SGD": lambda p: torch.optim.SGD(p, lr=0.2),
        "SGD momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "Adam": lambda p: torch.optim.Adam(p, lr=0.01)}
    model = _net(torch_gen)
    reference = copy.deepcopy(model)
    optimizer = optimizers[make](model.parameters())
    optimizer_ref = optimizers[make](reference.parameters())
    loss_fn = torch.nn.MSELoss()
    for _ in range(3):
        X = torch.randn(24, 5, generator=torch_gen, dtype=torch.float64)
        y = torch.randn(24, 3, generator=torch_gen, dtype=torch.float64)
        micro = list(zip(X.chunk(4), y.chunk(4), strict=True))
        loss = solution["accumulate_step"](model, loss_fn, optimizer, micro)
        want = loss_fn(reference(X), y)
        optimizer_ref.zero_grad()
        want.backward()
        optimizer_ref.step()
        assert loss == pytest.approx(want.item(), rel=1e-9)
        for p, q in zip(model.parameters(), reference.parameters(),
                        strict=True):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)
