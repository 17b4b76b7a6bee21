"""Exhaustive verification: run a kernel on every float32 input of a range, in chunks.

The range [-ln2/2, ln2/2] contains 2,103,632,944 float32 numbers (both zeros
included). Chunks of consecutive bit patterns are generated inside one jitted
function, so no input array crosses from the host; each chunk returns only its
maximum error, where it occurs, and two counts. A chunk that runs past the end
of a range is masked, so every chunk has one shape and the function compiles
once.
"""

import dataclasses
import logging
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from evolve import jax_setup
from problems.autonumerics import sample
from problems.autonumerics.ulp import ulp_error

logger = logging.getLogger(__name__)

# The emulated float32 kernels and the binary64 reference need 64-bit arrays.
jax_setup.configure()

DEFAULT_CHUNK_POINTS = 1 << 22
TAYLOR_DEGREE = 16
SIGN_BIT = 0x80000000


@dataclasses.dataclass(frozen=True)
class ExhaustiveResult:
    """The outcome of an exhaustive check.

    Attributes:
        max_ulp: the maximum error in float32 ULPs (inf if an output is not finite).
        worst_input: the first input, in bit-pattern order, where it occurs.
        worst_output: the kernel's output there.
        points: inputs checked.
        non_finite: inputs whose output is inf or NaN.
        mismatches: inputs where ``compare`` differs from the kernel bit for bit
            (0 when no ``compare`` was given).
        seconds: wall-clock time of the check.
    """

    max_ulp: float
    worst_input: float
    worst_output: float
    points: int
    non_finite: int
    mismatches: int
    seconds: float


def range_bit_spans() -> list[tuple[int, int]]:
    """Return the [start, end) bit-pattern spans of all float32 in [-ln2/2, ln2/2]."""
    _, high = sample.range_bounds()
    high_bits = int(np.float32(high).view(np.uint32))
    return [(0, high_bits + 1), (SIGN_BIT, SIGN_BIT + high_bits + 1)]


def exp_reference(x):
    """Return exp(x) in binary64 for |x| <= 0.35, from its Taylor series to degree 16.

    The truncation error is below 0.35**17 / 17! < 1e-22 relative, so the
    result is within a few binary64 ULPs, about 1e-15 relative or 1e-8 float32
    ULPs. It replaces XLA's binary64 exp, which was about twice as slow on CPU
    in our measurement and dominated the time of the check.
    """
    total = jnp.full_like(x, 1.0 / math.factorial(TAYLOR_DEGREE))
    for k in range(TAYLOR_DEGREE - 1, -1, -1):
        total = total * x + 1.0 / math.factorial(k)
    return total


def exhaustive(
    kernel: Callable,
    spans: list[tuple[int, int]] | None = None,
    compare: Callable | None = None,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> ExhaustiveResult:
    """Check ``kernel`` against exp on every float32 whose bits lie in ``spans``.

    Args:
        kernel: traceable map from binary64 inputs (float32 values) to binary64
            outputs (float32 values), e.g. ``execute.straight_line(program)``.
        spans: [start, end) bit-pattern spans inside [-ln2/2, ln2/2]; the
            default is the whole range.
        compare: optional traceable map from float32 inputs to float32 outputs,
            e.g. an exported kernel, counted against ``kernel`` bit for bit.
        chunk_points: inputs per chunk.

    Returns:
        The maximum error and where it occurs.
    """
    spans = range_bit_spans() if spans is None else spans
    checker = _Checker(kernel, compare, chunk_points)
    start_time = time.perf_counter()
    best = (-1.0, 0.0, 0.0)
    points = non_finite = mismatches = 0
    for start, end in spans:
        for chunk_start in range(start, end, chunk_points):
            count = min(chunk_points, end - chunk_start)
            arguments = (jnp.uint32(chunk_start), jnp.int32(count))
            worst, bad, differ = checker.summary(*arguments)
            points += count
            non_finite += int(bad)
            mismatches += int(differ)
            # Locating the maximum costs a second pass, so only chunks that beat the best pay it.
            if float(worst) > best[0]:
                worst_x, worst_y = checker.locate(*arguments)
                best = (float(worst), float(worst_x), float(worst_y))
    seconds = time.perf_counter() - start_time
    logger.info("checked %d float32 inputs in %.1f s: max %.4f ULP at x=%r", points, seconds, best[0], best[1])
    return ExhaustiveResult(best[0], best[1], best[2], points, non_finite, mismatches, seconds)


class _Checker:
    """The jitted passes over one chunk: its inputs, a summary, and where its maximum is."""

    def __init__(self, kernel: Callable, compare: Callable | None, chunk_points: int):
        self.kernel = kernel
        self.compare = compare
        self.offsets = jnp.arange(chunk_points, dtype=jnp.uint32)
        self.inputs = jax.jit(self._inputs)
        self.summary_of = jax.jit(self._summary)
        self.locate = jax.jit(self._locate)

    def summary(self, start, count):
        """Return the chunk's maximum error, non-finite count and mismatch count."""
        if self.compare is None:
            return self.summary_of(start, count, None)
        # The compared kernel runs as its own jitted call, exactly as a user calls it,
        # not inlined into this computation where XLA could fuse it differently.
        other = self.compare(self.inputs(start))
        return self.summary_of(start, count, other)

    def _inputs(self, start):
        return jax.lax.bitcast_convert_type(start + self.offsets, jnp.float32)

    def _run(self, start, count):
        x64 = self._inputs(start).astype(jnp.float64)
        valid = self.offsets < count.astype(jnp.uint32)
        y64 = self.kernel(x64)
        errors = jnp.where(valid, ulp_error(jnp, y64, exp_reference(x64)), -1.0)
        return x64, y64, valid, errors

    def _summary(self, start, count, other):
        _, y64, valid, errors = self._run(start, count)
        bad = jnp.sum(valid & ~jnp.isfinite(y64))
        if other is None:
            return jnp.max(errors), bad, jnp.int32(0)
        same = (other.astype(jnp.float64) == y64) | (jnp.isnan(other) & jnp.isnan(y64))
        # Equal values can still differ in the sign of zero.
        same &= jnp.signbit(other) == jnp.signbit(y64)
        return jnp.max(errors), bad, jnp.sum(valid & ~same)

    def _locate(self, start, count):
        x64, y64, _, errors = self._run(start, count)
        index = jnp.argmax(errors)
        return x64[index], y64[index]
