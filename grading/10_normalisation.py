"""Checks of exercise 10_normalisation: the points of each graded cell.

Every input is drawn from ``rng`` at grading time: the batches, their
sizes and scales, ``gamma`` and ``beta``, ``eps`` and the momentum
(float64 unless a case is about float32). Every expected value is
computed here, in the grader's process, with PyTorch's own
``F.batch_norm``, ``nn.BatchNorm1d`` (driven through the same steps) and
``F.layer_norm``, and the gradients by autograd. While the student's code
runs, PyTorch's normalisation functions and modules are refused, and in
the backward task autograd too.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ziptie.grader.probe import Probe, close, hint, raises, task
from ziptie.grader.recipes import random_tensor
from ziptie.grader.wire import ref

#: What the normalisations are to be written without: PyTorch's own, by
#: their public names, the bindings underneath and any aten operator.
NORMS = tuple(f"torch.nn.functional.{name}" for name in (
    "batch_norm", "layer_norm", "instance_norm", "group_norm", "rms_norm")) \
    + tuple(f"torch.{name}" for name in (
        "batch_norm", "native_batch_norm", "_native_batch_norm_legit",
        "_batch_norm_impl_index", "cudnn_batch_norm", "batch_norm_stats",
        "layer_norm", "native_layer_norm", "instance_norm", "group_norm",
        "rms_norm")) + (
    "torch.nn.modules.batchnorm._BatchNorm.forward",
    "torch.nn.modules.normalization.LayerNorm.forward",
    "torch.nn.modules.normalization.GroupNorm.forward",
    "torch._ops.OpOverload.__call__", "torch._ops.OpOverloadPacket.__call__")

#: Autograd, which the backward pass is to be written without.
AUTOGRAD = ("torch.autograd.backward", "torch.autograd.grad",
            "torch.Tensor.backward", "torch.autograd.graph._engine_run_backward",
            "torch.autograd.variable.Variable._execution_engine.run_backward",
            "torch.func.grad", "torch.func.vjp", "torch.func.jacrev")


def _batch(rng, n, c, dtype=torch.float64):
    """A batch whose features have means and scales of their own, as a
    layer's activations have (milder in float32, whose rounding would
    otherwise part two correct answers)."""
    mild = dtype != torch.float64
    shift = torch.from_numpy(rng.normal(scale=1.0 if mild else 3.0, size=c))
    scale = torch.from_numpy(10 ** rng.uniform(-0.5 if mild else -1, 1,
                                               size=c))
    return (shift + scale * random_tensor(rng, (n, c))).to(dtype)


def _affine(rng, c, dtype=torch.float64):
    """A gamma (some negative) and a beta, far from 1 and 0."""
    gamma = torch.from_numpy(rng.uniform(0.5, 2.0, size=c) * rng.choice(
        [-1.0, 1.0], size=c, p=[0.2, 0.8]))
    return gamma.to(dtype), random_tensor(rng, c, dtype)


def _tol(dtype) -> dict:
    return {"rtol": 1e-6, "atol": 1e-8} if dtype == torch.float64 else \
        {"rtol": 1e-4, "atol": 1e-4}


# -- task 1: batch_norm, in training mode --------------------------------------

@task("test_batch_norm", points=2)
def batch_norm(rng):
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)
    ones, zeros = torch.ones(2, dtype=torch.float64), torch.zeros(
        2, dtype=torch.float64)
    cases = [(x, ones, zeros, 1e-5)]
    for n, c, eps, dtype in [(2, 3, 1e-5, torch.float64),
                             (int(rng.integers(5, 30)), 4, 1e-5,
                              torch.float64),
                             (int(rng.integers(3, 10)), 1, 0.5,
                              torch.float64),
                             (int(rng.integers(3, 12)),
                              int(rng.integers(2, 8)),
                              float(rng.uniform(0.05, 2.0)), torch.float64),
                             (16, 5, 1e-3, torch.float32)]:
        cases.append((_batch(rng, n, c, dtype), *_affine(rng, c, dtype),
                      eps))
    for x, gamma, beta, eps in cases:
        want = F.batch_norm(x, None, None, gamma, beta, training=True,
                            eps=eps)
        yield (Probe.call("batch_norm", x, gamma, beta, eps=eps)
               .forbid(*NORMS),
               hint(close(want.numpy(), **_tol(x.dtype)),
                     "each feature (column) over the batch (dim 0), the "
                     "variance divided by N, eps inside the square root, "
                     "then gamma * x_hat + beta"))


# -- task 2: the BatchNorm layer -----------------------------------------------

class _Expected:
    """What a probe's values must be, index by index, with what each is."""

    def __init__(self, tol: dict):
        self.want: list = []
        self.tol = tol

    def at(self, probe: Probe, value, what: str, slack=0.0) -> None:
        """The last step's value must be ``value``, within the tolerance
        plus ``slack`` (a number, or one per entry of ``value``)."""
        self.want.append((len(probe.steps) - 1, value, what, slack))

    def compare(self, values):
        for index, want, what, slack in self.want:
            got = values[index]
            if isinstance(want, bool):
                if got is not want:
                    return f"{what}: expected {want}, got {got!r}"[:300]
                continue
            reason = close(want, rtol=self.tol["rtol"],
                           atol=self.tol["atol"] + slack)([got])
            if reason:
                return f"{what}: {reason}"
        return None


