"""The stream interpreter with forward-mode derivatives with respect to fitted constants.

Constant fitting needs every program's outputs and their Jacobian with respect
to the program's own constants. This interpreter runs the live instructions of
a batch as one flat stream, like the ``stream`` interpreter of
``evolve.batched``, but each register row carries its value and ``K`` tangents:
the derivatives with respect to the program's ``K`` constant slots. A ``const``
instruction in slot ``k`` reads its value from ``theta`` and starts the unit
tangent ``e_k``; every other op applies its derivative rule. One launch thus
gives all outputs and all Jacobians, at the cost of one loop step per live
instruction. The vmapped interpreter instead computes all 14 ops at every
instruction position for every tangent.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from evolve import batched, cpu_math, jax_ops
from evolve.batched import EncodedBatch
from evolve.ops import ARITY, MAX_ARITY, OPCODE, OPCODES


@dataclasses.dataclass(frozen=True)
class TangentStream:
    """The live instructions of a batch in execution order, with their constant slots.

    Attributes:
        instructions: int32, shape (capacity, 5): opcode, three argument rows,
            destination row. Rows: the inputs, then one shared work row per
            register position, then one output row per program.
        constants: float64, shape (capacity,); the value of a ``const`` that is not fitted.
        programs: int32, shape (capacity,); the program each instruction belongs to.
        slots: int32, shape (capacity,); the slot of a fitted ``const``, else -1.
        count: instructions used.
        length: the batch's length bucket (work rows).
        size: the batch's size bucket (output rows).
    """

    instructions: np.ndarray
    constants: np.ndarray
    programs: np.ndarray
    slots: np.ndarray
    count: int
    length: int
    size: int


def build_tangent_stream(encoded: EncodedBatch, slots: np.ndarray) -> TangentStream:
    """Lay out the live instructions of ``encoded`` as one stream.

    Args:
        encoded: the batch, from ``batched.encode``.
        slots: int, shape (size, K); the instruction position of each fitted
            constant of each program, -1 for an unused slot.
    """
    size, length = encoded.opcodes.shape
    row, column = batched.live_positions(encoded)
    count = len(row)
    capacity = size * length

    slot_of = np.full((size, length), -1, dtype=np.int32)
    program_rows, slot_numbers = np.nonzero(slots >= 0)
    slot_of[program_rows, slots[program_rows, slot_numbers]] = slot_numbers

    instructions = np.zeros((capacity, 5), dtype=np.int32)
    constants = np.zeros(capacity, dtype=np.float64)
    instructions[:count], constants[:count] = batched.stream_instructions(
        encoded, row, column, encoded.n_inputs + length + row
    )
    programs = np.zeros(capacity, dtype=np.int32)
    programs[:count] = row
    stream_slots = np.full(capacity, -1, dtype=np.int32)
    stream_slots[:count] = slot_of[row, column]
    return TangentStream(instructions, constants, programs, stream_slots, count, length, size)


# Each rule maps (primal arguments, tangent arguments, primal result) to the
# result's tangents. Primals have shape (points,), tangents (K, points).
_TANGENT_RULES = {
    "copy": lambda x, t, y: t[0],
    "add": lambda x, t, y: t[0] + t[1],
    "sub": lambda x, t, y: t[0] - t[1],
    "mul": lambda x, t, y: t[0] * x[1] + x[0] * t[1],
    "div": lambda x, t, y: (t[0] - y * t[1]) / x[1],
    "neg": lambda x, t, y: -t[0],
    "square": lambda x, t, y: 2.0 * x[0] * t[0],
    "sqrt": lambda x, t, y: t[0] / (2.0 * y),
    "exp": lambda x, t, y: y * t[0],
    "log": lambda x, t, y: t[0] / x[0],
    "sin": lambda x, t, y: cpu_math.fast_sin_or_cos(x[0], cosine=True) * t[0],
    "cos": lambda x, t, y: -cpu_math.fast_sin_or_cos(x[0], cosine=False) * t[0],
    "fma": lambda x, t, y: t[0] * x[1] + x[0] * t[1] + t[2],
}


def _branches(theta, n_points: int):
    slot_count = theta.shape[1]
    units = jnp.eye(slot_count, dtype=theta.dtype)

    def const(registers, instruction, constant, program, slot):
        fitted = slot >= 0
        index = jnp.maximum(slot, 0)
        value = jnp.where(fitted, theta[program, index], constant)
        tangent = jnp.where(fitted, units[index], jnp.zeros(slot_count, theta.dtype))
        column = jnp.concatenate([value[None], tangent])
        return jnp.broadcast_to(column[:, None], (slot_count + 1, n_points))

    def op(name):
        function = jax_ops.FAST_CPU_FUNCTIONS[name]
        rule = _TANGENT_RULES[name]
        arity = int(ARITY[OPCODE[name]])

        def branch(registers, instruction, constant, program, slot):
            rows = [lax.dynamic_index_in_dim(registers, instruction[1 + j], keepdims=False) for j in range(arity)]
            primals = [row[0] for row in rows]
            tangents = [row[1:] for row in rows]
            value = function(*primals, *([None] * (MAX_ARITY - arity)))
            return jnp.concatenate([value[None], rule(primals, tangents, value)])

        return branch

    return [const if name == "const" else op(name) for name in OPCODES]


def outputs_and_jacobians(stream_arrays, count, theta, inputs_t, length: int, size: int):
    """Run the stream and return each program's outputs and Jacobian.

    Pure and traceable; ``jit`` a caller with ``length`` and ``size`` static.

    Args:
        stream_arrays: (instructions, constants, programs, slots) of a `TangentStream`.
        count: instructions to run.
        theta: float, shape (size, K); the fitted constants' values.
        inputs_t: shape (n_inputs, points).
        length, size: the stream's buckets.

    Returns:
        (outputs of shape (size, points), Jacobians of shape (size, points, K)).
    """
    instructions, constants, programs, slots = stream_arrays
    n_inputs, n_points = inputs_t.shape
    slot_count = theta.shape[1]
    registers = jnp.zeros((n_inputs + length + size, slot_count + 1, n_points), inputs_t.dtype)
    registers = registers.at[:n_inputs, 0].set(inputs_t)
    branches = _branches(theta.astype(inputs_t.dtype), n_points)
    constants = constants.astype(inputs_t.dtype)

    def step(t, registers):
        instruction = instructions[t]
        value = lax.switch(instruction[0], branches, registers, instruction, constants[t], programs[t], slots[t])
        return lax.dynamic_update_index_in_dim(registers, value, instruction[4], axis=0)

    registers = lax.fori_loop(0, count, step, registers)
    outputs = registers[n_inputs + length :]
    return outputs[:, 0], jnp.transpose(outputs[:, 1:], (0, 2, 1))


def stream_arrays(stream: TangentStream) -> tuple:
    """Return the stream's arrays as JAX arrays, in the order `outputs_and_jacobians` takes them."""
    return tuple(jax.device_put(a) for a in (stream.instructions, stream.constants, stream.programs, stream.slots))
