"""Sine, cosine and logarithm in forms that XLA vectorizes on the CPU.

XLA's CPU sine and cosine (both dtypes) and float64 logarithm are 1.5-4.5 times
slower than these forms, which use only arithmetic, rounding and bit casts
that XLA vectorizes (measured with XLA from jaxlib 0.10 on an AMD EPYC with
AVX-512). Sine and cosine reduce the argument modulo pi/2 in float64 (Cody and
Waite, "Software Manual for the Elementary Functions", 1980) and sum Taylor
series on [-pi/4, pi/4], whose truncation error is below 1e-19; the results
are within 2 float64 ulps of NumPy's. Float32 arguments are reduced modulo pi
instead and sum one sine series to x**13 in float32 (truncation error below
1e-9), within 2 float32 ulps of the exact results. An array with any finite
argument of 2**19 or more falls back to ``jnp.sin``/``jnp.cos`` as a whole,
because the three-part split of pi/2 is exact only below that. Both forms are
accurate, but a point's result can change in the last bits with its neighbours. The logarithm sums the atanh series of the mantissa.
"""

import functools
import math

import jax.numpy as jnp
import mpmath
import numpy as np
from jax import lax


def _split_constant(value: mpmath.mpf, parts: int, bits: int) -> list[float]:
    """Split ``value`` into floats whose leading parts have ``bits`` significant bits."""
    result = []
    rest = value
    for index in range(parts):
        if index == parts - 1:
            part = float(rest)
        else:
            mantissa, exponent = mpmath.frexp(rest)
            part = float(mpmath.ldexp(mpmath.floor(mantissa * 2**bits), int(exponent) - bits))
        result.append(part)
        rest = rest - part
    return result


with mpmath.workdps(60):
    # q * part is exact for |q| < 2**20 when the part has 33 significant bits.
    _HALF_PI_PARTS = _split_constant(mpmath.pi / 2, 3, 33)
    _LN2_PARTS = _split_constant(mpmath.log(2), 2, 32)

    # The float32 reduction multiplies pi by q or q - 1/2 with |q| < 2**18: the
    # product with 32 significant bits of pi is exact, and the rest adds 2**-66 at most.
    _PI_PARTS_SINGLE = _split_constant(mpmath.pi, 2, 32)

_TWO_OVER_PI = 2 / math.pi
_ONE_OVER_PI = 1 / math.pi
_REDUCTION_LIMIT = 2.0**19
_SIN_COEFFICIENTS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, 9)]
_COS_COEFFICIENTS = [(-1) ** k / math.factorial(2 * k) for k in range(1, 10)]
# On [-pi/2, pi/2] the sine series to x**13 is within 7e-10 of sine.
_SIN_COEFFICIENTS_SINGLE = _SIN_COEFFICIENTS[:6]
# log(m) = 2 atanh(f) = 2 (f + f**3/3 + f**5/5 + ...), f = (m - 1) / (m + 1).
_ATANH_COEFFICIENTS = [1 / (2 * k + 1) for k in range(13)]


def _horner(x, coefficients):
    """Return sum(coefficients[k] * x**k)."""
    result = jnp.full_like(x, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        result = result * x + coefficient
    return result


def _sin_or_cos_reduced(x, cosine: bool):
    if x.dtype == jnp.float32:
        return _sin_or_cos_reduced32(x, cosine)
    y = x.astype(jnp.float64)
    quotient = jnp.round(y * _TWO_OVER_PI)
    reduced = y
    for part in _HALF_PI_PARTS:
        reduced = reduced - quotient * part
    square = reduced * reduced
    sine = reduced + reduced * square * _horner(square, _SIN_COEFFICIENTS)
    cos = 1.0 + square * _horner(square, _COS_COEFFICIENTS)

    # The quadrant picks the series and the sign; NaN and inf inputs give a NaN
    # ``reduced``, so the integer cast of their quotient does not matter.
    quadrant = quotient.astype(jnp.int32) + (1 if cosine else 0)
    value = jnp.where((quadrant & 1) == 0, sine, cos)
    return jnp.where((quadrant & 2) == 0, value, -value)


def _sin_or_cos_reduced32(x, cosine: bool):
    # cos(x) = sin(x + pi/2), so both reduce x + shift to r in [-pi/2, pi/2]
    # modulo pi, in float64, and sum one series in float32, at twice the
    # vector width: sin(x + shift) = (-1)**q sin(r).
    shift = 0.5 if cosine else 0.0
    y = x.astype(jnp.float64)
    quotient = jnp.round(y * _ONE_OVER_PI + shift)
    multiple = quotient - shift
    reduced = y
    for part in _PI_PARTS_SINGLE:
        reduced = reduced - multiple * part
    reduced = reduced.astype(jnp.float32)
    sine = reduced + reduced * (reduced * reduced) * _horner(reduced * reduced, _SIN_COEFFICIENTS_SINGLE)
    odd = (quotient.astype(jnp.int32) & 1) == 1
    return jnp.where(odd, -sine, sine)


def fast_sin_or_cos(x, cosine: bool):
    """Return ``cos(x)`` if ``cosine`` else ``sin(x)``, elementwise, for float32 or float64 ``x``."""
    magnitude = jnp.abs(x)
    large = jnp.any((magnitude >= _REDUCTION_LIMIT) & (magnitude < jnp.inf))
    exact = jnp.cos if cosine else jnp.sin
    return lax.cond(large, exact, functools.partial(_sin_or_cos_reduced, cosine=cosine), x)


def _fast_log64(x):
    # Subnormals are scaled into the normal range first so the exponent field is
    # exact. XLA on CPU flushes subnormals to zero, so this matters only on other backends.
    subnormal = (x > 0) & (x < np.finfo(np.float64).tiny)
    scaled = jnp.where(subnormal, x * 2.0**54, x)
    bits = lax.bitcast_convert_type(scaled, jnp.int64)
    exponent = ((bits >> 52) & 0x7FF) - 1023 - jnp.where(subnormal, 54, 0)
    mantissa = lax.bitcast_convert_type((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000, jnp.float64)

    # Centre the mantissa on 1 so that |f| <= 0.172 and the series converges fast.
    high = mantissa > math.sqrt(2)
    mantissa = jnp.where(high, mantissa * 0.5, mantissa)
    exponent = (exponent + high).astype(jnp.float64)
    f = (mantissa - 1.0) / (mantissa + 1.0)
    log_mantissa = 2.0 * f * _horner(f * f, _ATANH_COEFFICIENTS)
    value = exponent * _LN2_PARTS[0] + (log_mantissa + exponent * _LN2_PARTS[1])

    value = jnp.where(x > 0, value, jnp.nan)
    value = jnp.where(x == 0, -jnp.inf, value)
    return jnp.where(x == jnp.inf, jnp.inf, value)


def fast_log(x):
    """Return the natural logarithm of ``x``: the atanh series for float64, ``jnp.log`` for float32."""
    return _fast_log64(x) if x.dtype == jnp.float64 else jnp.log(x)