class _Float32State:
    """How far, entry by entry, a correct layer that keeps its state in
    float32 (as ``nn.BatchNorm1d`` does unless told otherwise) may be from
    ``module``, the float64 reference, in eval mode.

    Each update r <- (1 - m) r + m b of a running statistic, kept in
    float32, rounds r, (1 - m) r and m b by at most delta = 2**-24 of
    their size, and carries the error so far times (1 - m). The bound
    e <- (1 - m) e + delta (|r_new| + (1 - m) |r_old| + m |b|) follows
    both. It is not relative to r: a running mean that rose and fell back
    keeps the error of its largest size.

    In eval mode y = gamma (x - mu) / s + beta, with s = sqrt(var + eps),
    moves by |gamma| e_mu / s through the mean, |y - beta| e_var / (2 s^2)
    through the variance, and by delta |y - beta| and delta |beta| through
    gamma and beta rounded. That is not relative to y either: an input
    near a large running mean with a small variance comes out near 0, its
    error far above 1e-6. The slack is four times their sum, with
    delta |x| beside e_mu for a layer that rounds its input too.
    """

    DELTA = 2.0 ** -24

    def __init__(self, module: nn.BatchNorm1d):
        self.module = module
        self.mean = torch.zeros_like(module.running_mean)
        self.var = torch.zeros_like(module.running_var)

    def update(self, x, mean, var) -> None:
        """Follow a training step on ``x``; ``mean`` and ``var``: the
        running statistics before it."""
        m, delta, module = self.module.momentum, self.DELTA, self.module
        self.mean = (1 - m) * self.mean + delta * (
            module.running_mean.abs() + (1 - m) * mean.abs()
            + m * x.detach().mean(0).abs())
        self.var = (1 - m) * self.var + delta * (
            module.running_var + (1 - m) * var + m * x.detach().var(0))

    def slack(self, x, out):
        """The slack of each entry of ``out``, the output for ``x``."""
        module, delta = self.module, self.DELTA
        with torch.no_grad():
            s2 = module.running_var + module.eps
            y = (out - module.bias).abs()
            slack = 4 * (module.weight.abs() * (self.mean + delta * x.abs())
                         / s2.sqrt() + y * self.var / (2 * s2)
                         + delta * (y + module.bias.abs()))
        return slack.double().numpy()


