"""Exercise 10_normalisation: the solution computes what PyTorch's batch
and layer normalisation compute, on fresh random inputs (its wrong answers
are in grading/10_normalisation_wrong.py)."""

import importlib.util

import pytest

import autograde

ASSIGNMENT = "10_normalisation"


@pytest.fixture(scope="module")
def solution():
    """The setup and solution cells of the source notebook, run in one
    namespace."""
    return autograde.solution_namespace(ASSIGNMENT)


def _batch(torch_gen, n, c, dtype=None):
    import torch

    dtype = dtype or torch.float64
    shift = 3 * torch.randn(c, generator=torch_gen, dtype=torch.float64)
    scale = 10 ** (2 * torch.rand(c, generator=torch_gen,
                                  dtype=torch.float64) - 1)
    x = shift + scale * torch.randn(n, c, generator=torch_gen,
                                    dtype=torch.float64)
    return x.to(dtype)


def test_batch_norm_is_pytorchs_in_training_mode(solution, rng, torch_gen):
    import torch
    import torch.nn.functional as F

    for _ in range(20):
        n, c = int(rng.integers(2, 40)), int(rng.integers(1, 9))
        eps = float(10 ** rng.uniform(-6, 0))
        x = _batch(torch_gen, n, c)
        gamma = torch.randn(c, generator=torch_gen, dtype=torch.float64)
        beta = torch.randn(c, generator=torch_gen, dtype=torch.float64)
        kept = x.clone()
        got = solution["batch_norm"](x, gamma, beta, eps=eps)
        want = F.batch_norm(x, None, None, gamma, beta, training=True,
                            eps=eps)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
        assert torch.equal(x, kept)
    # float32 in, float32 out
    x = _batch(torch_gen, 16, 4, torch.float32)
    got = solution["batch_norm"](x, torch.ones(4), torch.zeros(4))
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got, F.batch_norm(x, None, None, torch.ones(4), torch.zeros(4),
                          training=True))


