"""A base class for problems whose candidates are Python-source programs.

Every run of a candidate happens in `evolve.sandbox`, in its own process forked
from a server that has imported the problem's ``preload_modules``:

* the probe run calls the entry function once per probe call (small instances,
  fixed seeds, a tiny time budget) in one sandbox process, and the outputs are
  functionally hashed;
* the full run calls the entry function once with the problem's arguments, and
  the subclass scores what it returned.

A failed run (timeout, crash, memory, garbage output) becomes a failed
`Evaluation` with the sandbox's reason, never an exception, so the search goes on.
"""

import abc
import concurrent.futures
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from evolve.ast_mutation import AstMutator
from evolve.errors import UserInputError
from evolve.problem import Evaluation, Problem, Setting, positive_int
from evolve.python_program import PythonProgram, summarize
from evolve.sandbox import SandboxLimits, run_in_sandbox

logger = logging.getLogger(__name__)

# Name of the function appended to a program for its probe run.
PROBE_ENTRY = "_evolve_probe_calls"


class ProbeRunError(RuntimeError):
    """A probe run of a candidate failed in the sandbox."""


def non_negative_int(value: Any) -> int:
    """Parse a ``--set`` integer that must be at least 0."""
    number = int(value)
    if number < 0:
        raise ValueError("expected an integer of at least 0")
    return number


def positive_float(value: Any) -> float:
    """Parse a ``--set`` number that must be finite and above 0."""
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError("expected a positive number")
    return number


def non_negative_float(value: Any) -> float:
    """Parse a ``--set`` number that must be finite and at least 0."""
    number = float(value)
    if not (np.isfinite(number) and number >= 0):
        raise ValueError("expected a number of at least 0")
    return number


# Settings every Python-source problem accepts; subclasses merge them into settings_spec.
PYTHON_SETTINGS: Mapping[str, Setting] = {
    "time_budget": Setting(2.0, positive_float, "seconds each full run of a program may spend"),
    "probe_time_budget": Setting(0.0, non_negative_float, "seconds each probe call may spend (0: one step)"),
    "timeout_grace": Setting(5.0, positive_float, "seconds a run may overrun its time budget before it is killed"),
    "memory_mb": Setting(2048, positive_int, "address-space limit of each sandboxed run, in MiB"),
    "parallel_runs": Setting(0, non_negative_int, "sandboxes one evaluator runs at once (0: its CPUs)"),
}


