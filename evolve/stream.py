"""The stream interpreter: batched evaluation of op programs on CPU devices.

The live instructions of a launch form one flat stream per CPU device, which a
``fori_loop`` runs in order. Each step is a ``lax.switch`` branch that computes
a single op on all points of a block. Dead code and length padding cost nothing,
and each distinct value of a launch is computed once (``evolve.subexpressions``).

The host only joins the programs' packed code (``Program.code``). Unpacking,
liveness, shared values and register rows are computed on the device, in the
same XLA computation as the stream (``evolve.stream_layout``), one shard per
CPU device (``jax_num_cpu_devices``).
"""

import collections
import functools
import itertools
import logging
import operator
from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from evolve import jax_ops, jax_setup, stream_layout
from evolve.ops import ARITY, MAX_ARITY, OPCODES
from evolve.program import Program

logger = logging.getLogger(__name__)

# The layout hashes in 64-bit integers, and float64 programs need double precision.
jax_setup.configure()

# Points per block: one register row of a block stays in the L1/L2 cache (8 KiB
# in float32, 16 KiB in float64).
BLOCK_POINTS = 2048
# Random expression trees of 16 instructions had about one value per two
# programs that other programs read, and of 32 instructions about one per program.
SHARED_ROWS_PER_16_INSTRUCTIONS = 1
MIN_LENGTH = 8

# Trace counts per function and shape; a trace is followed by a compilation.
TRACES: collections.Counter = collections.Counter()

# Getters of a program's packed code, for map(), which keeps the loop in C.
code_of = operator.attrgetter("code")
code_constants_of = operator.attrgetter("code_constants")


