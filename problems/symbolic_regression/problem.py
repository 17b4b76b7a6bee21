"""Symbolic regression: find a formula that fits data, on AI Feynman equations or a CSV file.

Fitness is the normalized mean squared error (NMSE, the MSE divided by the
target's variance) on the training data after the program's constants are fitted
by Levenberg-Marquardt. Fitted constants close to simple fractions are snapped to
them when the fit stays as good, so exact formulas come out exact.
"""

import json
import logging
import math
from collections.abc import Sequence

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter

from evolve.errors import UserInputError
from evolve.op_problem import OpProblem
from evolve.ops import OP_NAMES, check_op_names
from evolve.problem import Evaluation, Setting, Verification, parse_bool, positive_int
from evolve.program import Program
from hashing import make_probe_inputs
from problems.symbolic_regression import dataset, feynman
from problems.symbolic_regression.equivalence import is_symbolic_solution, simple_fraction
from problems.symbolic_regression.fitting import fit_constants
from problems.symbolic_regression.scaling import with_linear_scaling

logger = logging.getLogger(__name__)

DEFAULT_OPS = "const,add,sub,mul,div,neg,square,sqrt,exp,log,sin,cos"

# NMSE below this is float64 rounding noise: such fits all count as exact, and the
# parsimony term decides among them.
NMSE_FLOOR = 1e-12


def _ops(value) -> tuple[str, ...]:
    names = [n.strip() for n in str(value).split(",") if n.strip()]
    return check_op_names(names)


def _fraction(value) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise ValueError("expected a number between 0 and 1")
    return number


def _non_negative(value) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("expected a number of at least 0")
    return number