def _layer_case(rng, c, eps, momentum, batches, evals, *,
                dtype=torch.float64, set_affine=True, grad=True,
                off="eval()"):
    """A ``BatchNorm(c, eps=eps, momentum=momentum)`` of the notebook and an
    ``nn.BatchNorm1d`` driven alike: training steps on ``batches``, then
    ``eval()`` (or ``off``, ``"train(False)"``) and the batches
    ``evals``, then ``train()`` and one more step; every output and the
    running statistics after each call. With ``grad``, the last batch
    requires a gradient: the gradients of gamma, beta and the batch must
    be autograd's, and the running statistics outside the graph."""
    # a layer's own weight may be float32, like nn.BatchNorm1d's: gamma
    # copied into it is rounded to 6e-8 of its size, even for float64 x
    expected = _Expected(_tol(dtype) if dtype != torch.float64 else
                         {"rtol": 1e-5, "atol": 1e-6})
    module = nn.BatchNorm1d(c, eps=eps, momentum=momentum, dtype=dtype)
    rounding = _Float32State(module)
    probe = Probe.make("BatchNorm", c, eps=eps, momentum=momentum)
    probe.get("$0.training")
    expected.at(probe, True, "a new layer is in training mode "
                "(self.training is True)")
    for name in ("running_mean", "running_var"):
        probe.get(f"$0.{name}")
        expected.at(probe, getattr(module, name).numpy().copy(),
                    f"{name} of a new layer (zeros for the mean, ones for "
                    f"the variance)")
    if set_affine:
        gamma, beta = _affine(rng, c, dtype)
        with torch.no_grad():
            module.weight.copy_(gamma)
            module.bias.copy_(beta)
        # copied into the layer's own tensors, as load_state_dict does, so
        # that a layer written as an nn.Module with Parameters takes them
        probe.keep("$0.weight.data.copy_", gamma)
        probe.keep("$0.bias.data.copy_", beta)

    def call(x, step: str, sent=None):
        probe.then("$0", x if sent is None else sent)
        before = module.running_mean.clone(), module.running_var.clone()
        out = module(x).detach()
        if module.training:
            rounding.update(x, *before)
        expected.at(probe, out.numpy(), f"the output of {step}",
                    0.0 if module.training else rounding.slack(x, out))
        for name in ("running_mean", "running_var"):
            probe.get(f"$0.{name}")
            expected.at(probe, getattr(module, name).numpy().copy(),
                        f"{name} after {step}")

    for t, x in enumerate(batches):
        call(x, f"training step {t + 1} (a batch of {len(x)})")
    # the layer that eval() or train(False) returns is the layer itself
    if off == "eval()":
        probe.keep("$0.eval")
    else:
        probe.keep("$0.train", False)
    module.eval()
    probe.get(f"${len(probe.steps) - 1}.training")
    expected.at(probe, False, f"{off} returns self, with self.training "
                f"False")
    for x in evals:
        call(x, f"a call after eval() (a batch of {len(x)}: the running "
                f"statistics normalise, and stay as they are)")
    probe.keep("$0.train")
    module.train()
    probe.get(f"${len(probe.steps) - 1}.training")
    expected.at(probe, True, "train() returns self, with self.training "
                "True")
    x = _batch(rng, int(rng.integers(3, 9)), c, dtype)
    sent = None
    if grad:
        # a batch that requires a gradient, as a hidden layer's output
        probe.put(x)
        probe.keep(f"${len(probe.steps) - 1}.requires_grad_")
        sent = ref(len(probe.steps) - 1)
        leaf = len(probe.steps) - 1
        reference = nn.BatchNorm1d(c, eps=eps, momentum=momentum,
                                   dtype=dtype)
        reference.load_state_dict(module.state_dict())
    call(x, "a call after train() (a batch of its own: its statistics "
            "normalise and update the running ones)", sent)
    if grad:
        # gamma and beta are learned: the gradient must reach them, and
        # the batch's, through its mean and variance
        weights = random_tensor(rng, (len(x), c), dtype)
        out = len(probe.steps) - 3    # the last output, then its stats
        probe.keep(f"${out}.mul", weights)
        probe.keep(f"${len(probe.steps) - 1}.sum")
        probe.keep(f"${len(probe.steps) - 1}.backward")
        x_ref = x.clone().requires_grad_()
        (reference(x_ref) * weights).sum().backward()
        probe.get("$0.weight.grad")
        expected.at(probe, reference.weight.grad.numpy(),
                    "the gradient of weight (gamma) after backward(): "
                    "keep gamma and beta in the graph")
        probe.get("$0.bias.grad")
        expected.at(probe, reference.bias.grad.numpy(),
                    "the gradient of bias (beta) after backward()")
        probe.get(f"${leaf}.grad")
        expected.at(probe, x_ref.grad.numpy(),
                    "the gradient of the batch after backward(): it "
                    "reaches x directly and through the batch's mean and "
                    "variance (detach nothing that normalises)")
        for name in ("running_mean", "running_var"):
            probe.get(f"$0.{name}.requires_grad")
            expected.at(probe, False, f"{name}.requires_grad after a "
                        f"batch that requires a gradient: update the "
                        f"running statistics outside the autograd graph")
    probe.text = (f"BatchNorm({c}, eps={eps:.3g}, momentum={momentum:.3g}): "
                  f"{len(batches)} training steps, {off} and "
                  f"{len(evals)} call(s), train() and a step")
    return probe.forbid(*NORMS), expected.compare


