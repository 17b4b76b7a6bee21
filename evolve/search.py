"""The search loop: ask, hash, look up, evaluate the misses in a batch, tell.

One generation:

1. select ``batch_size`` parents by tournament and mutate each into a child;
2. structural pre-check: a child whose normalized text was seen before reuses
   that text's functional hash without running the probes;
3. functional hash on the problem's probe inputs (re-mutating, a few times at
   most, a child whose hash equals its parent's);
4. functional equivalence cache lookup; children with equal hashes in one batch
   are evaluated once;
5. the misses go to the evaluator as one batch (Ray actors in a real run);
6. every child joins the population, the best ones the leaderboard.

All random choices come from one generator seeded by ``SearchConfig.seed`` and
drawn in a fixed order, so a local run is reproducible, resumes included.
"""

import collections
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evolve.config import SearchConfig
from evolve.leaderboard import Entry, Leaderboard
from evolve.problem import Evaluation, Problem
from evolve.selection import Individual, make_selection
from hashing import FunctionalEquivalenceCache, hash_outputs

logger = logging.getLogger(__name__)

# Probe runs are cheap, but not free: remember this many normalized texts.
STRUCTURAL_MEMORY = 100_000


class Evaluator(Protocol):
    """Scores batches of programs; ``cluster.RayEvaluatorPool`` is the distributed one."""

    def evaluate(self, programs: Sequence[Any]) -> list[Evaluation]: ...

    def close(self) -> None: ...


class LocalEvaluator:
    """Evaluates in this process; for tests, notebooks and debugging."""

    def __init__(self, problem: Problem):
        self.problem = problem

    def evaluate(self, programs: Sequence[Any]) -> list[Evaluation]:
        return self.problem.evaluate(list(programs)) if programs else []

    def close(self) -> None:
        pass


# stats.json counts failures by kind. Kinds beyond this many count as OTHER_FAILURES.
MAX_FAILURE_KINDS = 20
OTHER_FAILURES = "other"
REPEATED_FAILURE = "a failed program again (cache hit)"


def failure_kind(reason: str) -> str:
    """Return the kind of a failure: its reason without the final free-text part.

    ``"raised ValueError: bad shape"`` is of kind ``"raised ValueError"``, and
    ``"invalid construction: circles 3 and 5 overlap by 1e-12"`` of kind
    ``"invalid construction"``. A cache hit on a failed program has no reason
    of its own and counts as `REPEATED_FAILURE`.
    """
    parts = reason.strip().split(": ")
    if not parts[0]:
        return REPEATED_FAILURE
    kind = ": ".join(parts[:-1]) if len(parts) > 1 else parts[0]
    return kind[:100]


@dataclasses.dataclass
class Counters:
    """Counts of a run's work so far, from which ``stats.json`` is made.

    Attributes:
        candidates: programs proposed (seeds and children, cache hits included).
        evaluations: programs sent to the evaluator.
        cache_hits: candidates whose fitness was reused (cache or same batch).
        structural_hits: candidates whose hash was reused without a probe run.
        failed: candidates whose score is not finite.
        failure_reasons: failed candidates per kind of reason (see `failure_kind`).
        generations: batches done.
        wall_seconds: time spent searching, over all sessions of the run.
    """

    candidates: int = 0
    evaluations: int = 0
    cache_hits: int = 0
    structural_hits: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    generations: int = 0
    wall_seconds: float = 0.0

    def count_failure(self, reason: str) -> None:
        """Count one failed candidate under the kind of ``reason``."""
        self.failed += 1
        kind = failure_kind(reason)
        if kind not in self.failure_reasons and len(self.failure_reasons) >= MAX_FAILURE_KINDS:
            kind = OTHER_FAILURES
        self.failure_reasons[kind] = self.failure_reasons.get(kind, 0) + 1


@dataclasses.dataclass
class _Child:
    program: Any
    hash: str
    failure: str = ""


