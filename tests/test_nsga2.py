"""Tests of NSGA-II selection: fronts, crowding, truncation and failed members."""

import math

import numpy as np
import pytest

from evolve.nsga2 import NSGA2, crowding_distance, non_dominated_fronts, survivors
from evolve.problem import Evaluation
from evolve.selection import Individual

OBJECTIVES = (("error", True), ("ops", True))


def member(candidate: int, error: float, ops: float, failed: bool = False) -> Individual:
    score = -math.inf if failed else -(error + ops)
    evaluation = Evaluation(score, {"error": error, "ops": ops})
    return Individual(program=None, hash=f"h{candidate}", evaluation=evaluation, candidate=candidate)


def filled(points, population_size=100) -> NSGA2:
    selection = NSGA2(population_size, OBJECTIVES)
    for i, (error, ops) in enumerate(points):
        selection.add(member(i, error, ops))
    selection.end_generation()
    return selection


def test_fronts_on_hand_made_points():
    # Front 0: (1, 5), (2, 3), (4, 1). Front 1: (3, 4), (5, 2). Front 2: (6, 6).
    points = np.array([[1, 5], [2, 3], [4, 1], [3, 4], [5, 2], [6, 6]], dtype=float)
    fronts = [sorted(front.tolist()) for front in non_dominated_fronts(points)]
    assert fronts == [[0, 1, 2], [3, 4], [5]]


def test_equal_points_share_a_front():
    points = np.array([[1, 1], [1, 1], [2, 2]], dtype=float)
    fronts = [sorted(front.tolist()) for front in non_dominated_fronts(points)]
    assert fronts == [[0, 1], [2]]


def test_ranks_of_population():
    selection = filled([(1, 5), (2, 3), (4, 1), (3, 4), (5, 2), (6, 6)])
    assert selection.ranks().tolist() == [0, 0, 0, 1, 1, 2]


def test_maximized_objective_is_flipped():
    selection = NSGA2(10, (("accuracy", False), ("ops", True)))
    for i, (accuracy, ops) in enumerate([(0.9, 3), (0.8, 3), (0.95, 5)]):
        evaluation = Evaluation(accuracy, {"accuracy": accuracy, "ops": ops})
        selection.add(Individual(None, f"h{i}", evaluation, i))
    selection.end_generation()
    assert selection.ranks().tolist() == [0, 1, 0]


def test_crowding_keeps_extremes():
    front = np.array([[0, 10], [1, 9], [2, 8], [3, 7], [10, 0]], dtype=float)
    distance = crowding_distance(front)
    assert math.isinf(distance[0])
    assert math.isinf(distance[4])
    assert np.all(np.isfinite(distance[1:4]))
    # The lone point near (10, 0) sits in the widest gap of the interior points.
    assert distance[3] > distance[1]


def test_truncation_keeps_front_extremes():
    # One front of 7 points on a line; cutting to 3 keeps both ends.
    points = [(i, 6 - i) for i in range(7)]
    selection = NSGA2(3, OBJECTIVES)
    for i, (error, ops) in enumerate(points):
        selection.add(member(i, error, ops))
    selection.end_generation()
    kept = sorted((m.evaluation.values["error"], m.evaluation.values["ops"]) for m in selection.population)
    assert len(kept) == 3
    assert (0, 6) in kept
    assert (6, 0) in kept


def test_truncation_size_and_whole_fronts_first():
    selection = NSGA2(4, OBJECTIVES)
    for i, (error, ops) in enumerate([(1, 5), (2, 3), (4, 1), (3, 4), (5, 2), (6, 6), (7, 7)]):
        selection.add(member(i, error, ops))
    assert len(selection) == 7
    selection.end_generation()
    assert len(selection) == 4
    assert selection.full
    kept = {m.candidate for m in selection.population}
    assert {0, 1, 2} <= kept
    assert kept & {3, 4}
    assert not kept & {5, 6}


def test_failed_members_rank_last_and_leave_first():
    selection = NSGA2(3, OBJECTIVES)
    selection.add(member(0, 1e9, 1e9))
    selection.add(member(1, 0.0, 0.0, failed=True))
    selection.add(member(2, 5, 5))
    selection.add(member(3, 4, 6))
    ranks = dict(zip((m.candidate for m in selection.population), selection.ranks()))
    assert ranks[1] == max(ranks.values())
    selection.end_generation()
    assert 1 not in {m.candidate for m in selection.population}


def test_nan_objective_counts_as_failed():
    values = np.array([[1.0, np.nan], [5.0, 5.0]])
    fronts = non_dominated_fronts(values)
    assert fronts[0].tolist() == [1]
    assert fronts[-1].tolist() == [0]


def test_copies_leave_before_unique_members():
    selection = NSGA2(3, OBJECTIVES)
    selection.add(member(0, 1, 1))
    for candidate in (1, 2):
        copy = member(candidate, 1, 1)
        copy.hash = "h0"
        selection.add(copy)
    selection.add(member(3, 5, 5))
    selection.add(member(4, 6, 6))
    selection.end_generation()
    kept = sorted(m.candidate for m in selection.population)
    assert kept == [0, 3, 4]


def test_survivors_prefer_younger_on_ties():
    # Equally spaced points: both ends are kept, and the interior ones tie on crowding.
    values = np.array([[0, 4], [1, 3], [2, 2], [3, 1], [4, 0]], dtype=float)
    ages = np.array([0, 10, 30, 20, 5])
    assert survivors(values, ages, 3) == [0, 2, 4]


def test_tournament_prefers_lower_rank():
    selection = filled([(1, 1), (5, 5)])
    rng = np.random.default_rng(0)
    winners = {selection.select_parent(rng).candidate for _ in range(20)}
    assert winners == {0}


def test_tournament_prefers_less_crowded_on_equal_rank():
    # Three points of one front: the middle one has the smallest crowding distance.
    selection = filled([(0, 4), (1, 3), (4, 0)])
    rng = np.random.default_rng(1)
    picks = [selection.select_parent(rng).candidate for _ in range(200)]
    assert picks.count(1) < picks.count(0)
    assert picks.count(1) < picks.count(2)


def test_best_is_highest_score():
    selection = filled([(1, 5), (2, 3), (4, 0)])
    assert selection.best().candidate == 2
    assert NSGA2(2, OBJECTIVES).best() is None


def test_empty_population_cannot_select():
    with pytest.raises(RuntimeError):
        NSGA2(2, OBJECTIVES).select_parent(np.random.default_rng(0))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="population_size"):
        NSGA2(1, OBJECTIVES)
    with pytest.raises(ValueError, match="objective"):
        NSGA2(10, ())
