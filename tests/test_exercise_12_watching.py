"""Exercise 12_watching: the solution's clipping is PyTorch's
``clip_grad_norm_`` and ``clip_grad_value_``, its norms and ratios are
what an SGD step does, its counts are scikit-learn's, on fresh random
inputs (its wrong answers are in grading/12_watching_wrong.py)."""

import itertools
import math

import pytest

import autograde

ASSIGNMENT = "12_watching"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _params(rng, torch_gen, dtype=None, count=None):
    """Parameters of random shapes, with gradients of random scales (both
    signs), some without a gradient; twins with the same gradients."""
    import torch

    dtype = dtype or torch.float64
    ours, theirs = [], []
    for _ in range(count or int(rng.integers(1, 6))):
        shape = tuple(int(d) for d in rng.integers(1, 5, size=int(
            rng.integers(0, 4))))
        p = torch.randn(shape, generator=torch_gen, dtype=torch.float64)
        p = p.to(dtype).requires_grad_()
        q = p.detach().clone().requires_grad_()
        if rng.random() < 0.8:
            scale = float(10 ** rng.uniform(-6, 3))
            g = scale * torch.randn(shape, generator=torch_gen,
                                    dtype=torch.float64)
            p.grad, q.grad = g.to(dtype), g.to(dtype).clone()
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, "random"])
def test_clip_grad_norm_is_pytorchs(solution, rng, torch_gen, norm_type):
    import torch

    for _ in range(25):
        p = float(rng.uniform(0.5, 5)) if norm_type == "random" else \
            norm_type
        ours, theirs = _params(rng, torch_gen)
        if all(q.grad is None for q in theirs):
            continue
        max_norm = float(10 ** rng.uniform(-7, 4))
        kind = rng.integers(3)
        arg = iter(ours) if kind == 0 else ours
        got = solution["clip_grad_norm_"](arg, max_norm, norm_type=p)
        want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, p)
        assert math.isclose(float(got), want.item(), rel_tol=1e-9,
                            abs_tol=1e-300)
        for a, b in zip(ours, theirs, strict=True):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                torch.testing.assert_close(a.grad, b.grad, rtol=1e-9,
                                           atol=1e-300)


def test_clip_grad_norm_edges(solution, rng, torch_gen):
    import torch

    # a single tensor; float32; max_norm above the norm leaves the grads
    for dtype in (torch.float64, torch.float32):
        ours, theirs = _params(rng, torch_gen, dtype, count=1)
        if ours[0].grad is None:
            ours[0].grad = torch.ones_like(ours[0])
            theirs[0].grad = torch.ones_like(ours[0])
        got = solution["clip_grad_norm_"](ours[0], 0.1)
        want = torch.nn.utils.clip_grad_norm_(theirs[0], 0.1)
        torch.testing.assert_close(torch.as_tensor(got).to(want.dtype),
                                   want)
        torch.testing.assert_close(ours[0].grad, theirs[0].grad)
    ours, _ = _params(rng, torch_gen, count=4)
    kept = [None if p.grad is None else p.grad.clone() for p in ours]
    total = sum(float(p.grad.pow(2).sum()) for p in ours
                if p.grad is not None) ** 0.5
    solution["clip_grad_norm_"](ours, 2 * total + 1)
    for p, k in zip(ours, kept, strict=True):
        assert (p.grad is None and k is None) or torch.equal(p.grad, k)
    # no parameter with a gradient: the norm is 0, as PyTorch's
    bare = [torch.zeros(3, requires_grad=True)]
    assert float(solution["clip_grad_norm_"](bare, 1.0)) == \
        torch.nn.utils.clip_grad_norm_(bare, 1.0).item() == 0.0


def test_clip_grad_value_is_pytorchs(solution, rng, torch_gen):
    import torch

    for _ in range(30):
        dtype = torch.float32 if rng.random() < 0.3 else torch.float64
        ours, theirs = _params(rng, torch_gen, dtype)
        if all(q.grad is None for q in theirs):
            continue           # PyTorch's refuses a list without gradients
        clip = float(10 ** rng.uniform(-3, 2))
        arg = ours[0] if len(ours) == 1 and rng.random() < 0.5 else \
            iter(ours) if rng.random() < 0.5 else ours
        solution["clip_grad_value_"](arg, clip)
        torch.nn.utils.clip_grad_value_(theirs, clip)
        for a, b in zip(ours, theirs, strict=True):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                assert torch.equal(a.grad, b.grad)


