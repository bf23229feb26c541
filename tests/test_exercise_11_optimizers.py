"""Exercise 11_optimizers: the solution matches torch.optim.Adagrad,
torch.optim.RMSprop, torch.optim.SGD(nesterov=True), PyTorch's chained
schedulers and a reference range test when called from outside the
notebook, and the update formulas of CS231n's notes and of Sutskever et
al. where they use another convention (its wrong answers are in
grading/11_optimizers_wrong.py)."""

import copy
import math

import numpy as np
import pytest

import autograde

ASSIGNMENT = "11_optimizers"
SHAPES = [(3, 2), (5,), ()]


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _params(torch_gen):
    import torch

    return [torch.randn(s, generator=torch_gen, dtype=torch.float64)
            .requires_grad_() for s in SHAPES]


def _side_by_side(ours, theirs, params, ref, torch_gen, num_steps=100,
                  scale=1.0):
    """100 steps of both on the same random gradients."""
    import torch

    for _ in range(num_steps):
        for p, r in zip(params, ref, strict=True):
            p.grad = scale * (0.5 + torch.randn(
                p.shape, generator=torch_gen, dtype=torch.float64))
            r.grad = p.grad.clone()
        ours.step()
        theirs.step()


@pytest.mark.parametrize(("name", "kind", "settings"), [
    ("Adagrad", "Adagrad", {"lr": 0.1}),
    ("Adagrad", "Adagrad", {"lr": 0.05, "lr_decay": 0.01,
                            "weight_decay": 0.1,
                            "initial_accumulator_value": 0.3, "eps": 1e-3}),
    ("RMSprop", "RMSprop", {"lr": 0.01}),
    ("RMSprop", "RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-3,
                            "weight_decay": 0.1, "momentum": 0.8}),
    ("NesterovSGD", "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("NesterovSGD", "SGD", {"lr": 0.02, "momentum": 0.5,
                            "weight_decay": 0.2}),
])
def test_optimizers_match_torch_optim(solution, torch_gen, name, kind,
                                      settings):
    import torch

    params = _params(torch_gen)
    ref = [p.detach().clone().requires_grad_() for p in params]
    ours = solution[name](params, **settings)
    extra = {"nesterov": True} if kind == "SGD" else {}
    theirs = getattr(torch.optim, kind)(ref, **settings, **extra)
    assert not isinstance(ours, torch.optim.Optimizer)
    _side_by_side(ours, theirs, params, ref, torch_gen, scale=0.1)
    for p, r in zip(params, ref, strict=True):
        assert torch.allclose(p, r, rtol=1e-6, atol=1e-6)
        assert torch.allclose(p, r, rtol=1e-10, atol=1e-12)
    ours.zero_grad()
    assert all(p.grad is None or not p.grad.any() for p in params)


def test_adagrad_and_rmsprop_are_cs231ns_formulas(solution, rng):
    """CS231n writes cache += dx**2 (AdaGrad) and cache = decay_rate *
    cache + (1 - decay_rate) * dx**2 (RMSprop), both with eps added after
    np.sqrt: PyTorch's formulas, with alpha for decay_rate."""
    import torch

    x0 = rng.normal(size=(4, 3))
    grads = rng.normal(size=(100, 4, 3)) * 0.01
    for name, decay_rate, eps in [("Adagrad", None, 1e-4),
                                  ("RMSprop", 0.9, 1e-4)]:
        w = torch.tensor(x0, requires_grad=True)
        settings = {"lr": 0.01, "eps": eps}
        if decay_rate is not None:
            settings["alpha"] = decay_rate
        ours = solution[name]([w], **settings)
        x, cache = x0.copy(), np.zeros_like(x0)
        inside = x0.copy()              # eps inside the root
        for dx in grads:
            w.grad = torch.tensor(dx)
            ours.step()
            if decay_rate is None:
                cache += dx**2
            else:
                cache = decay_rate * cache + (1 - decay_rate) * dx**2
            x += -0.01 * dx / (np.sqrt(cache) + eps)
            inside += -0.01 * dx / np.sqrt(cache + eps)
        np.testing.assert_allclose(w.detach().numpy(), x, rtol=1e-10,
                                   atol=1e-12)
        # eps inside the root (TensorFlow's RMSprop kernel) is another
        # method at these gradient sizes
        assert np.abs(inside - x).max() > 1e-3


