"""Small real datasets that work offline, their splits, and mini-batches.

Every dataset here is either shipped by a package (the handwritten digits come
with scikit-learn) or generated from a seed, so nothing is downloaded::

    ds = ziptie.data.load("digits", as_tensor=True, device=device)
    X, y = ds.train                 # 70 % of the examples
    for X_batch, y_batch in ziptie.data.batches(X, y, batch_size=64, seed=0):
        ...

Datasets (``load(name)``):

``digits``      1,497 handwritten digits, 8×8 pixels scaled to [0, 1],
                10 classes (the UCI "optical recognition" test set, less
                the 300 images the grader keeps back: see below).
``moons``       two interleaving half circles, 2 classes.
``spirals``     arms of a spiral, ``classes`` classes (3 by default).
``blobs``       Gaussian clusters, ``classes`` classes (3 by default).
``regression``  1-D regression, :math:`y = \\sin(3x) + x/2 + \\varepsilon`.

Splits are stratified for classification and depend only on ``seed``.

Of the 1,797 digits scikit-learn ships, ``load`` never returns 300 (about 30
of each class, the same 300 whatever the arguments): the grader scores the
trained classifiers of the exercises on them, so no notebook can train on
the images it is scored on, and a notebook that reads the digits some other
way is flagged (``ziptie.grader.scan``, ``ziptie.grader.tripwire``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DATASETS", "DIGITS_HELD_BACK", "Batches", "Dataset", "Split",
           "batches", "load"]

#: The names ``load`` accepts.
DATASETS = ("digits", "moons", "spirals", "blobs", "regression")


class Split(NamedTuple):
    """Inputs ``X`` and targets ``y`` of one part of a dataset."""

    X: Any
    y: Any


@dataclass(frozen=True)
class Dataset:
    """A dataset split into training, validation and test parts.

    ``X, y = ds.train`` unpacks one part. ``task`` is ``"classification"``
    or ``"regression"``; ``num_classes`` is 0 for regression.
    """

    name: str
    train: Split
    val: Split
    test: Split
    task: str
    num_classes: int
    num_features: int

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{part}={len(getattr(self, part).y)}"
            for part in ("train", "val", "test")
        )
        return f"Dataset({self.name!r}, {self.task}, {sizes})"


#: How many digits the grader keeps back from ``load``.
DIGITS_HELD_BACK = 300


def _digits(held_back: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The digits ``load`` splits, or with ``held_back`` the ones it never
    returns (a fixed, stratified choice of ``DIGITS_HELD_BACK`` images)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X, y = bunch.data / 16.0, bunch.target
    kept, held = train_test_split(np.arange(len(y)),
                                  test_size=DIGITS_HELD_BACK,
                                  random_state=20261130, stratify=y)
    index = np.sort(held if held_back else kept)
    return X[index], y[index]


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple:
    from sklearn.datasets import make_moons

    seed = int(rng.integers(2**31))
    return make_moons(n_samples=n, noise=noise, random_state=seed)


def _blobs(n: int, classes: int, noise: float, rng: np.random.Generator):
    from sklearn.datasets import make_blobs

    seed = int(rng.integers(2**31))
    return make_blobs(
        n_samples=n, centers=classes, n_features=2,
        cluster_std=max(noise, 1e-3), random_state=seed,
    )


def _spirals(n: int, classes: int, noise: float, rng: np.random.Generator):
    """``classes`` arms of a spiral, each turning once around the origin."""
    per_class = np.full(classes, n // classes)
    per_class[: n % classes] += 1
    X, y = [], []
    for k, m in enumerate(per_class):
        radius = np.linspace(0.05, 1.0, m)
        angle = (
            np.linspace(0.0, 2 * math.pi, m)
            + 2 * math.pi * k / classes
            + rng.normal(scale=noise, size=m)
        )
        X.append(np.column_stack([radius * np.sin(angle),
                                  radius * np.cos(angle)]))
        y.append(np.full(m, k))
    return np.concatenate(X), np.concatenate(y)


def _regression(n: int, noise: float, rng: np.random.Generator):
    x = rng.uniform(-2.0, 2.0, size=(n, 1))
    y = np.sin(3 * x[:, 0]) + x[:, 0] / 2 + rng.normal(scale=noise, size=n)
    return x, y


def _check_fractions(val_frac: float, test_frac: float) -> None:
    for label, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(
                f"{label} must be in [0, 1), got {frac}. "
                f"It is the share of examples held out, e.g. 0.15."
            )
    if val_frac + test_frac >= 1.0:
        raise ValueError(
            f"val_frac + test_frac = {val_frac + test_frac:g} leaves no "
            f"training examples: make their sum smaller than 1."
        )


def _split_indices(y: np.ndarray, fracs: tuple[float, float],
                   stratify: bool, seed: int) -> list[np.ndarray]:
    """Indices of train, val and test, stratified by class if asked."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    parts = {}
    for frac, label in zip(fracs[::-1], ("test", "val"), strict=True):
        count = round(frac * len(y))
        if count == 0:
            parts[label] = np.array([], dtype=int)
            continue
        try:
            index, held = train_test_split(
                index, test_size=count, random_state=seed,
                stratify=y[index] if stratify else None,
            )
        except ValueError as err:
            raise ValueError(
                f"Cannot hold out a {label} split of {frac:g} from "
                f"{len(y)} examples: {err} Use more samples or a larger "
                f"fraction."
            ) from None
        parts[label] = np.sort(held)
    return [np.sort(index), parts["val"], parts["test"]]


