"""IEEE binary32 arithmetic, emulated exactly in binary64 with NumPy or JAX.

Every op of an exp program is defined as XLA runs float32 on a CPU with FMA:

- ``add``, ``sub``, ``mul`` and ``div`` round the exact result once to nearest,
  ties to even;
- ``fma(a, b, c)`` is the fused multiply-add of IEEE 754: ``a * b + c`` rounded
  once;
- subnormal inputs count as zero and subnormal results become a zero of the same
  sign (flush-to-zero), because XLA sets the CPU's DAZ and FTZ modes. A result is
  subnormal when it is below 2**-126 after rounding to 24 bits with an unbounded
  exponent, which is how x86 detects tininess.

Emulation in binary64 makes these semantics independent of the compiler, which
may contract ``a * b + c`` into one rounding on its own. A float32 sum,
difference, product or quotient computed in binary64 and rounded to binary32 is
correctly rounded, because 53 >= 2 * 24 + 2 (Roux, "Innocuous Double Rounding of
Basic Arithmetic Operations", Journal of Formalized Reasoning 7(1), 2014, proves
this with underflow included). The product of two float32 values
is exact in binary64. For ``fma`` the binary64 sum is rounded to odd first, which
makes the second rounding to binary32 correct (Boldo and Melquiond, "Emulation
of a FMA and Correctly Rounded Sums: Proved Algorithms Using Rounding to Odd",
IEEE Transactions on Computers 57(4), 2008).

Values travel as binary64 arrays that hold binary32 values, so a chain of ops
converts only at the ends. The functions take the array namespace ``xp``
(``numpy`` or ``jax.numpy``), so the NumPy reference and the JAX evaluator share
one definition.
"""

import numpy as np

# Smallest positive normal binary32 number.
MIN_NORMAL = 2.0**-126
# A binary64 value is tiny, and flushes to zero, when rounding it to 24 bits with
# an unbounded exponent gives less than MIN_NORMAL: below the midpoint between
# MIN_NORMAL and the 24-bit number under it (ties go to MIN_NORMAL, which is even).
TINY_BELOW = MIN_NORMAL * (1 - 2.0**-25)


def bits64(xp, values):
    """Return the bit patterns of binary64 ``values`` as int64."""
    if xp is np:
        return values.view(np.int64)
    import jax

    return jax.lax.bitcast_convert_type(values, xp.int64)


def from_bits64(xp, bits):
    """Return the binary64 values of int64 bit patterns."""
    if xp is np:
        return bits.view(np.float64)
    import jax

    return jax.lax.bitcast_convert_type(bits, xp.float64)


def round_to_float32(xp, values):
    """Round binary64 ``values`` to binary32 with flush-to-zero; return them as binary64."""
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = values.astype(xp.float32).astype(xp.float64)
    tiny = xp.abs(values) < TINY_BELOW
    return xp.where(tiny, xp.copysign(xp.zeros_like(values), values), rounded)


def flush_input(xp, values):
    """Return binary32 ``values`` as binary64, with subnormals replaced by signed zeros."""
    values = xp.asarray(values).astype(xp.float64)
    tiny = xp.abs(values) < MIN_NORMAL
    return xp.where(tiny, xp.copysign(xp.zeros_like(values), values), values)


def add(xp, a, b):
    return round_to_float32(xp, a + b)


def sub(xp, a, b):
    return round_to_float32(xp, a - b)


def mul(xp, a, b):
    return round_to_float32(xp, a * b)


def div(xp, a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return round_to_float32(xp, a / b)


def fma(xp, a, b, c):
    """Return ``a * b + c`` rounded once to binary32 (with flush-to-zero)."""
    with np.errstate(over="ignore", invalid="ignore"):
        product = a * b  # exact: 48 significant bits fit in 53
        total = product + c
        # TwoSum (Knuth): total + error == product + c exactly, when finite.
        shifted = total - product
        error = (product - (total - shifted)) + (c - shifted)
    bits = bits64(xp, total)
    inexact_even = (error != 0) & ((bits & 1) == 0) & xp.isfinite(error)
    # Step one binary64 ulp towards the exact value; the result is odd, which is
    # the round-to-odd value of the exact sum.
    step = xp.where((error > 0) == (total > 0), 1, -1).astype(bits.dtype)
    odd = from_bits64(xp, xp.where(inexact_even, bits + step, bits))
    return round_to_float32(xp, odd)


OPS = {"add": add, "sub": sub, "mul": mul, "div": div, "fma": fma}


def constant(value: float) -> float:
    """Round a constant to binary32 with flush-to-zero; return it as a Python float."""
    return float(round_to_float32(np, np.asarray([value], dtype=np.float64))[0])
