"""Canonical byte forms of program outputs, so that equal functions hash equally.

Floating-point outputs of equivalent programs differ in their last bits when the
programs round differently (``(a + b) + c`` against ``a + (b + c)``). Rounding
every value to a few significant mantissa bits removes most of that noise; a
value that sits on a rounding boundary can still split, which costs one extra
evaluation and never a wrong fitness.
"""

from collections.abc import Mapping

import numpy as np

DEFAULT_MANTISSA_BITS = 20

# One bit pattern for every NaN, so that all failed outputs collide.
_CANONICAL_NAN = np.frombuffer(np.array([0x7FF8000000000000], dtype="<u8").tobytes(), "<f8")[0]


def quantize(values, mantissa_bits: int = DEFAULT_MANTISSA_BITS) -> np.ndarray:
    """Round floats to ``mantissa_bits`` significant bits and canonicalize special values.

    Every NaN becomes one quiet NaN, ``-0.0`` becomes ``0.0``, and ``+inf`` and
    ``-inf`` stay as they are.

    Args:
        values: array-like of floats, any shape.
        mantissa_bits: significant bits kept, 1 to 52.

    Returns:
        A float64 array of the same shape.
    """
    if not 1 <= mantissa_bits <= 52:
        raise ValueError(f"mantissa_bits must be between 1 and 52, got {mantissa_bits}.")
    values = np.asarray(values, dtype=np.float64)
    mantissa, exponent = np.frexp(values)
    scale = float(2**mantissa_bits)
    with np.errstate(invalid="ignore"):
        rounded = np.ldexp(np.round(mantissa * scale) / scale, exponent)
    # Values near the largest float can round up to inf; they keep their own value.
    rounded = np.where(np.isinf(rounded) | np.isinf(values), values, rounded)
    rounded = np.where(np.isnan(values), _CANONICAL_NAN, rounded)
    return rounded + 0.0  # adding +0.0 turns -0.0 into 0.0 and leaves the rest alone


def canonical_bytes(outputs, mantissa_bits: int = DEFAULT_MANTISSA_BITS) -> bytes:
    """Serialize outputs to canonical bytes.

    Accepts a number, a NumPy array, or lists, tuples and string-keyed dicts of
    those, nested. Floats are quantized; integers and booleans are kept exactly.
    Shapes and the nesting are part of the bytes, so ``[1, 2]`` and ``[[1, 2]]``
    differ.
    """
    parts: list[bytes] = []
    _append(outputs, mantissa_bits, parts)
    return b"".join(parts)


def _append(value, mantissa_bits: int, parts: list[bytes]) -> None:
    if isinstance(value, Mapping):
        parts.append(b"{%d" % len(value))
        for key in sorted(value, key=str):
            parts.append(b"k" + str(key).encode() + b"\0")
            _append(value[key], mantissa_bits, parts)
        parts.append(b"}")
    elif isinstance(value, (list, tuple)) and not _is_numeric_sequence(value):
        parts.append(b"[%d" % len(value))
        for item in value:
            _append(item, mantissa_bits, parts)
        parts.append(b"]")
    else:
        _append_array(np.asarray(value), mantissa_bits, parts)


def _append_array(array: np.ndarray, mantissa_bits: int, parts: list[bytes]) -> None:
    shape = b",".join(b"%d" % n for n in array.shape)
    if array.dtype.kind == "u":
        parts.append(b"u(" + shape + b")")
        parts.append(array.astype("<u8").tobytes())
    elif array.dtype.kind in "bi":
        parts.append(b"i(" + shape + b")")
        parts.append(array.astype("<i8").tobytes())
    elif array.dtype.kind in "fc":
        if array.dtype.kind == "c":
            array = np.stack([array.real, array.imag], axis=-1)
        parts.append(b"f(" + shape + b")")
        parts.append(quantize(array, mantissa_bits).astype("<f8").tobytes())
    elif array.dtype.kind in "US":
        parts.append(b"s(" + shape + b")")
        for text in array.ravel():
            encoded = str(text).encode()
            parts.append(b"%d:" % len(encoded) + encoded)
    else:
        raise TypeError(
            f"cannot hash outputs of dtype {array.dtype}; return numbers, arrays, "
            "or lists and dicts of them."
        )


def _is_numeric_sequence(value) -> bool:
    return all(isinstance(v, (int, float, np.number)) for v in value)
