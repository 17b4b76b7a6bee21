"""Converting a search to checkpoint data and back (msgpack-friendly, no pickle)."""

import dataclasses
import json
from typing import Any

from evolve.islands import IslandModel
from evolve.leaderboard import Entry
from evolve.problem import Evaluation
from evolve.registry import ProblemSpec
from evolve.search import Counters, Search
from evolve.selection import Individual


def search_state(search: Search, spec: ProblemSpec) -> dict[str, Any]:
    """Return everything needed to continue ``search`` exactly where it is."""
    problem = search.problem
    columns = problem.columns
    return {
        "problem": spec.name,
        "settings": dict(spec.settings),
        "search_paths": list(spec.search_paths),
        "config": search.config.to_dict(),
        # JSON keeps the 128-bit integers of PCG64's state, which msgpack cannot.
        "rng": json.dumps(search.rng.bit_generator.state),
        "counters": dataclasses.asdict(search.counters),
        "history": [list(h) for h in search.history],
        "population": [
            [
                problem.program_to_dict(m.program),
                m.hash,
                list(m.evaluation.fitness(columns)),
                m.evaluation.failure,
                m.candidate,
                m.island,
            ]
            for m in search.selection.population
        ],
        "leaderboard": [
            [e.hash, e.score, dict(e.values), e.candidate, problem.program_to_dict(e.program)]
            for e in search.leaderboard.ranked()
        ],
        "cache": search.cache.to_dict(),
        "structural": [[k, h] for k, h in search._structural.items()],
    }


def restore_search(search: Search, state: dict[str, Any]) -> None:
    """Load checkpoint ``state`` into a freshly built ``search`` of the same problem."""
    problem = search.problem
    columns = problem.columns
    search.rng.bit_generator.state = json.loads(state["rng"])
    search.counters = Counters(**state["counters"])
    search.history = [(int(c), float(s)) for c, s in state["history"]]
    for program, digest, fitness, failure, candidate, island in state["population"]:
        evaluation = dataclasses.replace(Evaluation.from_fitness(fitness, columns), failure=failure)
        program = problem.program_from_dict(program)
        search.selection.add(Individual(program, digest, evaluation, candidate, island))
    if isinstance(search.selection, IslandModel):
        # Seeding ended one generation before the first step, so migrations
        # resume on the same schedule as an uninterrupted run.
        search.selection.generation = search.counters.generations + 1
    for digest, score, values, candidate, program in state["leaderboard"]:
        search.leaderboard.offer(Entry(digest, score, dict(values), candidate, problem.program_from_dict(program)))
    search.cache = type(search.cache).from_dict(state["cache"])
    search._structural.update((k, h) for k, h in state["structural"])

