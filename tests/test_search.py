"""Tests of the search loop: regularized evolution, the leaderboard, and whole searches.

The whole searches run symbolic regression on AI Feynman I.12.1 (F = mu * Nn)
with the in-process evaluator. Runs that several tests compare are built once
per module, and all runs share one problem instance, so JAX compiles each
batch shape once.
"""

import math

import msgpack
import numpy as np
import pytest

from evolve.checkpoint import restore_search, search_state
from evolve.config import SearchConfig
from evolve.leaderboard import Entry, Leaderboard
from evolve.op_problem import OpProblem
from evolve.problem import Evaluation
from evolve.program import Program
from evolve.registry import ProblemSpec, create_problem
from evolve.search import (
    MAX_FAILURE_KINDS,
    OTHER_FAILURES,
    REPEATED_FAILURE,
    Counters,
    LocalEvaluator,
    Search,
    failure_kind,
)
from evolve.selection import Individual, RegularizedEvolution
from hashing import make_probe_inputs
from problems.symbolic_regression.equivalence import is_symbolic_solution

# Fewer points and fitting steps than the defaults keep each search to seconds.
SETTINGS = {"equation": "I.12.1", "points": 100, "fit_iterations": 10}
POPULATION = 50
BATCH = 50
BUDGET = 300


def member(candidate: int, score: float) -> Individual:
    return Individual(program=None, hash=f"h{candidate}", evaluation=Evaluation(score), candidate=candidate)


def entry(digest: str, score: float, candidate: int) -> Entry:
    return Entry(digest, score, {"nmse": -score}, candidate, program=None)


# ---------------------------------------------------------------- regularized evolution


def test_oldest_member_leaves():
    selection = RegularizedEvolution(population_size=3, tournament_size=2)
    for candidate, score in enumerate([10.0, 1.0, 2.0, 3.0]):
        selection.add(member(candidate, score))

    assert len(selection) == 3
    assert [m.candidate for m in selection.population] == [1, 2, 3]
    assert selection.full


def test_oldest_leaves_even_if_best():
    selection = RegularizedEvolution(population_size=2, tournament_size=1)
    for candidate, score in enumerate([100.0, -1.0, -2.0]):
        selection.add(member(candidate, score))

    assert 0 not in [m.candidate for m in selection.population]
    assert selection.best().candidate == 1


def test_tournament_picks_best_of_sample():
    selection = RegularizedEvolution(population_size=5, tournament_size=5)
    for candidate, score in enumerate([0.3, 0.9, -1.0, 0.5, 0.1]):
        selection.add(member(candidate, score))
    rng = np.random.default_rng(0)

    picks = {selection.select_parent(rng).candidate for _ in range(50)}

    assert picks == {1}


def test_tournament_ties_go_to_younger():
    selection = RegularizedEvolution(population_size=4, tournament_size=4)
    for candidate, score in enumerate([1.0, 5.0, 5.0, 2.0]):
        selection.add(member(candidate, score))
    rng = np.random.default_rng(0)

    picks = {selection.select_parent(rng).candidate for _ in range(50)}

    assert picks == {2}


def test_tournament_samples_without_replacement():
    # A sample of 2 distinct members out of 3 always contains a better member
    # than the worst one, so the worst never wins, and the other two both win sometimes.
    selection = RegularizedEvolution(population_size=3, tournament_size=2)
    for candidate, score in enumerate([1.0, 2.0, 3.0]):
        selection.add(member(candidate, score))
    rng = np.random.default_rng(1)

    picks = [selection.select_parent(rng).candidate for _ in range(300)]

    assert 0 not in picks
    assert picks.count(2) > picks.count(1) > 0


def test_tournament_of_one_is_uniform():
    selection = RegularizedEvolution(population_size=4, tournament_size=1)
    for candidate in range(4):
        selection.add(member(candidate, float(candidate)))
    rng = np.random.default_rng(2)

    picks = [selection.select_parent(rng).candidate for _ in range(400)]

    assert set(picks) == {0, 1, 2, 3}
    assert min(picks.count(c) for c in range(4)) > 60


def test_select_from_empty_population_raises():
    selection = RegularizedEvolution(population_size=3, tournament_size=2)

    with pytest.raises(RuntimeError, match="empty population"):
        selection.select_parent(np.random.default_rng(0))


def test_best_member_ties_go_to_older():
    selection = RegularizedEvolution(population_size=4, tournament_size=2)
    for candidate, score in enumerate([1.0, 5.0, 5.0]):
        selection.add(member(candidate, score))

    assert selection.best().candidate == 1


def test_best_of_empty_population_is_none():
    assert RegularizedEvolution(population_size=2, tournament_size=1).best() is None


