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

import importlib.util
import math
import os
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
    table = np.loadtxt(_digits_file(), delimiter=",")
    X, y = table[:, :-1] / 16.0, table[:, -1].astype(int)
    kept, held = _hold_out(np.arange(len(y)), DIGITS_HELD_BACK,
                           seed=20261130, stratify=y)
    index = np.sort(held if held_back else kept)
    return X[index], y[index]


def _digits_file() -> str:
    """scikit-learn's file of the digits, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("The digits come with scikit-learn, which is "
                          "missing here: pip install scikit-learn")
    return os.path.join(spec.submodule_search_locations[0], "datasets",
                        "data", "digits.csv.gz")


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
    index = np.arange(len(y))
    parts = {}
    for frac, label in zip(fracs[::-1], ("test", "val"), strict=True):
        count = round(frac * len(y))
        if count == 0:
            parts[label] = np.array([], dtype=int)
            continue
        try:
            index, held = _hold_out(index, count, seed=seed, stratify=(
                y[index] if stratify else None))
        except ValueError as err:
            raise ValueError(
                f"Cannot hold out a {label} split of {frac:g} from "
                f"{len(y)} examples: {err} Use more samples or another "
                f"fraction."
            ) from None
        parts[label] = np.sort(held)
    return [np.sort(index), parts["val"], parts["test"]]


def _hold_out(index: np.ndarray, count: int, *, seed: int,
              stratify: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """``index`` split in two at random: the rest, and ``count`` held out.

    With ``stratify`` (a class per entry of ``index``), each class is
    held out in its share of ``count``. The split is scikit-learn's
    ``train_test_split(index, test_size=count, random_state=seed,
    stratify=stratify)``, entry for entry: the same draws from
    ``np.random.RandomState(seed)``, in the same order. Written out here
    because importing scikit-learn costs more than a second in every
    kernel that loads a dataset; ``tests/test_data.py`` checks the two
    agree.

    Raises:
        ValueError: ``count`` leaves nothing to keep, or a class too small
            to be in both parts.
    """
    rng = np.random.RandomState(seed)
    n = len(index)
    if not 0 < count < n:
        raise ValueError(f"holding out {count} of {n} examples leaves a "
                         f"part empty.")
    if stratify is None:
        order = rng.permutation(n)
        return index[order[count:]], index[order[:count]]
    classes, which, sizes = np.unique(stratify, return_inverse=True,
                                      return_counts=True)
    if sizes.min() < 2:
        raise ValueError("A class with one example cannot be in both "
                         "parts.")
    if min(count, n - count) < len(classes):
        raise ValueError(f"Each part needs one example of each of the "
                         f"{len(classes)} classes.")
    members = np.split(np.argsort(which, kind="stable"),
                       np.cumsum(sizes)[:-1])
    kept = _approximate_mode(sizes, n - count, rng)
    held = _approximate_mode(sizes - kept, count, rng)
    rest: list[int] = []
    out: list[int] = []
    for k, size in enumerate(sizes):
        shuffled = members[k][rng.permutation(size)]
        rest.extend(shuffled[:kept[k]])
        out.extend(shuffled[kept[k]:kept[k] + held[k]])
    return index[rng.permutation(rest)], index[rng.permutation(out)]


def _approximate_mode(sizes: np.ndarray, draws: int,
                      rng: np.random.RandomState) -> np.ndarray:
    """How many of ``draws`` to take from each class of ``sizes``: each
    class's share, rounded down, plus one for the classes with the largest
    remainders until the counts add up (ties broken at random), as
    scikit-learn's ``_approximate_mode``."""
    share = sizes / sizes.sum() * draws
    taken = np.floor(share)
    missing = int(draws - taken.sum())
    remainder = share - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing == 0:
            break
        (tied,) = np.where(remainder == value)
        now = min(len(tied), missing)
        taken[rng.choice(tied, size=now, replace=False)] += 1
        missing -= now
    return taken.astype(int)


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
