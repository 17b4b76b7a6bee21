"""Classical approximations of exp on [-ln2/2, ln2/2], scored in the same float32 units.

- Taylor polynomials of degree 3 to 8, coefficients 1/k! rounded to float32.
- Minimax polynomials of degree 3 to 8: the coefficients that minimize the
  maximum error in float32 ULPs on 2,048 Chebyshev nodes (a linear program,
  solved by HiGHS), rounded to float32.
- The kernel of Cephes ``expf`` (Moshier, Cephes Math Library 2.2, 1992):
  ``1 + r + r**2 P(r)`` with its degree-5 ``P``.
- NumPy's and JAX's own float32 ``exp``, which are not op programs.

The polynomials come in two forms: Horner with ``mul`` and ``add`` (two ops per
degree, as compilers without FMA contraction emit it) and Horner with ``fma``
(one op per degree). All of them are op programs, so they run through exactly
the same float32 evaluator, verifier and exporter as evolved programs.
"""

import dataclasses
import functools
import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import linprog

from evolve.program import Instruction, Program
from problems.autonumerics import float32
from problems.autonumerics.sample import tuning_nodes
from problems.autonumerics.ulp import ulp_of

DEGREES = range(3, 9)
MINIMAX_NODES = 2048

# Maximum errors in ULPs over every float32 in [-ln2/2, ln2/2], printed by
# ``python -m problems.autonumerics.verify_baselines NAME...`` (see
# docs/benchmarks.md for the machine). Baselines missing here show verified = 0
# in the leaderboard; jax-exp is XLA's CPU exp of jax 0.10.2.
EXHAUSTIVE_MAX_ULP: dict[str, float] = {
    "minimax-6-fma": 0.8356,  # at x=-0.2984963655471802
    "minimax-7-fma": 0.7404,  # at x=-0.33721643686294556
    "cephes-horner": 0.8083,  # at x=-0.33041462302207947
    "cephes-fma": 0.8378,  # at x=-0.3296738862991333
    "taylor-7-horner": 1.0583,  # at x=-0.346405029296875
    "jax-exp": 0.8378,  # at x=-0.3296738862991333
}