@pytest.mark.parametrize(
    "population_size, tournament_size, message",
    [(1, 1, "population_size must be at least 2"), (5, 0, "tournament_size"), (5, 6, "tournament_size")],
)
def test_selection_invalid_sizes_raise(population_size, tournament_size, message):
    with pytest.raises(ValueError, match=message):
        RegularizedEvolution(population_size, tournament_size)


# ---------------------------------------------------------------- failure reasons


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("raised ValueError: bad shape", "raised ValueError"),
        ("invalid construction: circles 3 and 5 overlap by 1e-12", "invalid construction"),
        ("probe run failed: ProbeRunError: raised KeyError: 'x'", "probe run failed: ProbeRunError: raised KeyError"),
        ("timed out after 7.0 s", "timed out after 7.0 s"),
        ("", REPEATED_FAILURE),
    ],
)
def test_failure_kind(reason, kind):
    assert failure_kind(reason) == kind


def test_counters_cap_failure_kinds():
    counters = Counters()
    for index in range(MAX_FAILURE_KINDS + 5):
        counters.count_failure(f"raised Error{index}: message")
    counters.count_failure("raised Error0: another message")

    assert counters.failed == MAX_FAILURE_KINDS + 6
    assert len(counters.failure_reasons) == MAX_FAILURE_KINDS + 1
    assert counters.failure_reasons["raised Error0"] == 2
    assert counters.failure_reasons[OTHER_FAILURES] == 5


# ---------------------------------------------------------------- leaderboard


def test_leaderboard_one_entry_per_hash():
    board = Leaderboard(size=10)
    board.offer(entry("a", -2.0, 0))
    board.offer(entry("a", -1.0, 5))
    board.offer(entry("a", -3.0, 9))

    assert len(board) == 1
    assert board.best().score == -1.0
    assert board.best().candidate == 5


def test_leaderboard_equal_score_keeps_first():
    board = Leaderboard(size=10)
    board.offer(entry("a", -1.0, 0))
    board.offer(entry("a", -1.0, 7))

    assert board.best().candidate == 0


@pytest.mark.parametrize("score", [-math.inf, math.nan, math.inf])
def test_leaderboard_rejects_failed(score):
    board = Leaderboard(size=10)

    assert board.offer(entry("a", score, 0)) is False
    assert len(board) == 0


def test_leaderboard_size_bound():
    board = Leaderboard(size=3)
    for candidate, score in enumerate([-5.0, -1.0, -4.0, -2.0, -3.0, -9.0]):
        board.offer(entry(f"h{candidate}", score, candidate))

    assert len(board) == 3
    assert [e.score for e in board.ranked()] == [-1.0, -2.0, -3.0]


def test_leaderboard_ranking_ties_earliest_first():
    board = Leaderboard(size=10)
    for digest, score, candidate in [("a", -2.0, 3), ("b", -1.0, 4), ("c", -2.0, 1), ("d", -0.5, 9)]:
        board.offer(entry(digest, score, candidate))

    assert [e.hash for e in board.ranked()] == ["d", "b", "c", "a"]


def test_leaderboard_offer_reports_new_best():
    board = Leaderboard(size=10)

    assert board.offer(entry("a", -2.0, 0)) is True
    assert board.offer(entry("b", -3.0, 1)) is False
    assert board.offer(entry("c", -2.0, 2)) is False
    assert board.offer(entry("d", -1.0, 3)) is True


def test_leaderboard_rows():
    board = Leaderboard(size=10)
    board.offer(entry("a", -2.0, 0))
    board.offer(entry("b", -1.0, 1))

    rows = board.rows(["nmse", "missing"], expression=lambda e: f"f{e.candidate}")

    assert list(rows[0]) == ["rank", "score", "nmse", "missing", "hash", "candidate", "expression"]
    assert rows[0]["rank"] == 1
    assert rows[0]["score"] == -1.0
    assert rows[0]["nmse"] == 1.0
    assert math.isnan(rows[0]["missing"])
    assert rows[0]["hash"] == "b"
    assert rows[0]["expression"] == "f1"
    assert rows[1]["rank"] == 2
    assert rows[1]["hash"] == "a"


def test_leaderboard_keeps_pareto_front():
    # Objectives: error (minimize) and ops (minimize); score = -error.
    board = Leaderboard(size=3, objectives=(("error", True), ("ops", True)))
    points = [("a", 1.0, 9), ("b", 2.0, 5), ("c", 4.0, 2), ("d", 1.5, 9), ("e", 8.0, 1)]
    for candidate, (digest, error, ops) in enumerate(points):
        board.offer(Entry(digest, -error, {"error": error, "ops": ops}, candidate, None))

    # d goes because a dominates it, although it scores above c; then every entry
    # is on the front, so e goes as the lowest score.
    assert sorted(e.hash for e in board.ranked()) == ["a", "b", "c"]