def load(
    name: str,
    *,
    n_samples: int = 1000,
    noise: float | None = None,
    classes: int = 3,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    as_tensor: bool = False,
    device: Any = None,
) -> Dataset:
    """Load a dataset, split into train, validation and test parts.

    Args:
        name: one of :data:`DATASETS`.
        n_samples: number of examples of a generated dataset (the digits
            always have 1,497).
        noise: noise level of a generated dataset; a sensible default per
            dataset when ``None``.
        classes: number of classes of ``spirals`` and ``blobs``.
        val_frac, test_frac: shares of all examples held out for validation
            and for testing; the rest is for training.
        seed: fixes both the generated data and the split.
        as_tensor: return torch tensors (``float32`` inputs; ``int64`` class
            labels or ``float32`` regression targets) instead of NumPy arrays.
        device: where the tensors go (implies ``as_tensor``), e.g.
            ``ziptie.device()``.

    Raises:
        ValueError: unknown name, fractions that do not fit, or too few
            samples.
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}."
        )
    _check_fractions(val_frac, test_frac)
    if name != "digits" and (not isinstance(n_samples, int) or n_samples < 10):
        raise ValueError(f"n_samples must be an integer >= 10, got {n_samples!r}")
    if name in ("spirals", "blobs") and (not isinstance(classes, int)
                                         or classes < 2):
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")

    rng = np.random.default_rng(seed)
    defaults = {"moons": 0.2, "spirals": 0.2, "blobs": 1.0, "regression": 0.1}
    noise = defaults.get(name, 0.0) if noise is None else float(noise)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")

    if name == "digits":
        X, y = _digits()
    elif name == "moons":
        X, y = _moons(n_samples, noise, rng)
    elif name == "spirals":
        X, y = _spirals(n_samples, classes, noise, rng)
    elif name == "blobs":
        X, y = _blobs(n_samples, classes, noise, rng)
    else:
        X, y = _regression(n_samples, noise, rng)

    is_regression = name == "regression"
    parts = _split_indices(y, (val_frac, test_frac),
                           stratify=not is_regression, seed=seed)
    splits = [_convert(X[i], y[i], is_regression, as_tensor, device)
              for i in parts]
    return Dataset(
        name=name,
        train=splits[0],
        val=splits[1],
        test=splits[2],
        task="regression" if is_regression else "classification",
        num_classes=0 if is_regression else int(y.max()) + 1,
        num_features=X.shape[1],
    )


def _convert(X: np.ndarray, y: np.ndarray, is_regression: bool,
             as_tensor: bool, device: Any) -> Split:
    X = X.astype(np.float32)
    y = y.astype(np.float32 if is_regression else np.int64)
    if not as_tensor and device is None:
        return Split(X, y)
    import torch

    return Split(torch.from_numpy(X).to(device), torch.from_numpy(y).to(device))


class Batches:
    """Mini-batches of ``(X, y)``, re-shuffled on every pass.

    Iterating over a ``Batches`` object yields ``(X_batch, y_batch)`` pairs
    that together cover the data once (one *epoch*); iterating again gives
    the next epoch, in a new order when ``shuffle`` is on. The orders depend
    only on ``seed``, so a run can be repeated exactly.
    """

    def __init__(self, X: Any, y: Any, batch_size: int, *,
                 shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(
                f"batch_size must be positive, got {batch_size}: it is the "
                f"number of examples per step, e.g. 32."
            )
        if len(X) != len(y):
            raise ValueError(
                f"X and y must have the same number of examples, got "
                f"{len(X)} and {len(y)}."
            )
        if drop_last and batch_size > len(X):
            raise ValueError(
                f"batch_size={batch_size} is larger than the {len(X)} "
                f"examples and drop_last=True would yield nothing. Use a "
                f"smaller batch_size or drop_last=False."
            )
        self.X, self.y = X, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Number of batches in one epoch."""
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(
            n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        n = len(self.X)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        if not isinstance(self.X, np.ndarray):  # a torch tensor
            import torch

            order = torch.from_numpy(order).to(self.X.device)
        for k in range(len(self)):
            index = order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self.X[index], self.y[index]


def batches(X: Any, y: Any, batch_size: int, *, shuffle: bool = True,
            seed: int = 0, drop_last: bool = False) -> Batches:
    """Mini-batches of ``(X, y)`` for a training loop; see :class:`Batches`.

    Works for NumPy arrays and torch tensors (on any device). The last batch
    is smaller when ``batch_size`` does not divide the number of examples,
    unless ``drop_last=True``.
    """
    return Batches(X, y, batch_size, shuffle=shuffle, seed=seed,
                   drop_last=drop_last)
