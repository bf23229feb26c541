import subprocess
import sys

import numpy as np
import pytest
import torch

from ziptie import data


def test_digits_are_the_real_handwritten_digits():
    ds = data.load("digits")
    sizes = [len(part.y) for part in (ds.train, ds.val, ds.test)]
    assert sum(sizes) == 1797 - data.DIGITS_HELD_BACK == 1497
    assert ds.num_classes == 10 and ds.num_features == 64
    X, y = ds.train
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))


@pytest.mark.parametrize("fracs", [(0.15, 0.15), (0.0, 0.0), (0.5, 0.4)])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_digits_the_grader_keeps_back_never_come_out(fracs, seed):
    ds = data.load("digits", val_frac=fracs[0], test_frac=fracs[1],
                   seed=seed)
    given = np.concatenate([ds.train.X, ds.val.X, ds.test.X])
    held, labels = data._digits(held_back=True)
    assert len(held) == data.DIGITS_HELD_BACK
    assert np.bincount(labels).min() >= 29      # every class, stratified
    mine = {row.tobytes() for row in given.astype(np.float64)}
    assert not any(row.tobytes() in mine for row in held)
    assert len(given) + len(held) == 1797


def test_splits_are_disjoint_and_cover_everything():
    ds = data.load("moons", n_samples=500, seed=3)
    rows = np.concatenate([ds.train.X, ds.val.X, ds.test.X])
    assert len(np.unique(rows, axis=0)) == 500
    assert len(ds.val.y) == 75 and len(ds.test.y) == 75


def test_splits_are_stratified():
    ds = data.load("digits", val_frac=0.2, test_frac=0.2)
    counts = np.bincount(ds.test.y, minlength=10)
    assert counts.min() >= 27 and counts.max() <= 32


def test_the_split_is_scikit_learns_train_test_split(rng):
    """Entry for entry, on fresh random classes (equal class sizes, so
    ties, among them), stratified or not; where scikit-learn refuses to
    split, so does ``_hold_out``."""
    from sklearn.model_selection import train_test_split

    for _ in range(300):
        n, k = int(rng.integers(4, 120)), int(rng.integers(1, 12))
        y = rng.integers(0, k, n) if rng.random() < 0.5 else np.arange(n) % k
        count, seed = int(rng.integers(0, n + 1)), int(rng.integers(2**31))
        stratify = y if rng.random() < 0.8 else None
        index = rng.permutation(n) * 3
        try:
            want = train_test_split(index, test_size=count,
                                    random_state=seed, stratify=stratify)
        except ValueError:
            with pytest.raises(ValueError):
                data._hold_out(index, count, seed=seed, stratify=stratify)
            continue
        got = data._hold_out(index, count, seed=seed, stratify=stratify)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_the_digits_and_their_splits_load_without_scikit_learn():
    code = ("import sys, ziptie.data as d\n"
            "for name in ('digits', 'spirals', 'regression'):\n"
            "    d.load(name, as_tensor=True)\n"
            "print(sorted(m for m in sys.modules if m.startswith('sklearn')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", data.DATASETS)
def test_same_seed_same_data_other_seed_other_data(name):
    a, b = data.load(name, seed=5), data.load(name, seed=5)
    c = data.load(name, seed=6)
    np.testing.assert_array_equal(a.train.X, b.train.X)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.X, c.train.X)


@pytest.mark.parametrize("name,classes", [("spirals", 4), ("blobs", 5),
                                          ("moons", 2)])
def test_generated_classification_sets(name, classes):
    ds = data.load(name, n_samples=400, classes=classes)
    assert ds.num_classes == classes and ds.num_features == 2
    y = np.concatenate([ds.train.y, ds.val.y, ds.test.y])
    assert np.bincount(y).min() >= 400 // classes - 1


def test_regression_set():
    ds = data.load("regression", n_samples=200, noise=0.0)
    X, y = ds.train
    assert ds.task == "regression" and ds.num_classes == 0
    assert X.shape == (140, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.sin(3 * X[:, 0]) + X[:, 0] / 2,
                               atol=1e-5)


