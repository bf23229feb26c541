"""Exercise 07_signal: the solution measures what the course claims when
called from outside the notebook (its wrong answers are in
grading/07_signal_wrong.py)."""

import copy

import numpy as np
import pytest

import autograde

ASSIGNMENT = "07_signal"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _net(torch_gen, sizes=(4, 6, 3)):
    """Linear, Tanh, Linear in float64, its weights drawn from torch_gen."""
    import torch

    net = torch.nn.Sequential(
        torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Tanh(),
        torch.nn.Linear(sizes[1], sizes[2])).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=torch_gen))
    return net


def _batch(torch_gen, n=8, d_in=4, d_out=3):
    import torch

    return (torch.randn(n, d_in, generator=torch_gen, dtype=torch.float64),
            torch.randn(n, d_out, generator=torch_gen, dtype=torch.float64))


def test_under_sgd_every_step_is_lr_times_the_gradient(solution, torch_gen):
    import torch

    model = _net(torch_gen)
    reference = copy.deepcopy(model)
    X, y = _batch(torch_gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    weight, grad, step = solution["measure_step"](
        model, torch.nn.MSELoss(), X, y, optimizer)
    for w, g, s, p in zip(weight, grad, step, reference.parameters(),
                          strict=True):
        assert torch.equal(w, p.detach().abs())
        torch.testing.assert_close(s, 0.3 * g, rtol=1e-9, atol=1e-12)
    torch.nn.MSELoss()(reference(X), y).backward()
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.3 * p.grad
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_adams_first_step_is_lr_for_every_weight(solution, torch_gen):
    import torch

    model = _net(torch_gen)
    X, y = _batch(torch_gen)
    _, grad, step = solution["measure_step"](
        model, torch.nn.MSELoss(), X, y,
        torch.optim.Adam(model.parameters(), lr=0.01))
    g = torch.cat([t.flatten() for t in grad])
    s = torch.cat([t.flatten() for t in step])
    sizable = g > 1e-3                      # eps = 1e-8 does not count
    assert g[sizable].max() / g[sizable].min() > 10     # of many sizes
    torch.testing.assert_close(s[sizable], torch.full_like(s[sizable], 0.01),
                               rtol=1e-4, atol=0)


def _overlap(a, b, k):
    """An independent overlap: NumPy's stable sort of the negated sizes."""
    def top(values):
        flat = np.concatenate([np.abs(v.numpy()).ravel() for v in values])
        return set(np.argsort(-flat, kind="stable")[:k].tolist())
    return len(top(a) & top(b)) / k


def test_overlap_agrees_with_an_independent_count(solution, rng):
    import torch

    shapes = [(3, 4), (), (5,)]
    for levels in (None, [0.0, 1.0, 2.0]):
        def draw(levels=levels):
            if levels is None:
                return [torch.from_numpy(np.asarray(rng.normal(size=s)))
                        for s in shapes]
            return [torch.from_numpy(np.asarray(rng.choice(levels, size=s)))
                    for s in shapes]
        a, b = draw(), draw()
        for k in range(1, 18):
            got = solution["overlap"](a, b, k)
            assert got == pytest.approx(_overlap(a, b, k))
            assert got == pytest.approx(solution["overlap"](b, a, k))
            assert solution["overlap"](a, a, k) == 1.0


def test_the_loss_scale_test_separates_sgd_from_adam(solution, torch_gen):
    import torch

    model = _net(torch_gen)
    before = [p.detach().clone() for p in model.parameters()]
    X, y = _batch(torch_gen)
    ratio = solution["loss_scale_ratio"]
    mse = torch.nn.MSELoss()
    assert ratio(model, mse, X, y, torch.optim.SGD, {"lr": 0.1},
                 250.0) == pytest.approx(250.0, rel=1e-9)
    assert ratio(model, mse, X, y, torch.optim.Adam, {"lr": 0.01},
                 250.0) == pytest.approx(1.0, rel=1e-4)
    with_decay = ratio(model, mse, X, y, torch.optim.SGD,
                       {"lr": 0.1, "weight_decay": 1.0}, 250.0)
    assert 1.0 < with_decay < 250.0
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)


def test_the_gain_is_k_squared_with_zero_targets(solution, torch_gen):
    import torch

    model = _net(torch_gen)
    with torch.no_grad():
        model[2].bias.zero_()
    X, _ = _batch(torch_gen)
    zeros = torch.zeros(len(X), 3, dtype=torch.float64)
    for k in (0.5, 1.0, 7.0):
        got = solution["gradient_gain"](model, torch.nn.MSELoss(), X, zeros,
                                        k)
        assert got == pytest.approx(k ** 2, rel=1e-9)