class Search:
    """One run of evolutionary search on one problem.

    Args:
        problem: the problem plugin instance.
        config: search settings.
        evaluator: scores batches of programs.
        mutator: proposes children; defaults to the problem's random edits.
        on_generation: called after each generation with the search, e.g. to
            update a progress bar.
    """

    def __init__(
        self,
        problem: Problem,
        config: SearchConfig,
        evaluator: Evaluator,
        mutator=None,
        on_generation: Callable[["Search"], None] | None = None,
    ):
        self.problem = problem
        self.config = config
        self.evaluator = evaluator
        self.mutator = mutator or problem.random_mutator()
        self.on_generation = on_generation
        self.rng = np.random.default_rng(config.seed)
        self.selection = make_selection(
            problem, config.population_size, config.tournament_size, config.islands, config.migration_interval
        )
        self.cache = FunctionalEquivalenceCache(
            config.cache_size, config.cache_average_first, config.cache_forget_after_hits
        )
        self.leaderboard = Leaderboard(config.leaderboard_size, problem.objectives)
        self.counters = Counters()
        self.history: list[tuple[int, float]] = []
        self.interrupted = False
        self.stop_requested = False
        self._structural: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._session_start = time.monotonic()
        self._wall_at_start = 0.0

    # Running.

    def run(self, checkpoint: Callable[["Search"], None] | None = None) -> "Search":
        """Search until the budget or time limit is spent, or until Ctrl-C.

        Args:
            checkpoint: called every ``checkpoint_seconds`` and once at the end
                (also after Ctrl-C) to write the run's files.

        Returns:
            self, with ``interrupted`` set if Ctrl-C stopped it.
        """
        self._session_start = time.monotonic()
        self._wall_at_start = self.counters.wall_seconds
        last_checkpoint = time.monotonic()
        logger.info("search started: problem %s, seed %d", self.problem.name, self.config.seed)
        try:
            if not self.selection.population:
                self._seed_population()
            while not self._done():
                self.step()
                if checkpoint and time.monotonic() - last_checkpoint >= self.config.checkpoint_seconds:
                    self._update_wall()
                    checkpoint(self)
                    last_checkpoint = time.monotonic()
        except KeyboardInterrupt:
            self.interrupted = True
            logger.warning("interrupted at candidate %d; writing the leaderboard and checkpoint", self.counters.candidates)
        finally:
            self._update_wall()
            if checkpoint:
                checkpoint(self)
        logger.info(
            "search finished: %d candidates, %d evaluations, %d cache hits, best score %s",
            self.counters.candidates,
            self.counters.evaluations,
            self.counters.cache_hits,
            self.best_score,
        )
        return self

    def step(self) -> None:
        """Run one generation: propose a batch of children, evaluate the misses, tell."""
        count = self.config.batch_size
        if self.config.budget is not None:
            count = min(count, self.config.budget - self.counters.candidates)
        children = []
        for _ in range(count):
            parent = self.selection.select_parent(self.rng)
            children.append(self._propose(parent))
        self._evaluate_and_tell(children)
        self.counters.generations += 1
        if self.on_generation:
            self.on_generation(self)

    def request_stop(self) -> None:
        """Ask the search to stop after the current generation, as after Ctrl-C.

        Safe to call from a signal handler: it only sets a flag that the loop
        reads between generations.
        """
        self.stop_requested = True

    def _done(self) -> bool:
        if self.stop_requested:
            self.interrupted = True
            logger.warning("stop requested at candidate %d; writing the leaderboard and checkpoint", self.counters.candidates)
            return True
        if self.config.budget is not None and self.counters.candidates >= self.config.budget:
            return True
        if self.config.time_limit is not None:
            return time.monotonic() - self._session_start >= self.config.time_limit
        return False

    def _update_wall(self) -> None:
        self.counters.wall_seconds = self._wall_at_start + time.monotonic() - self._session_start

    def _seed_population(self) -> None:
        count = self.config.population_size
        if self.config.budget is not None:
            count = min(count, self.config.budget)
        programs = self.problem.seed_programs(self.rng, count)
        self._evaluate_and_tell([self._child(p) for p in programs])
        logger.info("seeded the population with %d programs", len(programs))

    # Proposing and hashing.

    def _propose(self, parent: Individual) -> _Child:
        child = self._child(self.mutator.mutate(parent.program, self.rng))
        for _ in range(self.config.distinct_hash_retries):
            if child.hash != parent.hash:
                break
            child = self._child(self.mutator.mutate(parent.program, self.rng))
        return child

    def _child(self, program) -> _Child:
        key = self.problem.structural_key(program)
        if key is not None and key in self._structural:
            self._structural.move_to_end(key)
            self.counters.structural_hits += 1
            return _Child(program, self._structural[key])

        try:
            outputs = self.problem.probe_outputs(program)
            digest = hash_outputs(outputs, self.config.mantissa_bits)
            failure = ""
        except Exception as error:  # a candidate's own bug must not stop the search
            logger.debug("probe run failed: %s", error)
            failure = f"probe run failed: {type(error).__name__}: {error}"
            digest = "failed-probe"

        if key is not None and not failure:
            self._structural[key] = digest
            if len(self._structural) > STRUCTURAL_MEMORY:
                self._structural.popitem(last=False)
        return _Child(program, digest, failure)

    # Evaluating and telling.

    def _evaluate_and_tell(self, children: Sequence[_Child]) -> None:
        results: list[Evaluation | None] = [None] * len(children)
        pending: dict[Any, list[int]] = {}
        for i, child in enumerate(children):
            results[i] = self._reuse(child, i, pending)

        to_evaluate = [children[indices[0]].program for indices in pending.values()]
        evaluations = self.evaluator.evaluate(to_evaluate) if to_evaluate else []
        self.counters.evaluations += len(to_evaluate)
        for (_, indices), evaluation in zip(pending.items(), evaluations):
            first = children[indices[0]]
            evaluated_hash = self._evaluated_hash(first, evaluation)
            if self.config.use_cache:
                self._store(first.hash, evaluated_hash, evaluation)
            for i in indices:
                results[i] = evaluation
                children[i].hash = evaluated_hash

        for child, evaluation in zip(children, results):
            self._tell(child, evaluation)
        self.selection.end_generation()

    def _store(self, child_hash: str, evaluated_hash: str, evaluation: Evaluation) -> None:
        """Cache the fitness under the child's hash and, if fitting changed it, the fitted program's."""
        fitness = evaluation.fitness(self.problem.columns)
        payload = None
        if evaluation.program is not None:
            payload = {"program": self.problem.program_to_dict(evaluation.program), "hash": evaluated_hash}
        self.cache.store(child_hash, fitness, payload)
        if evaluated_hash != child_hash:
            self.cache.store(evaluated_hash, fitness, payload)

    def _evaluated_hash(self, child: _Child, evaluation: Evaluation) -> str:
        """Return the hash of the program as evaluated (fitted constants may change it).

        Population, leaderboard and cache then know the fitted program by its own
        function, so two children that fit to the same formula share one entry.
        """
        if evaluation.program is None or evaluation.failed:
            return child.hash
        return self._child(evaluation.program).hash

    def _reuse(self, child: _Child, index: int, pending: dict[Any, list[int]]) -> Evaluation | None:
        """Return the known fitness of ``child``, or None after queueing it for evaluation."""
        if child.failure:
            return Evaluation.failure_of(child.failure, self.problem.columns)
        if not self.config.use_cache:
            pending[index] = [index]
            return None
        if child.hash in pending:
            pending[child.hash].append(index)
            self.counters.cache_hits += 1
            return None
        record = self.cache.lookup(child.hash)
        if record is not None:
            self.counters.cache_hits += 1
            return self._from_record(child, record)
        pending[child.hash] = [index]
        return None

    def _from_record(self, child: _Child, record) -> Evaluation:
        """Rebuild an evaluation from a cache record, with the program as it was evaluated.

        The cached fitness belongs to the evaluated program (fitted constants
        included), so the child takes that program and its hash; otherwise the
        population and leaderboard would pair that fitness with the unfitted child.
        """
        evaluation = Evaluation.from_fitness(record.fitness, self.problem.columns)
        if record.payload is None:
            return evaluation
        child.hash = record.payload["hash"]
        program = self.problem.program_from_dict(record.payload["program"])
        return dataclasses.replace(evaluation, program=program)

    def _tell(self, child: _Child, evaluation: Evaluation) -> None:
        candidate = self.counters.candidates
        self.counters.candidates += 1
        program = evaluation.program if evaluation.program is not None else child.program
        if evaluation.failed:
            self.counters.count_failure(evaluation.failure)
        self.selection.add(Individual(program, child.hash, evaluation, candidate))

        entry = Entry(child.hash, evaluation.score, dict(evaluation.values), candidate, program)
        if self.leaderboard.offer(entry):
            self.history.append((candidate, evaluation.score))
            logger.info(
                "new best score %.6g at candidate %d: %s",
                evaluation.score,
                candidate,
                self.problem.expression(program),
            )

    # Reporting.

    @property
    def best_score(self) -> float:
        best = self.leaderboard.best()
        return best.score if best else -math.inf

    def stats(self) -> dict:
        """Return the contents of ``stats.json``."""
        c = self.counters
        valid = c.candidates - c.failed
        return {
            "problem": self.problem.name,
            "candidates": c.candidates,
            "evaluations": c.evaluations,
            "cache_hits": c.cache_hits,
            "evaluations_saved": c.cache_hits,
            "hit_rate": c.cache_hits / c.candidates if c.candidates else 0.0,
            "structural_hits": c.structural_hits,
            "failed": c.failed,
            "failure_reasons": dict(sorted(c.failure_reasons.items(), key=lambda item: -item[1])),
            "valid_candidates": valid,
            "generations": c.generations,
            "best_score": self.best_score,
            "wall_seconds": round(c.wall_seconds, 3),
            "candidates_per_second": c.candidates / c.wall_seconds if c.wall_seconds else 0.0,
            "cache_size": len(self.cache),
            "use_cache": self.config.use_cache,
            "interrupted": self.interrupted,
        }
