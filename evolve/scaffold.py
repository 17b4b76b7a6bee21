"""``evolve new-problem``: write a small, working problem plugin to start from.

The skeleton is a plain installable package:

    <name>/pyproject.toml             entry point in the ``evolve.problems`` group
    <name>/<module>.py                an OpProblem subclass that fits x0**2 + x0
    <name>/tests/test_<module>.py     tests that pass as generated

``evolve run <name>`` started in the folder above it finds the plugin without
installing it (see ``evolve.registry``); ``pip install -e <name>`` installs it
like any other plugin.
"""

import re
import string
from pathlib import Path

from evolve import registry
from evolve.errors import UserInputError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")


def module_name(name: str) -> str:
    """Return the Python module of problem ``name``, e.g. ``my-fit`` -> ``my_fit_problem``."""
    return name.replace("-", "_") + "_problem"


def class_name(name: str) -> str:
    """Return the problem class of problem ``name``, e.g. ``my-fit`` -> ``MyFitProblem``."""
    words = [word for word in name.split("-") if word]
    return "".join(word[0].upper() + word[1:] for word in words) + "Problem"


def write_skeleton(name: str, directory: str | Path) -> Path:
    """Write a plugin skeleton for problem ``name`` into ``directory/name``.

    Args:
        name: the problem name users will type, e.g. ``demo``.
        directory: the folder that receives the plugin folder; created if missing.

    Returns:
        The plugin folder.

    Raises:
        UserInputError: if the name is invalid or taken by an installed or local
            problem, or if the plugin folder already exists.
    """
    directory = Path(directory)
    _check_name(name, directory)
    folder = directory / name
    if folder.exists():
        raise UserInputError(
            f"folder {str(folder)!r} already exists; choose another name or --dir, "
            "or remove the folder."
        )

    module = module_name(name)
    values = {"name": name, "module": module, "class_name": class_name(name)}
    files = {
        folder / "pyproject.toml": PYPROJECT,
        folder / f"{module}.py": PROBLEM_MODULE,
        folder / "tests" / f"test_{module}.py": PROBLEM_TESTS,
    }
    (folder / "tests").mkdir(parents=True)
    for path, template in files.items():
        path.write_text(string.Template(template).substitute(values), encoding="utf-8")
    return folder


def _check_name(name: str, directory: Path) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise UserInputError(
            f"invalid problem name {name!r}: use lowercase letters, digits and '-', "
            "starting with a letter, e.g. 'my-problem'."
        )
    known = registry.discover((str(Path.cwd()), str(directory)))
    if name in known:
        source = known[name]
        where = f"the local folder {source.folder!r}" if source.folder else "an installed package"
        raise UserInputError(
            f"problem name {name!r} is already taken by {where} ({source.target}); choose another name."
        )


PYPROJECT = '''\
# A problem plugin for evolve. `evolve run ${name}` in the folder above this one
# finds it without installing; `pip install -e .` here installs it for good.

[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "evolve-${name}"
version = "0.1.0"
description = "The ${name} problem for evolve"
requires-python = ">=3.11"
dependencies = ["evolve-fh", "numpy", "sympy"]

# The name on the left is what users type after `evolve run`; it must equal the
# class's `name` attribute. The right side is module:class.
[project.entry-points."evolve.problems"]
${name} = "${module}:${class_name}"

[tool.setuptools]
py-modules = ["${module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# Lets the tests import ${module} without installing the package.
pythonpath = ["."]
'''

