"""Seed program for Heilbronn's problem in a triangle: smoothed starts and SLSQP.

construct(n, seed, time_budget, start) returns {"points": n x 2 array} inside the
triangle with vertices (0, 0), (1, 0), (1/2, sqrt(3)/2), trying to maximize the
smallest area of a triangle formed by three of the points. A restart places
random points, pushes the areas apart with a soft minimum (L-BFGS on barycentric
logits), then polishes with SLSQP: maximize t subject to every oriented area >= t.
Other steps move one or two points of the best set, or jitter all of them,
before polishing.

The search changes the code between the EVOLVE-BLOCK markers: how point sets
start and are perturbed, and the optimizers' parameters. The optimizers and the
search loop stay fixed, because a run returns the best of its start and what it
finds. An edit that broke them would keep its parent's score and could spread
through the population without ever finding anything.
"""

import itertools
import time

import numpy as np
from scipy.optimize import minimize

SQRT3 = np.sqrt(3.0)
VERTICES = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, SQRT3 / 2]])

# EVOLVE-BLOCK-START

# Share of steps that restart from new random points instead of perturbing the best.
RESTART_PROBABILITY = 0.2
# Sharpness of the successive soft minima of the restart's spreading, and L-BFGS iterations for each.
SPREAD_SHARPNESS = (30.0, 100.0, 300.0, 1000.0)
SPREAD_ITERATIONS = 300
POLISH_ITERATIONS = 200


def random_points(n, rng):
    weights = rng.random((n, 3))
    weights /= weights.sum(axis=1, keepdims=True)
    return weights @ VERTICES


def perturbed(points, rng):
    points = points.copy()
    n = len(points)
    if rng.random() < 0.5:
        count = int(rng.integers(1, 3))
        moved = rng.choice(n, size=count, replace=False)
        points[moved] = random_points(count, rng)
    else:
        points = points + 0.02 * rng.random() * rng.standard_normal(points.shape)
    return projected(points)


# EVOLVE-BLOCK-END


