"""Common subexpressions across the programs of one launch, found on the device.

Programs of one population share structure: the children of a parent keep most
of its instructions, and small terms such as ``sin(x0)`` or ``x0 * x1`` recur in
unrelated programs. The stream interpreter computes each distinct value once
per launch, so this module finds, for every live instruction, the first
instruction of the launch that computes the same value.

Two instructions compute the same value when they apply the same op to the same
values (in either order for ``add``, ``mul`` and the product of ``fma``, which
IEEE 754 defines symmetrically) or are constants with the same bits. The one
exception to equal bits: an op on two NaNs returns one of them, on x86 the
first, so a shared ``b + a`` can carry the sign and payload of ``a + b``'s NaN. The search
hashes that structure bottom-up, matches equal hashes with a hash table built by
scatter-min, and then checks every match exactly: a hash collision can cost
sharing, never change a result.

Instructions are numbered as cells of the (programs, length) grid, row by row,
which is also an order in which every value comes after its arguments.
"""

import jax.numpy as jnp
import numpy as np
from jax import lax

from evolve.ops import ARITY, MAX_ARITY, OPCODE, OPCODES
# Ops whose first two arguments commute.
COMMUTATIVE = np.zeros(len(OPCODES), dtype=bool)
COMMUTATIVE[[OPCODE["add"], OPCODE["mul"], OPCODE["fma"]]] = True


def _odd_constants(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**63, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


# Per opcode, the weight of each argument's hash: zero for unused arguments and
# one weight for both arguments of a commutative op, so their order cannot matter.
_ARG_WEIGHTS = _odd_constants(len(OPCODES) * MAX_ARITY, 1).reshape(len(OPCODES), MAX_ARITY)
_ARG_WEIGHTS[COMMUTATIVE, 1] = _ARG_WEIGHTS[COMMUTATIVE, 0]
_ARG_WEIGHTS[np.arange(MAX_ARITY)[None, :] >= ARITY[:, None]] = 0
_OP_SEEDS = _odd_constants(len(OPCODES), 2)
_CONSTANT_WEIGHT, _FINAL_WEIGHT, _INPUT_WEIGHT = (int(c) for c in _odd_constants(3, 3))
# One multiplier per round of the hash table. With 2-4 slots per element, two
# rounds left 9 of 32,768 random instructions unresolved; those are not shared.
_SLOT_SALTS = [int(c) for c in _odd_constants(2, 4)]


def _finalize(state):
    """Scramble the bits of 64-bit hashes (a xorshift-multiply finalizer)."""
    state = state ^ (state >> jnp.uint64(29))
    state = state * jnp.uint64(_FINAL_WEIGHT)
    return state ^ (state >> jnp.uint64(32))


def structural_hashes(opcodes, args, constants, n_inputs: int):
    """Return a 64-bit hash of the value every instruction computes.

    Args:
        opcodes: int32, shape (programs, length).
        args: int32, shape (programs, length, 3); argument registers.
        constants: float64, shape (programs, length).
        n_inputs: inputs of every program.

    Returns:
        uint64, shape (programs, length). Equal values have equal hashes.
    """
    programs, length = opcodes.shape
    # Scrambled, because linear input hashes let the symmetric sums of commutative
    # ops collide: add(x0, x2) and add(x1, x1) would hash alike.
    inputs = _finalize(jnp.arange(1, n_inputs + 1, dtype=jnp.uint64) * jnp.uint64(_INPUT_WEIGHT))
    hashes = jnp.zeros((programs, n_inputs + length), jnp.uint64).at[:, :n_inputs].set(inputs)
    weights = jnp.asarray(_ARG_WEIGHTS)[opcodes]
    bits = lax.bitcast_convert_type(constants.astype(jnp.float64), jnp.uint64)
    seeds = jnp.asarray(_OP_SEEDS)[opcodes] + bits * jnp.uint64(_CONSTANT_WEIGHT)

    def column(i, hashes):
        operands = jnp.take_along_axis(hashes, args[:, i], axis=1)
        state = seeds[:, i] + jnp.sum(operands * weights[:, i], axis=1, dtype=jnp.uint64)
        return hashes.at[:, n_inputs + i].set(_finalize(state))

    return lax.fori_loop(0, length, column, hashes)[:, n_inputs:]


def first_occurrences(hashes, candidates):
    """Return, per element, the index of the first candidate with the same hash.

    Args:
        hashes: uint64, shape (n,).
        candidates: bool, shape (n,); elements that take part. Others, and the
            rare candidates that no round of the hash table resolves, map to
            themselves.
    """
    count = hashes.shape[0]
    index = jnp.arange(count, dtype=jnp.int32)
    bits = max(count.bit_length() + 1, 4)
    first = index
    pending = candidates
    for salt in _SLOT_SALTS:
        slots = ((hashes * jnp.uint64(salt)) >> jnp.uint64(64 - bits)).astype(jnp.int32)
        # Each slot keeps its earliest pending element; elements whose hash
        # differs from their slot owner's try again in the next round.
        owner = jnp.full(1 << bits, count, jnp.int32)
        owner = owner.at[jnp.where(pending, slots, 1 << bits)].min(index, mode="drop")
        candidate = owner[slots]
        matched = pending & (hashes[jnp.minimum(candidate, count - 1)] == hashes)
        first = jnp.where(matched, candidate, first)
        pending = pending & ~matched
    return first


def argument_values(args, first, n_inputs: int):
    """Return the value each argument reads: input ``j`` is ``j``, instruction cell ``k`` is ``n_inputs + first[k]``.

    Args:
        args: int32, shape (programs, length, 3); argument registers.
        first: int32, shape (programs * length,); from `first_occurrences`, or
            ``arange`` for no sharing.
        n_inputs: inputs of every program.
    """
    programs, length, _ = args.shape
    from_instruction = args >= n_inputs
    cells = jnp.arange(programs, dtype=jnp.int32)[:, None, None] * length + args - n_inputs
    return jnp.where(from_instruction, n_inputs + first[jnp.where(from_instruction, cells, 0)], args)


def matches_are_exact(opcodes, constants, values, first, live):
    """Return whether every live instruction has the op, constant bits and argument values of its first match.

    By induction over the cell numbers, this makes every match exact.

    Args:
        opcodes, constants: shape (programs, length).
        values: int32, shape (programs, length, 3); from `argument_values`.
        first: int32, shape (programs * length,).
        live: bool, shape (programs, length).
    """
    codes = opcodes.reshape(-1)
    bits = lax.bitcast_convert_type(constants.astype(jnp.float64), jnp.uint64).reshape(-1)
    values = values.reshape(-1, MAX_ARITY)
    swap = jnp.asarray(COMMUTATIVE)[codes]
    low = jnp.where(swap, jnp.minimum(values[:, 0], values[:, 1]), values[:, 0])
    high = jnp.where(swap, jnp.maximum(values[:, 0], values[:, 1]), values[:, 1])
    same = (
        (first <= jnp.arange(first.shape[0]))
        & (codes == codes[first])
        & (bits == bits[first])
        & (low == low[first])
        & (high == high[first])
        & (values[:, 2] == values[first, 2])
    )
    return jnp.all(same | ~live.reshape(-1))
