"""``fit``: the training loop, for chapters after it has been taught.

Chapter 4 writes the loop by hand; from then on ``fit`` runs those same four
lines, adding what every real run needs around them: epochs, a validation
pass, a progress bar, a history of every number, early stopping, and a clear
stop when the loss is no longer a number::

    for X, y in train_batches:             # one epoch
        pred = model(X)                    # A. forward pass
        loss = loss_fn(pred, y)            # B. loss
        optimizer.zero_grad()
        loss.backward()                    # C. backward pass
        optimizer.step()                   # D. optimizer step
"""

from __future__ import annotations

import copy
import math
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DivergenceError", "History", "accuracy", "evaluate", "fit"]

#: Environment variable that sets the default progress display:
#: ``auto`` (a widget in a notebook, text elsewhere), ``text`` or ``off``.
PROGRESS_ENV = "ZIPTIE_PROGRESS"


@dataclass
class History:
    """Every number a training run produced.

    ``step`` holds one value per optimizer step (``step["loss"]``);
    ``epoch`` holds one value per epoch (``epoch["train_loss"]``,
    ``epoch["val_loss"]``, ``epoch["val_accuracy"]``, ...). ``best_epoch``
    is the epoch whose weights the model holds after early stopping
    (0-based), or ``None``.
    """

    step: dict[str, list[float]] = field(
        default_factory=lambda: defaultdict(list))
    epoch: dict[str, list[float]] = field(
        default_factory=lambda: defaultdict(list))
    best_epoch: int | None = None
    stopped_early: bool = False

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.epoch.items() if v}
        return f"History(epochs={self.num_epochs}, last={last})"

    @property
    def num_epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch.get("train_loss", []))


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds the run so far."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def accuracy(pred: Any, y: Any) -> float:
    """Share of rows of ``pred`` (logits) whose largest entry is at ``y``."""
    return (pred.argmax(dim=-1) == y).float().mean().item()


def _progress_bar(total: int, progress: bool | str) -> Any:
    """A tqdm bar: a widget in a notebook, text on stdout elsewhere."""
    mode = progress if isinstance(progress, str) else (
        os.environ.get(PROGRESS_ENV, "auto") if progress else "off")
    if mode not in ("auto", "text", "off"):
        raise ValueError(
            f"progress must be True, False, 'auto', 'text' or 'off', got "
            f"{mode!r}"
        )
    if mode == "off":
        return None
    if mode == "auto" and _in_notebook():
        try:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(total=total, unit="step")
        except ImportError:  # no ipywidgets: fall back to text
            pass
    from tqdm import tqdm

    return tqdm(total=total, unit="step", file=sys.stdout, ascii=True,
                mininterval=0.5, dynamic_ncols=False, ncols=80)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def evaluate(model: Any, loss_fn: Callable, data: Iterable,
             metrics: dict[str, Callable] | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``data``, without gradients.

    ``data`` is an iterable of ``(X, y)`` batches, or a single ``(X, y)``
    pair of tensors. Batch results are weighted by batch size.
    """
    import torch

    metrics = {"accuracy": accuracy} if metrics is None else metrics
    batches = _as_batches(data)
    totals: dict[str, float] = defaultdict(float)
    count = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for X, y in batches:
            pred = model(X)
            n = len(y)
            totals["loss"] += loss_fn(pred, y).item() * n
            for name, metric in metrics.items():
                totals[name] += metric(pred, y) * n
            count += n
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got no examples")
    return {name: total / count for name, total in totals.items()}


def _as_batches(data: Any) -> Iterable:
    """An ``(X, y)`` pair of tensors becomes one batch."""
    if isinstance(data, tuple | list) and len(data) == 2 and hasattr(
            data[0], "shape") and hasattr(data[1], "shape"):
        return [tuple(data)]
    return data


def fit(model: Any, loss_fn: Callable, optimizer: Any, train_data: Iterable,
        *, epochs: int, val_data: Any = None,
        metrics: dict[str, Callable] | None = None,
        patience: int | None = None, scheduler: Any = None,
        progress: bool | str = True) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data``.

    Args:
        model: a ``torch.nn.Module`` (already on its device).
        loss_fn: ``loss_fn(pred, y)`` returns a scalar tensor.
        optimizer: any ``torch.optim`` optimizer, or one written by hand with
            ``zero_grad()`` and ``step()``.
        train_data: an iterable of ``(X, y)`` batches, iterated once per
            epoch, e.g. :func:`ziptie.data.batches`.
        epochs: the most epochs to train.
        val_data: ``(X, y)`` or batches to evaluate after each epoch.
        metrics: name to ``metric(pred, y) -> float``; accuracy by default,
            ``{}`` for none (regression).
        patience: stop when the validation loss has not improved for this
            many epochs, and restore the weights of the best epoch.
        scheduler: a learning-rate scheduler, stepped after each epoch.
        progress: ``True`` (a bar, see ``ZIPTIE_PROGRESS``), ``False``,
            ``"auto"``, ``"text"`` or ``"off"``.

    Returns:
        The :class:`History` of the run.

    Raises:
        DivergenceError: the loss became NaN or infinite; the error's
            ``history`` holds every step up to that point.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if patience is not None and val_data is None:
        raise ValueError("patience needs val_data to watch the validation loss")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be a positive integer, got {patience}")
    metrics = {"accuracy": accuracy} if metrics is None else metrics
    history = History()
    steps_per_epoch = len(train_data) if hasattr(train_data, "__len__") else 0
    bar = _progress_bar(steps_per_epoch * epochs, progress)
    best_loss, best_state, waited = math.inf, None, 0
    try:
        for epoch in range(epochs):
            model.train()
            total, count = 0.0, 0
            for X, y in train_data:
                pred = model(X)
                loss = loss_fn(pred, y)
                value = loss.item()
                history.step["loss"].append(value)
                if not math.isfinite(value):
                    raise DivergenceError(
                        f"The loss became {value} at epoch {epoch + 1}, step "
                        f"{len(history.step['loss'])}. The steps were too "
                        f"large: try a smaller learning rate.", history)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + value * len(y), count + len(y)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            history.epoch["train_loss"].append(total / max(count, 1))
            if scheduler is not None:
                scheduler.step()
            if val_data is None:
                continue
            result = evaluate(model, loss_fn, _as_batches(val_data), metrics)
            for name, value in result.items():
                history.epoch[f"val_{name}"].append(value)
            if patience is None:
                continue
            if result["loss"] < best_loss:
                best_loss, waited = result["loss"], 0
                best_state = copy.deepcopy(model.state_dict())
                history.best_epoch = epoch
            else:
                waited += 1
                if waited >= patience:
                    history.stopped_early = True
                    break
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
