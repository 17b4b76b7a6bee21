"""Regularized evolution: tournament selection with aging.

Real, Aggarwal, Huang and Le, "Regularized Evolution for Image Classifier
Architecture Search" (AAAI 2019). The population is a queue: each child joins at
the back and the oldest member leaves, whatever its fitness, so no lucky early
candidate dominates forever. Parents are the best of a small random sample.
"""

import collections
import dataclasses
from typing import Any

import numpy as np

from evolve.problem import Evaluation


@dataclasses.dataclass
class Individual:
    """A member of the population.

    Attributes:
        program: the program, with fitted constants where evaluation fitted them.
        hash: its functional hash.
        evaluation: its fitness.
        candidate: the index of the candidate that produced it (0-based, in
            proposal order), which is also its birth time.
        island: the island it lives on, for the island model; None before it joins.
    """

    program: Any
    hash: str
    evaluation: Evaluation
    candidate: int
    island: int | None = None


class RegularizedEvolution:
    """Single-objective tournament selection with aging.

    Args:
        population_size: members kept; the oldest leaves when a child joins a full population.
        tournament_size: members sampled, without replacement, to pick each parent.
    """

    def __init__(self, population_size: int = 100, tournament_size: int = 10):
        if population_size < 2:
            raise ValueError(f"population_size must be at least 2, got {population_size}.")
        if not 1 <= tournament_size <= population_size:
            raise ValueError(
                f"tournament_size must be between 1 and population_size ({population_size}), "
                f"got {tournament_size}."
            )
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.population: collections.deque[Individual] = collections.deque()

    def __len__(self) -> int:
        return len(self.population)

    @property
    def full(self) -> bool:
        return len(self.population) >= self.population_size

    def select_parent(self, rng: np.random.Generator) -> Individual:
        """Return the best of ``tournament_size`` members drawn at random.

        Ties go to the younger member, which keeps the search moving on plateaus.
        """
        if not self.population:
            raise RuntimeError("cannot select from an empty population; add the seed programs first.")
        size = min(self.tournament_size, len(self.population))
        indices = rng.choice(len(self.population), size=size, replace=False)
        return max((self.population[i] for i in indices), key=lambda m: (m.evaluation.score, m.candidate))

    def add(self, individual: Individual) -> None:
        """Append a member; in a full population the oldest one leaves."""
        self.population.append(individual)
        while len(self.population) > self.population_size:
            self.population.popleft()

    def end_generation(self) -> None:
        """Called after each generation's children are added; aging needs nothing here."""

    def best(self) -> Individual | None:
        if not self.population:
            return None
        return max(self.population, key=lambda m: (m.evaluation.score, -m.candidate))


def make_selection(problem, population_size: int, tournament_size: int, islands: int = 1, migration_interval: int = 10):
    """Return the selection method a problem asks for.

    Raises:
        ValueError: if the problem names an unknown method.
    """
    if problem.selection == "regularized" and islands > 1:
        from evolve.islands import IslandModel

        return IslandModel(population_size, tournament_size, islands, migration_interval)
    if problem.selection == "regularized":
        return RegularizedEvolution(population_size, tournament_size)
    if problem.selection == "nsga2":
        from evolve.nsga2 import NSGA2

        return NSGA2(population_size, problem.objectives)
    raise ValueError(
        f"problem {problem.name!r} asks for selection {problem.selection!r}; "
        "use 'regularized' or 'nsga2'."
    )