def test_nesterov_is_the_look_ahead_form_after_a_change_of_variable(
        solution, rng):
    """Sutskever et al.: v <- mu v - lr grad(theta + mu v), theta <- theta +
    v; CS231n: x += -mu v_prev + (1 + mu) v with the gradient at x. The
    solution's weights are theta + mu v and CS231n's x, every step."""
    import torch

    A = rng.normal(size=(5, 5))
    A = A @ A.T + 0.1 * np.eye(5)
    b = rng.normal(size=5)

    def grad(x):
        return A @ x - b

    lr, mu = 0.01, float(rng.uniform(0.5, 0.95))
    w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    ours = solution["NesterovSGD"]([w], lr=lr, momentum=mu)
    theta, v = np.zeros(5), np.zeros(5)
    x, v2 = np.zeros(5), np.zeros(5)
    for _ in range(100):
        w.grad = torch.tensor(grad(w.detach().numpy()))
        ours.step()
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        v_prev = v2
        v2 = mu * v2 - lr * grad(x)
        x = x - mu * v_prev + (1 + mu) * v2
        np.testing.assert_allclose(w.detach().numpy(), theta + mu * v,
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(w.detach().numpy(), x, rtol=1e-9,
                                   atol=1e-12)
    assert np.abs(w.detach().numpy() - theta).max() > 1e-6


def _chained(base_lr, total, warmup, start_factor, eta_min):
    import torch

    sched = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=base_lr)
    cosine = sched.CosineAnnealingLR(optimizer, T_max=total - warmup,
                                     eta_min=eta_min)
    scheduler = cosine if not warmup else sched.SequentialLR(
        optimizer, [sched.LinearLR(optimizer, start_factor=start_factor,
                                   total_iters=warmup), cosine],
        milestones=[warmup])
    rates = []
    for _ in range(total + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_lr_at_is_pytorchs_chained_schedulers(solution, rng):
    lr_at = solution["lr_at"]
    for trial in range(20):
        total = int(rng.integers(2, 200))
        warmup = 0 if trial == 0 else int(rng.integers(0, total))
        base_lr = float(rng.uniform(1e-3, 1.0))
        start_factor = 1.0 if trial == 1 else float(rng.uniform(0.01, 1.0))
        eta_min = 0.0 if trial % 2 else float(rng.uniform(0, base_lr / 10))
        want = _chained(base_lr, total, warmup, start_factor, eta_min)
        got = [lr_at(t, base_lr, total, warmup, start_factor, eta_min)
               for t in range(total + 1)]
        assert all(type(g) is float for g in got)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        assert got[warmup] == pytest.approx(base_lr)
        assert got[-1] == pytest.approx(eta_min, abs=1e-12)


def _reference_range_test(model, loss_fn, batches, lr_min, lr_max,
                          num_steps, stop_factor):
    import torch

    model = copy.deepcopy(model)
    lrs, losses = [], []
    for k in range(num_steps):
        lr = lr_min * (lr_max / lr_min) ** (k / (num_steps - 1))
        X, y = batches[k % len(batches)]
        loss = loss_fn(model(X), y)
        lrs.append(lr)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]) or losses[-1] > stop_factor * min(
                losses):
            break
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lrs, losses


def test_range_test_matches_a_reference_and_leaves_the_model(solution,
                                                             torch_gen):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 2)).double()
    before = [p.detach().clone() for p in net.parameters()]
    A = torch.randn(3, 2, generator=torch_gen, dtype=torch.float64)
    batches = []
    for _ in range(3):
        X = torch.randn(16, 3, generator=torch_gen, dtype=torch.float64)
        batches.append((X, X @ A))
    loss_fn = torch.nn.MSELoss()
    stopped = 0
    for lr_max, num_steps in [(1e3, 60), (1e-2, 12), (1e-1, 2)]:
        got = solution["lr_range_test"](net, loss_fn, batches, 1e-4, lr_max,
                                        num_steps, stop_factor=4.0)
        want = _reference_range_test(net, loss_fn, batches, 1e-4, lr_max,
                                     num_steps, 4.0)
        assert len(got[0]) == len(got[1]) == len(want[0])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9)
        stopped += len(got[0]) < num_steps
        assert all(torch.equal(p.detach(), b) for p, b in
                   zip(net.parameters(), before, strict=True))
    assert stopped == 1     # the loss blew up in the first test only