PROBLEM_MODULE = '''\
"""The ${name} problem: rediscover a formula from its values on a grid of points.

Written by `evolve new-problem ${name}` as a starting point. It works as it is:
`evolve run ${name} --budget 2000` in the folder above this one searches for
programs that compute target(x0) = x0**2 + x0. Lines marked CHANGE are the ones
to edit for a problem of your own.
"""

import math

import numpy as np
import sympy

from evolve.errors import UserInputError
from evolve.op_problem import OpProblem
from evolve.problem import Evaluation, Setting, Verification, positive_int
from evolve.program import Program
from hashing import make_probe_inputs

# CHANGE: the interval the input x0 comes from.
LOW = -2.0
HIGH = 2.0

# Points of the dense grid that `verify` re-checks a program on.
VERIFY_POINTS = 2001


def target(x0: np.ndarray) -> np.ndarray:
    """Return the function to rediscover, elementwise (CHANGE: your own function)."""
    return x0**2 + x0


class ${class_name}(OpProblem):
    """Fits ``target`` on a fixed grid; the score is minus the mean squared error."""

    # The name users type; it must equal the entry point's name in pyproject.toml.
    name = "${name}"
    description = "Rediscover x0**2 + x0 from its values on a grid (example problem)"
    # Objective columns of the leaderboard, in order; `evaluate` fills each one.
    columns = ("mse", "ops")
    # Options users set with `evolve run ${name} --set points=128`.
    settings_spec = {
        "points": Setting(64, positive_int, "grid points in [LOW, HIGH] the target is fitted on"),
    }
    export_formats = ("python",)

    def __init__(self, settings=None):
        super().__init__(settings)
        # CHANGE: one name per input, and the ops mutation may use (see evolve.ops).
        # With 'div', 'sqrt' or 'log' here, `verify` starts to matter: it catches
        # programs that are finite on the grid but not between its points.
        self.variable_names = ("x0",)
        self.op_names = ("add", "sub", "mul", "const")
        self.inputs = np.linspace(LOW, HIGH, self.settings["points"]).reshape(-1, 1)
        self.targets = target(self.inputs[:, 0])
        # The functional hash runs every candidate on these points. They come from
        # the inputs' domain, so programs that agree there share one cache record.
        self.probe_inputs = make_probe_inputs([LOW], [HIGH])

    def evaluate(self, programs):
        return [self._evaluate_one(program) for program in programs]

    def _evaluate_one(self, program: Program) -> Evaluation:
        # The engine expects no exception for a bad program, but a failed Evaluation.
        mse = _mse(program.evaluate(self.inputs), self.targets)
        if not math.isfinite(mse):
            return Evaluation.failure_of("output is not finite on the grid", self.columns)
        return Evaluation(-mse, {"mse": mse, "ops": float(program.cost())})

    def verify(self, program: Program) -> Verification:
        """Recompute the score, and check the program on a grid denser than the fitting one."""
        evaluation = self._evaluate_one(program)
        if evaluation.failed:
            return Verification(False, -math.inf, evaluation.failure)

        dense = np.linspace(LOW, HIGH, VERIFY_POINTS).reshape(-1, 1)
        dense_mse = _mse(program.evaluate(dense), target(dense[:, 0]))
        if not math.isfinite(dense_mse):
            return Verification(
                False, -math.inf, f"output is not finite on the {VERIFY_POINTS}-point grid"
            )
        message = f"MSE {dense_mse:.3g} on {VERIFY_POINTS} points"
        return Verification(True, evaluation.score, message, {"dense_mse": dense_mse})

    def export(self, program: Program, fmt: str) -> str:
        """Return the program as a standalone Python function ``evolved(x0)``."""
        if fmt != "python":
            raise UserInputError(
                f"problem {self.name!r} cannot export programs as {fmt!r}; use 'python'."
            )
        expression = program.pruned().to_sympy(self.variable_names)
        arguments = ", ".join(self.variable_names)
        return (
            f'"""Program evolved for the {self.name} problem."""\\n\\n'
            "import math\\n\\n\\n"
            f"def evolved({arguments}):\\n"
            f"    return {sympy.pycode(expression)}\\n"
        )


def _mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.mean((outputs - targets) ** 2))
'''

PROBLEM_TESTS = '''\
"""Tests of the ${name} problem; run `pytest` in the plugin folder."""

import math

import pytest

from evolve.config import SearchConfig
from evolve.program import Instruction, Program
from evolve.search import LocalEvaluator, Search
from ${module} import ${class_name}


def exact_program() -> Program:
    """Return r1 = x0 * x0; r2 = r1 + x0, which computes the target exactly."""
    return Program(1, (Instruction("mul", (0, 0)), Instruction("add", (1, 0))))


def test_exact_program_scores_zero():
    evaluation = ${class_name}().evaluate([exact_program()])[0]
    assert evaluation.score == pytest.approx(0.0, abs=1e-12)


def test_exact_program_columns():
    evaluation = ${class_name}().evaluate([exact_program()])[0]
    assert evaluation.values["ops"] == 2


def test_division_by_zero_fails():
    # r1 = x0 - x0 = 0; r2 = x0 / r1 is infinite or NaN everywhere.
    program = Program(1, (Instruction("sub", (0, 0)), Instruction("div", (0, 1))))
    evaluation = ${class_name}().evaluate([program])[0]
    assert evaluation.failed


def test_verify_accepts_exact_program():
    verification = ${class_name}().verify(exact_program())
    assert verification.ok


def test_export_python_runs():
    code = ${class_name}().export(exact_program(), "python")
    namespace = {}
    exec(code, namespace)
    assert namespace["evolved"](3.0) == pytest.approx(12.0)


def test_program_round_trip():
    problem = ${class_name}()
    program = exact_program()
    assert problem.program_from_dict(problem.program_to_dict(program)) == program


def test_tiny_search_runs():
    problem = ${class_name}()
    config = SearchConfig(budget=300, population_size=20, tournament_size=4, batch_size=10)
    search = Search(problem, config, LocalEvaluator(problem)).run()
    assert search.counters.candidates == 300
    assert math.isfinite(search.best_score)
'''
