"""Plots the course draws again and again.

Each function draws on ``ax`` when one is given, otherwise on a new figure,
and returns the matplotlib ``Axes`` so the caller can add titles or save it.
Nothing here needs a screen: without one matplotlib draws off-screen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ziptie.train import History

__all__ = ["decision_boundary", "history", "loss_surface"]


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6, 4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def history(hist: History, keys: list[str] | None = None, *,
            per_step: bool = False, ax: Axes | None = None,
            log: bool = False, ylabel: str | None = None,
            mark_best: bool = False) -> Axes:
    """Learning curves from a :class:`ziptie.train.History`.

    Args:
        hist: the history returned by :func:`ziptie.train.fit`.
        keys: which curves; by default every loss (``train_loss``,
            ``val_loss``) per epoch, or ``loss`` per step.
        per_step: plot per optimizer step instead of per epoch.
        log: logarithmic y axis.
        ylabel: the y axis label; by default the curve's name when there
            is one curve, else "value".
        mark_best: draw a dotted line at ``hist.best_epoch``, the epoch
            whose weights early stopping restored.
    """
    ax = _axes(ax)
    series = hist.step if per_step else hist.epoch
    if keys is None:
        keys = [k for k in series if k.endswith("loss")]
    missing = [k for k in keys if k not in series]
    if missing:
        raise KeyError(
            f"No curve named {missing[0]!r} in the history; it has: "
            f"{', '.join(series) or 'nothing yet'}."
        )
    for key in keys:
        values = series[key]
        ax.plot(np.arange(1, len(values) + 1), values, label=_readable(key))
    if mark_best:
        if hist.best_epoch is None:
            raise ValueError("mark_best needs a run with early stopping "
                             "(fit(..., patience=N)); best_epoch is None")
        best = hist.best_epoch + 1  # epochs are drawn from 1
        ax.axvline(best, color="black", linestyle=":",
                   label=f"best epoch ({best})")
    ax.set_xlabel("step" if per_step else "epoch")
    if ylabel is None:
        ylabel = _readable(keys[0]) if len(keys) == 1 else "value"
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def _readable(key: str) -> str:
    """``val_loss`` becomes ``validation loss``."""
    for short, long in (("train_", "training "), ("val_", "validation ")):
        if key.startswith(short):
            key = long + key[len(short):]
    return key.replace("_", " ")


def decision_boundary(predict: Callable[[Any], Any], X: Any, y: Any, *,
                      ax: Axes | None = None, resolution: int = 200,
                      margin: float = 0.5) -> Axes:
    """The regions a 2-D classifier assigns to each class, with the data.

    Args:
        predict: a model or function mapping an ``(n, 2)`` batch to class
            scores ``(n, classes)`` (or to class labels ``(n,)``). A torch
            module gets a float32 tensor on its own device.
        X, y: the points to draw on top, ``(n, 2)`` and ``(n,)``.
        resolution: grid points along each axis.
        margin: space around the data.
    """
    ax = _axes(ax, figsize=(5, 5))
    X, y = _numpy(X), _numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    scores = _numpy(_call(predict, grid.astype(np.float32)))
    labels = scores.argmax(axis=-1) if scores.ndim == 2 else scores
    labels = labels.reshape(resolution, resolution)
    classes = int(max(labels.max(), y.max())) + 1
    cmap = _class_colors(classes)
    ax.contourf(xs, ys, labels, levels=np.arange(classes + 1) - 0.5,
                cmap=cmap, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5,
               vmax=classes - 0.5, s=12, edgecolors="k", linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return ax


def loss_surface(loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 xlim: tuple[float, float], ylim: tuple[float, float], *,
                 paths: Mapping[str, Any] | None = None,
                 ax: Axes | None = None, levels: int | Any = 30,
                 resolution: int = 200, log: bool = False,
                 xlabel: str = "$w_1$", ylabel: str = "$w_2$") -> Axes:
    """Contours of a loss of two parameters, with optimizer paths on it.

    Args:
        loss: ``loss(w1, w2)`` evaluated element-wise on NumPy grids.
        xlim, ylim: the ranges of the two parameters.
        paths: name to a sequence of ``(w1, w2)`` points, one per step.
        levels: number of contour levels, or the levels themselves.
        log: contour :math:`\\log_{10}(L - L_{min} + 10^{-3})` instead of
            the loss, for narrow valleys such as Rosenbrock's.
        xlabel, ylabel: the names of the two parameters.
    """
    ax = _axes(ax, figsize=(6, 5))
    w1, w2 = np.meshgrid(np.linspace(*xlim, resolution),
                         np.linspace(*ylim, resolution))
    values = np.asarray(loss(w1, w2), dtype=float)
    if log:
        values = np.log10(values - values.min() + 1e-3)
    contour = ax.contour(w1, w2, values, levels=levels, cmap="viridis",
                         linewidths=0.8)
    ax.figure.colorbar(contour, ax=ax,
                       label="log10(loss - min)" if log else "loss")
    for name, path in (paths or {}).items():
        path = _numpy(path)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(
                f"path {name!r} must have shape (steps, 2), got {path.shape}")
        ax.plot(path[:, 0], path[:, 1], ".-", markersize=3, linewidth=1.2,
                label=name)
        ax.plot(*path[-1], "x", color="black", markersize=6)
    if paths:
        ax.legend()
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def _class_colors(classes: int) -> Any:
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps["tab10"].colors
    return ListedColormap([base[k % len(base)] for k in range(classes)])


def _numpy(value: Any) -> np.ndarray:
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _call(predict: Callable, grid: np.ndarray) -> Any:
    """Call ``predict`` on ``grid``, as a tensor if it is a torch module."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(predict, torch.nn.Module):
        param = next(predict.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            return predict(torch.from_numpy(grid).to(device))
    return predict(grid)
