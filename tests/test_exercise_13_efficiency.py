"""Exercise 13_efficiency: the solution computes what PyTorch computes, on
fresh random inputs: the whole batch's gradient, the uninterrupted run,
the mask of torch.nn.utils.prune (its wrong answers are in
grading/13_efficiency_wrong.py)."""

import copy

import pytest

import autograde

ASSIGNMENT = "13_efficiency"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _net(torch_gen, sizes, dtype=None):
    import torch
    from torch import nn

    layers = []
    for k, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        if k:
            layers.append(nn.Tanh())
        layers.append(nn.Linear(a, b, dtype=dtype or torch.float64))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=torch_gen,
                                dtype=p.dtype))
    return net


def test_accumulation_is_the_whole_batchs_gradient(solution, rng,
                                                   torch_gen):
    import torch
    from torch import nn

    for _ in range(20):
        n = int(rng.integers(1, 30))
        size = int(rng.integers(1, n + 3))
        classes = int(rng.integers(2, 6))
        net = _net(torch_gen, [4, int(rng.integers(2, 8)), classes])
        X = torch.randn(n, 4, generator=torch_gen, dtype=torch.float64)
        Y = torch.randint(0, classes, (n,), generator=torch_gen)
        for p in net.parameters():
            p.grad = torch.randn(p.shape, generator=torch_gen,
                                 dtype=p.dtype)
        kept = X.clone()
        loss_fn = nn.CrossEntropyLoss()
        got = solution["accumulated_grads"](net, loss_fn, X, Y, size)
        grads = [p.grad.clone() for p in net.parameters()]
        net.zero_grad()
        want = loss_fn(net(X), Y)
        want.backward()
        assert isinstance(got, float)
        assert got == pytest.approx(want.item(), rel=1e-12, abs=1e-12)
        for g, p in zip(grads, net.parameters(), strict=True):
            torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-12)
        assert torch.equal(X, kept)


def test_accumulation_in_float32_with_the_mse(solution, torch_gen):
    import torch
    from torch import nn

    net = _net(torch_gen, [5, 7, 3], dtype=torch.float32)
    X, Y = torch.randn(33, 5, generator=torch_gen), torch.randn(
        33, 3, generator=torch_gen)
    loss = solution["accumulated_grads"](net, nn.MSELoss(), X, Y, 8)
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    want = nn.MSELoss()(net(X), Y)
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-5)
    for g, p in zip(grads, net.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-6)


def _run(torch_gen, seed, momentum, scheduler):
    import torch

    net = _net(torch_gen, [6, 5, 3])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2,
                                momentum=momentum)
    sched = scheduler(optimizer)
    return net, optimizer, sched, torch.Generator().manual_seed(seed)


def _train(net, optimizer, scheduler, generator, X, Y, steps):
    import torch
    import torch.nn.functional as F

    for _ in range(steps):
        index = torch.randperm(len(X), generator=generator)[:5]
        loss = F.cross_entropy(net(X[index]), Y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_a_resumed_run_is_the_uninterrupted_one_bit_for_bit(
        solution, rng, torch_gen, schedule):
    import torch
    from torch.optim import lr_scheduler

    make = {"step": lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5),
            "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, 10),
            "onecycle": lambda o: lr_scheduler.OneCycleLR(
                o, max_lr=0.5, total_steps=20)}[schedule]
    X = torch.randn(16, 6, generator=torch_gen, dtype=torch.float64)
    Y = torch.randint(0, 3, (16,), generator=torch_gen)
    before, after = int(rng.integers(1, 8)), int(rng.integers(2, 8))
    run = _run(torch_gen, 0, 0.9, make)
    _train(*run, X, Y, before)
    state = solution["checkpoint"](*run)
    saved = copy.deepcopy(state)
    _train(*run, X, Y, after)
    for seed in (1, 2):
        fresh = _run(torch_gen, seed, 0.9, make)
        solution["resume"](state, *fresh)
        _train(*fresh, X, Y, after)
        for p, q in zip(run[0].parameters(), fresh[0].parameters(),
                        strict=True):
            assert torch.equal(p, q)
        assert fresh[2].state_dict() == run[2].state_dict()
    # the checkpoint itself never changed
    for k, v in saved["model"].items():
        assert torch.equal(v, state["model"][k])
    for k, v in saved["optimizer"]["state"].items():
        assert torch.equal(v["momentum_buffer"],
                           state["optimizer"]["state"][k]["momentum_buffer"])


def test_pruning_gives_pytorchs_mask(solution, rng, torch_gen):
    import torch
    from torch.nn.utils import prune

    for _ in range(30):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(
            rng.integers(1, 4))))
        weight = torch.randn(shape, generator=torch_gen,
                             dtype=torch.float64)
        amount = float(rng.choice([0.0, 1.0, rng.uniform()]))
        want = prune.L1Unstructured(amount).compute_mask(
            weight, default_mask=torch.ones_like(weight))
        kept = weight.clone()
        mask = solution["magnitude_prune_"](weight, amount)
        assert torch.equal(mask, want)
        assert torch.equal(weight, kept * want)


def test_pruning_a_layer_in_place_with_ties(solution):
    import torch
    from torch import nn

    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1, 2, 0], [1, 1, -2, 3],
                                         [0, -1, 4, 2]]))
    weight = layer.weight
    mask = solution["magnitude_prune_"](layer.weight, 0.5)
    assert layer.weight is weight and weight.requires_grad
    assert int((mask == 0).sum()) == 6
    assert torch.all(weight[mask == 1].abs() >= 1)
    assert torch.equal(weight, weight * mask)


def test_freezing_leaves_the_head_alone(solution, rng):
    import torch
    from torch import nn

    for end in (False, True):
        sizes = [int(s) for s in rng.integers(2, 9, size=4)]
        layers = [nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
                  nn.Linear(sizes[1], sizes[2]), nn.Tanh(),
                  nn.Linear(sizes[2], sizes[3])] + ([nn.ReLU()] if end else [])
        model = nn.Sequential(*layers)
        count = solution["freeze_body"](model)
        head = layers[4]
        assert count == head.weight.numel() + head.bias.numel()
        for layer in (layers[0], layers[2]):
            assert not any(p.requires_grad for p in layer.parameters())
        assert all(p.requires_grad for p in head.parameters())
        # backward reaches the head only
        model(torch.randn(3, sizes[0])).sum().backward()
        assert layers[0].weight.grad is None and head.weight.grad is not None