# Cephes expf: P(r) coefficients, highest degree first, and the kernel
# exp(r) = ((P(r) * r**2) + r) + 1.
CEPHES_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A classical approximation.

    Attributes:
        name: short name for tables and plots, e.g. ``minimax-6-fma``.
        source: where the method comes from.
        program: the op program, or None for library functions.
        function: for library functions, a map from float32 inputs to float32
            outputs; None for programs.
    """

    name: str
    source: str
    program: Program | None = None
    function: Callable[[np.ndarray], np.ndarray] | None = None


def horner(coefficients, fused: bool) -> Program:
    """Return the Horner program of a polynomial, coefficients highest degree first.

    Args:
        coefficients: c_n, ..., c_0 of c_n x**n + ... + c_0 (n >= 1).
        fused: one ``fma`` per degree if True, else ``mul`` then ``add``.
    """
    coefficients = [float32.constant(c) for c in coefficients]
    if len(coefficients) < 2:
        raise ValueError(f"a Horner program needs degree 1 or more, got coefficients {coefficients}.")
    instructions = [Instruction("const", (), coefficients[0])]
    value = 1  # register of the running value; register 0 is x
    for coefficient in coefficients[1:]:
        instructions.append(Instruction("const", (), coefficient))
        constant = len(instructions)
        if fused:
            instructions.append(Instruction("fma", (value, 0, constant)))
        else:
            instructions.append(Instruction("mul", (value, 0)))
            instructions.append(Instruction("add", (len(instructions), constant)))
        value = len(instructions)
    return Program(1, tuple(instructions))


def cephes_kernel(fused: bool) -> Program:
    """Return the Cephes expf kernel ``((P(r) * r*r) + r) + 1`` as a program."""
    p = horner(CEPHES_P, fused)
    instructions = list(p.instructions)
    polynomial = len(instructions)
    instructions.append(Instruction("mul", (0, 0)))
    square = len(instructions)
    if fused:
        instructions.append(Instruction("fma", (polynomial, square, 0)))
    else:
        instructions.append(Instruction("mul", (polynomial, square)))
        instructions.append(Instruction("add", (len(instructions), 0)))
    instructions.append(Instruction("const", (), 1.0))
    instructions.append(Instruction("add", (len(instructions) - 1, len(instructions))))
    return Program(1, tuple(instructions))


def taylor_coefficients(degree: int) -> list[float]:
    """Return 1/k! for k = degree down to 0."""
    return [1.0 / math.factorial(k) for k in range(degree, -1, -1)]


@functools.lru_cache(maxsize=None)
def minimax_coefficients(degree: int) -> tuple[float, ...]:
    """Return the polynomial, highest degree first, of least maximum error in ULPs on Chebyshev nodes.

    The error is measured in real arithmetic; rounding the coefficients to
    float32 comes after, as a library would do it.
    """
    x = tuning_nodes(MINIMAX_NODES).astype(np.float64)
    true = np.exp(x)
    # Errors in ULPs, divided by the largest ULP weight, and powers of x / max|x|,
    # keep every column of the linear program near 1 so HiGHS stays accurate.
    weight = 1.0 / ulp_of(np, true)
    weight /= weight.max()
    span = np.max(np.abs(x))
    powers = np.vander(x / span, degree + 1)  # columns (x/span)**degree ... (x/span)**0
    # Variables (c, t): minimize t subject to |(powers c - true) * weight| <= t.
    scaled = powers * weight[:, None]
    ones = np.ones((len(x), 1))
    a_ub = np.vstack([np.hstack([scaled, -ones]), np.hstack([-scaled, -ones])])
    b_ub = np.concatenate([true * weight, -true * weight])
    cost = np.zeros(degree + 2)
    cost[-1] = 1.0
    bounds = [(None, None)] * (degree + 1) + [(0, None)]
    solution = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if solution.status != 0:
        raise RuntimeError(f"minimax linear program for degree {degree} failed: {solution.message}")
    scaled_coefficients = solution.x[: degree + 1]
    return tuple(float(c / span**k) for c, k in zip(scaled_coefficients, range(degree, -1, -1)))


def _numpy_exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.exp(np.asarray(x, dtype=np.float32))


def _jax_exp(x: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp

    return np.asarray(_jitted_jax_exp()(jnp.asarray(x, dtype=jnp.float32)))


@functools.lru_cache(maxsize=1)
def _jitted_jax_exp():
    import jax
    import jax.numpy as jnp

    return jax.jit(jnp.exp)


@functools.lru_cache(maxsize=1)
def all_baselines() -> tuple[Baseline, ...]:
    """Return every baseline, programs first."""
    baselines = []
    for degree in DEGREES:
        for fused in (False, True):
            form = "fma" if fused else "horner"
            baselines.append(Baseline(
                f"taylor-{degree}-{form}", f"Taylor series to degree {degree}, {form} form",
                program=horner(taylor_coefficients(degree), fused),
            ))
            baselines.append(Baseline(
                f"minimax-{degree}-{form}", f"minimax polynomial of degree {degree} in float32 ULPs, {form} form",
                program=horner(minimax_coefficients(degree), fused),
            ))
    for fused in (False, True):
        form = "fma" if fused else "horner"
        baselines.append(Baseline(
            f"cephes-{form}", f"Cephes expf kernel 1 + r + r^2 P(r) (Moshier 1992), {form} form",
            program=cephes_kernel(fused),
        ))
    baselines.append(Baseline("numpy-exp", f"numpy.exp in float32 (NumPy {np.__version__})", function=_numpy_exp))
    baselines.append(Baseline("jax-exp", "jax.numpy.exp in float32 under jax.jit", function=_jax_exp))
    return tuple(baselines)

