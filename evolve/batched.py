"""Batched evaluation of op programs as one XLA computation.

A batch of programs is encoded as padded integer arrays (opcode and argument
registers per instruction) plus a float array of constants, and a pure JAX
interpreter runs one encoded program; ``jax.vmap`` maps it over the batch and
``jax.jit`` compiles it once per shape. Shapes are bucketed (program length and
batch size rounded up to powers of two) so that a search compiles only a few
times.

Padding instructions copy the previous register, so the output (the last
register) is unchanged. An empty program is encoded as a single NaN constant.
"""

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from evolve.program import Program

# Double precision is needed to fit constants to 1e-10 relative error; problems
# that search float32 programs pass float32 inputs explicitly.
jax.config.update("jax_enable_x64", True)

# Opcodes: the registry's ops plus the padding op. Order is part of the encoding.
OPCODES: tuple[str, ...] = (
    "copy", "const", "add", "sub", "mul", "div", "neg", "square",
    "sqrt", "exp", "log", "sin", "cos", "fma",
)  # fmt: skip
OPCODE = {name: i for i, name in enumerate(OPCODES)}
MAX_ARITY = 3


def _branches():
    # Every branch takes (a, b, c, constant) so lax.switch can select among them.
    return [
        lambda a, b, c, k: a,  # copy
        lambda a, b, c, k: jnp.full_like(a, k),  # const
        lambda a, b, c, k: a + b,
        lambda a, b, c, k: a - b,
        lambda a, b, c, k: a * b,
        lambda a, b, c, k: a / b,
        lambda a, b, c, k: -a,
        lambda a, b, c, k: a * a,
        lambda a, b, c, k: jnp.sqrt(a),
        lambda a, b, c, k: jnp.exp(a),
        lambda a, b, c, k: jnp.log(a),
        lambda a, b, c, k: jnp.sin(a),
        lambda a, b, c, k: jnp.cos(a),
        lambda a, b, c, k: a * b + c,
    ]


@dataclasses.dataclass(frozen=True)
class EncodedBatch:
    """A batch of programs as padded arrays.

    Attributes:
        opcodes: int32, shape (programs, length).
        args: int32, shape (programs, length, 3); unused arguments are 0.
        constants: float64, shape (programs, length); 0 where the op is not ``const``.
        n_inputs: inputs of every program in the batch.
        count: real programs; rows beyond it are padding.
    """

    opcodes: np.ndarray
    args: np.ndarray
    constants: np.ndarray
    n_inputs: int
    count: int


def bucket(n: int, minimum: int = 1) -> int:
    """Round ``n`` up to a power of two, at least ``minimum``."""
    size = max(minimum, 1)
    while size < n:
        size *= 2
    return size


def encode(programs: Sequence[Program], min_length: int = 8, min_batch: int = 8) -> EncodedBatch:
    """Encode programs into bucketed padded arrays.

    Args:
        programs: programs with the same number of inputs.
        min_length: smallest length bucket.
        min_batch: smallest batch bucket.
    """
    if not programs:
        raise ValueError("cannot encode an empty batch of programs.")
    n_inputs = programs[0].n_inputs
    if any(p.n_inputs != n_inputs for p in programs):
        raise ValueError("every program in a batch must have the same number of inputs.")
    length = bucket(max(max(len(p) for p in programs), 1), min_length)
    size = bucket(len(programs), min_batch)

    opcodes = np.zeros((size, length), dtype=np.int32)
    args = np.zeros((size, length, MAX_ARITY), dtype=np.int32)
    constants = np.zeros((size, length), dtype=np.float64)
    for row, program in enumerate(programs):
        _encode_one(program, length, opcodes[row], args[row], constants[row])
    for row in range(len(programs), size):
        _encode_one(programs[0], length, opcodes[row], args[row], constants[row])
    return EncodedBatch(opcodes, args, constants, n_inputs, len(programs))


def _encode_one(program: Program, length: int, opcodes, args, constants) -> None:
    instructions = program.instructions or (None,)
    for i, instruction in enumerate(instructions):
        if instruction is None:
            opcodes[i], constants[i] = OPCODE["const"], np.nan
            continue
        opcodes[i] = OPCODE[instruction.op]
        args[i, : len(instruction.args)] = instruction.args
        constants[i] = instruction.value if instruction.op == "const" else 0.0
    for i in range(len(instructions), length):
        opcodes[i] = OPCODE["copy"]
        args[i, 0] = program.n_inputs + i - 1


def run_program(opcodes, args, constants, inputs):
    """Run one encoded program on points ``inputs`` of shape (points, n_inputs).

    Pure and traceable: ``vmap`` it over programs and ``jit`` the result.
    """
    n_inputs = inputs.shape[1]
    length = opcodes.shape[0]
    registers = jnp.concatenate(
        [inputs.T, jnp.zeros((length, inputs.shape[0]), dtype=inputs.dtype)], axis=0
    )
    branches = _branches()

    def step(i, registers):
        a, b, c = (registers[args[i, j]] for j in range(MAX_ARITY))
        value = jax.lax.switch(opcodes[i], branches, a, b, c, constants[i].astype(inputs.dtype))
        return registers.at[n_inputs + i].set(value)

    registers = jax.lax.fori_loop(0, length, step, registers)
    return registers[-1]


@functools.partial(jax.jit, static_argnames=())
def run_batch(opcodes, args, constants, inputs):
    """Run every encoded program on the same points; returns (programs, points)."""
    return jax.vmap(run_program, in_axes=(0, 0, 0, None))(opcodes, args, constants, inputs)


def evaluate_batch(programs: Sequence[Program], inputs: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Run programs on points with the batched interpreter; returns (programs, points)."""
    encoded = encode(programs)
    outputs = run_batch(
        jnp.asarray(encoded.opcodes),
        jnp.asarray(encoded.args),
        jnp.asarray(encoded.constants, dtype=dtype),
        jnp.asarray(inputs, dtype=dtype),
    )
    return np.asarray(outputs)[: encoded.count]
