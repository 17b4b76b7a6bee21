"""NSGA-II: selection on several objectives by non-domination rank and crowding distance.

Deb, Pratap, Agarwal and Meyarivan, "A Fast and Elitist Multiobjective Genetic
Algorithm: NSGA-II" (IEEE Transactions on Evolutionary Computation 6(2), 2002).
Parents come from binary tournaments: the lower non-domination rank wins, and on
equal rank the larger crowding distance. After each generation the population,
parents and children together, is cut back to its size front by front. The
front that does not fit keeps its least crowded members.

Deviations from the paper: a failed individual (non-finite score, or an
objective that is NaN) dominates nothing and ranks behind every front, so it
leaves the population first. Copies of a program already in the population
(same functional hash) rank behind every unique member too: with a functional
cache, children that are cache hits repeat their parent's objectives exactly,
and kept as they are they would crowd out the front's diversity. Ties, in the
tournament and in the cut, go to the younger individual, as in
``evolve.selection.RegularizedEvolution``.
"""

import logging
import math
from collections.abc import Sequence

import numpy as np

from evolve.selection import Individual

logger = logging.getLogger(__name__)


class NSGA2:
    """Multi-objective selection over a population of ``evolve.selection.Individual``.

    Args:
        population_size: members kept after each generation.
        objectives: pairs of (column, minimize): the column of
            ``individual.evaluation.values`` and whether smaller is better.

    Raises:
        ValueError: for a population size below 2 or no objectives.
    """

    def __init__(self, population_size: int, objectives: Sequence[tuple[str, bool]]):
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}.")
        objectives = tuple((str(column), bool(minimize)) for column, minimize in objectives)
        if not objectives:
            raise ValueError(
                "NSGA-II needs at least one objective; set the problem's objectives, "
                "e.g. (('max_ulp', True), ('ops', True))."
            )
        self.population_size = population_size
        self.objectives = objectives
        self.population: list[Individual] = []
        self._ranks = np.zeros(0, dtype=int)
        self._crowding = np.zeros(0)
        self._stale = True

    def __len__(self) -> int:
        return len(self.population)

    @property
    def full(self) -> bool:
        return len(self.population) >= self.population_size

    def select_parent(self, rng: np.random.Generator) -> Individual:
        """Return the winner of a binary tournament: lower rank, then larger crowding distance."""
        if not self.population:
            raise RuntimeError("cannot select from an empty population; add the seed programs first.")
        self._refresh()
        if len(self.population) == 1:
            return self.population[0]
        first, second = rng.choice(len(self.population), size=2, replace=False)
        return self.population[max(first, second, key=self._tournament_key)]

    def add(self, individual: Individual) -> None:
        """Append a member; the population is cut back in ``end_generation``."""
        self.population.append(individual)
        self._stale = True

    def end_generation(self) -> None:
        """Cut the population back to ``population_size`` by rank and crowding distance."""
        if len(self.population) > self.population_size:
            keep = survivors(self._objective_matrix(), self._ages(), self.population_size, self._copies())
            self.population = [self.population[i] for i in keep]
            self._stale = True
        self._refresh()

    def best(self) -> Individual | None:
        """Return the member with the highest scalar score (the leaderboard's ranking)."""
        if not self.population:
            return None
        return max(self.population, key=lambda m: (m.evaluation.score, -m.candidate))

    def ranks(self) -> np.ndarray:
        """Return each member's non-domination rank (0 is the Pareto front; failed last)."""
        self._refresh()
        return self._ranks.copy()

    def crowding_distances(self) -> np.ndarray:
        """Return each member's crowding distance within its front (inf at the front's ends)."""
        self._refresh()
        return self._crowding.copy()

    def _tournament_key(self, index: int) -> tuple:
        return (-self._ranks[index], self._crowding[index], self.population[index].candidate)

    def _refresh(self) -> None:
        if not self._stale:
            return
        self._ranks, self._crowding = ranks_and_crowding(self._objective_matrix())
        self._stale = False

    def _objective_matrix(self) -> np.ndarray:
        """Return (members, objectives) values oriented so that smaller is better; NaN if failed."""
        matrix = np.full((len(self.population), len(self.objectives)), np.nan)
        for row, member in enumerate(self.population):
            if member.evaluation.failed:
                continue
            for column, (name, minimize) in enumerate(self.objectives):
                value = float(member.evaluation.values.get(name, math.nan))
                matrix[row, column] = value if minimize else -value
        return matrix

    def _ages(self) -> np.ndarray:
        return np.array([m.candidate for m in self.population], dtype=np.int64)

    def _copies(self) -> np.ndarray:
        """Return, per member, whether an older member has the same functional hash."""
        order = sorted(range(len(self.population)), key=lambda i: self.population[i].candidate)
        seen, copies = set(), np.zeros(len(self.population), dtype=bool)
        for i in order:
            digest = self.population[i].hash
            copies[i] = digest in seen
            seen.add(digest)
        return copies


def non_dominated_fronts(values: np.ndarray) -> list[np.ndarray]:
    """Sort points into fronts by fast non-dominated sorting (smaller is better).

    Args:
        values: (points, objectives); a row with a NaN is failed and goes into
            one last front of its own.

    Returns:
        Index arrays, the Pareto front first.
    """
    failed = np.any(np.isnan(values), axis=1)
    valid = np.flatnonzero(~failed)
    points = values[valid]
    # dominates[i, j]: point i is no worse than j everywhere and better somewhere.
    no_worse = np.all(points[:, None, :] <= points[None, :, :], axis=2)
    better = np.any(points[:, None, :] < points[None, :, :], axis=2)
    dominates = no_worse & better
    dominated_by = dominates.sum(axis=0)

    fronts = []
    current = np.flatnonzero(dominated_by == 0)
    while current.size:
        fronts.append(valid[current])
        dominated_by = dominated_by - dominates[current].sum(axis=0)
        dominated_by[current] = -1
        current = np.flatnonzero(dominated_by == 0)
    if failed.any():
        fronts.append(np.flatnonzero(failed))
    return fronts


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """Return the crowding distance of each point of one front (inf at each objective's ends)."""
    count = len(values)
    distance = np.zeros(count)
    if count <= 2:
        return np.full(count, np.inf)
    for column in values.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0 and np.isfinite(span):
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def ranks_and_crowding(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's front index and crowding distance within its front."""
    ranks = np.zeros(len(values), dtype=int)
    crowding = np.zeros(len(values))
    for rank, front in enumerate(non_dominated_fronts(values)):
        ranks[front] = rank
        if np.any(np.isnan(values[front])):
            crowding[front] = 0.0
        else:
            crowding[front] = crowding_distance(values[front])
    return ranks, crowding


def survivors(values: np.ndarray, ages: np.ndarray, size: int, copies: np.ndarray | None = None) -> list[int]:
    """Return the indices of the ``size`` points NSGA-II keeps, in their original order.

    Whole fronts are kept while they fit. The front that does not fit keeps its
    points of largest crowding distance, and the younger (larger ``ages``) on
    ties. Points flagged in ``copies`` rank after all others, as failed points do.
    """
    if copies is not None and copies.any():
        values = values.copy()
        values[copies] = np.nan
    keep: list[int] = []
    for front in non_dominated_fronts(values):
        room = size - len(keep)
        if room <= 0:
            break
        if len(front) <= room:
            keep.extend(front.tolist())
            continue
        if np.any(np.isnan(values[front])):
            distance = np.zeros(len(front))
        else:
            distance = crowding_distance(values[front])
        order = np.lexsort((-ages[front], -distance))
        keep.extend(front[order[:room]].tolist())
    return sorted(keep)
