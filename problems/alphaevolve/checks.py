"""Strict checks shared by the construction verifiers.

Every verifier reads the object a program returned (or a ``best_construction.json``)
with these helpers. So all of them reject the same things: a missing or extra
key, a value that is not a real number, NaN or inf, and a wrong shape. Bounds
are checked with zero tolerance in float64, exactly as written.
"""

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class ConstructionError(ValueError):
    """A construction is malformed or violates a constraint; the message says which."""


def require_keys(construction: Any, keys: Sequence[str], optional: Sequence[str] = ()) -> Mapping[str, Any]:
    """Return ``construction`` if it is a dict with all of ``keys`` and no others but ``optional``.

    Raises:
        ConstructionError: for another type, a missing key or an extra key.
    """
    if not isinstance(construction, Mapping):
        raise ConstructionError(
            f"expected a dict with keys {list(keys)}, got {type(construction).__name__}"
        )
    missing = [key for key in keys if key not in construction]
    extra = [key for key in construction if key not in keys and key not in optional]
    if missing or extra:
        raise ConstructionError(
            f"expected a dict with keys {list(keys)}; missing {missing}, unexpected {extra}"
        )
    return construction


def real_array(value: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """Return ``value`` as a float64 array of ``shape`` (None matches any length).

    Accepts numpy arrays of integer or float dtype and nested lists or tuples of
    int and float. Rejects bools, complex numbers, strings, objects, NaN and inf.

    Raises:
        ConstructionError: naming ``name`` and what is wrong with it.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise ConstructionError(f"{name} must hold real numbers, got an array of dtype {value.dtype}")
        array = value.astype(np.float64)
    else:
        _check_nested_numbers(value, name)
        try:
            array = np.array(value, dtype=np.float64)
        except (ValueError, TypeError, OverflowError) as error:
            raise ConstructionError(f"{name} is not a rectangular array of numbers: {error}") from None
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        expected = " x ".join("any" if size is None else str(size) for size in shape)
        raise ConstructionError(f"{name} must have shape {expected}, got {' x '.join(map(str, array.shape)) or 'a scalar'}")
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConstructionError(f"{name} holds a non-finite value {array[index]} at index {list(index)}")
    return array


def _check_nested_numbers(value: Any, name: str) -> None:
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_nested_numbers(item, name)
        return
    if isinstance(value, np.generic) and value.dtype.kind in "iuf":
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConstructionError(f"{name} must hold real numbers, got a {type(value).__name__} ({value!r:.40})")


def first_violation(mask: np.ndarray) -> int | None:
    """Return the first index where ``mask`` is True, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def exact_sum(values: np.ndarray) -> float:
    """Return the correctly rounded sum (``math.fsum``), independent of summation order.

    Raises:
        ConstructionError: if the sum overflows float64.
    """
    try:
        return math.fsum(float(value) for value in values.ravel())
    except OverflowError:
        raise ConstructionError("the sum of the values overflows float64") from None


def scaled_to_unit(values: np.ndarray) -> np.ndarray:
    """Return ``values`` times the power of two that brings the largest magnitude into [0.5, 1).

    Scaling by a power of two is exact while no value leaves the normal range,
    so a scale-free quantity (a ratio of products or of squared distances)
    computed from the result equals the one computed from ``values``. It stops
    inputs near 1e-160 or 1e160 from underflowing or overflowing in products
    and squares, which would change such a ratio: products of 1e-162 round to 0,
    for example. Values that are all zero, or not all finite, come back unchanged.
    """
    largest = float(np.max(np.abs(values), initial=0.0))
    if largest == 0.0 or not math.isfinite(largest):
        return values
    _, exponent = math.frexp(largest)
    return np.ldexp(values, -exponent)


def pair_indices(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the index arrays ``i < j`` of all pairs."""
    return np.triu_indices(count, 1)


def triple_indices(count: int) -> np.ndarray:
    """Return an array of shape (count choose 3, 3) of all index triples ``i < j < k``."""
    return np.array(list(itertools.combinations(range(count), 3)), dtype=np.intp).reshape(-1, 3)


def check_support(data: Mapping[str, Any], support: tuple[float, float]) -> None:
    """Reject a ``support`` entry that is not exactly ``support``; a missing one is fine.

    Raises:
        ConstructionError: naming the expected interval.
    """
    if "support" not in data:
        return
    given = real_array(data["support"], "support", (2,))
    if tuple(given.tolist()) != tuple(support):
        raise ConstructionError(f"support must be {list(support)}, got {given.tolist()}")