class PythonProblem(Problem):
    """Problem over `PythonProgram` candidates: sandboxed runs, probes, AST edits.

    A subclass sets the class attributes, merges `PYTHON_SETTINGS` into its
    ``settings_spec`` and implements the abstract methods.

    Attributes:
        entry: the function of the program that the sandbox calls.
        preload_modules: modules the sandbox's fork server imports before forking
            each run, so that programs do not pay for importing them.
        function_groups: groups of dotted function names with the same signature
            that the AST mutator may swap.
    """

    program_suffix = ".py"
    entry: ClassVar[str]
    preload_modules: ClassVar[tuple[str, ...]] = ("numpy",)
    function_groups: ClassVar[tuple[tuple[str, ...], ...]] = ()

    # What subclasses implement.

    @abc.abstractmethod
    def seed_source(self) -> str:
        """Return the source of the program the population starts from."""

    @abc.abstractmethod
    def probe_calls(self) -> list[dict]:
        """Return the keyword arguments of each probe call of the entry function."""

    @abc.abstractmethod
    def run_arguments(self, program: PythonProgram) -> dict:
        """Return the keyword arguments of the full run of ``program``."""

    @abc.abstractmethod
    def score(self, program: PythonProgram, value: Any) -> Evaluation:
        """Check and score what a full run returned; return a failed `Evaluation` for bad output.

        An exception raised here also fails the program, with its message as the reason.
        """

    # The Problem protocol.

    def seed_programs(self, rng: np.random.Generator, count: int) -> list[PythonProgram]:
        # Copies of one seed hash equally, so the search evaluates the seed once.
        seed = PythonProgram(self.seed_source())
        return [seed] * count

    def random_mutator(self) -> AstMutator:
        return AstMutator(function_groups=self.function_groups)

    def probe_outputs(self, program: PythonProgram) -> list:
        """Run every probe call in one sandbox process and return the list of outputs.

        Raises:
            ProbeRunError: if the run fails; the search then fails the candidate.
        """
        source = program.source
        if not source.endswith("\n"):
            source += "\n"
        source += (
            f"\n\ndef {PROBE_ENTRY}(calls):\n"
            f"    return [{self.entry}(**call) for call in calls]\n"
        )
        result = run_in_sandbox(
            source, PROBE_ENTRY, {"calls": self.probe_calls()}, self.probe_limits(), self.preload_modules
        )
        if not result.ok:
            raise ProbeRunError(result.reason)
        return result.value

    def evaluate(self, programs: Sequence[PythonProgram]) -> list[Evaluation]:
        """Run each program in its own sandbox, up to ``parallel_runs`` at once, and score it."""
        workers = min(self.parallel_runs(), len(programs))
        if workers <= 1:
            return [self._evaluate_one(program) for program in programs]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(self._evaluate_one, programs))

    def structural_key(self, program: PythonProgram) -> str | None:
        try:
            return program.normalized_source()
        except SyntaxError:
            return None  # the probe run reports the syntax error

    def expression(self, program: PythonProgram) -> str:
        return summarize(program)

    def program_text(self, program: PythonProgram) -> str:
        return program.source

    export_formats = ("python",)

    def export(self, program: PythonProgram, fmt: str) -> str:
        if fmt != "python":
            raise UserInputError(f"problem {self.name!r} cannot export programs as {fmt!r}; use python or json.")
        return program.source

    def program_to_dict(self, program: PythonProgram) -> dict:
        return program.to_dict()

    def program_from_dict(self, data: Mapping[str, Any]) -> PythonProgram:
        return PythonProgram.from_dict(data)

    # Limits and parallelism.

    def run_limits(self) -> SandboxLimits:
        timeout = self.settings["time_budget"] + self.settings["timeout_grace"]
        return SandboxLimits(timeout_s=timeout, memory_mb=self.settings["memory_mb"], landlock=True)

    def probe_limits(self) -> SandboxLimits:
        calls = len(self.probe_calls())
        timeout = calls * self.settings["probe_time_budget"] + self.settings["timeout_grace"]
        return SandboxLimits(timeout_s=timeout, memory_mb=self.settings["memory_mb"], landlock=True)

    def parallel_runs(self) -> int:
        return self.settings["parallel_runs"] or available_cpus()

    # Private.

    def _evaluate_one(self, program: PythonProgram) -> Evaluation:
        try:
            arguments = self.run_arguments(program)
        except (TypeError, ValueError) as error:
            # A warm start from an older run or a hand-edited checkpoint can be malformed.
            return Evaluation.failure_of(f"invalid run arguments: {error}", self.columns)
        result = run_in_sandbox(program.source, self.entry, arguments, self.run_limits(), self.preload_modules)
        if not result.ok:
            logger.debug("run failed: %s", result.reason)
            return Evaluation.failure_of(f"run failed: {result.reason}", self.columns)
        try:
            return self.score(program, result.value)
        except Exception as error:  # a checker bug must fail one program, not the search
            logger.warning("scoring a program's output raised %s: %s", type(error).__name__, error, exc_info=True)
            return Evaluation.failure_of(f"scoring raised {type(error).__name__}: {error}", self.columns)


def available_cpus() -> int:
    """Return the CPUs this process may use: the Ray actor's share inside Ray, else its affinity."""
    # Only ask Ray when this process already uses it; importing Ray costs seconds.
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        assigned = ray.get_runtime_context().get_assigned_resources()
        if assigned.get("CPU"):
            return max(1, int(assigned["CPU"]))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