@task("test_batchnorm_layer", points=4)
def batchnorm_layer(rng):
    def batches(count, c, dtype=torch.float64, low=2, high=20):
        return [_batch(rng, int(rng.integers(low, high)), c, dtype)
                for _ in range(count)]

    # the defaults, with gamma and beta as they start
    yield _layer_case(rng, 3, 1e-5, 0.1, batches(3, 3), batches(1, 3),
                      set_affine=False)
    # a momentum of its own (never 0.5, where its convention would not
    # show), batches of two and more, a batch of one in eval mode
    for _ in range(2):
        c = int(rng.integers(2, 7))
        momentum = float(rng.choice([rng.uniform(0.02, 0.35),
                                     rng.uniform(0.65, 0.95)]))
        yield _layer_case(rng, c, float(rng.uniform(1e-5, 0.2)), momentum,
                          [_batch(rng, 2, c)] + batches(3, c),
                          [_batch(rng, 1, c)] + batches(1, c))
    # valid edges: momentum 0 (running statistics never move) and 1 (they
    # are the last batch's)
    for momentum in (0.0, 1.0):
        yield _layer_case(rng, 4, 1e-5, momentum, batches(3, 4),
                          batches(1, 4), grad=False, off="train(False)")
    # float32
    yield _layer_case(rng, 5, 1e-5, 0.1, batches(4, 5, torch.float32,
                                                  8, 32),
                      batches(1, 5, torch.float32), dtype=torch.float32)
    # a batch of one in training mode: its variance is 0, PyTorch refuses
    c = int(rng.integers(1, 6))
    probe = Probe.make("BatchNorm", c).catch("$0", _batch(rng, 1, c))
    probe.text = f"BatchNorm({c}) in training mode, called on a batch of 1"
    yield probe.forbid(*NORMS), hint(
        raises("ValueError"), "as nn.BatchNorm1d does: a batch of one in "
        "training mode has no variance to normalise with")


# -- task 3: layer_norm --------------------------------------------------------

@task("test_layer_norm", points=2)
def layer_norm(rng):
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 10.0]], dtype=torch.float64)
    cases = [(x, torch.ones(3, dtype=torch.float64),
              torch.zeros(3, dtype=torch.float64), 0.0)]
    for shape, eps, dtype in [((int(rng.integers(2, 10)), 6), 1e-5,
                               torch.float64),
                              ((1, int(rng.integers(2, 9))), 1e-5,
                               torch.float64),
                              ((3, int(rng.integers(2, 6)), 4),
                               float(rng.uniform(0.05, 1.0)),
                               torch.float64),
                              ((int(rng.integers(3, 8)),), 1e-5,
                               torch.float64),
                              ((8, 7), 1e-5, torch.float32)]:
        mild = dtype != torch.float64        # see _batch
        scale = torch.from_numpy(10 ** rng.uniform(
            -0.5 if mild else -1, 1, size=shape[:-1] + (1,)))
        x = ((1 if mild else 3) * random_tensor(rng, shape[:-1] + (1,))
             + scale * random_tensor(rng, shape)).to(dtype)
        cases.append((x, *_affine(rng, shape[-1], dtype), eps))
    for x, gamma, beta, eps in cases:
        want = F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
        yield (Probe.call("layer_norm", x, gamma, beta, eps=eps)
               .forbid(*NORMS),
               hint(close(want.numpy(), **_tol(x.dtype)),
                     "each example over its own features (the last "
                     "dimension), the variance divided by D, eps inside "
                     "the square root"))


# -- task 4: the backward pass of batch_norm -----------------------------------

def _grads(dout, x, gamma, eps):
    x_t = x.clone().requires_grad_()
    gamma_t = gamma.clone().requires_grad_()
    beta_t = torch.zeros_like(gamma).requires_grad_()
    F.batch_norm(x_t, None, None, gamma_t, beta_t, training=True,
                 eps=eps).backward(dout)
    return [x_t.grad.numpy(), gamma_t.grad.numpy(), beta_t.grad.numpy()]


@task("test_batch_norm_backward", points=3)
def batch_norm_backward(rng):
    cases = []
    for n, c, eps in [(2, 3, 1e-5), (int(rng.integers(4, 20)), 4, 1e-5),
                      (int(rng.integers(3, 10)), 1, float(rng.uniform(
                          0.1, 1.0))),
                      (int(rng.integers(5, 16)), int(rng.integers(2, 7)),
                       float(rng.uniform(1e-4, 0.05)))]:
        x = _batch(rng, n, c)
        gamma, _ = _affine(rng, c)
        cases.append((random_tensor(rng, (n, c)), x, gamma, eps))
    for dout, x, gamma, eps in cases:
        yield (Probe.call("batch_norm_backward", dout, x, gamma, eps=eps)
               .forbid(*NORMS, *AUTOGRAD),
               hint(close(_grads(dout, x, gamma, eps), rtol=1e-6,
                           atol=1e-9),
                     "return (dx, dgamma, dbeta) as autograd computes them "
                     "for batch_norm in training mode; dx has three terms: "
                     "the direct one, and those through the mean and the "
                     "variance"))
