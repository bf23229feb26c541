"""The runner's side of a probe (``ziptie.grader.runner_probe``): which
arguments are the grader's data, and what a call did to them."""

import numpy as np
import torch

from ziptie.grader.runner_probe import _is_data, _run_probe
from ziptie.grader.wire import ref, to_json


def _data(rng, depth=0):
    """A random value of plain data, as the grader sends it."""
    kind = rng.integers(6 if depth < 3 else 3)
    if kind == 0:
        return to_json(rng.normal(size=rng.integers(1, 5, size=2)))
    if kind == 1:
        return to_json(torch.tensor(rng.normal(size=3)))
    if kind == 2:
        return float(rng.normal())
    if kind == 3:
        return [_data(rng, depth + 1) for _ in range(rng.integers(4))]
    if kind == 4:
        return {f"k{i}": _data(rng, depth + 1) for i in range(3)}
    return {"$tuple": [_data(rng, depth + 1) for _ in range(2)]}


def _hide(value, thing, rng):
    """``value`` with ``thing`` put somewhere in it, outside an array."""
    if isinstance(value, list) and value and rng.random() < 0.7:
        k = rng.integers(len(value))
        return value[:k] + [_hide(value[k], thing, rng)] + value[k + 1:]
    if isinstance(value, dict) and not {"$nd", "$pt"} & set(value) and \
            rng.random() < 0.7:
        key = rng.choice(sorted(value))
        return value | {key: _hide(value[key], thing, rng)}
    return [value, thing]


def test_data_is_told_from_the_probes_objects(rng):
    objects = [to_json(ref(0)), {"$nn": []}, {"$rng": {}}]
    for _ in range(200):
        value = _data(rng)
        assert _is_data(value)
        assert not _is_data(_hide(value, objects[rng.integers(3)], rng))


def test_a_change_in_place_to_an_array_comes_back(rng):
    x = rng.normal(size=(3, 4))
    namespace = {"relu": lambda a: np.maximum(a, 0, out=a)}
    after: dict = {}
    _run_probe(namespace, {"steps": [{"target": "relu",
                                      "args": [to_json(x)]}]}, after=after)
    assert after["0"] == [to_json(np.maximum(x, 0))]
