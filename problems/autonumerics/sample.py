"""The reduced range of exp and the fixed points that candidates are scored on.

exp(x) for any float32 ``x`` reduces to this range by ``x = k ln2 + r`` with
integer ``k = round(x / ln2)``, so ``|r| <= ln2 / 2`` and ``exp(x) = 2**k exp(r)``.

The fitness sample mixes four strata, because the maximum error hides in
different places for different programs:

- both ends of the range exhaustively (the last ``end_points`` float32 numbers
  before each end), where a polynomial's truncation error peaks;
- ``per_binade`` random float32 numbers in every binade of each sign, so tiny
  inputs, where ``1 + x`` rounds, are not left out;
- ``uniform`` points uniform in value, which follow where most of the float32
  numbers that matter (the top binades) are;
- zero and the smallest normal numbers.

The sample depends only on its parameters and seed, so every evaluator of a run
scores on the same points.
"""

import math

import numpy as np

from problems.autonumerics.ulp import float32_to_ordinal, ordinal_to_float32

LN2_HALF = math.log(2.0) / 2


def range_bounds() -> tuple[np.float32, np.float32]:
    """Return the smallest and largest float32 in [-ln2/2, ln2/2]."""
    high = np.float32(LN2_HALF)
    if float(high) > LN2_HALF:
        high = np.nextafter(high, np.float32(0))
    return -high, high


def range_ordinals() -> tuple[int, int]:
    """Return the ordinals (see ``ulp.float32_to_ordinal``) of the range's two ends."""
    low, high = range_bounds()
    return int(float32_to_ordinal(np.array([low]))[0]), int(float32_to_ordinal(np.array([high]))[0])


def fitness_sample(end_points: int = 2048, per_binade: int = 32, uniform: int = 16384, seed: int = 0) -> np.ndarray:
    """Return the sorted, distinct float32 points of the fitness sample.

    Args:
        end_points: float32 numbers taken exhaustively at each end of the range.
        per_binade: random float32 numbers per binade and sign (subnormals count
            as one binade).
        uniform: points drawn uniformly in value over the range.
        seed: seed of the random strata.
    """
    rng = np.random.default_rng(seed)
    low_ordinal, high_ordinal = range_ordinals()
    parts = [
        np.arange(high_ordinal - end_points + 1, high_ordinal + 1),
        np.arange(low_ordinal, low_ordinal + end_points),
        _binade_ordinals(rng, per_binade, high_ordinal),
    ]
    points = [ordinal_to_float32(np.concatenate(parts))]

    low, high = range_bounds()
    points.append(rng.uniform(float(low), float(high), uniform).astype(np.float32))
    tiny = np.float32(2.0**-126)
    points.append(np.array([0.0, tiny, -tiny], dtype=np.float32))

    values = np.concatenate(points)
    values = values[(values >= low) & (values <= high)]
    return np.unique(values)


def _binade_ordinals(rng: np.random.Generator, per_binade: int, high_ordinal: int) -> np.ndarray:
    """Return ``per_binade`` random ordinals in each binade below ``high_ordinal``, both signs."""
    # Positive float32 ordinals are their bit patterns: binade e starts at (e + 127) << 23.
    starts = [1] + [(exponent + 127) << 23 for exponent in range(-126, 0)]
    chosen = []
    for start, end in zip(starts, starts[1:] + [high_ordinal + 1]):
        end = min(end, high_ordinal + 1)
        if start >= end:
            break
        chosen.append(rng.integers(start, end, per_binade))
    positive = np.concatenate(chosen)
    return np.concatenate([positive, -positive])


def tuning_nodes(count: int = 256) -> np.ndarray:
    """Return Chebyshev nodes over the range plus its ends and zero, as sorted float32.

    Constant tuning in real arithmetic measures the maximum error on these; the
    nodes crowd at the ends, where a minimax error curve turns fastest.
    """
    low, high = range_bounds()
    angles = (np.arange(count) + 0.5) * np.pi / count
    nodes = float(high) * np.cos(angles)
    values = np.concatenate([nodes, [float(low), 0.0, float(high)]]).astype(np.float32)
    return np.unique(values)
