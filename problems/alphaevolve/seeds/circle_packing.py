"""Seed program for circle packing: random starts, a penalty relaxation and SLSQP.

construct(n, seed, time_budget, start) returns {"centers": n x 2 array, "radii":
n array} for n disjoint circles in the unit square, trying to maximize the sum
of the radii. Each step either restarts from random centers or perturbs the best
packing so far, relaxes the overlaps with a quadratic penalty (L-BFGS-B), then
polishes with SLSQP on the pairs of circles that are close.

The search changes the code between the EVOLVE-BLOCK markers: how packings
start and are perturbed, and the optimizers' parameters. The optimizers and the
search loop stay fixed, because a run returns the best of its start and what it
finds. An edit that broke them would keep its parent's score and could spread
through the population without ever finding anything.
"""

import time

import numpy as np
from scipy.optimize import minimize

# EVOLVE-BLOCK-START

# Share of steps that restart from a new random packing instead of perturbing the best.
RESTART_PROBABILITY = 0.7
# Penalty weights of the successive relaxations, and L-BFGS-B iterations for each.
RELAX_WEIGHTS = (100.0, 10000.0)
RELAX_ITERATIONS = 300
# SLSQP constrains the pairs of circles whose gap is below this, for this many iterations.
POLISH_MARGIN = 0.05
POLISH_ITERATIONS = 100


def random_packing(n, rng):
    centers = rng.random((n, 2))
    radii = np.full(n, 0.02)
    return centers, radii


def perturbed(centers, radii, rng):
    centers = centers.copy()
    radii = radii.copy()
    n = len(radii)
    if rng.random() < 0.5:
        # Move a few of the smallest circles to random places.
        count = int(rng.integers(1, 4))
        smallest = np.argsort(radii)[: count + 2]
        moved = rng.choice(smallest, size=count, replace=False)
        centers[moved] = rng.random((count, 2))
        radii[moved] = 0.01
    else:
        scale = 0.05 * rng.random()
        centers = np.clip(centers + scale * rng.standard_normal((n, 2)), 0.0, 1.0)
    return centers, radii * 0.95


# EVOLVE-BLOCK-END