@pytest.mark.parametrize("momentum", [0.1, 0.0, 1.0, "random"])
def test_the_layer_matches_batchnorm1d_step_by_step(solution, rng,
                                                    torch_gen, momentum):
    import torch
    from torch import nn

    if momentum == "random":
        momentum = float(rng.uniform(0, 1))
    c, eps = int(rng.integers(1, 8)), float(10 ** rng.uniform(-6, -1))
    ours = solution["BatchNorm"](c, eps=eps, momentum=momentum)
    theirs = nn.BatchNorm1d(c, eps=eps, momentum=momentum,
                            dtype=torch.float64)
    with torch.no_grad():
        for p, q in [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
            q.copy_(torch.randn(c, generator=torch_gen))
            p.copy_(q)
    assert ours.training is True

    def same(x):
        got, want = ours(x), theirs(x)
        torch.testing.assert_close(got.double(), want, rtol=1e-6,
                                   atol=1e-8)
        for name in ("running_mean", "running_var"):
            torch.testing.assert_close(
                getattr(ours, name).double(), getattr(theirs, name),
                rtol=1e-6, atol=1e-8)
        return got, want

    for _ in range(6):
        same(_batch(torch_gen, int(rng.integers(2, 30)), c))
    assert ours.eval() is ours and ours.training is False
    theirs.eval()
    before = ours.running_mean.clone(), ours.running_var.clone()
    for n in (1, 5):
        same(_batch(torch_gen, n, c))
    assert torch.equal(ours.running_mean, before[0])
    assert torch.equal(ours.running_var, before[1])
    assert ours.train() is ours and ours.training is True
    theirs.train()
    x = _batch(torch_gen, 7, c)
    w = torch.randn(7, c, generator=torch_gen, dtype=torch.float64)
    got, want = same(x)
    (got * w).sum().backward()
    (want * w).sum().backward()
    torch.testing.assert_close(ours.weight.grad.double(), theirs.weight.grad,
                               rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ours.bias.grad.double(), theirs.bias.grad,
                               rtol=1e-5, atol=1e-7)


def test_a_batch_of_one_is_refused_in_training_mode_only(solution):
    import torch

    layer = solution["BatchNorm"](3)
    with pytest.raises(ValueError):
        layer(torch.randn(1, 3, dtype=torch.float64))
    out = layer.eval()(torch.ones(1, 3, dtype=torch.float64))
    torch.testing.assert_close(out.detach().double(), torch.full(
        (1, 3), 1 / (1 + 1e-5) ** 0.5, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(5,), (1, 6), (9, 4), (3, 5, 7),
                                   (2, 3, 2, 8)])
def test_layer_norm_is_pytorchs(solution, torch_gen, shape):
    import torch
    import torch.nn.functional as F

    d = shape[-1]
    x = 2 + 3 * torch.randn(shape, generator=torch_gen, dtype=torch.float64)
    gamma = torch.randn(d, generator=torch_gen, dtype=torch.float64)
    beta = torch.randn(d, generator=torch_gen, dtype=torch.float64)
    for eps in (1e-5, 0.3):
        got = solution["layer_norm"](x, gamma, beta, eps=eps)
        torch.testing.assert_close(
            got, F.layer_norm(x, (d,), gamma, beta, eps),
            rtol=1e-9, atol=1e-11)
    # one example alone, the same as in its batch
    alone = solution["layer_norm"](x.reshape(-1, d)[:1], gamma, beta)
    torch.testing.assert_close(
        alone, solution["layer_norm"](x, gamma, beta).reshape(-1, d)[:1])


def test_the_backward_is_autograds(solution, rng, torch_gen):
    import torch
    import torch.nn.functional as F

    for _ in range(15):
        n, c = int(rng.integers(2, 30)), int(rng.integers(1, 7))
        eps = float(10 ** rng.uniform(-6, 0))
        x = _batch(torch_gen, n, c)
        gamma = torch.randn(c, generator=torch_gen, dtype=torch.float64)
        dout = torch.randn(n, c, generator=torch_gen, dtype=torch.float64)
        leaves = [t.clone().requires_grad_() for t in
                  (x, gamma, torch.zeros(c, dtype=torch.float64))]
        F.batch_norm(leaves[0], None, None, leaves[1], leaves[2],
                     training=True, eps=eps).backward(dout)
        got = solution["batch_norm_backward"](dout, x, gamma, eps=eps)
        for ours, leaf in zip(got, leaves, strict=True):
            torch.testing.assert_close(ours, leaf.grad, rtol=1e-8,
                                       atol=1e-10)
        # dx sums to zero over the batch: a shift of x changes nothing
        assert got[0].sum(dim=0).abs().max() < 1e-8 * (1 + dout.abs().sum())


def _checks():
    """The grader's checks of this exercise, as a module."""
    spec = importlib.util.spec_from_file_location(
        "checks_10", autograde.ROOT / "grading" / f"{ASSIGNMENT}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Float32Layer:
    """A correct BatchNorm that keeps its state in float32, as
    ``nn.BatchNorm1d`` does unless told otherwise, for float64 batches."""

    def __init__(self, c, eps, momentum, gamma, beta, unbiased=True):
        import torch

        self.eps, self.momentum, self.unbiased = eps, momentum, unbiased
        self.weight, self.bias = gamma.float(), beta.float()
        self.running_mean, self.running_var = torch.zeros(c), torch.ones(c)

    def train_step(self, x):
        m = self.momentum
        self.running_mean.mul_(1 - m).add_(m * x.mean(0))
        self.running_var.mul_(1 - m).add_(m * x.var(0, unbiased=self.unbiased))

    def eval_call(self, x):
        return (x - self.running_mean) / (self.running_var + self.eps).sqrt() \
            * self.weight + self.bias


def test_the_grader_allows_for_a_layer_kept_in_float32(rng, torch_gen):
    """The slack of the grader's eval-mode outputs (``_Float32State``)
    covers a float32 layer's rounding entry by entry, where the fixed
    tolerance does not: inputs near a large running mean with a small
    variance, a mean that rose and fell back. A wrong layer (its running
    variance divided by N) passes with it only where its error is as
    small as the rounding, as with the fixed tolerance."""
    import torch
    from torch import nn

    checks = _checks()
    outside, caught = 0, []
    for _ in range(60):
        c, eps = 4, float(10 ** rng.uniform(-5, -1))
        momentum = float(rng.choice([1.0, rng.uniform(0.02, 1.0)]))
        gamma, beta = checks._affine(rng, c)
        ref = nn.BatchNorm1d(c, eps=eps, momentum=momentum,
                             dtype=torch.float64)
        with torch.no_grad():
            ref.weight.copy_(gamma)
            ref.bias.copy_(beta)
        ours = _Float32Layer(c, eps, momentum, gamma, beta)
        # a wrong layer: its running variance divided by N, not N - 1
        biased = _Float32Layer(c, eps, momentum, gamma, beta, False)
        rounding = checks._Float32State(ref)
        for step in range(int(rng.integers(1, 6))):
            x = (checks._batch(rng, int(rng.integers(2, 5)), c)
                 * 10 ** rng.uniform(-3, 0) + (-1) ** step * 10 * rng.normal())
            before = ref.running_mean.clone(), ref.running_var.clone()
            ref(x)
            ours.train_step(x)
            biased.train_step(x)
            rounding.update(x, *before)
        ref.eval()
        x = checks._batch(rng, 40, c)
        near = 1e-3 * torch.randn(20, c, generator=torch_gen,
                                  dtype=torch.float64)
        x[:20] = ref.running_mean + ref.running_var.sqrt() * near
        want = ref(x).detach()
        slack = torch.from_numpy(rounding.slack(x, want))
        off = (ours.eval_call(x) - want).abs()
        assert torch.all(off <= slack)
        outside += int(torch.sum(off > 1e-6 + 1e-5 * want.abs()))
        # whether the fixed tolerance and the slack show the mistake
        off = (biased.eval_call(x) - want).abs() - 1e-6 - 1e-5 * want.abs()
        caught.append((bool(torch.any(off > 0)),
                       bool(torch.any(off > slack))))
    assert outside > 0, "no case needed the slack"
    # it may hide the mistake only where that is as small as the rounding
    shown = [with_slack for fixed, with_slack in caught if fixed]
    assert len(shown) > 0.9 * len(caught)
    assert sum(shown) > 0.95 * len(shown)
