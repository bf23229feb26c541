r"""Numerical gradients, and a gradient check that says what went wrong.

A derivative is a sensitivity: how much the output moves when one input
moves a little. The central difference measures it directly,

.. math::

    \frac{\partial L}{\partial x_i} \approx
    \frac{L(x + \epsilon e_i) - L(x - \epsilon e_i)}{2 \epsilon},

with an error of order :math:`\epsilon^2`. It costs two evaluations of
:math:`L` per input entry, far too slow for training but a perfect referee
for a backward pass written by hand::

    def f(x, W, b):
        return linear_forward(x, W, b)

    dx, dW, db = linear_backward(dout, x, W, b)
    check_grad(f, [x, W, b], [dx, dW, db], grad_output=dout)

Functions may take NumPy arrays or torch tensors; every computation here is
done in float64 so that rounding does not drown the signal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["GradientError", "check_grad", "numerical_grad"]


class GradientError(AssertionError):
    """A gradient differs from its central-difference estimate.

    Attributes ``argument``, ``index``, ``expected`` and ``received`` say
    where and by how much.
    """

    def __init__(self, argument: int, index: tuple[int, ...], expected: float,
                 received: float, rel_error: float, n_wrong: int,
                 n_total: int, name: str | None = None) -> None:
        self.argument, self.index = argument, index
        self.expected, self.received = expected, received
        self.rel_error = rel_error
        label = f"argument {argument}" if name is None else \
            f"argument {argument} ({name})"
        super().__init__(
            f"Received derivative {received:.6g} for {label} and "
            f"index {index}, but was expecting derivative {expected:.6g} from "
            f"central difference (relative error {rel_error:.2e}). "
            f"{n_wrong} of {n_total} entries of {label} differ."
        )


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _to_numpy(value: Any) -> np.ndarray:
    if _is_torch(value):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _like(array: np.ndarray, original: Any) -> Any:
    """``array`` as the type of ``original`` (NumPy or a float64 tensor)."""
    if _is_torch(original):
        import torch

        return torch.from_numpy(array).to(original.device)
    return array


def _scalar(out: Any, grad_output: np.ndarray | None) -> float:
    out = _to_numpy(out)
    if grad_output is None:
        if out.size != 1:
            raise ValueError(
                f"f returned an array of shape {out.shape}. Return a scalar, "
                f"or pass grad_output (the upstream gradient dL/d(output)) "
                f"of that shape."
            )
        return float(out.reshape(()))
    if out.shape != grad_output.shape:
        raise ValueError(
            f"grad_output has shape {grad_output.shape} but f returned shape "
            f"{out.shape}."
        )
    return float(np.sum(out * grad_output))


def numerical_grad(f: Callable[..., Any], args: Sequence[Any], *,
                   grad_output: Any = None, eps: float = 1e-6,
                   wrt: Sequence[int] | None = None) -> list[np.ndarray | None]:
    r"""Central-difference gradients of ``f`` with respect to its arguments.

    For a scalar-valued ``f`` this estimates :math:`\partial f / \partial
    x` for each argument :math:`x`. For an array-valued ``f``, pass the
    upstream gradient ``grad_output`` :math:`= \partial L / \partial f`;
    the result is then :math:`\partial L / \partial x` for
    :math:`L = \sum f \odot \text{grad\_output}`, which is exactly what a
    backward pass computes.

    Args:
        f: takes ``*args`` and returns a number, an array or a tensor.
        args: the point at which to differentiate (not modified).
        grad_output: upstream gradient, same shape as ``f(*args)``.
        eps: half the width of the central difference.
        wrt: indices of the arguments to differentiate; all by default.
            The others (class labels, say) are passed to ``f`` unchanged.

    Returns:
        One float64 NumPy array per argument, the shape of that argument
        (``None`` for arguments not in ``wrt``).
    """
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    wrt = range(len(args)) if wrt is None else wrt
    # float64 copies of the arguments that are perturbed; the rest as given
    points = {k: _to_numpy(args[k]).copy() for k in wrt}
    upstream = None if grad_output is None else _to_numpy(grad_output)

    def evaluate() -> float:
        inputs = [_like(points[k], a) if k in points else a
                  for k, a in enumerate(args)]
        return _scalar(f(*inputs), upstream)

    grads: list[np.ndarray | None] = [None] * len(args)
    for k in wrt:
        x = points[k]
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            original = x[i]
            x[i] = original + eps
            plus = evaluate()
            x[i] = original - eps
            minus = evaluate()
            x[i] = original
            grad[i] = (plus - minus) / (2 * eps)
        grads[k] = grad
    return grads


def check_grad(f: Callable[..., Any], args: Sequence[Any],
               grads: Sequence[Any | None], *, grad_output: Any = None,
               eps: float = 1e-6, rtol: float = 1e-4,
               atol: float = 1e-6, names: Sequence[str] | None = None) -> None:
    """Check gradients against central differences; raise if one is wrong.

    Args:
        f, args, grad_output, eps: as for :func:`numerical_grad`.
        grads: the gradients to check, one per argument, each the shape of
            its argument; ``None`` skips that argument.
        rtol, atol: an entry passes when ``|received - expected| <= atol +
            rtol * |expected|``.
        names: a name per argument (``["X", "W", "b"]``) for the message.

    Raises:
        GradientError: naming the first wrong entry: the argument, the
            index, the expected and received values and the relative error.
        ValueError: ``grads`` does not match ``args`` in number or shape.
    """
    if names is not None and len(names) != len(args):
        raise ValueError(f"Got {len(names)} names for {len(args)} arguments.")
    if len(grads) != len(args):
        raise ValueError(
            f"Got {len(grads)} gradients for {len(args)} arguments: pass one "
            f"per argument, None to skip one."
        )
    wrt = [k for k, g in enumerate(grads) if g is not None]
    expected_all = numerical_grad(f, args, grad_output=grad_output, eps=eps,
                                  wrt=wrt)
    for k in wrt:
        expected, received = expected_all[k], _to_numpy(grads[k])
        if received.shape != expected.shape:
            raise ValueError(
                f"Gradient {k} has shape {received.shape}, but argument {k} "
                f"has shape {expected.shape}: a gradient has the shape of "
                f"what it differentiates."
            )
        wrong = ~np.isclose(received, expected, rtol=rtol, atol=atol)
        if wrong.any():
            index = tuple(int(i) for i in np.argwhere(wrong)[0])
            exp, rec = float(expected[index]), float(received[index])
            rel = abs(rec - exp) / max(abs(exp), abs(rec), 1e-12)
            raise GradientError(k, index, exp, rec, rel, int(wrong.sum()),
                                wrong.size, None if names is None else names[k])