def joined_code(codes: Iterable[bytes], constants: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Return the packed code of programs back to back: int32 rows (opcode, three arguments) and float64 constants."""
    instructions = np.frombuffer(b"".join(codes), dtype=np.int32).reshape(-1, 1 + MAX_ARITY)
    return instructions, np.frombuffer(b"".join(constants), dtype=np.float64)


def log_failures(too_long: int, overflow: int, max_length: int, dtype) -> None:
    """Warn about programs that evaluate to NaN: ``too_long`` beyond ``max_length``, ``overflow`` with a constant beyond ``dtype``."""
    if too_long:
        logger.warning(
            "%d programs are longer than max_length=%d instructions; they evaluate to NaN. "
            "Raise max_length to evaluate them",
            too_long, max_length,
        )  # fmt: skip
    if overflow:
        logger.warning(
            "%d programs have a constant beyond the %s range; they evaluate to NaN",
            overflow, np.dtype(dtype).name,
        )  # fmt: skip


def shared_rows_per_program(length: int) -> int:
    """Return the shared register rows per program for programs of ``length`` positions.

    One row stores the program's output. The rest store values that other
    programs read, and a launch that needs more rows shares nothing.
    """
    return 1 + SHARED_ROWS_PER_16_INSTRUCTIONS * max(1, length // 16)


def layout_for(n_inputs: int, length: int, programs: int) -> stream_layout.Layout:
    """Return the register rows of a shard of ``programs`` programs of ``length`` positions."""
    return stream_layout.Layout(n_inputs, length, programs * shared_rows_per_program(length))


def _branches(n_points: int, dtype):
    def const(registers, row, k):
        return jnp.full((n_points,), k, dtype)

    def op(name):
        function = jax_ops.FAST_CPU_FUNCTIONS[name]
        arity = int(ARITY[OPCODES.index(name)])

        def branch(registers, row, k):
            # Read only the op's arguments, inside the branch, so unused ones
            # cost nothing and the reads fuse with the op.
            rows = [lax.dynamic_index_in_dim(registers, row[1 + j], keepdims=False) for j in range(arity)]
            rows += [None] * (MAX_ARITY - arity)
            return function(*rows)

        return branch

    return [const if name == "const" else op(name) for name in OPCODES]


def _run_block(stream: stream_layout.ShardStream, layout: stream_layout.Layout, inputs_t):
    """Run a shard's stream on a block of points ``inputs_t`` (n_inputs, points); returns (programs, points)."""
    n_inputs, n_points = inputs_t.shape
    branches = _branches(n_points, inputs_t.dtype)
    registers = jnp.zeros((layout.rows, n_points), inputs_t.dtype)
    registers = registers.at[:n_inputs].set(inputs_t).at[layout.nan_row].set(jnp.nan)
    constants = stream.constants.astype(inputs_t.dtype)

    def step(t, registers):
        row = stream.instructions[t]
        value = lax.switch(row[0], branches, registers, row, constants[t])
        return lax.dynamic_update_index_in_dim(registers, value, row[4], axis=0)

    registers = lax.fori_loop(0, stream.count, step, registers)
    return jnp.take(registers, stream.outputs, axis=0)


def _run(stream, layout, inputs_t):
    """Run a shard's stream on all points, block by block; returns (programs, points)."""
    n_inputs, n_points = inputs_t.shape
    run_block = functools.partial(_run_block, stream, layout)
    if n_points <= BLOCK_POINTS:
        return run_block(inputs_t)

    # Zero-padded points compute values that are sliced off below.
    blocks = -(-n_points // BLOCK_POINTS)
    padded = jnp.pad(inputs_t, ((0, 0), (0, blocks * BLOCK_POINTS - n_points)))
    padded = padded.reshape(n_inputs, blocks, BLOCK_POINTS).transpose(1, 0, 2)
    outputs = lax.map(run_block, padded)
    return outputs.transpose(1, 0, 2).reshape(stream.outputs.shape[0], -1)[:, :n_points]


def squared_error(outputs, targets):
    """Return the mean squared error per row; ``inf`` where an output is not finite."""
    mse = jnp.mean((outputs - targets) ** 2, axis=-1)
    finite = jnp.all(jnp.isfinite(outputs), axis=-1) & jnp.isfinite(mse)
    return jnp.where(finite, mse, jnp.inf)


def _shard(code, code_constants, lengths, failed, inputs_t, targets, length: int, share: bool):
    """Lay out and run one shard; returns (outputs or losses, failed, live count, computed count)."""
    kind = "stream" if targets is None else "stream-mse"
    TRACES[(kind, code.shape, inputs_t.shape, str(inputs_t.dtype), share)] += 1
    programs = lengths.shape[0]
    layout = layout_for(inputs_t.shape[0], length, programs)
    stream = stream_layout.build(code, code_constants, lengths, failed, layout, inputs_t.dtype, share)
    outputs = _run(stream, layout, inputs_t)
    result = outputs if targets is None else squared_error(outputs, targets)
    return result, stream.failed, stream.live, stream.count


@functools.cache
def _sharded(shards: int, with_targets: bool, length: int, share: bool):
    """Return the jitted launch that runs one shard per CPU device; inputs and targets go to every device."""
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:shards]), ("shard",))

    def per_device(code, code_constants, lengths, failed, inputs_t, *targets):
        # Each device receives its block of the stacked shard arrays, with a leading axis of 1.
        target_array = targets[0] if with_targets else None
        result = _shard(code[0], code_constants[0], lengths[0], failed[0], inputs_t, target_array, length, share)
        return jax.tree.map(lambda array: array[None], result)

    shard, same = jax.sharding.PartitionSpec("shard"), jax.sharding.PartitionSpec()
    in_specs = (shard, shard, shard, shard, same) + ((same,) if with_targets else ())
    # The layout builds its loop carries from constants, which shard_map would
    # otherwise require to be marked as varying across devices.
    return jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=in_specs, out_specs=shard, check_vma=False))


def shard_count(size: int) -> int:
    """Return the number of CPU devices to split a batch of ``size`` programs over.

    The count is a power of two that divides ``size``, so that every shard has
    the same number of programs.
    """
    devices = jax.local_device_count() if jax.default_backend() == "cpu" else 1
    shards = 1
    while shards * 2 <= min(devices, size) and size % (shards * 2) == 0:
        shards *= 2
    return shards


