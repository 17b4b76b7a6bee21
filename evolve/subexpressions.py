"""Common subexpressions across a batch of programs.

Programs of one population share structure: the children of a parent keep most
of its instructions, and small terms such as ``sin(x0)`` or ``x0 * x1`` recur in
unrelated programs. The stream interpreter computes each distinct value once
per launch, so this module finds, for every live instruction of a batch, the
first instruction anywhere in the batch that computes the same value.

Two instructions compute the same value when they apply the same op to the same
values (in either order for ``add``, ``mul`` and the product of ``fma``, which
IEEE 754 defines symmetrically) or are constants with the same bits. The search
hashes that structure bottom-up, matches hashes with a vectorized hash table,
and then checks every match exactly, so a hash collision can cost sharing but
never change a result.
"""

import dataclasses
import logging

import numpy as np

from evolve.ops import MAX_ARITY, OPCODE, OPCODES, OPS

logger = logging.getLogger(__name__)

ARITY = np.array([1 if name == "copy" else OPS[name].arity for name in OPCODES], dtype=np.int32)
# Ops whose first two arguments commute.
_COMMUTATIVE = np.zeros(len(OPCODES), dtype=bool)
_COMMUTATIVE[[OPCODE["add"], OPCODE["mul"], OPCODE["fma"]]] = True


