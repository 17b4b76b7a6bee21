"""Tuning the constants of an exp program: CMA-ES, then minimax steps, then float32 bits.

Three stages, each cheap next to the one before it in the search's budget:

1. CMA-ES (``problems.autonumerics.cma``) in real arithmetic explores the
   constants from the program's inherited values. Its objective is the L16 norm
   of the error in float32 ULPs on Chebyshev nodes: smooth, unlike the maximum,
   so the ranking CMA-ES relies on stays informative, yet close to the maximum.
2. Sequential linear programming refines the best point to the minimax optimum
   on the nodes. Each step linearizes the error (central differences, one
   batched call) and solves ``min t`` subject to ``|error + J d| <= t`` inside a
   trust region with HiGHS. The step is accepted if the true maximum drops. For a polynomial, whose
   error is linear in its coefficients, one step is the discrete minimax
   solution that the Remez algorithm converges to.
3. In float32 semantics, each constant steps by a few float32 ULPs or snaps to a
   short binary value while the maximum error on the hardest fitness points
   drops. Rounding errors are not smooth, so this is a plain coordinate search.

Every batch of candidate constants runs as one call of the jitted JAX
interpreter (``execute.Interpreter``), which compiles per shape bucket, not per
program: a new structure costs no compilation.
"""

import dataclasses
import logging
import math

import numpy as np
from scipy.optimize import linprog

from evolve.program import Program
from problems.autonumerics import cma, execute, float32
from problems.autonumerics.ulp import ulp_error, ulp_of

logger = logging.getLogger(__name__)

# The exponent of the smooth norm that CMA-ES minimizes (stage 1).
NORM_EXPONENT = 16
# Constant steps tried in stage 3, in float32 ULPs of the constant.
ULP_STEPS = (-4, -2, -1, 1, 2, 4)
# Significant bits of the short values a constant may snap to in stage 3.
SNAP_BITS = (1, 2, 3, 4, 6, 8, 12)


@dataclasses.dataclass(frozen=True)
class TuningSettings:
    """Effort limits of the three stages.

    Attributes:
        cma_generations: CMA-ES generations at most (0 skips stage 1).
        cma_population: CMA-ES points per generation.
        lp_steps: linear programming steps at most (0 skips stage 2).
        polish_rounds: coordinate search rounds at most (0 skips stage 3).
        polish_below: run stage 3 only when the float32 maximum error is below
            this many ULPs, where the last bits of the constants can matter.
    """

    cma_generations: int = 120
    cma_population: int = 16
    lp_steps: int = 12
    polish_rounds: int = 3
    polish_below: float = 4.0


class RealObjective:
    """The error in float32 ULPs of a program's real-arithmetic value on fixed nodes."""

    def __init__(self, nodes: np.ndarray):
        self.interpreter = execute.Interpreter(nodes)
        true = np.exp(nodes.astype(np.float64))
        self.true = true
        self.inverse_ulp = 1.0 / ulp_of(np, true)

    def errors(self, program: Program, rows: np.ndarray) -> np.ndarray:
        """Return signed errors in ULPs, shape (rows, nodes); NaN where not finite."""
        outputs = _run_padded(self.interpreter, program, rows, exact=False)
        with np.errstate(invalid="ignore", over="ignore"):
            return (outputs - self.true) * self.inverse_ulp