def test_leaderboard_drops_dominated_first():
    board = Leaderboard(size=2, objectives=(("error", True), ("ops", True)))
    board.offer(Entry("a", -1.0, {"error": 1.0, "ops": 9}, 0, None))
    board.offer(Entry("b", -1.2, {"error": 1.2, "ops": 9}, 1, None))
    board.offer(Entry("c", -6.0, {"error": 6.0, "ops": 1}, 2, None))

    assert sorted(e.hash for e in board.ranked()) == ["a", "c"]


def test_leaderboard_invalid_size_raises():
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        Leaderboard(size=0)


# ---------------------------------------------------------------- searches on I.12.1


@pytest.fixture(scope="module")
def problem():
    return create_problem("symbolic-regression", SETTINGS)


def config(**changes) -> SearchConfig:
    values = {
        "budget": BUDGET,
        "seed": 2,
        "population_size": POPULATION,
        "tournament_size": 5,
        "batch_size": BATCH,
    }
    values.update(changes)
    return SearchConfig(**values)


def run_search(problem, **changes) -> Search:
    return Search(problem, config(**changes), LocalEvaluator(problem)).run()


def board_of(search: Search) -> list[tuple[str, float, int]]:
    return [(e.hash, e.score, e.candidate) for e in search.leaderboard.ranked()]


@pytest.fixture(scope="module")
def cached_run(problem):
    return run_search(problem)


@pytest.fixture(scope="module")
def uncached_run(problem):
    return run_search(problem, use_cache=False)


def test_search_spends_budget(cached_run):
    counters = cached_run.counters

    assert counters.candidates == BUDGET
    assert counters.generations == (BUDGET - POPULATION) // BATCH
    assert len(cached_run.selection) == POPULATION


def test_search_counters_add_up(cached_run):
    # Symbolic regression's probe run never raises, so every candidate is either
    # evaluated or takes its fitness from the cache or from an equal child in its batch.
    counters = cached_run.counters

    assert counters.evaluations + counters.cache_hits == counters.candidates
    assert 0 <= counters.failed < counters.candidates
    assert counters.wall_seconds > 0


def test_search_cache_counters_agree(cached_run):
    # Every evaluated program was a cache miss first. Hits within one batch
    # never reach the cache, so the cache counts at most the search's hits.
    stats = cached_run.cache.stats

    assert stats.misses == cached_run.counters.evaluations
    assert stats.hits <= cached_run.counters.cache_hits
    assert len(cached_run.cache) > 0


def test_search_cache_produces_hits(cached_run):
    assert cached_run.counters.cache_hits > 0
    assert cached_run.counters.evaluations < cached_run.counters.candidates


def test_search_stats_match_counters(cached_run):
    stats = cached_run.stats()

    assert stats["candidates"] == BUDGET
    assert stats["evaluations"] == cached_run.counters.evaluations
    assert stats["cache_hits"] == cached_run.counters.cache_hits
    assert stats["hit_rate"] == cached_run.counters.cache_hits / BUDGET
    assert stats["valid_candidates"] == BUDGET - cached_run.counters.failed
    assert sum(stats["failure_reasons"].values()) == cached_run.counters.failed
    assert stats["best_score"] == cached_run.best_score
    assert stats["use_cache"] is True


def test_search_without_cache(uncached_run):
    counters = uncached_run.counters

    assert counters.cache_hits == 0
    assert counters.evaluations == counters.candidates
    assert counters.candidates == BUDGET
    assert len(uncached_run.cache) == 0
    assert uncached_run.cache.stats.hits == 0


def test_leaderboard_hashes_unique(cached_run):
    hashes = [e.hash for e in cached_run.leaderboard.ranked()]

    assert len(hashes) == len(set(hashes))
    assert all(math.isfinite(e.score) for e in cached_run.leaderboard.ranked())


def test_history_scores_increase(cached_run):
    scores = [score for _, score in cached_run.history]
    candidates = [candidate for candidate, _ in cached_run.history]

    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)
    assert candidates == sorted(candidates)
    assert scores[-1] == cached_run.best_score


def test_same_seed_same_leaderboard(problem, cached_run):
    again = run_search(problem)

    assert board_of(again) == board_of(cached_run)
    assert again.counters.evaluations == cached_run.counters.evaluations
    assert again.counters.cache_hits == cached_run.counters.cache_hits


def test_different_seed_differs(problem, cached_run):
    other = run_search(problem, seed=3)

    assert board_of(other) != board_of(cached_run)


