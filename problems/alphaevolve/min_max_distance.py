"""Point sets minimizing the ratio of the largest to the smallest pairwise distance.

Place ``n`` distinct points in ``dimension``-dimensional space so that
``(max distance / min distance) ** 2`` is as small as possible. AlphaEvolve
(Novikov et al., 2025) reports 16 points in the plane and 14 points in 3D.
"""

from typing import Any

import numpy as np

from evolve.problem import Reference, Setting, positive_int
from problems.alphaevolve.checks import ConstructionError, pair_indices, real_array, require_keys, scaled_to_unit
from problems.alphaevolve.construction import CONSTRUCTION_SETTINGS, ConstructionProblem

ALPHAEVOLVE = "Novikov et al., AlphaEvolve: a coding agent for scientific and algorithmic discovery, May 2025"

# Published squared distance ratios, by (points, dimension).
KNOWN_RESULTS = {
    (16, 2): [Reference("AlphaEvolve (May 2025)", 12.889266112, ALPHAEVOLVE)],
    (14, 3): [Reference("AlphaEvolve (May 2025)", 4.165849767, ALPHAEVOLVE)],
}

PROBE_POINTS = 6


class MinMaxDistance(ConstructionProblem):
    """Minimize (max distance / min distance)^2 over n points in the given dimension."""

    name = "min-max-distance"
    description = "Place n points minimizing (max/min pairwise distance)^2 (AlphaEvolve; 2D and 3D)"
    objective = "distance_ratio_squared"
    minimize = True
    columns = (objective, "best_known", "ratio_to_best_known")
    seed_file = "min_max_distance.py"
    settings_spec = {
        "n": Setting(16, positive_int, "number of points (AlphaEvolve: 16 in 2D, 14 in 3D)"),
        "dimension": Setting(2, positive_int, "dimension of the space (2 or 3 have references)"),
        **CONSTRUCTION_SETTINGS,
    }
    conditions = (
        "construction.points is an n x dimension list of finite float64 coordinates. With d2 the "
        "squared distances (sum of squared coordinate differences) over all pairs i < j, the "
        "smallest d2 must be above 0 (distinct points) and value = max(d2) / min(d2). The coordinate "
        "differences are first multiplied by the power of two that brings the largest into [0.5, 1), "
        "which is exact and keeps tiny differences from rounding or underflowing when squared."
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        if self.settings["n"] < 2:
            raise ValueError(f"min-max-distance needs at least 2 points, got n={self.settings['n']}; set n=16.")

    def instance_arguments(self) -> dict:
        return {"n": self.settings["n"], "dimension": self.settings["dimension"]}

    def probe_instances(self) -> list[dict]:
        dimension = self.settings["dimension"]
        return [
            {"n": PROBE_POINTS, "dimension": dimension, "start": None},
            {"n": PROBE_POINTS, "dimension": dimension, "start": _grid_points(PROBE_POINTS, dimension)},
        ]

    def check(self, construction: Any) -> tuple[float, dict]:
        return check_points(construction, self.settings["n"], self.settings["dimension"])

    def known_results(self) -> list[Reference]:
        return list(KNOWN_RESULTS.get((self.settings["n"], self.settings["dimension"]), []))


def check_points(construction: Any, n: int, dimension: int) -> tuple[float, dict]:
    """Verify ``n`` distinct points in ``dimension`` dimensions and return the squared distance ratio.

    Raises:
        ConstructionError: for a malformed array or two coincident points.
    """
    data = require_keys(construction, ("points",))
    points = real_array(data["points"], "points", (n, dimension))
    i, j = pair_indices(n)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, rejected below
        differences = points[i] - points[j]
        # Scaled so that squares of differences near 1e-160 neither round nor underflow.
        squared = (scaled_to_unit(differences) ** 2).sum(axis=1)
    closest = int(np.argmin(squared))
    if not squared[closest] > 0:
        raise ConstructionError(f"points {int(i[closest])} and {int(j[closest])} coincide")
    ratio = float(squared.max() / squared[closest])
    if not np.isfinite(ratio):
        raise ConstructionError(f"the distance ratio overflows float64 (min squared distance {squared[closest]:.3g})")
    return ratio, {"points": points.tolist()}


def _grid_points(n: int, dimension: int) -> dict:
    """Return ``n`` distinct points on a grid with 3 columns, for probe runs."""
    points = np.zeros((n, dimension))
    points[:, 0] = np.arange(n) % 3
    if dimension > 1:
        points[:, 1] = np.arange(n) // 3
    else:
        points[:, 0] = np.arange(n)
    return {"points": points.tolist()}