def pack(programs: Sequence[Program], size: int, shards: int, max_length: int):
    """Return the packed code of a launch, split into ``shards`` equal groups of programs.

    Args:
        programs: at most ``size`` programs with the same number of inputs.
        size: programs per launch, padding included; a multiple of ``shards``.
        shards: groups, one per device.
        max_length: longer programs are left out and marked failed.

    Returns:
        (code, code_constants, lengths, failed, length): int32 (shards, cells, 4),
        float64 (shards, cells), int32 (shards, programs per shard), bool
        (shards, programs per shard), and the length bucket. A shard has
        ``cells`` = programs per shard times the length bucket.
    """
    per_shard = size // shards
    # Each program's bytes are read once; touching the objects is most of the cost.
    codes = list(map(code_of, programs))
    constants = list(map(code_constants_of, programs))
    lengths = np.zeros(size, dtype=np.int32)
    lengths[: len(programs)] = np.fromiter(map(len, constants), np.int32, len(programs)) // 8
    too_long = lengths > max_length
    lengths[too_long] = 0
    length = max(MIN_LENGTH, 1 << max(int(lengths.max()) - 1, 0).bit_length())

    code = np.zeros((shards, per_shard * length, 1 + MAX_ARITY), dtype=np.int32)
    code_constants = np.zeros((shards, per_shard * length), dtype=np.float64)
    for shard in range(shards):
        group = slice(shard * per_shard, min((shard + 1) * per_shard, len(programs)))
        shard_codes, shard_constants = codes[group], constants[group]
        if too_long[group].any():
            shard_codes = list(itertools.compress(shard_codes, ~too_long[group]))
            shard_constants = list(itertools.compress(shard_constants, ~too_long[group]))
        instructions, values = joined_code(shard_codes, shard_constants)
        code[shard, : len(instructions)] = instructions
        code_constants[shard, : len(instructions)] = values
    log_failures(int(too_long.sum()), 0, max_length, np.float64)
    return code, code_constants, lengths.reshape(shards, per_shard), too_long.reshape(shards, per_shard), length


def run(
    programs: Sequence[Program], inputs: np.ndarray, size: int, max_length: int, targets=None, share: bool = True
) -> np.ndarray:
    """Run one launch of programs with the stream interpreter.

    Args:
        programs: at most ``size`` programs with the same number of inputs.
        inputs: array of shape (points, n_inputs) in the evaluation dtype.
        size: programs per launch, padding included (a bucket).
        max_length: longer programs evaluate to NaN.
        targets: None to return outputs; an array of shape (points,) to
            return mean squared errors instead.
        share: compute each distinct value once.

    Returns:
        Outputs of shape (programs, points), or losses of shape (programs,).
    """
    shards = shard_count(size)
    code, code_constants, lengths, too_long, length = pack(programs, size, shards, max_length)
    inputs_t = jnp.asarray(np.ascontiguousarray(inputs.T))
    target_array = None if targets is None else jnp.asarray(targets, dtype=inputs.dtype)
    arrays = (code, code_constants, lengths, too_long)

    launch = _sharded(shards, targets is not None, length, share)
    result, failed, live, computed = launch(*arrays, inputs_t, *([] if targets is None else [target_array]))
    result, failed, live, computed = jax.device_get((result, failed, live, computed))
    overflow = failed.reshape(-1) & ~too_long.reshape(-1) & (lengths.reshape(-1) > 0)
    log_failures(0, int(overflow.sum()), max_length, inputs.dtype)
    logger.debug("stream launch: %d live instructions, %d computed", np.sum(live), np.sum(computed))
    return result.reshape(size, *result.shape[2:])[: len(programs)]


def count_instructions(programs: Sequence[Program], size: int, max_length: int, share: bool = True) -> tuple[int, int]:
    """Return how many live instructions one launch of ``programs`` has, and how many of them it computes.

    The difference is the instructions whose value another instruction of the
    same shard already computes.
    """
    if not programs:
        return 0, 0
    shards = shard_count(size)
    code, code_constants, lengths, too_long, length = pack(programs, size, shards, max_length)
    layout = layout_for(programs[0].n_inputs, length, size // shards)
    counts = [_counts(*(array[shard] for array in (code, code_constants, lengths, too_long)), layout, share)
              for shard in range(shards)]  # fmt: skip
    return tuple(int(sum(column)) for column in zip(*counts))


@functools.partial(jax.jit, static_argnames=("layout", "share"))
def _counts(code, code_constants, lengths, failed, layout, share):
    shard = stream_layout.build(code, code_constants, lengths, failed, layout, jnp.float64, share)
    return shard.live, shard.count

