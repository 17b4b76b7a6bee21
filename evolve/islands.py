"""The island model: several regularized-evolution populations with ring migration.

Islands evolve apart, so one early attractor cannot take over the whole search;
every ``migration_interval`` generations each island sends a copy of its best
member to the next island in a ring (Whitley, Rana and Heckendorn, "The Island
Model Genetic Algorithm", 1999).
"""

import collections
import dataclasses

import numpy as np

from evolve.selection import Individual, RegularizedEvolution


class IslandModel:
    """Regularized evolution on ``islands`` populations of ``population_size // islands`` each.

    Children are spread over the islands in turn: the parent of the k-th child of
    a generation comes from island ``k mod islands`` and the child joins it.

    Args:
        population_size: members over all islands.
        tournament_size: members sampled per tournament, within one island.
        islands: number of islands, at least 2.
        migration_interval: generations between migrations.
    """

    def __init__(self, population_size: int, tournament_size: int, islands: int, migration_interval: int = 10):
        if islands < 2:
            raise ValueError(f"islands must be at least 2 for the island model, got {islands}.")
        size = population_size // islands
        if size < 2 or tournament_size > size:
            raise ValueError(
                f"{islands} islands of population_size {population_size} hold {size} members each; "
                f"each needs at least 2 and at least tournament_size ({tournament_size}). "
                "Raise population_size or lower islands or tournament_size."
            )
        if migration_interval < 1:
            raise ValueError(f"migration_interval must be at least 1, got {migration_interval}.")
        self.islands = [RegularizedEvolution(size, tournament_size) for _ in range(islands)]
        self.migration_interval = migration_interval
        self.generation = 0
        self._turn = 0
        self._pending: collections.deque[int] = collections.deque()

    @property
    def population(self) -> list[Individual]:
        return [m for island in self.islands for m in island.population]

    def __len__(self) -> int:
        return sum(len(island) for island in self.islands)

    @property
    def full(self) -> bool:
        return all(island.full for island in self.islands)

    def select_parent(self, rng: np.random.Generator) -> Individual:
        index = self._next_island()
        self._pending.append(index)
        return self.islands[index].select_parent(rng)

    def add(self, individual: Individual) -> None:
        """Add a member to the island of its parent (or its recorded island, or the next one)."""
        if individual.island is None:
            individual.island = self._pending.popleft() if self._pending else self._next_island()
        self.islands[individual.island].add(individual)

    def end_generation(self) -> None:
        self._pending.clear()
        self._turn = 0
        self.generation += 1
        if self.generation % self.migration_interval == 0:
            self._migrate()

    def best(self) -> Individual | None:
        members = [b for b in (island.best() for island in self.islands) if b is not None]
        return max(members, key=lambda m: (m.evaluation.score, -m.candidate), default=None)

    def _next_island(self) -> int:
        index = self._turn % len(self.islands)
        self._turn += 1
        return index

    def _migrate(self) -> None:
        bests = [island.best() for island in self.islands]
        for index, best in enumerate(bests):
            if best is None:
                continue
            target = (index + 1) % len(self.islands)
            self.islands[target].add(dataclasses.replace(best, island=target))