def relaxed(centers, radii):
    """Grow the radii against a quadratic penalty on overlaps and on leaving the square."""
    n = len(radii)
    i, j = np.triu_indices(n, 1)
    z = np.concatenate([centers[:, 0], centers[:, 1], radii])
    bounds = [(0.0, 1.0)] * (2 * n) + [(0.0, 0.5)] * n
    for weight in RELAX_WEIGHTS:

        def penalty(z):
            x, y, r = z[:n], z[n : 2 * n], z[2 * n :]
            dx, dy = x[i] - x[j], y[i] - y[j]
            distance = np.sqrt(dx * dx + dy * dy) + 1e-12
            overlap = np.maximum(r[i] + r[j] - distance, 0.0)
            left, right = np.maximum(r - x, 0.0), np.maximum(x + r - 1.0, 0.0)
            bottom, top = np.maximum(r - y, 0.0), np.maximum(y + r - 1.0, 0.0)
            value = -r.sum() + weight * (overlap @ overlap + left @ left + right @ right + bottom @ bottom + top @ top)
            push = 2.0 * weight * overlap
            push_x, push_y = push * dx / distance, push * dy / distance
            grad_r = -1.0 + np.bincount(i, push, n) + np.bincount(j, push, n)
            grad_r += 2.0 * weight * (left + right + bottom + top)
            grad_x = np.bincount(j, push_x, n) - np.bincount(i, push_x, n) + 2.0 * weight * (right - left)
            grad_y = np.bincount(j, push_y, n) - np.bincount(i, push_y, n) + 2.0 * weight * (top - bottom)
            return value, np.concatenate([grad_x, grad_y, grad_r])

        z = minimize(penalty, z, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": RELAX_ITERATIONS}).x
    return np.stack([z[:n], z[n : 2 * n]], axis=1), z[2 * n :]


def polished(centers, radii):
    """Maximize the sum of radii with SLSQP, constraining only pairs closer than POLISH_MARGIN."""
    n = len(radii)
    x, y = centers[:, 0], centers[:, 1]
    i, j = np.triu_indices(n, 1)
    gap = np.sqrt((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2) - radii[i] - radii[j]
    i, j = i[gap < POLISH_MARGIN], j[gap < POLISH_MARGIN]
    rows, circles = np.arange(len(i)), np.arange(n)

    def constraints(z):
        x, y, r = z[:n], z[n : 2 * n], z[2 * n :]
        dx, dy, reach = x[i] - x[j], y[i] - y[j], r[i] + r[j]
        return np.concatenate([x - r, 1.0 - x - r, y - r, 1.0 - y - r, dx * dx + dy * dy - reach * reach])

    def jacobian(z):
        x, y, r = z[:n], z[n : 2 * n], z[2 * n :]
        matrix = np.zeros((4 * n + len(i), 3 * n))
        for side, (column, sign) in enumerate(((circles, 1.0), (circles, -1.0), (n + circles, 1.0), (n + circles, -1.0))):
            matrix[side * n + circles, column] = sign
            matrix[side * n + circles, 2 * n + circles] = -1.0
        dx, dy, reach = x[i] - x[j], y[i] - y[j], r[i] + r[j]
        pair_rows = 4 * n + rows
        matrix[pair_rows, i], matrix[pair_rows, j] = 2.0 * dx, -2.0 * dx
        matrix[pair_rows, n + i], matrix[pair_rows, n + j] = 2.0 * dy, -2.0 * dy
        matrix[pair_rows, 2 * n + i], matrix[pair_rows, 2 * n + j] = -2.0 * reach, -2.0 * reach
        return matrix

    gradient = np.concatenate([np.zeros(2 * n), -np.ones(n)])
    result = minimize(
        lambda z: -z[2 * n :].sum(),
        np.concatenate([x, y, radii]),
        jac=lambda z: gradient,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * (2 * n) + [(0.0, 0.5)] * n,
        constraints=[{"type": "ineq", "fun": constraints, "jac": jacobian}],
        options={"maxiter": POLISH_ITERATIONS, "ftol": 1e-13},
    )
    z = result.x
    return np.stack([z[:n], z[n : 2 * n]], axis=1), z[2 * n :]


def search(centers, radii, rng, deadline):
    n = len(radii)
    best, best_sum = (centers, radii), valid_sum(centers, radii)
    # The start may come from a relaxation that was never polished.
    start = polished(centers, radii)
    if valid_sum(*start) > best_sum:
        best, best_sum = start, valid_sum(*start)
    while True:
        if rng.random() < RESTART_PROBABILITY:
            trial = random_packing(n, rng)
        else:
            trial = perturbed(*best, rng)
        relaxed_trial = relaxed(*trial)
        for candidate in (relaxed_trial, polished(*relaxed_trial)):
            candidate_sum = valid_sum(*candidate)
            if candidate_sum > best_sum:
                best, best_sum = candidate, candidate_sum
        # At least one step, so that probe runs with no time budget exercise it.
        if time.perf_counter() >= deadline:
            return best


def fitted(centers, radii):
    """Return centers clipped to the square and radii shrunk until the packing is valid.

    The checks are the verifier's, in float64 with zero tolerance.
    """
    centers = np.clip(np.asarray(centers, dtype=float), 0.0, 1.0)
    x, y = centers[:, 0], centers[:, 1]
    radii = np.clip(np.asarray(radii, dtype=float), 0.0, None)
    radii = np.minimum.reduce([radii, x, 1.0 - x, y, 1.0 - y])
    i, j = np.triu_indices(len(radii), 1)
    distance = np.sqrt((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2)
    for _ in range(1000):
        outside = (x - radii < 0) | (x + radii > 1) | (y - radii < 0) | (y + radii > 1)
        reach = radii[i] + radii[j]
        overlapping = reach > distance
        if not outside.any() and not overlapping.any():
            break
        # A circle outside the square only by rounding shrinks by about one unit in the last place.
        factor = np.where(outside, 1.0 - 4e-16, 1.0)
        ratio = np.where(overlapping, distance / np.where(overlapping, reach, 1.0), 1.0)
        np.minimum.at(factor, i, ratio)
        np.minimum.at(factor, j, ratio)
        shrink = factor < 1.0
        radii[shrink] = np.nextafter(radii[shrink] * factor[shrink], 0.0)
    return centers, radii


def valid_sum(centers, radii):
    return float(fitted(centers, radii)[1].sum())


def construct(n, seed, time_budget, start=None):
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + time_budget
    if start is None:
        centers, radii = random_packing(n, rng)
    else:
        centers, radii = np.array(start["centers"], dtype=float), np.array(start["radii"], dtype=float)
    found_centers, found_radii = fitted(*search(centers, radii, rng, deadline))
    if start is not None and valid_sum(centers, radii) >= found_radii.sum():
        # Never return worse than the starting packing.
        found_centers, found_radii = fitted(centers, radii)
    return {"centers": found_centers, "radii": found_radii}
