"""exp-float32: discover float32 approximations of exp from scratch, checked exactly.

Real, Chen, Rossini, de Souza, Garg, Verghese, Firsching, Le, Cubuk and Park,
"AutoNumerics-Zero: Automated Discovery of State-of-the-Art Mathematical
Functions" (arXiv:2312.08472, 2023) showed that evolution from empty programs
finds approximations of transcendental functions that beat classical ones at a
fixed precision. It needs no mathematics beyond the basic ops. This
problem does it for exp on [-ln2/2, ln2/2] in float32 (the rest of the range is
the reduction ``exp(x) = 2**k exp(r)``, exported with the kernel).

Candidates are op programs over ``x`` with add, sub, mul, div, fma and float32
constants, evaluated in the float32 semantics of ``problems.autonumerics.float32``.
Two objectives drive NSGA-II: the maximum error in float32 ULPs on the fitness
sample (``sample.py``), after the constants are tuned (``tuning.py``), and the
cost, the ops that depend on ``x``. ``evolve verify`` checks a program on every
float32 of the range and records the result in ``verification.json``. The
leaderboard's ``verified`` column is 1 only for a program whose exact ops and
constants passed that check: finite on every input, and its exported kernel
identical bit for bit. ``verified_max_ulp`` is then its maximum error over all
inputs; ``max_ulp`` is always the fitness sample's.

The scalar score ranks the leaderboard and never contradicts Pareto dominance:
programs below ``target_ulp`` come first, by ops, then by error
(``-(ops + max_ulp / target_ulp)``); the others follow, by error on a log scale,
then by ops (``-(1e6 + log2(max_ulp / target_ulp) + ops / 1000)``).
"""

import functools
import importlib.util
import logging
import math
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from evolve.errors import UserInputError
from evolve.mutation import DEFAULT_EDIT_WEIGHTS
from evolve.op_problem import OpProblem
from evolve.problem import Evaluation, Reference, Setting, Verification, positive_int
from evolve.program import Program
from problems.autonumerics import baselines, execute, export, front, records, sample, structure, tuning, verify
from problems.autonumerics.mutation import KernelMutator
from problems.autonumerics.ulp import ulp_error

logger = logging.getLogger(__name__)

DEFAULT_OPS = "add,sub,mul,div,fma"
OVER_TARGET_OFFSET = 1e6
PROBE_COUNT = 16


def _ops(value) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in str(value).split(",") if n.strip()))
    unknown = [n for n in names if n not in structure.ARITHMETIC_OPS]
    if unknown or not names:
        raise ValueError(f"expected a comma-separated subset of {','.join(structure.ARITHMETIC_OPS)}, got {value!r}")
    return names


def _weights(value) -> dict[str, float]:
    weights = {}
    for item in str(value).split(","):
        if not item.strip():
            continue
        op, separator, number = item.partition("=")
        op = op.strip()
        if not separator or op not in structure.ARITHMETIC_OPS:
            raise ValueError(f"expected OP=WEIGHT pairs such as div=2,fma=1 with OP in {','.join(structure.ARITHMETIC_OPS)}, got {item!r}")
        weight = float(number)
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of {op} must be a number of at least 0, got {number!r}")
        weights[op] = weight
    return weights


def _positive_float(value) -> float:
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError("expected a positive number")
    return number


def _non_negative_int(value) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected an integer of at least 0")
    return number


def score_of(max_ulp: float, ops: float, target_ulp: float) -> float:
    """Return the leaderboard score: higher is better, and a dominated program never scores higher."""
    if not math.isfinite(max_ulp):
        return -math.inf
    if max_ulp < target_ulp:
        return -(ops + max_ulp / target_ulp)
    return -(OVER_TARGET_OFFSET + math.log2(max_ulp / target_ulp) + ops / 1000)