def test_tensors_on_a_device():
    ds = data.load("blobs", device="cpu")
    assert isinstance(ds.train.X, torch.Tensor)
    assert ds.train.X.dtype == torch.float32
    assert ds.train.y.dtype == torch.int64
    reg = data.load("regression", as_tensor=True)
    assert reg.val.y.dtype == torch.float32


def test_zero_validation_fraction_gives_an_empty_split():
    ds = data.load("moons", n_samples=100, val_frac=0.0)
    assert len(ds.val.y) == 0 and len(ds.train.y) == 85


@pytest.mark.parametrize("kwargs,message", [
    ({"val_frac": 0.6, "test_frac": 0.5}, "leaves no training examples"),
    ({"val_frac": -0.1}, r"val_frac must be in \[0, 1\)"),
    ({"test_frac": 1.0}, r"test_frac must be in \[0, 1\)"),
    ({"n_samples": 3}, "n_samples must be an integer >= 10"),
    ({"noise": -1.0}, "noise must be >= 0"),
    ({"n_samples": 10, "val_frac": 0.0, "test_frac": 0.96},
     "holding out 10 of 10 examples leaves a part empty"),
    ({"n_samples": 10, "test_frac": 0.1},
     "one example of each of the 2 classes"),
])
def test_bad_arguments_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load("moons", **kwargs)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="Choose one of: digits, moons"):
        data.load("mnist")


def test_too_few_classes_is_an_error():
    with pytest.raises(ValueError, match="classes must be an integer >= 2"):
        data.load("spirals", classes=1)


def test_batches_cover_every_example_once_per_epoch(rng):
    n, size = int(rng.integers(20, 200)), int(rng.integers(1, 40))
    X = np.arange(n, dtype=np.float32)[:, None]
    loader = data.batches(X, np.arange(n), batch_size=size, seed=1)
    for _ in range(2):
        seen = [yb for _, yb in loader]
        assert len(seen) == len(loader) == -(-n // size)
        assert all(len(b) == size for b in seen[:-1])
        np.testing.assert_array_equal(np.sort(np.concatenate(seen)),
                                      np.arange(n))


def test_batches_pair_inputs_with_their_targets():
    X = np.arange(50)[:, None] * 10
    for Xb, yb in data.batches(X, np.arange(50), batch_size=7):
        np.testing.assert_array_equal(Xb[:, 0], yb * 10)


def test_each_epoch_is_shuffled_differently_but_repeatably():
    y = np.arange(100)
    first = [b.tolist() for _, b in data.batches(y, y, 100, seed=4)]
    loader = data.batches(y, y, 100, seed=4)
    epoch1 = next(iter(loader))[1].tolist()
    epoch2 = next(iter(loader))[1].tolist()
    assert first[0] == epoch1 and epoch1 != epoch2
    assert epoch1 != list(range(100))


def test_no_shuffle_keeps_the_order():
    y = np.arange(10)
    got = np.concatenate([b for _, b in data.batches(y, y, 3,
                                                     shuffle=False)])
    np.testing.assert_array_equal(got, y)


def test_drop_last_drops_the_short_batch():
    y = np.arange(10)
    loader = data.batches(y, y, 4, drop_last=True)
    assert len(loader) == 2
    assert [len(b) for _, b in loader] == [4, 4]


def test_batches_of_tensors_stay_tensors():
    X, y = torch.randn(30, 3), torch.arange(30)
    Xb, yb = next(iter(data.batches(X, y, 8)))
    assert isinstance(Xb, torch.Tensor) and Xb.shape == (8, 3)
    torch.testing.assert_close(Xb, X[yb])


@pytest.mark.parametrize("size", [0, -3])
def test_non_positive_batch_size_is_an_error(size):
    with pytest.raises(ValueError, match="batch_size must be positive"):
        data.batches(np.zeros(5), np.zeros(5), size)


def test_bad_batch_arguments():
    with pytest.raises(TypeError, match="batch_size must be an int"):
        data.batches(np.zeros(5), np.zeros(5), 2.5)
    with pytest.raises(ValueError, match="same number of examples"):
        data.batches(np.zeros(5), np.zeros(4), 2)
    with pytest.raises(ValueError, match="drop_last=True would yield nothing"):
        data.batches(np.zeros(5), np.zeros(5), 8, drop_last=True)


def test_dataset_repr_names_the_sizes():
    assert "train=1047" in repr(data.load("digits"))
