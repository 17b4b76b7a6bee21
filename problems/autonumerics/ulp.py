"""Errors in units in the last place (ULP) of float32, and float32 ranges as integers.

The error of an approximation ``y`` of a true value ``t`` is ``|y - t| / ulp(t)``,
where ``ulp(t)`` is the spacing of the float32 numbers in the binade of ``t``:
``2**(e - 23)`` for ``2**e <= |t| < 2**(e + 1)``, and ``2**-149`` below the
smallest normal number. The ULP is taken at the true value, not at ``y``, so an
error does not change its size when ``y`` crosses a power of two. A correctly
rounded result is within 0.5 ULP; a faithful one is below 1 ULP.

The true values here come from binary64, whose own error (below ``2**-52``
relative) moves an error in float32 ULPs by less than ``2**-28``.
"""

import numpy as np

from problems.autonumerics.float32 import bits64, from_bits64

FLOAT32_MANTISSA_BITS = 23
SMALLEST_SUBNORMAL_EXPONENT = -149
BINARY64_BIAS = 1023


def ulp_of(xp, true_values):
    """Return the float32 ULP at each finite binary64 ``true_values`` (shape kept)."""
    # The binary64 exponent field gives the binade; the ULP is a power of two
    # built from its exponent field directly, which is cheaper than frexp/ldexp.
    bits = bits64(xp, xp.abs(true_values).astype(xp.float64))
    exponent_field = (bits >> 52) & 0x7FF
    ulp_field = xp.maximum(exponent_field - FLOAT32_MANTISSA_BITS, BINARY64_BIAS + SMALLEST_SUBNORMAL_EXPONENT)
    return from_bits64(xp, ulp_field << 52)


def ulp_error(xp, approx, true_values):
    """Return ``|approx - true| / ulp(true)``; ``inf`` where ``approx`` is not finite.

    Args:
        xp: ``numpy`` or ``jax.numpy``.
        approx: the approximations, any float dtype (converted to binary64 exactly).
        true_values: the binary64 reference values.
    """
    approx = approx.astype(xp.float64)
    with np.errstate(invalid="ignore"):
        error = xp.abs(approx - true_values) / ulp_of(xp, true_values)
    return xp.where(xp.isfinite(approx), error, xp.inf)


def float32_to_ordinal(values: np.ndarray) -> np.ndarray:
    """Map float32 values to int64 ordinals that count float32 numbers in order.

    ``-0.0`` and ``+0.0`` both map to 0; consecutive float32 numbers map to
    consecutive integers.
    """
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)
    magnitude = bits & 0x7FFFFFFF
    return np.where(bits >> 31 == 1, -magnitude, magnitude)


def ordinal_to_float32(ordinals: np.ndarray) -> np.ndarray:
    """Inverse of ``float32_to_ordinal`` (0 maps to ``+0.0``)."""
    ordinals = np.asarray(ordinals, dtype=np.int64)
    bits = np.where(ordinals < 0, (-ordinals) | 0x80000000, ordinals)
    return bits.astype(np.uint32).view(np.float32)