class ExpFloat32(OpProblem):
    """Approximate exp(x) in float32 on [-ln2/2, ln2/2] with as few ops as possible."""

    name = "exp-float32"
    description = "Discover float32 exp(x) kernels on [-ln2/2, ln2/2]: max error in ULPs against op count"
    columns = ("max_ulp", "ops", "mean_ulp", "verified", "verified_max_ulp")
    selection = "nsga2"
    objectives = (("max_ulp", True), ("ops", True))
    export_formats = ("python", "json")
    settings_spec = {
        "ops": Setting(_ops(DEFAULT_OPS), _ops, f"comma-separated ops programs may use; a subset of {DEFAULT_OPS}"),
        "op_weights": Setting({}, _weights, "cost of each op in the ops column, e.g. div=2 (default 1 each)"),
        "target_ulp": Setting(1.0, _positive_float, "error in ULPs below which programs rank by ops"),
        "max_length": Setting(20, positive_int, "most instructions (constants included) in a program"),
        "sample_end_points": Setting(2048, positive_int, "float32 numbers taken exhaustively at each end of the range"),
        "sample_per_binade": Setting(32, positive_int, "random float32 numbers per binade and sign in the sample"),
        "sample_uniform": Setting(16384, positive_int, "sample points drawn uniformly in value"),
        "sample_seed": Setting(0, int, "seed of the fitness sample"),
        "tuning_nodes": Setting(256, positive_int, "Chebyshev nodes for real-arithmetic constant tuning"),
        "cma_generations": Setting(60, _non_negative_int, "CMA-ES generations per candidate (0 skips CMA-ES)"),
        "lp_steps": Setting(12, _non_negative_int, "minimax linear-programming steps per candidate"),
        "polish_rounds": Setting(3, _non_negative_int, "float32 coordinate-search rounds on the constants"),
        "polish_below": Setting(4.0, _positive_float, "polish only candidates below this many ULPs"),
        "verify_chunk": Setting(1 << 22, positive_int, "float32 inputs per chunk of the exhaustive check"),
    }

    def __init__(self, settings=None):
        super().__init__(settings)
        self.variable_names = ("x",)
        self.op_names = ("const", *self.settings["ops"])
        self.max_length = self.settings["max_length"]
        self.initial_length = 4
        self.weights = dict(self.settings["op_weights"])
        low, high = sample.range_bounds()
        self.probe_inputs = np.linspace(float(low), float(high), PROBE_COUNT).astype(np.float32)[:, None]
        self.points = sample.fitness_sample(
            self.settings["sample_end_points"],
            self.settings["sample_per_binade"],
            self.settings["sample_uniform"],
            self.settings["sample_seed"],
        )
        self.tuning_settings = tuning.TuningSettings(
            cma_generations=self.settings["cma_generations"],
            lp_steps=self.settings["lp_steps"],
            polish_rounds=self.settings["polish_rounds"],
            polish_below=self.settings["polish_below"],
        )

    # Tools built on first use: a driver that only hashes never compiles them.

    @functools.cached_property
    def _objective(self) -> tuning.RealObjective:
        return tuning.RealObjective(sample.tuning_nodes(self.settings["tuning_nodes"]))

    @functools.cached_property
    def _scorer(self) -> tuning.Float32Scorer:
        return tuning.Float32Scorer(self.points)

    # Search.

    def random_mutator(self) -> KernelMutator:
        # Evaluation re-tunes every constant, so a perturbed constant is wasted work.
        weights = dict(DEFAULT_EDIT_WEIGHTS, perturb_constant=0.0)
        return KernelMutator(self.op_names, 1, max_length=self.max_length, edit_weights=weights)

    def probe_outputs(self, program: Program) -> np.ndarray:
        return execute.run_numpy(structure.fold_constants(program), self.probe_inputs[:, 0])

    def structural_key(self, program: Program) -> str:
        """Return the folded program's listing with constants blanked out.

        Evaluation re-tunes the constants, so the structure decides the result.
        NOTE: tuning starts from the program's own constants, so two programs of
        one structure could tune to different optima; the cache keeps the first.
        """
        return structure.structural_key(program)

    def evaluate(self, programs: Sequence[Program]) -> list[Evaluation]:
        evaluations = []
        for program in programs:
            try:
                evaluations.append(self._evaluate_one(program))
            except (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError) as error:
                # Bad programs fail without raising; an exception here is a bug, so it is logged.
                logger.warning("evaluation raised %s on program:\n%s", error, program.listing(), exc_info=True)
                evaluations.append(Evaluation.failure_of(f"{type(error).__name__}: {error}", self.columns))
        return evaluations

    def _evaluate_one(self, program: Program) -> Evaluation:
        folded = structure.fold_constants(program)
        if not folded.instructions:
            return Evaluation.failure_of("the program is empty", self.columns)
        seed = zlib.crc32(structure.structural_key(folded).encode()) ^ self.settings["sample_seed"]
        rng = np.random.default_rng(seed)

        constants, _ = tuning.tune_real(folded, self._objective, self.tuning_settings, rng)
        rounds = self.tuning_settings.polish_rounds
        # Zero rounds only rounds the constants to float32 and scores them.
        constants, errors = tuning.polish(folded, constants, self._scorer, 0)
        if rounds and np.max(errors) < self.tuning_settings.polish_below:
            constants, errors = tuning.polish(folded, constants, self._scorer, rounds)

        tuned = folded.with_constants(constants)
        max_ulp = float(np.max(errors))
        if not math.isfinite(max_ulp):
            return Evaluation.failure_of("output is not finite on the fitness sample", self.columns)
        return self._evaluation(tuned, max_ulp, float(np.mean(errors)))

    def _evaluation(self, program: Program, max_ulp: float, mean_ulp: float) -> Evaluation:
        ops = structure.cost(program, self.weights)
        values = {"max_ulp": max_ulp, "ops": ops, "mean_ulp": mean_ulp, "verified": 0.0, "verified_max_ulp": math.nan}
        return Evaluation(score_of(max_ulp, ops, self.settings["target_ulp"]), values, program=program)

    # Reporting, verification and export.

    def expression(self, program: Program) -> str:
        return super().expression(structure.fold_constants(program))

    def program_text(self, program: Program) -> str:
        folded = structure.fold_constants(program)
        return (
            "# float32 semantics: round to nearest even, fma rounds once, subnormals flush to zero\n"
            f"# ops: {structure.cost(folded, self.weights):g}\n"
            f"{folded.listing(self.variable_names)}\n"
        )

    def verify(self, program: Program) -> Verification:
        """Check the program on every float32 in [-ln2/2, ln2/2], and its exported kernel against it."""
        folded = structure.fold_constants(program)
        ops = structure.cost(folded, self.weights)
        with _exported_module(folded, ops) as module:
            result = verify.exhaustive(
                execute.straight_line(folded), compare=module.approx, chunk_points=self.settings["verify_chunk"]
            )
        details = {
            "verified_max_ulp": result.max_ulp,
            "worst_input": result.worst_input,
            "worst_output": result.worst_output,
            "points": result.points,
            "non_finite": result.non_finite,
            "export_mismatches": result.mismatches,
            "seconds": round(result.seconds, 1),
            "ops": ops,
        }
        where = f"max {result.max_ulp:.4f} ULP at x={result.worst_input!r} over {result.points:,} float32 inputs"
        if result.non_finite:
            return Verification(False, -math.inf, f"{where}; {result.non_finite:,} outputs are not finite", details)
        if result.mismatches:
            return Verification(
                False, -math.inf,
                f"{where}; the exported kernel differs on {result.mismatches:,} inputs, so it is not the program verified",
                details,
            )
        score = score_of(result.max_ulp, ops, self.settings["target_ulp"])
        return Verification(True, score, f"{where} in {result.seconds:.0f} s; exported kernel identical", details)

    def record_verification(self, run_dir: Path, program: Program, verification: Verification) -> None:
        if "verified_max_ulp" not in verification.details:
            return
        record = {"ok": bool(verification.ok), "message": verification.message, **dict(verification.details)}
        records.store(run_dir, structure.fold_constants(program), record)

    def verified_values(self, run_dir: Path, program: Program) -> Mapping[str, float]:
        record = records.lookup(run_dir, structure.fold_constants(program))
        if record is None or not record.get("ok"):
            return {}
        return {"verified": 1.0, "verified_max_ulp": float(record["verified_max_ulp"])}

    def references(self) -> list[Reference]:
        """Return the classical baselines with their errors on this problem's fitness sample."""
        references = []
        for baseline, values in self._baseline_values.items():
            score = score_of(values["max_ulp"], values["ops"], self.settings["target_ulp"]) if math.isfinite(values["ops"]) else math.nan
            references.append(Reference(baseline, score, values["source"], {k: values[k] for k in self.columns if k in values}))
        return references

    @functools.cached_property
    def _baseline_values(self) -> dict[str, dict]:
        true = np.exp(self.points.astype(np.float64))
        table = {}
        for baseline in baselines.all_baselines():
            if baseline.program is not None:
                outputs = execute.run_numpy(baseline.program, self.points)
                ops = structure.cost(baseline.program, self.weights)
            else:
                outputs = baseline.function(self.points)
                ops = math.nan
            errors = ulp_error(np, outputs, true)
            known = baselines.EXHAUSTIVE_MAX_ULP.get(baseline.name)
            table[baseline.name] = {
                "source": baseline.source,
                "max_ulp": float(np.max(errors)),
                "ops": ops,
                "mean_ulp": float(np.mean(errors)),
                "verified": 1.0 if known is not None else 0.0,
                "verified_max_ulp": known if known is not None else math.nan,
            }
        return table

    def export(self, program: Program, fmt: str) -> str:
        folded = structure.fold_constants(program)
        ops = structure.cost(folded, self.weights)
        if fmt == "json":
            return export.json_document(folded, {"ops": ops})
        if fmt == "python":
            return export.python_module(folded, self._accuracy_line(folded), ops)
        raise UserInputError(f"problem {self.name!r} cannot export as {fmt!r}; use one of {', '.join(self.export_formats)}.")

    def _accuracy_line(self, program: Program) -> str:
        errors = self._scorer.errors(program, program.constants()[None])[0]
        return (
            f"max {np.max(errors):.4f} ULP on the {len(self.points):,}-point fitness sample\n"
            "(verification.json of the run has the exhaustive check)."
        )

    def write_artifacts(self, run_dir: Path, best_program) -> None:
        """Write front.csv and front.png: the leaderboard's Pareto front beside the baselines."""
        front.write_front(Path(run_dir), self._baseline_values, self.settings["target_ulp"])


class _exported_module:
    """Context manager: import the exported module of a program from a temporary file."""

    def __init__(self, program: Program, ops: float):
        self.source = export.python_module(program, "being verified", ops)

    def __enter__(self):
        self.folder = tempfile.TemporaryDirectory(prefix="evolve-exp-")
        path = Path(self.folder.name) / "exported_exp.py"
        path.write_text(self.source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"exported_exp_{id(self)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def __exit__(self, *exc_info):
        self.folder.cleanup()
        return False
