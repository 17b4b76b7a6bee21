"""The shared base of the AlphaEvolve construction problems.

A candidate is a Python module whose ``construct(..., seed, time_budget, start)``
function returns a mathematical object as a dict of arrays. The verifier of each
problem checks that object strictly and computes its objective value itself,
never trusting a number the program reports.

Search mode: a candidate receives, as ``start``, the construction its parent's
run returned (None for the seed program), and the evaluated program carries its
own construction on as a warm start. So a lineage keeps improving one object,
and the evolved code is a search heuristic, as in the "search mode" of
Georgiev, Gómez-Serrano, Tao and Wagner, "Mathematical exploration and discovery
at scale" (2025), where each program gets the best construction so far and a
time budget.
"""

import abc
import hashlib
import importlib.resources
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from evolve import rundir
from evolve.problem import Evaluation, Reference, Setting, Verification
from evolve.python_problem import PYTHON_SETTINGS, PythonProblem, positive_float
from evolve.python_program import PythonProgram, summarize
from problems.alphaevolve.checks import ConstructionError

logger = logging.getLogger(__name__)

ARTIFACT = "best_construction.json"

# numpy functions with the same signature, which random edits may swap.
NUMPY_FUNCTION_GROUPS = (
    ("np.min", "np.max", "np.mean", "np.median"),
    ("np.minimum", "np.maximum"),
    ("np.argmin", "np.argmax"),
    ("np.sqrt", "np.abs", "np.square", "np.exp", "np.log1p", "np.tanh"),
    ("np.floor", "np.ceil", "np.round"),
    ("rng.random", "rng.standard_normal"),
)

# Settings of every construction problem. Five seconds per run keep the search's
# fixed costs per candidate (a probe run of about 0.1 to 0.3 s, the fork, hashing)
# to a few percent.
CONSTRUCTION_SETTINGS = {
    **PYTHON_SETTINGS,
    "time_budget": Setting(5.0, positive_float, "seconds each full run of a program may spend"),
}

# Seeds of the probe calls; fixed, so that a program's probe outputs are reproducible.
PROBE_SEEDS = (1, 2, 3, 4)