def _net(torch_gen, sizes):
    import torch
    from torch import nn

    layers = []
    for d_in, d_out in itertools.pairwise(sizes):
        layer = nn.Linear(d_in, d_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.normal_(generator=torch_gen)
            layer.bias.normal_(generator=torch_gen)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def test_norms_and_ratios_are_an_sgd_steps(solution, rng, torch_gen):
    import torch
    from torch import nn

    for _ in range(10):
        sizes = [int(d) for d in rng.integers(1, 8, size=int(
            rng.integers(2, 5)))]
        net = _net(torch_gen, sizes)
        X = torch.randn(int(rng.integers(1, 20)), sizes[0],
                        generator=torch_gen, dtype=torch.float64)
        net(X).pow(2).sum().backward()
        names = [n for n, _ in net.named_parameters()]
        dict(net.named_parameters())[names[-1]].grad = None
        norms = solution["grad_norms"](net)
        lr = float(10 ** rng.uniform(-4, 0))
        ratios = solution["update_ratio"](net, lr)
        assert sorted(norms) == sorted(ratios) == sorted(names[:-1])
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        torch.optim.SGD(net.parameters(), lr=lr).step()
        for name, p in net.named_parameters():
            if name not in norms:
                continue
            step = p.detach() - before[name]
            assert math.isclose(norms[name], float(
                torch.linalg.vector_norm(step)) / lr, rel_tol=1e-6,
                abs_tol=1e-12)
            assert math.isclose(ratios[name], float(
                step.norm() / before[name].norm()), rel_tol=1e-6,
                abs_tol=1e-12)
        assert isinstance(net, nn.Sequential)


def test_counts_are_scikit_learns(solution, rng):
    import numpy as np
    import torch
    from sklearn import metrics

    for _ in range(30):
        k = int(rng.integers(2, 12))
        n = int(rng.integers(1, 200))
        target = rng.integers(0, k, n)
        pred = np.where(rng.random(n) < rng.random(), target,
                        rng.integers(0, k, n))
        t, p = torch.from_numpy(target), torch.from_numpy(pred)
        got = solution["confusion_matrix"](p, t, k)
        assert got.dtype == torch.int64
        np.testing.assert_array_equal(got.numpy(), metrics.confusion_matrix(
            target, pred, labels=list(range(k))))
        positive = int(rng.integers(0, k))
        want = metrics.precision_recall_fscore_support(
            target, pred, labels=[positive], average=None,
            zero_division=0)[:3]
        got = solution["precision_recall_f1"](p, t, positive)
        np.testing.assert_allclose(got, [w[0] for w in want], rtol=1e-12)
        assert all(isinstance(v, float) for v in got)


def test_dead_units_are_those_no_example_fires(solution, rng, torch_gen):
    import torch
    from torch import nn

    for _ in range(10):
        sizes = [int(d) for d in rng.integers(2, 12, size=int(
            rng.integers(3, 6)))]
        net = _net(torch_gen, sizes)
        with torch.no_grad():
            net[0].bias.sub_(float(rng.uniform(0, 3)))
        X = torch.randn(int(rng.integers(1, 40)), sizes[0],
                        generator=torch_gen, dtype=torch.float64)
        outputs = []
        for m in net:
            if isinstance(m, nn.ReLU):
                m.register_forward_hook(
                    lambda mod, inp, out, kept=outputs: kept.append(out))
        kept = [p.detach().clone() for p in net.parameters()]
        got = solution["dead_relu_fraction"](net, X)
        outputs.clear()
        net(X)
        want = [float((o.detach() == 0).all(dim=0).double().mean())
                for o in outputs]
        assert got == pytest.approx(want, abs=1e-7)
        assert all(torch.equal(p, k) for p, k in zip(net.parameters(),
                                                     kept, strict=True))
