"""Symbolic checks of a found formula against the ground truth, as SRBench counts them.

La Cava et al., "Contemporary Symbolic Regression Methods and their Relative
Performance" (NeurIPS 2021 datasets track): a model is a symbolic solution when
the difference between it and the true formula simplifies to a constant, or
their ratio simplifies to a nonzero constant.
"""

import fractions
from collections.abc import Iterable

import sympy

# Fitted constants within this relative distance of a simple fraction are taken
# to be that fraction, so that exp(-0.49999999998*x**2) can cancel exp(-x**2/2).
SNAP_TOLERANCE = 1e-7
MAX_DENOMINATOR = 12


def simple_fraction(value: float, tolerance: float = SNAP_TOLERANCE) -> fractions.Fraction | None:
    """Return the fraction with denominator at most 12 within ``tolerance`` of ``value``, if any."""
    fraction = fractions.Fraction(value).limit_denominator(MAX_DENOMINATOR)
    if abs(float(fraction) - value) <= tolerance * max(1.0, abs(value)):
        return fraction
    return None


def rationalize(expression: sympy.Expr) -> sympy.Expr:
    """Replace each float that is a simple fraction up to rounding by that fraction."""
    replacements = {}
    for number in expression.atoms(sympy.Float):
        fraction = simple_fraction(float(number))
        if fraction is not None:
            replacements[number] = sympy.Rational(fraction.numerator, fraction.denominator)
    return expression.xreplace(replacements)


def is_symbolic_solution(candidate: sympy.Expr, truth: sympy.Expr, positive: Iterable[str] = ()) -> bool:
    """Return whether ``candidate`` equals ``truth`` up to an additive or multiplicative constant.

    Args:
        candidate: the found formula.
        truth: the true formula.
        positive: names of variables known to be positive on the data, so that
            ``sqrt(x**2)`` may simplify to ``x``.
    """
    candidate = rationalize(candidate)
    assumed = {sympy.Symbol(name): sympy.Symbol(name, positive=True) for name in positive}
    candidate, truth = candidate.xreplace(assumed), truth.xreplace(assumed)
    if candidate.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return False
    difference = sympy.simplify(truth - candidate)
    if not difference.free_symbols:
        return True
    if candidate == 0:
        return False
    ratio = sympy.simplify(truth / candidate)
    return not ratio.free_symbols and ratio != 0
