"""Running exp programs in JAX, in float32 semantics or in real (binary64) arithmetic.

Two forms run the same op definitions of ``problems.autonumerics.float32``:

- ``Interpreter`` runs one encoded program on many constant vectors at once (the
  candidates of a tuning step) and many points. Program and constants are
  runtime arrays, so it compiles once per shape bucket, not per program.
- ``straight_line`` turns one program into a traceable function of ``x``. XLA
  fuses it into one loop, so the exhaustive verification can run its two
  billion points without a register file in memory.

The ``real`` mode computes each op in binary64 without rounding to float32; it
is the smooth objective that constant tuning minimizes first.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from evolve import jax_setup
from evolve.program import Program
from problems.autonumerics import float32

# Emulating float32 needs binary64 arrays.
jax_setup.configure()

OPCODES = ("copy", "const", "add", "sub", "mul", "div", "fma")
OPCODE = {name: i for i, name in enumerate(OPCODES)}


def _real_ops():
    return {
        "add": lambda a, b, c: a + b,
        "sub": lambda a, b, c: a - b,
        "mul": lambda a, b, c: a * b,
        "div": lambda a, b, c: a / b,
        "fma": lambda a, b, c: a * b + c,
    }


def _float32_ops():
    return {
        "add": lambda a, b, c: float32.add(jnp, a, b),
        "sub": lambda a, b, c: float32.sub(jnp, a, b),
        "mul": lambda a, b, c: float32.mul(jnp, a, b),
        "div": lambda a, b, c: float32.div(jnp, a, b),
        "fma": lambda a, b, c: float32.fma(jnp, a, b, c),
    }


def _ops(exact: bool):
    return _float32_ops() if exact else _real_ops()


def length_bucket(length: int) -> int:
    """Round a program length up to 8, 16, 32, ... so that few shapes compile."""
    size = 8
    while size < length:
        size *= 2
    return size


def encode(program: Program, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode a one-input program as (opcodes, args, constants) padded to ``length``.

    Padding instructions copy the register before them, so the last register is
    the program's output. An empty program becomes one NaN constant.
    """
    if program.n_inputs != 1:
        raise ValueError(f"exp programs have one input, got a program with {program.n_inputs}.")
    if len(program) > length:
        raise ValueError(f"program has {len(program)} instructions, more than the encoded length {length}.")
    opcodes = np.full(length, OPCODE["copy"], dtype=np.int32)
    args = np.zeros((length, 3), dtype=np.int32)
    constants = np.zeros(length, dtype=np.float64)
    instructions = program.instructions
    if not instructions:
        opcodes[0], constants[0] = OPCODE["const"], np.nan
    for i, instruction in enumerate(instructions):
        opcodes[i] = OPCODE[instruction.op]
        args[i, : len(instruction.args)] = instruction.args
        constants[i] = instruction.value
    for i in range(max(len(instructions), 1), length):
        args[i, 0] = i  # register i is the output of instruction i - 1
    return opcodes, args, constants


@functools.partial(jax.jit, static_argnames=("exact",))
def run_encoded(opcodes, args, constants, x, exact: bool):
    """Run one encoded program for each row of ``constants``.

    Args:
        opcodes: int32 (length,).
        args: int32 (length, 3).
        constants: float64 (candidates, length); column ``i`` is the value of
            instruction ``i`` where it is a constant.
        x: float64 (points,), float32 values already flushed to zero where subnormal.
        exact: float32 semantics if True, real arithmetic if False.

    Returns:
        float64 (candidates, points).
    """
    length = opcodes.shape[0]
    shape = (constants.shape[0], x.shape[0])
    registers = jnp.zeros((length + 1, *shape), dtype=jnp.float64).at[0].set(jnp.broadcast_to(x, shape))
    ops = _ops(exact)
    branches = [
        lambda a, b, c, k: a,
        lambda a, b, c, k: jnp.broadcast_to(k[:, None], shape),
        *(lambda a, b, c, k, f=ops[name]: f(a, b, c) for name in OPCODES[2:]),
    ]

    def step(i, registers):
        a, b, c = (registers[args[i, j]] for j in range(3))
        value = jax.lax.switch(opcodes[i], branches, a, b, c, constants[:, i])
        return registers.at[i + 1].set(value)

    return jax.lax.fori_loop(0, length, step, registers)[length]


class Interpreter:
    """Runs a program on fixed points for batches of constant vectors.

    Args:
        x: the points, float32 values (subnormals are flushed to zero here).
    """

    def __init__(self, x: np.ndarray):
        self.x = jnp.asarray(float32.flush_input(np, np.asarray(x, dtype=np.float32)))

    def run(self, program: Program, constant_rows: np.ndarray, exact: bool) -> np.ndarray:
        """Return the outputs, shape (rows, points), for each row of program-order constants.

        Args:
            program: the program; its own constant values are ignored.
            constant_rows: (rows, constants) in ``program.constant_indices()`` order.
            exact: float32 semantics if True, real arithmetic if False.
        """
        length = length_bucket(max(len(program), 1))
        opcodes, args, base = encode(program, length)
        rows = np.repeat(base[None, :], len(constant_rows), axis=0)
        rows[:, program.constant_indices()] = constant_rows
        if exact:
            rows = float32.round_to_float32(np, rows)
        out = run_encoded(jnp.asarray(opcodes), jnp.asarray(args), jnp.asarray(rows), self.x, exact)
        return np.asarray(out)


def straight_line(program: Program, exact: bool = True):
    """Return a traceable function ``x64 -> y64`` that runs ``program`` op by op.

    ``x64`` contains float32 values as binary64; subnormals are flushed here.
    """
    ops = _ops(exact)
    instructions = program.instructions

    def run(x):
        if not instructions:
            return jnp.full_like(x, jnp.nan)
        registers = [float32.flush_input(jnp, x) if exact else x]
        for instruction in instructions:
            if instruction.op == "const":
                value = float32.constant(instruction.value) if exact else instruction.value
                registers.append(jnp.full_like(x, value))
                continue
            a, b, c = ([registers[r] for r in instruction.args] + [None, None])[:3]
            registers.append(ops[instruction.op](a, b, c))
        return registers[-1]

    return run


def run_numpy(program: Program, x: np.ndarray) -> np.ndarray:
    """Run ``program`` in float32 semantics with NumPy; the reference for tests and probes.

    Returns:
        float32 array of the outputs.
    """
    registers = [float32.flush_input(np, np.asarray(x, dtype=np.float32))]
    if not program.instructions:
        return np.full(len(registers[0]), np.nan, dtype=np.float32)
    for instruction in program.instructions:
        if instruction.op == "const":
            registers.append(np.full_like(registers[0], float32.constant(instruction.value)))
        else:
            registers.append(float32.OPS[instruction.op](np, *(registers[r] for r in instruction.args)))
    return registers[-1].astype(np.float32)

