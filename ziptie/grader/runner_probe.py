"""Inside the sandbox: one probe's steps, run against the notebook, and
the values that cross the boundary (``decode`` what the grader sent,
``encode`` what comes back; the grader's side is ``ziptie.grader.wire``).
Like all of the runner, this runs with the student's code in the same
process: nothing here is trusted.


A probe is a list of steps; each step calls or reads one name, or holds
a value the grader sent::

    {"target": "Counter", "args": [3], "kwargs": {}, "encode": false}
    {"target": "$0.add", "args": [2]}       method of step 0's result
    {"target": "$0.count"}                  attribute (no "args": no call)
    {"target": "$0.layers.0.weight"}        a path: attributes, list items
    {"value": {"$nn": [...]}}               an object made from the data
    {"target": "f", "args": [{"$ref": 0}]}  step 0's object as an argument
    {"target": "$1.lr", "set": 0.01}        assign an attribute
    {"target": "f", "args": [], "catch": true}
                                the names of the classes of what f raised
                                come back (None if it returned)

``{"$pt": ..., "grad": ...}`` is a tensor with its ``.grad`` set;
``{"$rng": state}`` a NumPy generator in that state;
``{"$nn": [layer, ...]}`` an ``nn.Sequential`` of ``Linear`` (weights
given), ``ReLU``, ``Tanh`` and ``Sigmoid`` layers. A probe may carry
``"forbid": ["torch.optim.Optimizer.__init__", ...]``: while its steps run,
a call of those functions, by any name, raises ``PermissionError`` and
comes back as ``{"event": "probe", "forbidden": [names], ...}``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence

from ziptie.grader import tripwire

# -- values across the boundary ---------------------------------------------

def decode(value, kept: Sequence = ()):
    """A grader's JSON value as the student's function receives it;
    ``{"$ref": k}`` is the object step ``k`` of the probe kept."""
    if isinstance(value, list):
        return [decode(v, kept) for v in value]
    if isinstance(value, dict):
        if "$ref" in value:
            return kept[int(value["$ref"])]
        if "$nd" in value:
            import numpy as np

            return np.array(value["$nd"], dtype=value["dtype"])
        if "$pt" in value:
            import torch

            tensor = torch.tensor(value["$pt"], dtype=getattr(
                torch, value["dtype"]),
                requires_grad=bool(value.get("requires_grad")))
            if value.get("grad") is not None:
                tensor.grad = decode(value["grad"])
            return tensor
        if "$nn" in value:
            return _module(value["$nn"])
        if "$rng" in value:
            import numpy as np

            rng = np.random.default_rng()
            rng.bit_generator.state = value["$rng"]
            return rng
        if "$tuple" in value:
            return tuple(decode(v, kept) for v in value["$tuple"])
        return {k: decode(v, kept) for k, v in value.items()}
    return value


#: Layers without parameters that a ``$nn`` value may hold.
_ACTIVATIONS = ("ReLU", "Tanh", "Sigmoid")


def _module(layers: list):
    """An ``nn.Sequential`` built from the grader's description."""
    import torch

    modules = []
    for spec in layers:
        kind = spec["layer"]
        if kind in _ACTIVATIONS:
            modules.append(getattr(torch.nn, kind)())
            continue
        if kind != "Linear":
            raise ValueError(f"cannot build a layer {kind!r}")
        weight = decode(spec["weight"]).detach()
        bias = None if spec.get("bias") is None else decode(spec["bias"])
        # not initialised: it draws nothing from torch's random state
        layer = torch.nn.utils.skip_init(
            torch.nn.Linear, weight.shape[1], weight.shape[0],
            bias=bias is not None, dtype=weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
        modules.append(layer)
    return torch.nn.Sequential(*modules)


def encode(value, depth: int = 0):
    """A returned value as plain JSON; anything else is refused."""
    if depth > 20:
        raise TypeError("the value is nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind in (list, tuple):
        return [encode(v, depth + 1) for v in value]
    if kind is dict:
        return {str(k): encode(v, depth + 1) for k, v in value.items()}
    if kind is types.GeneratorType:      # model.parameters(), for one
        return [encode(v, depth + 1) for v in value]
    module = kind.__module__ or ""
    if module == "numpy" or module.startswith("numpy."):
        import numpy as np

        if kind is np.ndarray or isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"an array of {array.dtype} is not numbers")
            return {"$nd": array.tolist(), "dtype": str(array.dtype)}
    if module.startswith("torch"):
        import torch

        if kind in (torch.Tensor, torch.nn.Parameter):
            array = value.detach().cpu()
            return {"$pt": array.tolist(),
                    "dtype": str(array.dtype).removeprefix("torch.")}
    raise TypeError(f"returned a {kind.__name__}, which is not plain data "
                    f"(a number, an array, a tensor, a list)")


def _resolve(namespace: dict, kept: list, target: str):
    """``name.path`` in the notebook, or ``$k.path`` of step k's object (a
    number in the path indexes a list or tuple)."""
    first, *path = target.split(".")
    if first.startswith("$"):
        obj = kept[int(first[1:])]
    elif first in namespace:
        obj = namespace[first]
    else:
        raise NameError(f"name {first!r} is not defined")
    for part in path:
        if type(obj) in (list, tuple) and part.isdigit():
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj


def _is_data(value) -> bool:
    """An argument the grader sent as plain data (arrays, numbers, lists),
    not an object of the probe (``$ref``), a module or a generator.

    An array or a tensor (``$nd``, ``$pt``) is data without a look at its
    numbers: ``decode`` reads no ``$ref`` in them either. (A walk through
    them makes a Python call per number, each seen by the tripwire's
    profiler.)"""
    if isinstance(value, list):
        return all(_is_data(v) for v in value)
    if isinstance(value, dict):
        if "$nd" in value or "$pt" in value:
            return True
        return not {"$ref", "$nn", "$rng"} & set(value) and all(
            _is_data(v) for v in value.values())
    return True


def _run_probe(namespace: dict, probe: dict,
               forbidden: tripwire.Forbidden | None = None,
               hits: list | None = None, after: dict | None = None) -> list:
    """Run one probe's steps against ``namespace``; the values that come
    back. While they run, a call of a ``forbidden`` function raises and is
    appended to ``hits``; ``after`` receives, for each call, the data
    arguments as they are once it returned (a function must not change
    its inputs in place)."""
    kept: list = []
    values: list = []
    if forbidden:
        sys.setprofile(tripwire.profiler(forbidden,
                                         [] if hits is None else hits))
    try:
        for step in probe["steps"]:
            if "value" in step:
                obj = decode(step["value"], kept)
            elif "set" in step:
                owner, _, attr = step["target"].rpartition(".")
                setattr(_resolve(namespace, kept, owner), attr,
                        decode(step["set"], kept))
                obj = None
            else:
                obj = _resolve(namespace, kept, step["target"])
            if "args" in step and step.get("catch"):
                try:
                    obj = obj(*decode(step["args"], kept),
                              **decode(step.get("kwargs", {}), kept))
                    raised = None
                except Exception as err:  # noqa: BLE001 - what it raised
                    obj, raised = None, [c.__name__
                                         for c in type(err).__mro__]
                kept.append(obj)
                values.append(raised)
                continue
            if "args" in step:
                args = decode(step["args"], kept)
                obj = obj(*args, **decode(step.get("kwargs", {}), kept))
                if after is not None:
                    after[str(len(values))] = [
                        encode(a) if _is_data(sent) else None
                        for a, sent in zip(args, step["args"], strict=True)]
            kept.append(obj)
            values.append(encode(obj) if step.get("encode", True) else None)
    finally:
        if forbidden:
            sys.setprofile(None)
    return values
