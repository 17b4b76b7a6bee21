"""Seed program for Erdős's minimum overlap problem: a smoothed maximum and L-BFGS-B.

construct(n, seed, time_budget, start) returns {"values": n heights} of a step
function h on [0, 2] with n equal steps; the verifier scales them to integral 1
and needs 0 <= h <= 1. The goal is to minimize max_k of the overlap
(2 / n) * correlate(h, 1 - h). The maximum is replaced by a log-sum-exp soft
maximum whose sharpness grows step by step, minimized with L-BFGS-B under
0 <= values <= 1 with a penalty on scaled heights above 1. A run without a start
begins from random heights; a run with one perturbs it a little and continues at
high sharpness. The search changes the code between the EVOLVE-BLOCK markers.
"""

import time

import numpy as np
from scipy.optimize import minimize

# EVOLVE-BLOCK-START


def random_values(n, rng):
    return rng.random(n)


def perturbed(values, rng):
    noise = 0.01 * rng.random() * rng.standard_normal(len(values))
    return np.clip(values + noise, 0.0, 1.0)


def soft_overlap(values, beta, weight):
    """Return the soft maximum overlap plus a penalty on heights above 1, and its gradient."""
    n = len(values)
    total = values.sum()
    scale = n / (2 * total)
    h = values * scale
    overlap = np.correlate(h, 1 - h, "full") * (2 / n)
    top = overlap.max()
    weights = np.exp(beta * (overlap - top))
    share = weights / weights.sum() * (2 / n)
    excess = np.maximum(h - 1, 0.0)
    value = top + np.log(weights.sum()) / beta + weight * excess @ excess
    d_h = np.convolve(share, 1 - h)[n - 1 : 2 * n - 1] - np.correlate(h, share, "full")[n - 1 : 2 * n - 1]
    d_h += 2 * weight * excess
    return value, scale * (d_h - (d_h @ values) / total)


def improved(values, deadline, sharpness=(10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0), iterations=500):
    for beta in sharpness:
        values = minimize(
            soft_overlap, values, args=(beta, 1000.0), jac=True, method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * len(values), options={"maxiter": iterations},
        ).x
        if time.perf_counter() >= deadline:
            break
    return values


def search(values, rng, deadline, fresh):
    if fresh:
        return improved(values, deadline)
    best, best_overlap = values, overlap_of(values)
    while True:
        trial = improved(perturbed(best, rng), deadline, sharpness=(3000.0, 10000.0, 30000.0))
        trial_overlap = overlap_of(trial)
        if trial_overlap < best_overlap:
            best, best_overlap = trial, trial_overlap
        # At least one step, so that probe runs with no time budget exercise it.
        if time.perf_counter() >= deadline:
            return best


# EVOLVE-BLOCK-END


def feasible(values):
    """Return heights whose scaling to integral 1 stays within [0, 1], as the verifier checks.

    Heights stay 1e-12 below 1, so that the verifier's own scaling, which sums in
    another order, cannot push one above 1.
    """
    values = np.clip(np.asarray(values, dtype=float), 0.0, None)
    for _ in range(100):
        h = values * (len(values) / (2 * np.sum(values)))
        if h.max() <= 1.0 - 1e-12:
            return h
        values = np.minimum(h, 1.0 - 2e-12)
    return values


def overlap_of(values):
    """Return the maximum overlap as the verifier computes it; inf for infeasible heights."""
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)) or values.sum() <= 0:
        return np.inf
    h = feasible(values)
    h = h * (len(h) / (2 * np.sum(h)))
    if h.min() < 0 or h.max() > 1:
        return np.inf
    return float(2 / len(h) * np.max(np.correlate(h, 1 - h, "full")))


def construct(n, seed, time_budget, start=None):
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + time_budget
    if start is None:
        values = random_values(n, rng)
    else:
        values = feasible(np.array(start["values"], dtype=float))
    found = feasible(search(values, rng, deadline, fresh=start is None))
    if start is not None and overlap_of(values) <= overlap_of(found):
        # Never return worse than the starting function.
        found = values
    return {"values": found}
