"""CMA-ES, the covariance matrix adaptation evolution strategy, as an ask/tell loop.

Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772, 2016): the
(mu/mu_w, lambda)-CMA-ES with rank-one and rank-mu updates, cumulative step-size
adaptation and the default parameters of its Table 1. The caller evaluates each
population as one batch, which is where JAX comes in.
"""

import dataclasses
import math
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass
class CMAResult:
    """The outcome of one CMA-ES run.

    Attributes:
        best: the best point evaluated.
        best_value: its objective value.
        evaluations: objective evaluations spent.
        generations: generations run.
    """

    best: np.ndarray
    best_value: float
    evaluations: int
    generations: int


def minimize(
    objective: Callable[[np.ndarray], np.ndarray],
    mean: np.ndarray,
    scales: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    population: int = 16,
    max_generations: int = 200,
    tolerance: float = 1e-12,
    patience: int = 40,
) -> CMAResult:
    """Minimize ``objective`` from ``mean`` with initial standard deviations ``sigma * scales``.

    Args:
        objective: maps a (population, n) array of points to (population,) values;
            non-finite values rank last.
        mean: the start, shape (n,), n >= 1.
        scales: per-coordinate initial scales, shape (n,), positive.
        sigma: the initial step size.
        rng: source of the samples.
        population: points per generation (lambda).
        max_generations: generations at most.
        tolerance: stop when every coordinate's standard deviation is below this
            times (1 + |mean|), the resolution below which float32 constants
            cannot change.
        patience: stop after this many generations without a new best.

    Returns:
        The best point seen and its value.
    """
    n = mean.size
    mu = population // 2
    weights = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    weights /= weights.sum()
    mu_eff = 1.0 / np.sum(weights**2)
    c_sigma = (mu_eff + 2) / (n + mu_eff + 5)
    d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
    c_c = (4 + mu_eff / n) / (n + 4 + 2 * mu_eff / n)
    c_1 = 2 / ((n + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((n + 2) ** 2 + mu_eff))
    expected_norm = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))

    mean = mean.astype(np.float64).copy()
    covariance = np.diag(scales.astype(np.float64) ** 2)
    path_sigma, path_c = np.zeros(n), np.zeros(n)
    best, best_value, stale = mean.copy(), math.inf, 0
    generation = 0
    for generation in range(1, max_generations + 1):
        eigenvalues, basis = np.linalg.eigh(covariance)
        deviations = np.sqrt(np.maximum(eigenvalues, 1e-300))
        steps = (rng.standard_normal((population, n)) * deviations) @ basis.T
        points = mean + sigma * steps
        values = np.asarray(objective(points), dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.inf)

        order = np.argsort(values, kind="stable")
        if values[order[0]] < best_value:
            best, best_value, stale = points[order[0]].copy(), float(values[order[0]]), 0
        else:
            stale += 1

        # Move the mean and update the two evolution paths.
        selected = steps[order[:mu]]
        step = weights @ selected
        mean = mean + sigma * step
        inverse_sqrt = basis @ np.diag(1 / deviations) @ basis.T
        path_sigma = (1 - c_sigma) * path_sigma + math.sqrt(c_sigma * (2 - c_sigma) * mu_eff) * (inverse_sqrt @ step)
        norm = np.linalg.norm(path_sigma) / math.sqrt(1 - (1 - c_sigma) ** (2 * generation))
        stalled = norm >= (1.4 + 2 / (n + 1)) * expected_norm
        path_c = (1 - c_c) * path_c + (0.0 if stalled else math.sqrt(c_c * (2 - c_c) * mu_eff)) * step

        # Rank-one and rank-mu updates of the covariance, then the step size.
        rank_mu = (selected * weights[:, None]).T @ selected
        correction = c_c * (2 - c_c) if stalled else 0.0
        covariance = (
            (1 - c_1 - c_mu) * covariance
            + c_1 * (np.outer(path_c, path_c) + correction * covariance)
            + c_mu * rank_mu
        )
        covariance = (covariance + covariance.T) / 2
        sigma *= math.exp(min(1.0, (c_sigma / d_sigma) * (np.linalg.norm(path_sigma) / expected_norm - 1)))

        spread = sigma * np.sqrt(np.diag(covariance))
        if np.all(spread < tolerance * (1 + np.abs(mean))) or stale >= patience:
            break
    return CMAResult(best, best_value, generation * population, generation)