def test_checkpoint_resume_matches_uninterrupted(problem, cached_run):
    # Stop at a generation boundary, so that the resumed run proposes the same batches.
    half = POPULATION + 2 * BATCH
    first = run_search(problem, budget=half)
    spec = ProblemSpec("symbolic-regression", SETTINGS)
    state = msgpack.unpackb(msgpack.packb(search_state(first, spec)))

    resumed = Search(problem, config(), LocalEvaluator(problem))
    restore_search(resumed, state)
    assert resumed.counters.candidates == half
    resumed.run()

    assert board_of(resumed) == board_of(cached_run)
    assert resumed.counters.candidates == cached_run.counters.candidates
    assert resumed.counters.evaluations == cached_run.counters.evaluations
    assert resumed.counters.cache_hits == cached_run.counters.cache_hits
    assert resumed.history == cached_run.history


def test_checkpoint_state_round_trip(problem, cached_run):
    spec = ProblemSpec("symbolic-regression", SETTINGS)
    state = msgpack.unpackb(msgpack.packb(search_state(cached_run, spec)))

    restored = Search(problem, config(), LocalEvaluator(problem))
    restore_search(restored, state)

    assert board_of(restored) == board_of(cached_run)
    assert [m.hash for m in restored.selection.population] == [m.hash for m in cached_run.selection.population]
    # Failed records hold NaN, which is unequal to itself, so compare the bytes.
    assert msgpack.packb(restored.cache.to_dict()) == msgpack.packb(cached_run.cache.to_dict())
    assert restored.rng.bit_generator.state == cached_run.rng.bit_generator.state


def test_search_recovers_i_12_1(problem):
    search = run_search(problem, budget=800, seed=1)
    best = search.leaderboard.best()
    expression = best.program.pruned().to_sympy(problem.variable_names)

    assert best.values["nmse"] < 1e-12
    assert is_symbolic_solution(expression, problem.equation.expression())


# ---------------------------------------------------------------- probe failures


class ProductProblem(OpProblem):
    """Fit a * b on [1, 2]^2, with a probe run that raises for any program using ``sin``.

    Evaluation never fails (a non-finite error scores -1e300), so the search's
    ``failed`` counter counts exactly the candidates whose probe run raised.
    """

    name = "test-product"
    description = "a * b with a probe run that raises on sin"
    columns = ("mse",)

    def __init__(self, settings=None):
        super().__init__(settings)
        self.variable_names = ("a", "b")
        self.op_names = ("const", "add", "mul", "sin")
        self.max_length = 8
        self.probe_inputs = make_probe_inputs([1.0, 1.0], [2.0, 2.0])
        self.inputs = np.random.default_rng(0).uniform(1.0, 2.0, size=(40, 2))
        self.targets = self.inputs[:, 0] * self.inputs[:, 1]
        self.evaluated: list[Program] = []

    def probe_outputs(self, program: Program) -> np.ndarray:
        if any(ins.op == "sin" for ins in program.pruned().instructions):
            raise RuntimeError("sin is not allowed in probe runs")
        return super().probe_outputs(program)

    def evaluate(self, programs):
        evaluations = []
        for program in programs:
            self.evaluated.append(program)
            mse = float(np.mean((program.evaluate(self.inputs) - self.targets) ** 2))
            if not math.isfinite(mse):
                mse = 1e300
            evaluations.append(Evaluation(-mse, {"mse": mse}))
        return evaluations


def uses_sin(program: Program) -> bool:
    return any(ins.op == "sin" for ins in program.pruned().instructions)


@pytest.fixture(scope="module")
def product_run():
    problem = ProductProblem()
    search = Search(problem, config(budget=600, seed=3, batch_size=25), LocalEvaluator(problem)).run()
    return problem, search


def test_probe_exception_fails_candidate(product_run):
    problem, search = product_run
    failed = [m for m in search.selection.population if m.evaluation.failed]

    assert search.counters.failed > 0
    assert all(uses_sin(m.program) for m in failed)
    assert all("probe run failed: RuntimeError: sin is not allowed" in m.evaluation.failure for m in failed)


def test_probe_failure_never_evaluated(product_run):
    problem, search = product_run

    assert problem.evaluated
    assert not any(uses_sin(p) for p in problem.evaluated)


def test_probe_failure_counters_add_up(product_run):
    problem, search = product_run
    counters = search.counters

    assert counters.candidates == 600
    assert counters.evaluations + counters.cache_hits + counters.failed == counters.candidates
    assert counters.evaluations == len(problem.evaluated)


def test_probe_failure_not_on_leaderboard(product_run):
    problem, search = product_run
    ranked = search.leaderboard.ranked()

    assert ranked
    assert not any(uses_sin(e.program) for e in ranked)
    assert all(math.isfinite(e.score) for e in ranked)


def test_product_search_finds_product(product_run):
    problem, search = product_run

    assert search.leaderboard.best().values["mse"] < 1e-20


def test_budget_below_population_size():
    problem = ProductProblem()

    search = Search(problem, config(budget=20, population_size=50), LocalEvaluator(problem)).run()

    assert search.counters.candidates <= 20
