"""The first autocorrelation inequality: a step function with a small autoconvolution peak.

For a non-negative ``f`` on ``[-1/4, 1/4]``, minimize ``max_t (f * f)(t) / (integral
of f)^2``; every such ``f`` bounds the constant of the inequality from above
(AlphaEvolve, Novikov et al., 2025). Here ``f`` is a step function with ``steps``
equal steps, so ``f * f`` is piecewise linear with its corners at multiples of the
step width, and its maximum is the largest entry of the discrete autoconvolution.
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

SUPPORT = (-0.25, 0.25)

KNOWN_RESULTS = [
    Reference(
        "AlphaEvolve (May 2025)",
        1.5052939684,
        "Novikov et al., AlphaEvolve: a coding agent for scientific and algorithmic discovery, May 2025",
    ),
    Reference(
        "AlphaEvolve (Nov 2025)",
        1.5031635547,
        "github.com/google-deepmind/alphaevolve_repository_of_problems, November 2025",
    ),
]

PROBE_STEPS = 20


class FirstAutocorrelation(ConstructionProblem):
    """Minimize max(f * f) / (integral f)^2 over non-negative step functions on [-1/4, 1/4]."""

    name = "autocorrelation-first"
    description = "Step function on [-1/4, 1/4] minimizing max(f*f) / (integral f)^2 (AlphaEvolve)"
    objective = "autoconvolution_ratio"
    minimize = True
    columns = (objective, "best_known", "ratio_to_best_known")
    seed_file = "autocorrelation_first.py"
    settings_spec = {
        "steps": Setting(600, positive_int, "number of equal steps of the function (AlphaEvolve: 600)"),
        **CONSTRUCTION_SETTINGS,
    }
    conditions = (
        "construction.values holds the m heights of a step function on m equal steps of "
        "construction.support = [-0.25, 0.25]; all finite float64 and >= 0 with zero tolerance, "
        "with a positive sum. value = 2 * m * max(numpy.convolve(values, values)) / "
        "math.fsum(values)**2, which equals max(f*f) / (integral f)^2. The values are first multiplied by "
        "the power of two that brings the largest into [0.5, 1), which is exact and keeps products of "
        "tiny or huge heights from underflowing or overflowing."
    )

    def instance_arguments(self) -> dict:
        return {"n": self.settings["steps"]}

    def probe_instances(self) -> list[dict]:
        ramp = np.linspace(1.0, 2.0, PROBE_STEPS)
        return [
            {"n": PROBE_STEPS, "start": None},
            {"n": PROBE_STEPS, "start": {"values": ramp.tolist()}},
        ]

    def check(self, construction: Any) -> tuple[float, dict]:
        return check_autoconvolution(construction, self.settings["steps"])

    def known_results(self) -> list[Reference]:
        return list(KNOWN_RESULTS)


def check_autoconvolution(construction: Any, steps: int) -> tuple[float, dict]:
    """Verify a non-negative step function and return max(f * f) / (integral f)^2.

    Raises:
        ConstructionError: for a malformed array, a negative height or a zero function.
    """
    data = require_keys(construction, ("values",), optional=("support",))
    check_support(data, SUPPORT)
    values = real_array(data["values"], "values", (steps,))
    negative = first_violation(values < 0)
    if negative is not None:
        raise ConstructionError(f"height {negative} is negative ({values[negative]!r})")
    scaled = scaled_to_unit(values)
    total = exact_sum(scaled)
    if not total > 0:
        raise ConstructionError("the function is zero everywhere; its integral must be positive")
    with np.errstate(over="ignore"):  # an overflow becomes inf, rejected below
        peak = float(np.max(np.convolve(scaled, scaled)))
        ratio = 2 * steps * peak / total**2
    if not np.isfinite(ratio):
        raise ConstructionError(f"the ratio overflows float64 (peak {peak:.3g}, sum {total:.3g})")
    return ratio, {"values": values.tolist(), "support": list(SUPPORT)}
