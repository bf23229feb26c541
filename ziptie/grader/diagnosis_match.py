"""Whether a submission's outputs on the diagnosis cases are a known
mistake's (``ziptie.grader.diagnosis``), case by case: numbers within
``RTOL`` and ``ATOL`` (an array and a plain number differ), an exception
where the mistake raised one of the same kind (of the same message, where
it returns no numbers at all), a forbidden call where it made the same
one; and the sentence the feedback adds.
"""

from __future__ import annotations

import math
from typing import Any

from ziptie.grader.wire import from_json

#: How close a submission's numbers must be to a mistake's.
RTOL, ATOL = 1e-4, 1e-6


def words(names: list[str]) -> str:
    """The sentence the feedback adds to a failed task."""
    return "This looks like a known mistake: " + "; or: ".join(names) + "."


def _near(got: Any, want: Any) -> bool:
    """``got`` is ``want``: the same structure, numbers within tolerance
    (an array and a plain number differ)."""
    import numpy as np

    if _is_number(got) and _is_number(want):
        return _close(got, want)
    if isinstance(got, dict) or isinstance(want, dict):
        return isinstance(got, dict) and isinstance(want, dict) and \
            got.keys() == want.keys() and all(_near(got[k], want[k])
                                              for k in want)
    if isinstance(got, list) or isinstance(want, list):
        if not (isinstance(got, list) and isinstance(want, list)
                and len(got) == len(want)):
            return False
        if all(map(_is_number, got)) and all(map(_is_number, want)):
            return _all_close(got, want)    # one comparison, not many
        return all(_near(g, w) for g, w in zip(got, want, strict=True))
    if got is None or want is None or isinstance(got, str | bool) or \
            isinstance(want, str | bool):
        return type(got) is type(want) and got == want
    if isinstance(got, np.ndarray) != isinstance(want, np.ndarray):
        return False                # a tensor is not a float
    return _all_close(got, want)


def _is_number(value: Any) -> bool:
    """A plain int or float (not a bool, not an array)."""
    return type(value) in (int, float)


def _close(got: float, want: float) -> bool:
    """``np.isclose(got, want, RTOL, ATOL, equal_nan=True)`` for two plain
    numbers: within ``ATOL + RTOL * |want|``; infinities equal only to
    themselves, NaN only to NaN; an int too large for a float, never."""
    try:
        a, b = float(got), float(want)
    except OverflowError:
        return False
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= ATOL + RTOL * abs(b)


def _all_close(got: Any, want: Any) -> bool:
    """Numbers or arrays of the same shape, all within tolerance."""
    import numpy as np

    try:
        a = np.asarray(got, dtype=float)
        b = np.asarray(want, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return False
    if a.shape != b.shape:
        return False
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True))
    with np.errstate(over="ignore"):    # np.allclose's test, sooner
        return bool((np.abs(a - b) <= ATOL + RTOL * np.abs(b)).all())


def kind(error: str) -> str:
    """The kind of an error line: `ValueError` of `ValueError: ...`."""
    return error.split(":", 1)[0].strip()


def matches(got: list[dict | None], want: list[dict]) -> bool:
    """The outputs ``got`` match a mistake's ``want``, case by case."""
    if len(got) != len(want) or not want:
        return False
    numbers = any("values" in w and "forbidden" not in w for w in want)
    for g, w in zip(got, want, strict=True):
        if not isinstance(g, dict):
            return False
        if "forbidden" in g or "forbidden" in w:
            if sorted(map(str, g.get("forbidden") or [])) != sorted(
                    map(str, w.get("forbidden") or [])):
                return False
            continue
        if "error" in g or "error" in w:
            mine, theirs = str(g.get("error")), str(w.get("error"))
            if "error" not in g or "error" not in w or (
                    kind(mine) != kind(theirs) if numbers
                    else mine != theirs):
                return False
            continue
        try:
            if not _near(from_json(g.get("values")),
                         from_json(w.get("values"))) or not _near(
                    from_json(g.get("args_after")),
                    from_json(w.get("args_after"))):
                return False
        except (ValueError, RecursionError, OverflowError):
            return False
    return True
