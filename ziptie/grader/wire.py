"""Values across the sandbox's boundary: the grader's inputs to JSON, and
the JSON that comes back to NumPy arrays and plain values (never pickles).

Arrays travel as ``{"$nd": nested lists, "dtype": ...}``, tensors as
``{"$pt": ...}``, an ``nn.Sequential`` as ``{"$nn": [layer, ...]}``, an
earlier step's object as ``{"$ref": k}``. ``ziptie.grader.runner`` decodes
them inside the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: dtypes an array may come back as.
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
           "uint32", "uint64", "float16", "bfloat16", "float32", "float64"}


@dataclass(frozen=True)
class Ref:
    """An argument that is the object an earlier step of the probe kept."""

    index: int

    def __repr__(self) -> str:
        return f"${self.index}"


def ref(index: int) -> Ref:
    """The object step ``index`` of the probe kept, as an argument."""
    return Ref(index)


#: Layers of an ``nn.Sequential`` that can be sent to the sandbox.
_LAYERS = ("Linear", "ReLU", "Tanh", "Sigmoid")


def _module_json(module) -> dict:
    layers = []
    for layer in module:
        kind = type(layer).__name__
        if kind not in _LAYERS or type(layer).__module__.split(".")[0] \
                != "torch":
            raise TypeError(f"cannot send a {kind} layer to the sandbox")
        spec: dict[str, Any] = {"layer": kind}
        if kind == "Linear":
            spec["weight"] = to_json(layer.weight.detach())
            spec["bias"] = None if layer.bias is None else to_json(
                layer.bias.detach())
        layers.append(spec)
    return {"$nn": layers}


def to_json(value: Any) -> Any:
    """An input for the student's function as JSON (arrays tagged)."""
    import numpy as np

    if isinstance(value, Ref):
        return {"$ref": value.index}
    if isinstance(value, np.random.Generator):
        if type(value.bit_generator).__name__ != "PCG64":
            raise TypeError("only a PCG64 generator can be sent")
        return {"$rng": value.bit_generator.state}
    if isinstance(value, np.ndarray | np.generic):
        return {"$nd": np.asarray(value).tolist(),
                "dtype": str(np.asarray(value).dtype)}
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.nn.Sequential):
            return _module_json(value)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"cannot send a {type(value).__name__} to the "
                            f"sandbox")
        sent = {"$pt": value.detach().cpu().tolist(),
                "dtype": str(value.dtype).removeprefix("torch."),
                "requires_grad": bool(value.requires_grad)}
        if value.grad is not None:
            sent["grad"] = to_json(value.grad)
        return sent
    if isinstance(value, tuple):
        return {"$tuple": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot send a {type(value).__name__} to the sandbox")


def from_json(value: Any, depth: int = 0) -> Any:
    """What came back from the sandbox, as NumPy arrays and plain values.

    The data is untrusted: anything but numbers, strings, lists and
    tagged arrays of known dtypes is refused.
    """
    import numpy as np

    if depth > 40:
        raise ValueError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [from_json(v, depth + 1) for v in value]
    if type(value) is dict:
        tag = "$nd" if "$nd" in value else "$pt" if "$pt" in value else None
        if tag:
            dtype = value.get("dtype")
            if dtype not in _DTYPES:
                raise ValueError(f"an array of unknown dtype {dtype!r}")
            dtype = "float32" if dtype == "bfloat16" else dtype
            return np.array(value[tag], dtype=dtype)
        return {str(k): from_json(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"unexpected {type(value).__name__}")



def plain(value: Any) -> Any:
    """An input as :func:`to_json` sent it, as :func:`from_json` reads
    what comes back (a tuple as a list, arrays as NumPy arrays)."""
    if isinstance(value, dict) and "$tuple" in value:
        return [plain(v) for v in value["$tuple"]]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict) and ("$nd" in value or "$pt" in value):
        return from_json({k: v for k, v in value.items()
                          if k in ("$nd", "$pt", "dtype")})
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
