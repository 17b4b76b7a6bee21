"""Erdős's minimum overlap problem, as a step function on [0, 2].

For ``h`` on ``[0, 2]`` with values in ``[0, 1]`` and integral 1, minimize
``max_k integral h(x) (1 - h(x + k)) dx``, where ``1 - h`` is taken as zero
outside ``[0, 2]``. Every such ``h`` bounds the minimum overlap constant from
above (Problem 6.5 of Georgiev, Gómez-Serrano, Tao and Wagner, "Mathematical
exploration and discovery at scale", 2025). Here ``h`` is a step function with
``steps`` equal steps, so the overlap is piecewise linear in ``k`` with corners at
multiples of the step width, and its maximum is the largest entry of a discrete
cross-correlation.
"""

from typing import Any

import numpy as np

from evolve.problem import Reference, Setting, positive_int
from problems.alphaevolve.checks import (
    ConstructionError,
    check_support,
    exact_sum,
    first_violation,
    real_array,
    require_keys,
    scaled_to_unit,
)
from problems.alphaevolve.construction import CONSTRUCTION_SETTINGS, ConstructionProblem

SUPPORT = (0.0, 2.0)

KNOWN_RESULTS = [
    Reference(
        "Haugland (2016)",
        0.3809268534,
        "Haugland, The minimum overlap problem revisited, 2016, as cited by Georgiev et al., 2025",
    ),
    Reference(
        "AlphaEvolve (2025)",
        0.380923035,
        "AlphaEvolve: Novikov et al., May 2025, and Georgiev et al., November 2025",
    ),
]

PROBE_STEPS = 20


class ErdosMinimumOverlap(ConstructionProblem):
    """Minimize max_k of the overlap integral over step functions h: [0, 2] -> [0, 1] with integral 1."""

    name = "erdos-min-overlap"
    description = "Step function h on [0, 2] minimizing Erdős's maximum overlap (AlphaEvolve)"
    objective = "max_overlap"
    minimize = True
    columns = (objective, "best_known", "ratio_to_best_known")
    seed_file = "erdos_min_overlap.py"
    settings_spec = {
        "steps": Setting(400, positive_int, "number of equal steps of h"),
        **CONSTRUCTION_SETTINGS,
    }
    conditions = (
        "construction.values holds the m raw heights of a step function on m equal steps of "
        "construction.support = [0, 2], all finite float64 with a positive sum. The verifier "
        "scales them to integral 1: h = values * (m / (2 * math.fsum(values))), and requires "
        "0 <= h <= 1 with zero tolerance. value = (2 / m) * max(numpy.correlate(h, 1 - h, 'full')). "
        "The values are first multiplied by the power of two that brings the largest into [0.5, 1), "
        "which is exact and keeps 2 * fsum(values) from overflowing."
    )

    def instance_arguments(self) -> dict:
        return {"n": self.settings["steps"]}

    def probe_instances(self) -> list[dict]:
        wave = 0.5 + 0.3 * np.sin(np.linspace(0.0, 3.0, PROBE_STEPS))
        return [
            {"n": PROBE_STEPS, "start": None},
            {"n": PROBE_STEPS, "start": {"values": wave.tolist()}},
        ]

    def check(self, construction: Any) -> tuple[float, dict]:
        return check_overlap(construction, self.settings["steps"])

    def known_results(self) -> list[Reference]:
        return list(KNOWN_RESULTS)


def check_overlap(construction: Any, steps: int) -> tuple[float, dict]:
    """Verify a step function, scale it to integral 1 and return its maximum overlap.

    The returned construction keeps the raw values, so that checking it again
    scales them the same way and gives the same result.

    Raises:
        ConstructionError: for a malformed array, a zero sum or a scaled height outside [0, 1].
    """
    data = require_keys(construction, ("values",), optional=("support",))
    check_support(data, SUPPORT)
    values = real_array(data["values"], "values", (steps,))
    # Scaling by a power of two first leaves the heights unchanged, but stops
    # 2 * total from overflowing to inf (which made every height 0).
    scaled = scaled_to_unit(values)
    total = exact_sum(scaled)
    if not total > 0:
        raise ConstructionError("the heights sum to zero or less; the integral must be 1")
    heights = scaled * (steps / (2 * total))
    low = first_violation(heights < 0)
    if low is not None:
        raise ConstructionError(f"height {low} is negative ({heights[low]!r} after scaling to integral 1)")
    high = first_violation(heights > 1)
    if high is not None:
        raise ConstructionError(f"height {high} is above 1 ({heights[high]!r} after scaling to integral 1)")
    overlap = 2 / steps * float(np.max(np.correlate(heights, 1 - heights, "full")))
    return overlap, {"values": values.tolist(), "support": list(SUPPORT)}
