"""The Problem protocol: everything the engine knows about a problem plugin.

A plugin subclasses ``Problem`` (or ``evolve.op_problem.OpProblem`` for op
programs), fills in the class attributes and the abstract methods, and registers
the class in the ``evolve.problems`` entry-point group. The engine never looks at
a problem any other way.

A problem instance is rebuilt from its name and settings inside every Ray
evaluator, so ``__init__`` must be deterministic for given settings.
"""

import abc
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from evolve.errors import UserInputError, did_you_mean


@dataclasses.dataclass(frozen=True)
class Setting:
    """A ``--set KEY=VALUE`` option of a problem.

    Attributes:
        default: value when the user gives none; None means not set.
        parse: turns the text of ``--set`` (or a TOML value) into the value; raise
            ValueError with a message saying what is accepted.
        help: one line for ``evolve problems``.
        path: whether the value names a file or folder. ``evolve run`` stores
            such a value as an absolute path, so that ``verify``, ``export`` and
            ``--resume`` find it from any working directory.
    """

    default: Any
    parse: Callable[[Any], Any]
    help: str
    path: bool = False


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The fitness of one program.

    Attributes:
        score: higher is better; ``-inf`` for a failed program.
        values: the problem's own objective columns, keyed by ``Problem.columns``.
        program: the program as evaluated, if evaluation changed it (fitted
            constants); None otherwise.
        failure: why the program failed, '' if it did not.
    """

    score: float
    values: Mapping[str, float] = dataclasses.field(default_factory=dict)
    program: Any = None
    failure: str = ""

    @property
    def failed(self) -> bool:
        return not math.isfinite(self.score)

    def fitness(self, columns: Sequence[str]) -> tuple[float, ...]:
        """Return the flat tuple stored in the functional equivalence cache."""
        return (float(self.score), *(float(self.values.get(c, math.nan)) for c in columns))

    @classmethod
    def from_fitness(cls, fitness: Sequence[float], columns: Sequence[str]) -> "Evaluation":
        return cls(fitness[0], dict(zip(columns, fitness[1:])))

    @classmethod
    def failure_of(cls, reason: str, columns: Sequence[str] = ()) -> "Evaluation":
        """Return the evaluation of a failed program."""
        return cls(-math.inf, {c: math.nan for c in columns}, failure=reason)


@dataclasses.dataclass(frozen=True)
class Verification:
    """The strict verifier's verdict on one program.

    Attributes:
        ok: whether the program passed.
        score: the score recomputed by the verifier; ``-inf`` if it did not pass.
        message: what was checked, or why it failed.
        details: extra values for reports (e.g. ``max_ulp``, ``test_r2``).
    """

    ok: bool
    score: float
    message: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Reference:
    """A best-known or baseline result to show beside evolved programs.

    Attributes:
        name: short name, e.g. ``cephes-horner``.
        score: its score, as the problem would score it.
        source: where it comes from.
        values: its objective columns, where known; a reference with values
            gets a row (rank ``ref``) at the end of ``leaderboard.csv``.
    """

    name: str
    score: float
    source: str
    values: Mapping[str, float] = dataclasses.field(default_factory=dict)


class Mutator(Protocol):
    """Proposes a child from a parent; random edits and LLM mutators implement it."""

    def mutate(self, parent: Any, rng: np.random.Generator) -> Any: ...


class Problem(abc.ABC):
    """Base class of every problem plugin.

    Subclasses set the class attributes and implement the abstract methods.

    Attributes:
        name: the name users type, e.g. ``symbolic-regression``.
        description: one line for ``evolve problems``.
        columns: the objective columns of ``Evaluation.values``, in leaderboard order.
        settings_spec: the accepted ``--set`` keys.
        program_suffix: file suffix of the program files in ``programs/``.
        selection: ``regularized`` (single objective, by score) or ``nsga2``
            (several objectives, see ``objectives``).
        objectives: for ``nsga2``, pairs of (column, minimize) from ``columns``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    columns: ClassVar[tuple[str, ...]] = ()
    settings_spec: ClassVar[Mapping[str, Setting]] = {}
    program_suffix: ClassVar[str] = ".txt"
    selection: ClassVar[str] = "regularized"
    objectives: ClassVar[tuple[tuple[str, bool], ...]] = ()

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.raw_settings = dict(settings or {})
        self.settings = parse_settings(self.name, self.settings_spec, self.raw_settings)

    # What every plugin implements.

    @abc.abstractmethod
    def seed_programs(self, rng: np.random.Generator, count: int) -> list:
        """Return ``count`` programs to start the population from."""

    @abc.abstractmethod
    def random_mutator(self) -> Mutator:
        """Return the mutator of random edits for this problem's programs."""

    @abc.abstractmethod
    def probe_outputs(self, program) -> Any:
        """Run ``program`` on the fixed probe inputs; the result is functionally hashed.

        Must be cheap next to ``evaluate`` and deterministic. Return numbers,
        arrays, or lists and dicts of them.
        """

    @abc.abstractmethod
    def evaluate(self, programs: Sequence) -> list[Evaluation]:
        """Score a batch of programs; never raise for a bad program, fail it instead."""

    @abc.abstractmethod
    def expression(self, program) -> str:
        """Return the readable form shown in the leaderboard's ``expression`` column."""

    @abc.abstractmethod
    def program_to_dict(self, program) -> dict:
        """Serialize a program to msgpack-friendly data (for checkpoints and Ray)."""

    @abc.abstractmethod
    def program_from_dict(self, data: Mapping) -> Any:
        """Inverse of ``program_to_dict``."""

    # Optional hooks, with working defaults.

    def structural_key(self, program) -> str | None:
        """Return a normalized text of the program for the free pre-check, or None to skip it."""
        return None

    def program_text(self, program) -> str:
        """Return the full text written to ``programs/`` in the run directory."""
        return self.expression(program)

    def verify(self, program) -> Verification:
        """Re-check a program strictly, recomputing its score from scratch."""
        evaluation = self.evaluate([program])[0]
        if evaluation.failed:
            return Verification(False, -math.inf, evaluation.failure or "evaluation failed")
        return Verification(True, evaluation.score, "re-evaluated", dict(evaluation.values))

    def record_verification(self, run_dir: Path, program, verification: Verification) -> None:
        """Store a verdict of ``verify`` in the run directory; ``evolve verify`` calls it.

        The default stores nothing. A problem that stores verdicts reports them
        through ``verified_values``.
        """

    def verified_values(self, run_dir: Path, program) -> Mapping[str, float]:
        """Return leaderboard values that a stored verdict sets for ``program``, e.g. ``verified``.

        They replace the program's evaluated values in ``leaderboard.csv``. The
        default returns none.
        """
        return {}

    def references(self) -> list[Reference]:
        """Return best-known or baseline results for the leaderboard and plots."""
        return []

    def export(self, program, fmt: str) -> str:
        """Return a standalone form of the program in format ``fmt``."""
        raise UserInputError(f"problem {self.name!r} cannot export programs as {fmt!r}.")

    export_formats: ClassVar[tuple[str, ...]] = ()

    def write_artifacts(self, run_dir: Path, best_program) -> None:
        """Write extra files for the best program (e.g. ``best_construction.json``)."""


def parse_settings(problem: str, spec: Mapping[str, Setting], raw: Mapping[str, Any]) -> dict:
    """Parse and validate ``--set`` values against a problem's settings.

    Raises:
        UserInputError: for an unknown key or a value its parser rejects.
    """
    for key in raw:
        if key not in spec:
            known = ", ".join(sorted(spec)) or "none"
            raise UserInputError(
                f"unknown setting {key!r} for problem {problem!r}.{did_you_mean(key, spec)} "
                f"Known settings: {known}."
            )
    values = {}
    for key, setting in spec.items():
        if key not in raw:
            values[key] = setting.default
            continue
        try:
            values[key] = setting.parse(raw[key])
        except (TypeError, ValueError) as error:
            raise UserInputError(
                f"invalid value {raw[key]!r} for setting {key!r} of problem {problem!r}: {error}"
            ) from error
    return values


def parse_bool(value: Any) -> bool:
    """Parse a ``--set`` boolean: true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def positive_int(value: Any) -> int:
    """Parse a ``--set`` integer that must be at least 1."""
    number = int(value)
    if number < 1:
        raise ValueError("expected an integer of at least 1")
    return number
