"""The unified functional hash: a candidate's identity is what it computes on probes."""

import random
from collections.abc import Callable, Sequence

import numpy as np
import xxhash

from hashing.canonical import DEFAULT_MANTISSA_BITS, canonical_bytes

DEFAULT_PROBE_SEED = 20230515
DEFAULT_NUM_PROBES = 10


def make_probe_inputs(
    low: Sequence[float],
    high: Sequence[float],
    num_probes: int = DEFAULT_NUM_PROBES,
    seed: int = DEFAULT_PROBE_SEED,
) -> np.ndarray:
    """Draw probe points uniformly from a box, the same points for every call.

    Args:
        low: lower bound per input variable.
        high: upper bound per input variable.
        num_probes: number of points; the paper found about 10 enough.
        seed: the fixed seed; change it only together with every cached hash.

    Returns:
        Array of shape (num_probes, len(low)), float64.
    """
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    if low.shape != high.shape or low.ndim != 1:
        raise ValueError(f"low and high must be equal-length vectors, got {low.shape} and {high.shape}.")
    if np.any(high < low):
        raise ValueError(f"every high must be at least its low, got low={low}, high={high}.")
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(num_probes, low.size))


def hash_outputs(outputs, mantissa_bits: int = DEFAULT_MANTISSA_BITS) -> str:
    """Return the functional hash of already computed outputs, as 32 hex digits (xxh3_128)."""
    return xxhash.xxh3_128_hexdigest(canonical_bytes(outputs, mantissa_bits))


def hash_callable(
    candidate: Callable,
    probes: Sequence,
    mantissa_bits: int = DEFAULT_MANTISSA_BITS,
    seed: int = DEFAULT_PROBE_SEED,
) -> str:
    """Run ``candidate`` on each probe and hash the outputs.

    NumPy's and Python's global random generators are re-seeded before each probe,
    so a candidate that draws random numbers gets the same hash every time.

    Args:
        candidate: called as ``candidate(probe)`` for each probe.
        probes: the probe inputs.
        mantissa_bits: significant bits kept when quantizing floats.
        seed: the value the global generators are re-seeded with.

    Returns:
        32 hex digits.
    """
    outputs = []
    for probe in probes:
        np.random.seed(seed)
        random.seed(seed)
        with np.errstate(all="ignore"):
            outputs.append(candidate(probe))
    return hash_outputs(outputs, mantissa_bits)


def functional_hash(
    candidate: Callable[[np.ndarray], np.ndarray],
    probe_inputs: np.ndarray,
    mantissa_bits: int = DEFAULT_MANTISSA_BITS,
) -> str:
    """Hash a vectorized function of a batch of points on the probe points.

    This is the common case: op programs, NumPy functions and lambdified sympy
    expressions all map an array of shape (points, inputs) to (points,), and all
    hash with this one function, so equivalent candidates of any representation
    share a hash.

    Args:
        candidate: maps an array of shape (points, inputs) to shape (points,).
        probe_inputs: array of shape (points, inputs), e.g. from ``make_probe_inputs``.
        mantissa_bits: significant bits kept when quantizing floats.

    Returns:
        32 hex digits.
    """
    with np.errstate(all="ignore"):
        outputs = np.asarray(candidate(probe_inputs), dtype=np.float64)
    outputs = np.broadcast_to(outputs, (probe_inputs.shape[0],))
    return hash_outputs(outputs, mantissa_bits)
