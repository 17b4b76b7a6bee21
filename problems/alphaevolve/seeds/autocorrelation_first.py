"""Seed program for the first autocorrelation inequality: a smoothed peak and L-BFGS-B.

construct(n, seed, time_budget, start) returns {"values": n heights >= 0} of a step
function on [-1/4, 1/4] with n equal steps, trying to minimize
max(f * f) / (integral f)^2 = 2 n max(convolve(values, values)) / sum(values)^2.
The maximum is replaced by a log-sum-exp soft maximum whose sharpness grows
step by step, minimized with L-BFGS-B under values >= 0. A run without a start
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
    return np.clip(values * (1.0 + noise), 0.0, None)


def soft_peak(values, beta):
    """Return the soft maximum of the ratio over all shifts and its gradient in the values."""
    n = len(values)
    total = values.sum()
    convolution = np.convolve(values, values)
    ratio = 2 * n * convolution / total**2
    top = ratio.max()
    weights = np.exp(beta * (ratio - top))
    share = weights / weights.sum()
    value = top + np.log(weights.sum()) / beta
    gradient = 2 * n * (2 * np.correlate(share, values, "valid") / total**2 - 2 * (share @ convolution) / total**3)
    return value, gradient


def improved(values, deadline, sharpness=(10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 100000.0), iterations=300):
    for beta in sharpness:
        values = minimize(
            soft_peak, values, args=(beta,), jac=True, method="L-BFGS-B",
            bounds=[(0.0, None)] * len(values), options={"maxiter": iterations},
        ).x
        if time.perf_counter() >= deadline:
            break
    return values


def search(values, rng, deadline, fresh):
    if fresh:
        return improved(values, deadline)
    best, best_ratio = values, ratio_of(values)
    while True:
        trial = improved(perturbed(best, rng), deadline, sharpness=(1000.0, 10000.0, 100000.0))
        trial_ratio = ratio_of(trial)
        if trial_ratio < best_ratio:
            best, best_ratio = trial, trial_ratio
        # At least one step, so that probe runs with no time budget exercise it.
        if time.perf_counter() >= deadline:
            return best


# EVOLVE-BLOCK-END


def ratio_of(values):
    """Return max(f * f) / (integral f)^2 as the verifier computes it; inf for invalid heights."""
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.sum() <= 0:
        return np.inf
    return float(2 * len(values) * np.max(np.convolve(values, values)) / values.sum() ** 2)


def construct(n, seed, time_budget, start=None):
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + time_budget
    if start is None:
        values = random_values(n, rng)
    else:
        values = np.array(start["values"], dtype=float)
    found = np.clip(np.asarray(search(values, rng, deadline, fresh=start is None), dtype=float), 0.0, None)
    if start is not None and ratio_of(values) <= ratio_of(found):
        # Never return worse than the starting function.
        found = values
    return {"values": found}
