"""Circle packing in the unit square, maximizing the sum of the radii.

Place ``n`` disjoint circles inside ``[0, 1] x [0, 1]`` so that the sum of their
radii is as large as possible, a benchmark of AlphaEvolve (Novikov et al., 2025).
"""

from typing import Any

import numpy as np

from evolve.problem import Reference, Setting, positive_int
from problems.alphaevolve.checks import (
    ConstructionError,
    exact_sum,
    first_violation,
    pair_indices,
    real_array,
    require_keys,
)
from problems.alphaevolve.construction import CONSTRUCTION_SETTINGS, ConstructionProblem

# Published sums of radii, by number of circles.
KNOWN_RESULTS = {
    26: [
        Reference("AlphaEvolve (May 2025)", 2.6358627564, "Novikov et al., AlphaEvolve: a coding agent for scientific and algorithmic discovery, May 2025"),
        Reference("AlphaEvolve (Nov 2025)", 2.6359830849, "github.com/google-deepmind/alphaevolve_repository_of_problems, November 2025"),
    ],
    32: [
        Reference("AlphaEvolve (May 2025)", 2.9379445262, "Novikov et al., AlphaEvolve: a coding agent for scientific and algorithmic discovery, May 2025"),
        Reference("AlphaEvolve (Nov 2025)", 2.9395727712, "github.com/google-deepmind/alphaevolve_repository_of_problems, November 2025"),
    ],
}

PROBE_CIRCLES = 6


class CirclePacking(ConstructionProblem):
    """Maximize the sum of radii of n disjoint circles in the unit square."""

    name = "circle-packing"
    description = "Pack n circles in the unit square maximizing the sum of radii (AlphaEvolve)"
    objective = "sum_of_radii"
    minimize = False
    columns = (objective, "best_known", "ratio_to_best_known")
    seed_file = "circle_packing.py"
    settings_spec = {
        "n": Setting(26, positive_int, "number of circles"),
        **CONSTRUCTION_SETTINGS,
    }
    conditions = (
        "construction.centers is an n x 2 list of (x, y) and construction.radii a list of n radii, "
        "all finite float64. Each circle lies in the unit square: r >= 0, x - r >= 0, x + r <= 1, "
        "y - r >= 0, y + r <= 1. Each pair is disjoint: sqrt((xi - xj)**2 + (yi - yj)**2) >= ri + rj. "
        "Every comparison is made in float64 with zero tolerance. value = math.fsum(radii)."
    )

    def instance_arguments(self) -> dict:
        return {"n": self.settings["n"]}

    def probe_instances(self) -> list[dict]:
        return [
            {"n": PROBE_CIRCLES, "start": None},
            {"n": PROBE_CIRCLES, "start": _grid_packing(PROBE_CIRCLES)},
        ]

    def check(self, construction: Any) -> tuple[float, dict]:
        return check_packing(construction, self.settings["n"])

    def known_results(self) -> list[Reference]:
        return list(KNOWN_RESULTS.get(self.settings["n"], []))


def check_packing(construction: Any, n: int) -> tuple[float, dict]:
    """Verify a packing of ``n`` circles in the unit square and return its sum of radii.

    Raises:
        ConstructionError: naming the first violated rule (see `CirclePacking.conditions`).
    """
    data = require_keys(construction, ("centers", "radii"))
    centers = real_array(data["centers"], "centers", (n, 2))
    radii = real_array(data["radii"], "radii", (n,))
    x, y = centers[:, 0], centers[:, 1]

    negative = first_violation(radii < 0)
    if negative is not None:
        raise ConstructionError(f"circle {negative} has a negative radius {radii[negative]!r}")
    rules = (
        (x - radii >= 0, "crosses the left side x = 0"),
        (x + radii <= 1, "crosses the right side x = 1"),
        (y - radii >= 0, "crosses the bottom side y = 0"),
        (y + radii <= 1, "crosses the top side y = 1"),
    )
    for inside, side in rules:
        outside = first_violation(~inside)
        if outside is not None:
            raise ConstructionError(
                f"circle {outside} at ({x[outside]!r}, {y[outside]!r}) with radius {radii[outside]!r} {side}"
            )

    i, j = pair_indices(n)
    distances = np.sqrt((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2)
    overlap = first_violation(radii[i] + radii[j] > distances)
    if overlap is not None:
        a, b = int(i[overlap]), int(j[overlap])
        depth = radii[a] + radii[b] - distances[overlap]
        raise ConstructionError(f"circles {a} and {b} overlap by {depth:.3g}")
    return exact_sum(radii), {"centers": centers.tolist(), "radii": radii.tolist()}


def _grid_packing(n: int) -> dict:
    """Return a valid packing of ``n`` equal circles on a square grid, for probe runs."""
    side = int(np.ceil(np.sqrt(n)))
    cells = [((col + 0.5) / side, (row + 0.5) / side) for row in range(side) for col in range(side)][:n]
    radius = 0.5 / side * 0.9
    return {"centers": [list(cell) for cell in cells], "radii": [radius] * n}