class ConstructionProblem(PythonProblem):
    """A construction problem: seed program, strict verifier, references, artifact.

    Subclasses set the class attributes and implement the abstract methods.

    Attributes:
        objective: name of the verified value, the first leaderboard column.
        minimize: whether a smaller objective value is better.
        seed_file: file name of the seed program under ``seeds/``.
        conditions: the verifier's rules in one paragraph, copied into
            ``best_construction.json`` so that anyone can re-check the object.
    """

    entry = "construct"
    preload_modules = ("numpy", "scipy.optimize")
    function_groups = NUMPY_FUNCTION_GROUPS
    objective: ClassVar[str]
    minimize: ClassVar[bool]
    seed_file: ClassVar[str]
    conditions: ClassVar[str]

    # What subclasses implement.

    @abc.abstractmethod
    def instance_arguments(self) -> dict:
        """Return the keyword arguments that define the instance, e.g. ``{"n": 26}``."""

    @abc.abstractmethod
    def probe_instances(self) -> list[dict]:
        """Return small instances for probe runs, each with a ``start`` (None or a construction)."""

    @abc.abstractmethod
    def check(self, construction: Any) -> tuple[float, dict]:
        """Verify a construction and compute its objective value.

        Returns:
            (value, construction as plain lists, as it was verified).

        Raises:
            ConstructionError: for any malformed input or violated constraint.
        """

    @abc.abstractmethod
    def known_results(self) -> list[Reference]:
        """Return the published results for the current instance (may be empty)."""

    # Scoring. A verifier's ArithmeticError (an overflow it did not foresee)
    # rejects the construction like a ConstructionError.

    def score(self, program: PythonProgram, value: Any) -> Evaluation:
        try:
            objective, construction = self.check(value)
        except (ConstructionError, ArithmeticError) as error:
            return Evaluation.failure_of(f"invalid construction: {error}", self.columns)
        return Evaluation(
            score=-objective if self.minimize else objective,
            values=self._values(objective),
            program=program.with_warm_start(construction),
        )

    def _values(self, objective: float) -> dict[str, float]:
        best = self.best_known()
        ratio = objective / best if math.isfinite(best) and best != 0 else math.nan
        return {self.objective: objective, "best_known": best, "ratio_to_best_known": ratio}

    def best_known(self) -> float:
        """Return the best published value for this instance, or NaN if none is known."""
        values = [reference.score for reference in self.known_results()]
        if not values:
            return math.nan
        return min(values) if self.minimize else max(values)

    def references(self) -> list[Reference]:
        # Reference.score is on the engine's scale, where higher is better.
        sign = -1.0 if self.minimize else 1.0
        return [Reference(r.name, sign * r.score, r.source) for r in self.known_results()]

    def verify(self, program: PythonProgram) -> Verification:
        """Re-check the construction the program carries, outside the sandbox."""
        try:
            objective, _ = self.check(program.warm_start)
        except (ConstructionError, ArithmeticError) as error:
            return Verification(False, -math.inf, f"invalid construction: {error}")
        score = -objective if self.minimize else objective
        values = self._values(objective)
        message = f"valid; {self.objective} = {objective:.12g}"
        if math.isfinite(values["best_known"]):
            message += f", {values['ratio_to_best_known']:.6f} of the best known {values['best_known']:.12g}"
        return Verification(True, score, message, values)

    def verify_file(self, path: Path) -> Verification:
        """Re-check the construction in a ``best_construction.json`` file.

        The file's stated ``value`` must equal the value recomputed from its
        construction, so an edited number cannot pass.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            return Verification(False, -math.inf, f"expected a JSON object, got {type(data).__name__}")
        verification = self.verify(PythonProgram("", data.get("construction")))
        stated = data.get("value")
        if verification.ok and stated != verification.details[self.objective]:
            message = f"the file states {self.objective} = {stated!r}, but its construction gives {verification.details[self.objective]!r}"
            return Verification(False, -math.inf, message, verification.details)
        return verification

    # Program runs.

    def seed_source(self) -> str:
        return importlib.resources.files(__package__).joinpath("seeds", self.seed_file).read_text(encoding="utf-8")

    def run_arguments(self, program: PythonProgram) -> dict:
        return {
            **self.instance_arguments(),
            "seed": _program_seed(program),
            "time_budget": self.settings["time_budget"],
            "start": _as_arrays(program.warm_start),
        }

    def probe_calls(self) -> list[dict]:
        calls = []
        for instance, seed in zip(self.probe_instances(), PROBE_SEEDS):
            call = {**instance, "seed": seed, "time_budget": self.settings["probe_time_budget"]}
            call["start"] = _as_arrays(call.get("start"))
            calls.append(call)
        return calls

    # Reporting.

    def expression(self, program: PythonProgram) -> str:
        try:
            objective, _ = self.check(program.warm_start)
        except (ConstructionError, ArithmeticError):
            return summarize(program)
        return f"{self.objective} {objective:.12g}"

    def write_artifacts(self, run_dir: Path, best_program: PythonProgram) -> None:
        """Write ``best_construction.json``: the verified object in plain JSON, with its rules."""
        try:
            objective, construction = self.check(best_program.warm_start)
        except (ConstructionError, ArithmeticError) as error:
            logger.warning("best program carries no valid construction (%s); %s not written", error, ARTIFACT)
            return
        values = self._values(objective)
        data = {
            "problem": self.name,
            "instance": self.instance_arguments(),
            "objective": self.objective,
            "minimize": self.minimize,
            "value": objective,
            "best_known": values["best_known"] if math.isfinite(values["best_known"]) else None,
            "ratio_to_best_known": values["ratio_to_best_known"] if math.isfinite(values["ratio_to_best_known"]) else None,
            "settings": {key: value for key, value in self.settings.items() if value is None or isinstance(value, (bool, int, float, str))},
            "references": [{"name": r.name, "value": r.score, "source": r.source} for r in self.known_results()],
            "conditions": self.conditions,
            "construction": construction,
        }
        rundir.write_atomic(Path(run_dir) / ARTIFACT, json.dumps(data, indent=1, allow_nan=False) + "\n")


def _program_seed(program: PythonProgram) -> int:
    """Return a seed derived from the program's normalized source and its warm start.

    Different candidates then draw different random numbers, and the same
    candidate always draws the same ones.
    """
    try:
        text = program.normalized_source()
    except SyntaxError:
        text = program.source
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8)
    digest.update(json.dumps(program.warm_start).encode("utf-8"))
    return int.from_bytes(digest.digest(), "big") % (2**31)


def _as_arrays(construction: Any) -> Any:
    """Convert a construction's lists to float64 arrays for the sandbox; None stays None."""
    if construction is None:
        return None
    if not isinstance(construction, Mapping):
        raise TypeError(f"a warm start must be a dict of arrays, got {type(construction).__name__}")
    return {key: np.asarray(value, dtype=np.float64) for key, value in construction.items()}