def spread(points):
    """Maximize a soft minimum of the triangle areas, keeping points inside by barycentric logits."""
    n = len(points)
    first, second, third = triples(n).T
    logits = np.log(np.clip(barycentric(points), 1e-3, None))
    for beta in SPREAD_SHARPNESS:

        def objective(flat):
            weights = np.exp(flat.reshape(n, 3) - flat.reshape(n, 3).max(axis=1, keepdims=True))
            weights /= weights.sum(axis=1, keepdims=True)
            p = weights @ VERTICES
            cross, gradients = oriented_areas(p, first, second, third)
            size = np.sqrt(cross * cross + 1e-12)
            smallest = size.min()
            softness = np.exp(-beta * (size - smallest))
            share = softness / softness.sum()
            value = -(smallest - np.log(softness.sum()) / beta)
            d_cross = -share * cross / size
            d_points = np.zeros((n, 2))
            for index, (dx, dy) in zip((first, second, third), gradients):
                d_points[:, 0] += np.bincount(index, d_cross * dx, n)
                d_points[:, 1] += np.bincount(index, d_cross * dy, n)
            d_weights = d_points @ VERTICES.T
            d_logits = weights * (d_weights - (d_weights * weights).sum(axis=1, keepdims=True))
            return value, d_logits.ravel()

        logits = minimize(objective, logits.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": SPREAD_ITERATIONS}).x
    weights = np.exp(logits.reshape(n, 3) - logits.reshape(n, 3).max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ VERTICES


def polished(points):
    """Maximize t subject to s_k * area_k >= t and the triangle's sides, with SLSQP."""
    n = len(points)
    first, second, third = triples(n).T
    signs = np.sign(oriented_areas(points, first, second, third)[0])
    signs[signs == 0] = 1.0
    rows, index = np.arange(len(first)), np.arange(n)

    def constraints(z):
        p = z[:-1].reshape(n, 2)
        x, y = p[:, 0], p[:, 1]
        cross = oriented_areas(p, first, second, third)[0]
        return np.concatenate([signs * cross - z[-1], y, SQRT3 * x - y, SQRT3 * (1 - x) - y])

    def jacobian(z):
        p = z[:-1].reshape(n, 2)
        matrix = np.zeros((len(first) + 3 * n, 2 * n + 1))
        for corner, (dx, dy) in zip((first, second, third), oriented_areas(p, first, second, third)[1]):
            np.add.at(matrix, (rows, 2 * corner), signs * dx)
            np.add.at(matrix, (rows, 2 * corner + 1), signs * dy)
        matrix[: len(first), -1] = -1.0
        offset = len(first)
        matrix[offset + index, 2 * index + 1] = 1.0
        matrix[offset + n + index, 2 * index] = SQRT3
        matrix[offset + n + index, 2 * index + 1] = -1.0
        matrix[offset + 2 * n + index, 2 * index] = -SQRT3
        matrix[offset + 2 * n + index, 2 * index + 1] = -1.0
        return matrix

    gradient = np.zeros(2 * n + 1)
    gradient[-1] = -1.0
    start = np.concatenate([points.ravel(), [np.abs(oriented_areas(points, first, second, third)[0]).min()]])
    result = minimize(
        lambda z: -z[-1],
        start,
        jac=lambda z: gradient,
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": constraints, "jac": jacobian}],
        options={"maxiter": POLISH_ITERATIONS, "ftol": 1e-15},
    )
    return result.x[:-1].reshape(n, 2)


def search(points, rng, deadline):
    n = len(points)
    best, best_area = points, smallest_area(points)
    while True:
        if rng.random() < RESTART_PROBABILITY:
            trial = polished(spread(random_points(n, rng)))
        else:
            trial = polished(perturbed(best, rng))
        trial_area = smallest_area(trial)
        if trial_area > best_area:
            best, best_area = projected(trial), trial_area
        # At least one step, so that probe runs with no time budget exercise it.
        if time.perf_counter() >= deadline:
            return best


def triples(n):
    return np.array(list(itertools.combinations(range(n), 3)), dtype=np.intp).reshape(-1, 3)


def oriented_areas(points, first, second, third):
    """Return twice the oriented area of each triple, and its gradients by corner as (d/dx, d/dy)."""
    a, b, c = points[first], points[second], points[third]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    gradients = (
        (b[:, 1] - c[:, 1], c[:, 0] - b[:, 0]),
        (c[:, 1] - a[:, 1], a[:, 0] - c[:, 0]),
        (a[:, 1] - b[:, 1], b[:, 0] - a[:, 0]),
    )
    return cross, gradients


def barycentric(points):
    """Return the barycentric coordinates of points with respect to VERTICES."""
    system = np.vstack([VERTICES.T, np.ones(3)])
    return np.linalg.solve(system, np.vstack([points.T, np.ones(len(points))])).T


def inside(points):
    """Return a mask of the points inside the triangle by the verifier's exact float64 test."""
    x, y = points[:, 0], points[:, 1]
    return (y >= 0) & (SQRT3 * x - y >= 0) & (SQRT3 * (1 - x) - y >= 0)


def projected(points):
    """Return the points clipped into the triangle, then nudged inward until the exact test passes."""
    weights = np.clip(barycentric(np.asarray(points, dtype=float)), 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    points = weights @ VERTICES
    centroid = VERTICES.mean(axis=0)
    step = 1e-15
    while not inside(points).all():
        outside = ~inside(points)
        points[outside] = centroid + (points[outside] - centroid) * (1 - step)
        step *= 2
    return points


def smallest_area(points):
    """Return the smallest triangle area over the triangle's area, as the verifier computes it."""
    points = projected(points)
    first, second, third = triples(len(points)).T
    cross = oriented_areas(points, first, second, third)[0]
    return float(np.abs(cross).min() / 2 / (SQRT3 / 4))


def construct(n, seed, time_budget, start=None):
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + time_budget
    if start is None:
        points = random_points(n, rng)
    else:
        points = projected(np.array(start["points"], dtype=float))
    found = projected(search(points, rng, deadline))
    if start is not None and smallest_area(points) >= smallest_area(found):
        # Never return worse than the starting points.
        found = points
    return {"points": found}