class SymbolicRegression(OpProblem):
    """Fit a formula to data: an AI Feynman equation or the columns of a CSV file."""

    name = "symbolic-regression"
    description = "Find a formula that fits data (AI Feynman equations or your CSV), scored by NMSE"
    columns = ("nmse", "complexity", "test_r2")
    settings_spec = {
        "equation": Setting(None, str, "AI Feynman equation to sample data from, e.g. I.6.2a"),
        "data": Setting(None, str, "CSV file with a header row to fit instead of an equation", path=True),
        "target": Setting(None, str, "column of the CSV file to predict"),
        "points": Setting(300, positive_int, "points sampled from the equation (train and test)"),
        "test_fraction": Setting(0.25, _fraction, "fraction of the data held out for test R^2"),
        "data_seed": Setting(0, int, "seed of the sampling and the train/test split"),
        "ops": Setting(_ops(DEFAULT_OPS), _ops, f"comma-separated ops; known: {','.join(OP_NAMES)}"),
        "max_length": Setting(24, positive_int, "most instructions in a program"),
        "parsimony": Setting(1e-5, _non_negative, "score penalty per instruction"),
        "fit_iterations": Setting(25, positive_int, "Levenberg-Marquardt steps per evaluation"),
        "snap_constants": Setting(True, parse_bool, "round fitted constants to simple fractions"),
        "linear_scaling": Setting(True, parse_bool, "fit a * f(x) + b around every program"),
    }

    def __init__(self, settings=None):
        super().__init__(settings)
        self.equation = self._equation()
        data = self._load_data()
        self.train, self.test = data.split(self.settings["test_fraction"], self.settings["data_seed"])
        self.variable_names = data.variable_names
        self.op_names = tuple(self.settings["ops"])
        self.max_length = self.settings["max_length"]
        self.probe_inputs = make_probe_inputs(data.X.min(axis=0), data.X.max(axis=0))
        self._variance = float(np.var(self.train.y)) or 1.0

    def _equation(self) -> feynman.Equation | None:
        equation, data = self.settings["equation"], self.settings["data"]
        if equation and data:
            raise UserInputError(
                "set either equation=NAME or data=FILE.csv, not both "
                f"(got equation={equation!r} and data={data!r})."
            )
        if not equation and not data:
            raise UserInputError(
                "symbolic-regression needs data: add --set equation=I.6.2a for an AI Feynman "
                "equation, or --set data=FILE.csv --set target=COLUMN for your own data."
            )
        return feynman.equation(equation) if equation else None

    def _load_data(self) -> dataset.Dataset:
        if self.equation is not None:
            return dataset.from_equation(self.equation, self.settings["points"], self.settings["data_seed"])
        if not self.settings["target"]:
            raise UserInputError(
                f"data={self.settings['data']!r} needs a target column: add --set target=COLUMN."
            )
        return dataset.load_csv(self.settings["data"], self.settings["target"])

    # Evaluation.

    def evaluate(self, programs: Sequence[Program]) -> list[Evaluation]:
        # Dead instructions cost interpreter steps and nothing else, so fit live code only.
        programs = [p.pruned() for p in programs]
        if self.settings["linear_scaling"]:
            programs = [with_linear_scaling(p) for p in programs]
        fitted, mses = fit_constants(programs, self.train.X, self.train.y, self.settings["fit_iterations"])
        evaluations = []
        for program, mse in zip(fitted, mses):
            if self.settings["snap_constants"] and math.isfinite(mse):
                program, mse = self._snap(program, float(mse))
                program = program.without_identities() if len(program.pruned()) > 0 else program
            evaluations.append(self._score(program, float(mse)))
        return evaluations

    def _snap(self, program: Program, mse: float) -> tuple[Program, float]:
        """Round each constant to a simple fraction where the fit stays as good."""
        constants = program.constants()
        for i, value in enumerate(constants):
            fraction = simple_fraction(float(value), tolerance=1e-4)
            if fraction is None or float(fraction) == value:
                continue
            trial = constants.copy()
            trial[i] = float(fraction)
            candidate = program.with_constants(trial)
            candidate_mse = self._mse(candidate, self.train)
            if candidate_mse <= max(mse * 1.0001, NMSE_FLOOR * self._variance):
                program, mse, constants = candidate, candidate_mse, trial
        return program, mse

    def _mse(self, program: Program, data: dataset.Dataset) -> float:
        prediction = program.evaluate(data.X)
        if not np.all(np.isfinite(prediction)):
            return math.inf
        return float(np.mean((prediction - data.y) ** 2))

    def _score(self, program: Program, mse: float) -> Evaluation:
        if not math.isfinite(mse):
            return Evaluation.failure_of("output is not finite on the training data", self.columns)
        nmse = mse / self._variance
        complexity = len(program.pruned())
        test_mse = self._mse(program, self.test)
        test_r2 = 1.0 - test_mse / (float(np.var(self.test.y)) or 1.0)
        score = -(max(nmse, NMSE_FLOOR) + self.settings["parsimony"] * complexity)
        values = {"nmse": nmse, "complexity": float(complexity), "test_r2": test_r2}
        return Evaluation(score, values, program=program)

    # Reporting and checking.

    def expression(self, program: Program) -> str:
        return str(sympy.sympify(program.pruned().to_sympy(self.variable_names)))

    def verify(self, program: Program) -> Verification:
        """Re-score the program as it is (no fitting) and check it against the ground truth."""
        mse = self._mse(program, self.train)
        if not math.isfinite(mse):
            return Verification(False, -math.inf, "output is not finite on the training data")
        test_mse = self._mse(program, self.test)
        if not math.isfinite(test_mse):
            return Verification(False, -math.inf, "output is not finite on the test data")
        evaluation = self._score(program, mse)
        details = dict(evaluation.values)
        message = f"NMSE {details['nmse']:.3g}, test R^2 {details['test_r2']:.6f}"
        if self.equation is not None:
            positive = [v.name for v in self.equation.variables if v.low > 0]
            candidate = program.pruned().to_sympy(self.variable_names)
            solved = is_symbolic_solution(candidate, self.equation.expression(), positive)
            details["solved"] = solved
            message += f"; {'symbolically equal to' if solved else 'differs from'} {self.equation.formula}"
        return Verification(True, evaluation.score, message, details)

    export_formats = ("python", "sympy", "latex", "json")

    def export(self, program: Program, fmt: str) -> str:
        pruned = program.pruned()
        expression = pruned.to_sympy(self.variable_names)
        if fmt == "sympy":
            return f"{sympy.srepr(expression)}\n"
        if fmt == "latex":
            return f"{sympy.latex(expression)}\n"
        if fmt == "json":
            data = {"expression": str(expression), "variables": list(self.variable_names), "program": pruned.to_dict()}
            return json.dumps(data, indent=2) + "\n"
        if fmt == "python":
            return _python_module(expression, self.variable_names)
        raise UserInputError(f"unknown export format {fmt!r}; use one of {', '.join(self.export_formats)}.")


def _python_module(expression: sympy.Expr, variable_names: Sequence[str]) -> str:
    arguments = ", ".join(variable_names)
    body = NumPyPrinter().doprint(expression)
    return (
        '"""A formula found by evolve (symbolic regression)."""\n\n'
        "import numpy\n\n\n"
        f"def f({arguments}):\n"
        f"    return {body}\n"
    )
