"""Tests of the island model and of searches that use it."""

import msgpack
import numpy as np
import pytest

from evolve.checkpoint import restore_search, search_state
from evolve.config import SearchConfig
from evolve.errors import UserInputError
from evolve.islands import IslandModel
from evolve.problem import Evaluation
from evolve.registry import ProblemSpec, create_problem
from evolve.search import LocalEvaluator, Search
from evolve.selection import Individual

SETTINGS = {"equation": "I.12.1", "points": 100, "fit_iterations": 10}


def member(candidate: int, score: float) -> Individual:
    return Individual(program=None, hash=f"h{candidate}", evaluation=Evaluation(score), candidate=candidate)


def seeded_model(islands: int = 3, size: int = 4, migration_interval: int = 2) -> IslandModel:
    model = IslandModel(islands * size, 2, islands, migration_interval)
    for candidate in range(islands * size):
        model.add(member(candidate, float(candidate)))
    model.end_generation()
    return model


def test_seeds_spread_round_robin():
    model = seeded_model()

    assert [len(island) for island in model.islands] == [4, 4, 4]
    assert [m.candidate for m in model.islands[1].population] == [1, 4, 7, 10]


def test_child_joins_parent_island():
    model = seeded_model(migration_interval=100)
    rng = np.random.default_rng(0)
    parents = [model.select_parent(rng) for _ in range(3)]
    for offset in range(3):
        model.add(member(100 + offset, 0.0))

    assert [p.island for p in parents] == [0, 1, 2]
    assert [model.islands[i].population[-1].candidate for i in range(3)] == [100, 101, 102]


def test_migration_copies_best_to_next():
    model = seeded_model(migration_interval=2)
    model.end_generation()

    newest = [island.population[-1] for island in model.islands]
    # Island 2 holds candidates 2, 5, 8, 11, so its best (11) moves to island 0.
    assert newest[0].candidate == 11
    assert newest[0].island == 0
    assert newest[1].candidate == 9


def test_population_lists_every_island():
    model = seeded_model()

    assert sorted(m.candidate for m in model.population) == list(range(12))
    assert model.best().candidate == 11


def test_too_many_islands_rejected():
    with pytest.raises(ValueError, match="each needs at least 2"):
        IslandModel(6, 2, 4)


def test_config_rejects_small_islands():
    with pytest.raises(UserInputError, match="invalid islands 20"):
        SearchConfig(population_size=40, tournament_size=5, islands=20)


@pytest.fixture(scope="module")
def problem():
    return create_problem("symbolic-regression", SETTINGS)


def island_config(**changes) -> SearchConfig:
    values = dict(budget=400, seed=1, population_size=60, tournament_size=5, batch_size=30, islands=3, migration_interval=2)
    values.update(changes)
    return SearchConfig(**values)


def test_island_search_resumes_exactly(problem):
    whole = Search(problem, island_config(), LocalEvaluator(problem)).run()
    first = Search(problem, island_config(budget=60 + 3 * 30), LocalEvaluator(problem)).run()
    state = msgpack.unpackb(msgpack.packb(search_state(first, ProblemSpec("symbolic-regression", SETTINGS))))

    resumed = Search(problem, island_config(), LocalEvaluator(problem))
    restore_search(resumed, state)
    resumed.run()

    assert [(e.hash, e.score) for e in resumed.leaderboard.ranked()] == [
        (e.hash, e.score) for e in whole.leaderboard.ranked()
    ]
    assert [m.island for m in resumed.selection.population] == [m.island for m in whole.selection.population]