def tune_real(program: Program, objective: RealObjective, settings: TuningSettings, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Run stages 1 and 2; return the tuned constants and their real maximum error in ULPs."""
    start = _finite_start(program.constants())
    best, best_max = start, _max_error(objective, program, start[None])[0]
    if start.size == 0:
        return best, best_max

    if settings.cma_generations > 0:
        def smooth(points):
            errors = np.abs(objective.errors(program, points))
            with np.errstate(over="ignore", invalid="ignore"):
                peak = np.max(errors, axis=1, keepdims=True)
                norm = peak[:, 0] * np.mean((errors / peak) ** NORM_EXPONENT, axis=1) ** (1 / NORM_EXPONENT)
            return np.where(np.all(np.isfinite(errors), axis=1), norm, np.inf)

        scales = np.maximum(np.abs(start), 1e-2)
        result = cma.minimize(smooth, start, scales, 0.3, rng, settings.cma_population, settings.cma_generations)
        candidate_max = _max_error(objective, program, result.best[None])[0]
        if candidate_max < best_max:
            best, best_max = result.best, candidate_max

    for _ in range(settings.lp_steps):
        step, step_max = _minimax_step(objective, program, best, best_max)
        if step is None:
            break
        improvement = best_max - step_max
        best, best_max = step, step_max
        if improvement < 1e-6 * best_max:
            break
    return best, best_max


def _finite_start(constants: np.ndarray) -> np.ndarray:
    # A folded constant can be inf or NaN (e.g. 1/0); tuning starts such a constant at 1.
    return np.where(np.isfinite(constants), constants, 1.0).astype(np.float64)


def _max_error(objective: RealObjective, program: Program, rows: np.ndarray) -> np.ndarray:
    errors = np.abs(objective.errors(program, rows))
    return np.where(np.all(np.isfinite(errors), axis=1), np.max(errors, axis=1), np.inf)


def _minimax_step(objective: RealObjective, program: Program, point: np.ndarray, current_max: float):
    """Return one accepted linear-programming step and its maximum error, or (None, current)."""
    n = point.size
    steps = 1e-6 * np.maximum(np.abs(point), 1e-3)
    rows = np.concatenate([point[None], point + np.diag(steps), point - np.diag(steps)])
    errors = objective.errors(program, rows)
    if not np.all(np.isfinite(errors)):
        return None, current_max
    residual = errors[0]
    jacobian = ((errors[1 : n + 1] - errors[n + 1 :]) / (2 * steps[:, None])).T
    column_norms = np.max(np.abs(jacobian), axis=0)
    if not np.all(column_norms > 0):
        return None, current_max
    scaled = jacobian / column_norms

    # The monomial-like columns are close to collinear, so a step that lowers
    # the error by a little can still move the constants a lot: start wide.
    radius = 1e4 * current_max
    for _ in range(12):
        # Variables (d, t): minimize t with -t <= residual + scaled d <= t, |d| <= radius.
        cost = np.zeros(n + 1)
        cost[-1] = 1.0
        ones = np.ones((len(residual), 1))
        a_ub = np.vstack([np.hstack([scaled, -ones]), np.hstack([-scaled, -ones])])
        b_ub = np.concatenate([-residual, residual])
        bounds = [(-radius, radius)] * n + [(0, None)]
        solution = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        if solution.status != 0:
            return None, current_max
        candidate = point + solution.x[:n] / column_norms
        candidate_max = _max_error(objective, program, candidate[None])[0]
        if candidate_max < current_max:
            return candidate, candidate_max
        radius /= 8
    return None, current_max


class Float32Scorer:
    """Float32 errors in ULPs of programs on the fitness sample."""

    # Points of the subset that stage 3 scores its trials on.
    SUBSET_POINTS = 1024

    def __init__(self, points: np.ndarray):
        self.points = np.asarray(points, dtype=np.float32)
        self.true = np.exp(self.points.astype(np.float64))
        self._whole = execute.Interpreter(self.points)

    def errors(self, program: Program, rows: np.ndarray) -> np.ndarray:
        """Return the errors, (rows, points), of the program with each row of constants."""
        outputs = _run_padded(self._whole, program, rows)
        return ulp_error(np, outputs, self.true[None, :])

    def subset_errors(self, program: Program, rows: np.ndarray, subset: np.ndarray) -> np.ndarray:
        """Return the errors, (rows, len(subset)), on the points ``subset`` indexes."""
        if len(subset) != self.SUBSET_POINTS:
            raise ValueError(f"subset must have {self.SUBSET_POINTS} points, got {len(subset)}.")
        outputs = _run_padded(execute.Interpreter(self.points[subset]), program, rows)
        return ulp_error(np, outputs, self.true[subset][None, :])


def _run_padded(interpreter: execute.Interpreter, program: Program, rows: np.ndarray, exact: bool = True) -> np.ndarray:
    # Rows are padded to 1 or a power of two, so the interpreter compiles for few shapes.
    count = len(rows)
    padded = 1 if count == 1 else 2 ** math.ceil(math.log2(count))
    rows = np.concatenate([rows, np.repeat(rows[:1], padded - count, axis=0)])
    return interpreter.run(program, rows, exact=exact)[:count]


def polish(program: Program, constants: np.ndarray, scorer: Float32Scorer, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Run stage 3 and return the float32 constants with their errors on the whole sample."""
    constants = float32.round_to_float32(np, constants.astype(np.float64))
    errors = scorer.errors(program, constants[None])[0]
    half = Float32Scorer.SUBSET_POINTS // 2
    for _ in range(rounds):
        trials = _trial_constants(constants)
        if len(trials) == 0:
            break

        # Score trials on the points that limit the maximum, plus a spread of others.
        hard = np.argsort(errors)[-half:]
        spread = np.linspace(0, len(errors) - 1, half).astype(int)
        subset = np.concatenate([hard, spread])
        trial_errors = scorer.subset_errors(program, trials, subset)
        trial_max = np.max(trial_errors, axis=1)
        order = np.lexsort((np.mean(trial_errors, axis=1), trial_max))

        # The best few trials on the subset are checked on the whole sample.
        improved = False
        for index in order[:4]:
            if not trial_max[index] < np.max(errors):
                break
            full = scorer.errors(program, trials[index][None])[0]
            if _better(full, errors):
                constants, errors, improved = trials[index], full, True
                break
        if not improved:
            break
    return constants, errors


def _better(new: np.ndarray, old: np.ndarray) -> bool:
    return (np.max(new), np.mean(new)) < (np.max(old), np.mean(old))


def _trial_constants(constants: np.ndarray) -> np.ndarray:
    """Return rows that change one constant by a few float32 ULPs or snap it to a short value."""
    trials = []
    for i, value in enumerate(constants):
        if not math.isfinite(value):
            continue
        options = {_ulp_step(value, k) for k in ULP_STEPS}
        options |= {_snap(value, bits) for bits in SNAP_BITS}
        options.discard(value)
        for option in options:
            row = constants.copy()
            row[i] = option
            trials.append(row)
    return np.array(trials, dtype=np.float64).reshape(-1, constants.size)


def _ulp_step(value: float, steps: int) -> float:
    result = np.float32(value)
    direction = np.float32(np.inf if steps > 0 else -np.inf)
    for _ in range(abs(steps)):
        result = np.nextafter(result, direction)
    return float32.constant(float(result))


def _snap(value: float, bits: int) -> float:
    if value == 0:
        return 0.0
    mantissa, exponent = math.frexp(value)
    return float32.constant(math.ldexp(round(mantissa * 2**bits) / 2**bits, exponent))
