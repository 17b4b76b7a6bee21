"""The op registry: every arithmetic op an op program may use.

Semantics are plain IEEE 754 floating point, defined once here and shared by the
NumPy reference interpreter, the JAX evaluator and the sympy form:

- ``div(a, 0)`` is ``+inf`` or ``-inf`` (``nan`` for ``0 / 0``);
- ``log`` of a negative number is ``nan``, ``log(0)`` is ``-inf``;
- ``sqrt`` of a negative number is ``nan``;
- ``exp`` and ``square`` overflow to ``+inf``.

No op is "protected": protected division or logarithms hide the real function from
the sympy form and from the verifier. A program whose output is not finite where
the problem needs it is scored as failed by the problem, and the functional hash
maps every NaN to one value, so failed programs collapse into one cache entry.
"""

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import sympy

from evolve.errors import UserInputError, did_you_mean


@dataclasses.dataclass(frozen=True)
class Op:
    """One arithmetic op.

    Attributes:
        name: the op's name in listings, configs and checkpoints.
        arity: number of register arguments (0 for ``const``).
        numpy_fn: elementwise NumPy implementation (None for ``const``).
        sympy_fn: builds the sympy expression from the argument expressions.
    """

    name: str
    arity: int
    numpy_fn: Callable[..., np.ndarray]
    sympy_fn: Callable[..., sympy.Expr]


def _fma(a, b, c):
    # NumPy has no fused multiply-add, so the reference rounds twice. NOTE: XLA
    # on the CPU contracts a * b + c into one rounding in the stream interpreter.
    # That differs in the last bit, and by more where the sum cancels the product:
    # fma(a, b, -(a * b)) is 0 here and the product's rounding error there.
    return a * b + c


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("const", 0, None, None),
        Op("add", 2, np.add, lambda a, b: a + b),
        Op("sub", 2, np.subtract, lambda a, b: a - b),
        Op("mul", 2, np.multiply, lambda a, b: a * b),
        Op("div", 2, np.divide, lambda a, b: a / b),
        Op("neg", 1, np.negative, lambda a: -a),
        Op("square", 1, np.square, lambda a: a**2),
        Op("sqrt", 1, np.sqrt, sympy.sqrt),
        Op("exp", 1, np.exp, sympy.exp),
        Op("log", 1, np.log, sympy.log),
        Op("sin", 1, np.sin, sympy.sin),
        Op("cos", 1, np.cos, sympy.cos),
        Op("fma", 3, _fma, lambda a, b, c: a * b + c),
    ]
}

OP_NAMES: tuple[str, ...] = tuple(OPS)

# Integer codes of the ops in packed programs (``Program.code``). Code 0 is the
# batched interpreters' padding op, which copies its first argument.
OPCODES: tuple[str, ...] = ("copy", *OP_NAMES)
OPCODE: dict[str, int] = {name: i for i, name in enumerate(OPCODES)}
MAX_ARITY = 3
# Arguments per opcode; the padding op reads one.
ARITY = np.array([1 if name == "copy" else OPS[name].arity for name in OPCODES], dtype=np.int32)


def get_op(name: str) -> Op:
    """Return the op called ``name``.

    Raises:
        UserInputError: if no op has that name.
    """
    if name not in OPS:
        raise UserInputError(
            f"unknown op {name!r}.{did_you_mean(name, OPS)} Known ops: {', '.join(OPS)}."
        )
    return OPS[name]


def check_op_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a problem's op set and return it as a tuple.

    Raises:
        UserInputError: if a name is unknown or the set has no op that reads a register.
    """
    names = tuple(names)
    for name in names:
        get_op(name)
    if not any(OPS[name].arity > 0 for name in names):
        raise UserInputError(
            f"op set {list(names)} has no op with arguments; add at least one, e.g. 'add'."
        )
    return names
