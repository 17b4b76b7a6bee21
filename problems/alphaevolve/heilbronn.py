"""Heilbronn's problem in a triangle: maximize the smallest triangle among n points.

Place ``n`` points in an equilateral triangle so that the smallest area of a
triangle formed by three of them, divided by the area of the big triangle, is as
large as possible. AlphaEvolve (Novikov et al., 2025) reports 11 points.
"""

import math
from typing import Any

import numpy as np

from evolve.problem import Reference, Setting, positive_int
from problems.alphaevolve.checks import ConstructionError, first_violation, real_array, require_keys, triple_indices
from problems.alphaevolve.construction import CONSTRUCTION_SETTINGS, ConstructionProblem

ALPHAEVOLVE = "Novikov et al., AlphaEvolve: a coding agent for scientific and algorithmic discovery, May 2025"

KNOWN_RESULTS = {11: [Reference("AlphaEvolve (May 2025)", 0.0365298899, ALPHAEVOLVE)]}

# The triangle with vertices (0, 0), (1, 0) and (1/2, sqrt(3)/2).
SQRT3 = float(np.sqrt(3.0))
TRIANGLE_AREA = SQRT3 / 4

PROBE_POINTS = 5


class HeilbronnTriangle(ConstructionProblem):
    """Maximize the smallest triangle area among n points in an equilateral triangle."""

    name = "heilbronn-triangle"
    description = "Place n points in a triangle maximizing the smallest triangle they form (AlphaEvolve)"
    objective = "min_area_ratio"
    minimize = False
    columns = (objective, "best_known", "ratio_to_best_known")
    seed_file = "heilbronn_triangle.py"
    settings_spec = {
        "n": Setting(11, positive_int, "number of points (AlphaEvolve: 11)"),
        **CONSTRUCTION_SETTINGS,
    }
    conditions = (
        "construction.points is an n x 2 list of finite float64 (x, y) inside the triangle with "
        "vertices (0, 0), (1, 0), (0.5, sqrt(3)/2), boundary included: with s = sqrt(3.0) in float64, "
        "y >= 0, s*x - y >= 0 and s*(1 - x) - y >= 0, zero tolerance. For each triple, area = "
        "abs((x2 - x1)*(y3 - y1) - (x3 - x1)*(y2 - y1)) / 2; value = min(area) / (s / 4)."
    )

    def __init__(self, settings=None):
        super().__init__(settings)
        if self.settings["n"] < 3:
            raise ValueError(f"heilbronn-triangle needs at least 3 points, got n={self.settings['n']}; set n=11.")

    def instance_arguments(self) -> dict:
        return {"n": self.settings["n"]}

    def probe_instances(self) -> list[dict]:
        # Points on a small circle around the centroid: distinct, inside, no three collinear.
        angles = 2 * math.pi * np.arange(PROBE_POINTS) / PROBE_POINTS
        points = np.stack([0.5 + 0.2 * np.cos(angles), SQRT3 / 6 + 0.2 * np.sin(angles)], axis=1)
        return [
            {"n": PROBE_POINTS, "start": None},
            {"n": PROBE_POINTS, "start": {"points": points.tolist()}},
        ]

    def check(self, construction: Any) -> tuple[float, dict]:
        return check_triangle_points(construction, self.settings["n"])

    def known_results(self) -> list[Reference]:
        return list(KNOWN_RESULTS.get(self.settings["n"], []))


def check_triangle_points(construction: Any, n: int) -> tuple[float, dict]:
    """Verify ``n`` points in the triangle and return the smallest triangle area over the triangle's area.

    Raises:
        ConstructionError: for a malformed array or a point outside the triangle.
    """
    data = require_keys(construction, ("points",))
    points = real_array(data["points"], "points", (n, 2))
    x, y = points[:, 0], points[:, 1]
    rules = (
        (y >= 0, "is below the side y = 0"),
        (SQRT3 * x - y >= 0, "is outside the left side"),
        (SQRT3 * (1 - x) - y >= 0, "is outside the right side"),
    )
    for inside, side in rules:
        outside = first_violation(~inside)
        if outside is not None:
            raise ConstructionError(f"point {outside} at ({x[outside]!r}, {y[outside]!r}) {side} of the triangle")

    triples = triple_indices(n)
    a, b, c = points[triples[:, 0]], points[triples[:, 1]], points[triples[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    smallest = float(np.min(np.abs(cross)) / 2)
    return smallest / TRIANGLE_AREA, {"points": points.tolist()}
