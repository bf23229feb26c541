import numpy as np
import pytest
import torch

from ziptie.gradcheck import GradientError, check_grad, numerical_grad


def _autograd(f, args, grad_output=None):
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
               for a in args]
    out = f(*tensors)
    if grad_output is None:
        out.backward()
    else:
        out.backward(torch.as_tensor(grad_output, dtype=torch.float64))
    return [t.grad.numpy() for t in tensors]


def _mlp_loss(x, W, b):
    return torch.tanh(x @ W + b).pow(2).sum()


def test_numerical_grad_matches_autograd_on_random_inputs(rng):
    args = [rng.normal(size=(4, 3)), rng.normal(size=(3, 5)),
            rng.normal(size=5)]
    expected = _autograd(_mlp_loss, args)
    got = numerical_grad(_mlp_loss, [torch.from_numpy(a) for a in args])
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_numerical_grad_with_upstream_gradient(rng):
    x, W = rng.normal(size=(6, 4)), rng.normal(size=(4, 2))
    dout = rng.normal(size=(6, 2))
    expected = _autograd(lambda x, W: torch.sigmoid(x @ W), [x, W], dout)
    got = numerical_grad(lambda x, W: 1 / (1 + np.exp(-x @ W)), [x, W],
                         grad_output=dout)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_arguments_are_not_modified(rng):
    x = rng.normal(size=5)
    before = x.copy()
    numerical_grad(lambda v: (v ** 3).sum(), [x])
    np.testing.assert_array_equal(x, before)


def test_check_grad_accepts_correct_gradients(rng):
    args = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2)),
            rng.normal(size=2)]
    check_grad(_mlp_loss, [torch.from_numpy(a) for a in args],
               _autograd(_mlp_loss, args))


def test_check_grad_catches_a_planted_wrong_gradient(rng):
    args = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2)),
            rng.normal(size=2)]
    grads = _autograd(_mlp_loss, args)
    index = (int(rng.integers(4)), int(rng.integers(2)))
    grads[1][index] += 0.5
    with pytest.raises(GradientError) as info:
        check_grad(_mlp_loss, [torch.from_numpy(a) for a in args], grads)
    err = info.value
    assert err.argument == 1 and err.index == index
    assert err.received == pytest.approx(err.expected + 0.5, abs=1e-6)
    message = str(err)
    assert f"for argument 1 and index {index}" in message
    assert "from central difference" in message
    assert "relative error" in message and "1 of 8 entries" in message


def test_check_grad_catches_a_flipped_sign(rng):
    x = rng.normal(size=(5, 3))
    wrong = -2 * x  # the gradient of sum(x**2) is +2x
    with pytest.raises(GradientError, match="argument 0"):
        check_grad(lambda v: (v ** 2).sum(), [x], [wrong])


def test_check_grad_names_the_argument(rng):
    x = rng.normal(size=(2, 2))
    with pytest.raises(GradientError, match=r"argument 1 \(W\) and index"):
        check_grad(lambda x, W: (x @ W).sum(), [x, x.copy()],
                   [None, np.zeros((2, 2))], names=["x", "W"])
    with pytest.raises(ValueError, match="Got 1 names for 2 arguments"):
        check_grad(lambda x, W: (x @ W).sum(), [x, x], [None, None],
                   names=["x"])


def test_arguments_not_differentiated_are_passed_unchanged(rng):
    logits = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)

    def picked(z, labels):
        assert labels.dtype.kind == "i", "labels must stay integers"
        return z[np.arange(len(labels)), labels].sum()

    expected = np.zeros_like(logits)
    expected[np.arange(4), y] = 1.0
    check_grad(picked, [logits, y], [expected, None])


def test_check_grad_skips_arguments_given_none(rng):
    x, W = rng.normal(size=(2, 3)), rng.normal(size=(3, 1))
    check_grad(lambda x, W: (x @ W).sum(), [x, W], [None, x.sum(0)[:, None]])


def test_check_grad_rejects_wrong_shapes_and_counts(rng):
    x = rng.normal(size=(2, 3))
    with pytest.raises(ValueError, match="has shape \\(3, 2\\)"):
        check_grad(lambda v: v.sum(), [x], [np.ones((3, 2))])
    with pytest.raises(ValueError, match="Got 2 gradients for 1 arguments"):
        check_grad(lambda v: v.sum(), [x], [None, None])


def test_array_output_needs_grad_output(rng):
    with pytest.raises(ValueError, match="pass grad_output"):
        numerical_grad(lambda v: v * 2, [rng.normal(size=3)])
    with pytest.raises(ValueError, match="grad_output has shape"):
        numerical_grad(lambda v: v * 2, [rng.normal(size=3)],
                       grad_output=np.ones(4))


def test_nan_gradient_is_reported(rng):
    x = rng.normal(size=3)
    with pytest.raises(GradientError, match="Received derivative nan"):
        check_grad(lambda v: (v ** 2).sum(), [x], [np.full(3, np.nan)])
