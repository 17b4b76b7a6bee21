"""Evaluator actors: each holds one problem instance and scores batches of programs.

Programs cross process boundaries as the problem's msgpack-friendly dicts, so a
plugin's program class needs no pickling support, and the problem is rebuilt in
each actor from its name and settings (``evolve.registry.ProblemSpec``).
"""

import logging
from collections.abc import Sequence
from typing import Any

import ray

from evolve.problem import Evaluation
from evolve.registry import ProblemSpec

logger = logging.getLogger(__name__)


@ray.remote
class EvaluatorActor:
    """A Ray actor that evaluates batches for one problem."""

    def __init__(self, spec: ProblemSpec):
        self.problem = spec.create()

    def evaluate(self, program_dicts: Sequence[dict]) -> list[tuple]:
        programs = [self.problem.program_from_dict(d) for d in program_dicts]
        return [_encode(self.problem, e) for e in self.problem.evaluate(programs)]


def _encode(problem, evaluation: Evaluation) -> tuple:
    program = None if evaluation.program is None else problem.program_to_dict(evaluation.program)
    return (evaluation.score, dict(evaluation.values), program, evaluation.failure)


def _decode(problem, row: tuple) -> Evaluation:
    score, values, program, failure = row
    program = None if program is None else problem.program_from_dict(program)
    return Evaluation(score, values, program, failure)


class RayEvaluatorPool:
    """Splits each batch over a few evaluator actors and gathers the results in order.

    An actor that dies (a worker crash, a lost node) is replaced and its share of
    the batch is retried once; if it fails again, those programs are scored as
    failed and the search goes on.

    Args:
        spec: how to rebuild the problem inside each actor.
        problem: the driver's instance of the same problem, to decode programs.
        num_actors: evaluator actors to start.
        actor_options: extra ``.options()`` for each actor, e.g. ``{"num_gpus": 1}``.
    """

    def __init__(self, spec: ProblemSpec, problem, num_actors: int = 2, actor_options: dict | None = None):
        if num_actors < 1:
            raise ValueError(f"num_actors must be at least 1, got {num_actors}.")
        self.spec = spec
        self.problem = problem
        self.actor_options = {"num_cpus": 1, **(actor_options or {})}
        self.actors = [self._start_actor() for _ in range(num_actors)]
        logger.info("started %d evaluator actors for %s", num_actors, spec.name)

    def _start_actor(self):
        return EvaluatorActor.options(**self.actor_options).remote(self.spec)

    def evaluate(self, programs: Sequence[Any]) -> list[Evaluation]:
        """Score ``programs`` on the actors; results come back in input order."""
        if not programs:
            return []
        dicts = [self.problem.program_to_dict(p) for p in programs]
        chunks = _split(dicts, len(self.actors))
        futures = [actor.evaluate.remote(chunk) for actor, chunk in zip(self.actors, chunks)]
        results: list[Evaluation] = []
        for index, (future, chunk) in enumerate(zip(futures, chunks)):
            results.extend(self._gather(index, future, chunk))
        return results

    def _gather(self, index: int, future, chunk: list[dict]) -> list[Evaluation]:
        try:
            rows = ray.get(future)
        except ray.exceptions.RayActorError as error:
            logger.warning("evaluator actor %d died (%s); restarting it and retrying its batch", index, error)
            self.actors[index] = self._start_actor()
            try:
                rows = ray.get(self.actors[index].evaluate.remote(chunk))
            except ray.exceptions.RayError as retry_error:
                logger.warning("retry on evaluator actor %d failed: %s", index, retry_error)
                reason = f"evaluator failed twice: {type(retry_error).__name__}"
                return [Evaluation.failure_of(reason, self.problem.columns) for _ in chunk]
        return [_decode(self.problem, row) for row in rows]

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def _split(items: list, parts: int) -> list[list]:
    """Split into at most ``parts`` contiguous chunks of nearly equal size."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks
