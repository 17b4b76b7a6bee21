"""Tests of stopping a search between generations, the path Ctrl-C takes."""

from evolve.config import SearchConfig
from evolve.registry import create_problem
from evolve.search import LocalEvaluator, Search


def test_stop_request_ends_after_generation():
    problem = create_problem("symbolic-regression", {"equation": "I.12.1", "points": 50, "fit_iterations": 5})
    config = SearchConfig(budget=1000, population_size=20, tournament_size=4, batch_size=10)
    saved = []
    search = Search(problem, config, LocalEvaluator(problem), on_generation=lambda s: s.request_stop())
    search.run(checkpoint=lambda s: saved.append(s.counters.candidates))

    assert search.interrupted
    assert search.counters.candidates == 30
    assert saved == [30]
