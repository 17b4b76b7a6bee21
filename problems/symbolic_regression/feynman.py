"""The 100 equations of the AI Feynman database, as symbolic regression targets.

Source: S.-M. Udrescu and M. Tegmark, "AI Feynman: a physics-inspired method for
symbolic regression", Science Advances 6(16), eaay2631 (2020), and the equation
table of their AI Feynman database, shipped here as ``data/feynman_equations.csv``.
Each row gives an equation's name (the table's ``Filename``), its output variable,
its formula and up to 10 input variables, each with a sampling range ``[low, high]``.
"""

import csv
import functools
import io
import keyword
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import sympy
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from evolve.errors import UserInputError, did_you_mean

DATA_FILE = "feynman_equations.csv"
MAX_VARIABLES = 10

# The only names a formula may use besides its variables. Variables shadow these,
# and no other sympy name is visible, so a variable called `I`, `E`, `gamma` or
# `beta` parses as a Symbol and never as the imaginary unit, Euler's number or a
# special function. The table writes `arcsin` and `ln` in NumPy style.
_FORMULA_NAMES = {
    "pi": sympy.pi,
    "exp": sympy.exp,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tanh": sympy.tanh,
    "arcsin": sympy.asin,
    "asin": sympy.asin,
    "ln": sympy.log,
    "log": sympy.log,
    # parse_expr's standard transformations wrap literals and unknown names in these.
    "Integer": sympy.Integer,
    "Float": sympy.Float,
    "Rational": sympy.Rational,
    "Symbol": sympy.Symbol,
    "Function": sympy.Function,
}


@dataclass(frozen=True)
class Variable:
    """An input variable of an equation and its sampling range [low, high]."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class Equation:
    """One AI Feynman equation.

    Attributes:
        name: the table's ``Filename``, e.g. ``'I.6.2a'``.
        output: name of the output variable, e.g. ``'f'``.
        formula: the formula as written in the table, a Python expression.
        variables: the inputs, in the table's order, which is the column order of
            the ``X`` that ``sample`` returns.
    """

    name: str
    output: str
    formula: str
    variables: tuple[Variable, ...]

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Names of the input variables, in column order."""
        return tuple(variable.name for variable in self.variables)

    def expression(self) -> sympy.Expr:
        """Parse the formula into a sympy expression over Symbols named after the variables."""
        return _parse_formula(self.formula, self.variable_names)

    def sample(
        self, n: int, rng: np.random.Generator | int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` points uniformly from the variable ranges and evaluate the formula.

        ``rng`` is a NumPy Generator or an integer seed. Returns ``X`` of shape
        ``(n, k)`` and ``y`` of shape ``(n,)``, both float64. Raises UserInputError if
        ``n`` is not a positive integer, and ValueError if the formula is not finite
        at a sampled point. The shipped ranges avoid every singular point except
        ``omega == omega_0`` in III.9.52 (a removable 0/0), which uniform sampling
        hits with probability zero.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise UserInputError(
                f"invalid number of samples {n!r} for equation {self.name!r}. "
                "Use a positive integer."
            )
        rng = np.random.default_rng(rng)

        lows = np.array([variable.low for variable in self.variables], dtype=np.float64)
        highs = np.array([variable.high for variable in self.variables], dtype=np.float64)
        X = rng.uniform(lows, highs, size=(int(n), len(self.variables)))

        function = _compile_formula(self.formula, self.variable_names)
        y = np.asarray(function(*X.T), dtype=np.float64)
        # A formula that ignores some inputs may return fewer elements than n.
        y = np.broadcast_to(y, (int(n),)).copy()

        if not np.all(np.isfinite(y)):
            bad_row = int(np.flatnonzero(~np.isfinite(y))[0])
            raise ValueError(
                f"equation {self.name!r} is not finite at "
                f"{dict(zip(self.variable_names, X[bad_row].tolist()))}: {y[bad_row]}"
            )
        return X, y


@functools.cache
def _parse_formula(formula: str, variable_names: tuple[str, ...]) -> sympy.Expr:
    local_names = {name: sympy.Symbol(name) for name in variable_names}
    expression = parse_expr(formula, local_dict=local_names, global_dict=dict(_FORMULA_NAMES))

    # Unknown names would parse silently as new Symbols or undefined Functions.
    unknown_symbols = {s.name for s in expression.free_symbols} - set(variable_names)
    unknown_functions = {type(f).__name__ for f in expression.atoms(AppliedUndef)}
    if unknown_symbols or unknown_functions:
        raise ValueError(
            f"formula {formula!r} uses names that are neither its variables "
            f"{list(variable_names)} nor known functions: "
            f"{sorted(unknown_symbols | unknown_functions)}"
        )
    return expression


@functools.cache
def _compile_formula(formula: str, variable_names: tuple[str, ...]) -> Callable[..., np.ndarray]:
    symbols = [sympy.Symbol(name) for name in variable_names]
    return sympy.lambdify(symbols, _parse_formula(formula, variable_names), modules="numpy")


def _read_variables(row: dict[str, str]) -> tuple[Variable, ...]:
    name = row["Filename"]
    count = int(row["# variables"])
    if not 1 <= count <= MAX_VARIABLES:
        raise ValueError(f"{DATA_FILE}, equation {name!r}: invalid variable count {count}")

    variables = []
    for index in range(1, count + 1):
        variable_name = row[f"v{index}_name"].strip()
        low = float(row[f"v{index}_low"])
        high = float(row[f"v{index}_high"])
        if not variable_name.isidentifier() or keyword.iskeyword(variable_name):
            raise ValueError(
                f"{DATA_FILE}, equation {name!r}: variable name {variable_name!r} "
                "is not a Python identifier"
            )
        if not low < high:
            raise ValueError(
                f"{DATA_FILE}, equation {name!r}: variable {variable_name!r} has an "
                f"empty range [{low}, {high}]"
            )
        variables.append(Variable(variable_name, low, high))
    return tuple(variables)


@functools.cache
def equations() -> dict[str, Equation]:
    """Load all equations from the packaged table, keyed by name, in table order.

    The table is read once per process. Callers get the cached dict, so they must
    not modify it.
    """
    text = (resources.files(__package__) / "data" / DATA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Equation] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row["Filename"].strip()
        if name in loaded:
            raise ValueError(f"{DATA_FILE}: equation {name!r} appears twice")
        loaded[name] = Equation(
            name=name,
            output=row["Output"].strip(),
            formula=row["Formula"].strip(),
            variables=_read_variables(row),
        )
    return loaded


def equation(name: str) -> Equation:
    """Return the equation called ``name``, e.g. ``'I.6.2a'``.

    Raises UserInputError, with the closest name as a hint, if there is none.
    """
    table = equations()
    if name in table:
        return table[name]

    names = list(table)
    raise UserInputError(
        f"unknown Feynman equation {name!r}.{did_you_mean(name, names)} "
        f"Use a name from the AI Feynman table ({len(names)} equations, "
        f"{names[0]!r} to {names[-1]!r}), listed in the Filename column of "
        f"problems/symbolic_regression/data/{DATA_FILE}."
    )