def _odd_constants(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**63, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


# Per opcode, the weight of each argument's hash: zero for unused arguments and
# one weight for both arguments of a commutative op, so their order cannot matter.
_ARG_WEIGHTS = _odd_constants(len(OPCODES) * MAX_ARITY, 1).reshape(len(OPCODES), MAX_ARITY)
_ARG_WEIGHTS[_COMMUTATIVE, 1] = _ARG_WEIGHTS[_COMMUTATIVE, 0]
_ARG_WEIGHTS[np.arange(MAX_ARITY)[None, :] >= ARITY[:, None]] = 0
_OP_SEEDS = _odd_constants(len(OPCODES), 2)
_CONSTANT_WEIGHT, _GROUP_WEIGHT, _FINAL_WEIGHT, _INPUT_WEIGHT = _odd_constants(4, 3)
_SLOT_SALTS = _odd_constants(4, 4)


def _finalize(state: np.ndarray) -> np.ndarray:
    """Scramble the bits of 64-bit hashes in place (a xorshift-multiply finalizer)."""
    state ^= state >> np.uint64(29)
    state *= _FINAL_WEIGHT
    state ^= state >> np.uint64(32)
    return state


def structural_hashes(opcodes: np.ndarray, args: np.ndarray, constants: np.ndarray, n_inputs: int) -> np.ndarray:
    """Return a 64-bit hash of the value every instruction computes.

    Args:
        opcodes: int, shape (programs, length).
        args: int, shape (programs, length, 3); argument registers.
        constants: float64, shape (programs, length).
        n_inputs: inputs of every program.

    Returns:
        uint64, shape (programs, length). Equal values have equal hashes.
    """
    programs, length = opcodes.shape
    width = n_inputs + length
    hashes = np.empty((programs, width), dtype=np.uint64)
    hashes[:, :n_inputs] = np.arange(1, n_inputs + 1, dtype=np.uint64) * _INPUT_WEIGHT
    flat_hashes = hashes.reshape(-1)
    # Column-major copies, so that each step below reads contiguous rows.
    cells = np.ascontiguousarray((args + (np.arange(programs) * width)[:, None, None]).transpose(1, 2, 0))
    weights = np.ascontiguousarray(_ARG_WEIGHTS[opcodes].transpose(1, 2, 0))
    seeds = np.ascontiguousarray((_OP_SEEDS[opcodes] + constants.view(np.uint64) * _CONSTANT_WEIGHT).T)
    for column in range(length):
        state = seeds[column].copy()
        for j in range(MAX_ARITY):
            state += flat_hashes[cells[column, j]] * weights[column, j]
        hashes[:, n_inputs + column] = _finalize(state)
    return hashes[:, n_inputs:]


def first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """Return, per element of the 1-D ``hashes``, the index of the first element with the same hash."""
    count = len(hashes)
    first = np.empty(count, dtype=np.intp)
    pending = np.arange(count)
    bits = max(count.bit_length() + 2, 4)
    owner = np.empty(1 << bits, dtype=np.intp)
    for salt in _SLOT_SALTS:
        if not len(pending):
            return first
        keys = hashes[pending]
        slots = ((keys * salt) >> np.uint64(64 - bits)).astype(np.intp)
        # Assignment with repeated indices keeps the last value, so writing in
        # reverse leaves each slot with its earliest element.
        owner[slots[::-1]] = pending[::-1]
        candidate = owner[slots]
        matched = hashes[candidate] == keys
        first[pending[matched]] = candidate[matched]
        pending = pending[~matched]

    # Elements whose slot an unequal hash owned in every round: sort them.
    if len(pending):
        _, index, inverse = np.unique(hashes[pending], return_index=True, return_inverse=True)
        first[pending] = pending[index][inverse]
    return first


@dataclasses.dataclass(frozen=True)
class SharedValues:
    """The live instructions of a batch, numbered program by program, and the values they share.

    Attributes:
        rows, columns: int, shape (instructions,); program and position of each.
        first: int, shape (instructions,); the number of the first instruction
            that computes the same value, at most the instruction's own. Only
            instructions whose ``first`` is themselves need to run.
        values: int, shape (instructions, 3); the values of the arguments:
            input ``j`` is ``j`` and instruction ``k`` is ``n_inputs + first[k]``.
            Unused arguments read input 0.
        number: int, shape (programs, length); the number of the instruction
            at each position, -1 where it is not live.
    """

    rows: np.ndarray
    columns: np.ndarray
    first: np.ndarray
    values: np.ndarray
    number: np.ndarray

    @property
    def runs(self) -> np.ndarray:
        """Return a bool mask of the instructions that compute their value."""
        return self.first == np.arange(len(self.first))


def share_values(
    opcodes: np.ndarray,
    args: np.ndarray,
    constants: np.ndarray,
    live: np.ndarray,
    n_inputs: int,
    groups: np.ndarray | None = None,
    share: bool = True,
) -> SharedValues:
    """Number the live instructions and match each with the first one that computes the same value.

    Args:
        opcodes, args, constants: the encoded programs, as for `structural_hashes`.
        live: bool, shape (programs, length); the instructions to run.
        n_inputs: inputs of every program.
        groups: int, shape (programs,); values are shared only within a group
            (a shard of the stream). None puts every program in one group.
        share: False matches every instruction with itself.
    """
    programs, length = opcodes.shape
    flat = np.flatnonzero(live)
    rows, columns = np.divmod(flat, length)
    number = np.full(programs * length, -1, dtype=np.intp)
    number[flat] = np.arange(len(flat))
    registers = args.reshape(-1, MAX_ARITY)[flat]
    from_instruction = registers >= n_inputs
    steps = number[np.where(from_instruction, rows[:, None] * length + registers - n_inputs, 0)]

    first = np.arange(len(flat))
    if share:
        hashes = structural_hashes(opcodes, args, constants, n_inputs).reshape(-1)[flat]
        if groups is not None:
            hashes = _finalize(hashes + groups[rows].astype(np.uint64) * _GROUP_WEIGHT)
        first = first_occurrences(hashes)
    values = np.where(from_instruction, n_inputs + first[steps], registers)
    if share and not _matches_are_exact(opcodes.reshape(-1)[flat], constants.reshape(-1)[flat], values, first, rows, groups):
        logger.debug("structural hash collision in a batch of %d programs; computing it without sharing", programs)
        first = np.arange(len(flat))
        values = np.where(from_instruction, n_inputs + steps, registers)
    return SharedValues(rows, columns, first, values, number.reshape(programs, length))


def _matches_are_exact(codes, constants, values, first, rows, groups) -> bool:
    """Return whether every instruction has the op, constant bits, group and argument values of its first match.

    By induction over the instruction numbers, this makes every match exact.
    """
    bits = constants.view(np.uint64)
    swap = _COMMUTATIVE[codes]
    low = np.where(swap, np.minimum(values[:, 0], values[:, 1]), values[:, 0])
    high = np.where(swap, np.maximum(values[:, 0], values[:, 1]), values[:, 1])
    same_group = True if groups is None else np.array_equal(groups[rows], groups[rows[first]])
    return bool(
        same_group
        and np.all(first <= np.arange(len(first)))
        and np.array_equal(codes, codes[first])
        and np.array_equal(bits, bits[first])
        and np.array_equal(low, low[first])
        and np.array_equal(high, high[first])
        and np.array_equal(values[:, 2], values[first, 2])
    )
