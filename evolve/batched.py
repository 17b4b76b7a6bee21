"""Batched evaluation of op programs as one XLA computation.

A batch of programs is encoded as padded integer arrays (opcode and argument
registers per instruction) plus a float array of constants. Shapes are bucketed
(program length and batch size rounded up to powers of two), so a search
compiles once per bucket. The compiled functions stay in ``jax.jit``'s cache for
the life of the process.

Two interpreters run the encoding, with the op semantics of ``evolve.ops``:

- ``vmap`` (accelerators, and constant fitting): ``run_program`` runs one
  program with ``lax.switch`` per instruction, and ``jax.vmap`` maps it over
  the batch. Under ``vmap`` the switch becomes a select, so every instruction
  computes all 14 ops; a GPU has the arithmetic to spare.
- ``stream`` (CPU, ``evolve.stream``): the live instructions of all programs
  form one flat stream per CPU device that a ``fori_loop`` runs in order, each
  step a real ``lax.switch`` branch that computes a single op on all points.
  Dead code and length padding cost nothing, each distinct value of a launch is
  computed once, and sine, cosine and the float64 logarithm use the vectorizable
  forms of ``evolve.cpu_math`` because XLA's CPU versions are 1.5-4.5 times slower.

Bad programs never crash a batch or affect other programs. An empty program,
one longer than ``max_length`` and one with a constant beyond the evaluation
dtype's range each run as a single NaN constant, so the output is NaN and the
loss is ``inf``. XLA on CPU flushes subnormal numbers to zero, unlike the NumPy
reference interpreter.
"""

import collections
import dataclasses
import functools
import logging
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from evolve import jax_ops, jax_setup, stream
from evolve.ops import ARITY, MAX_ARITY, OPCODE, OPCODES
from evolve.program import Program

logger = logging.getLogger(__name__)

# Double precision is needed to fit constants to 1e-10 relative error; problems
# that search float32 programs pass float32 inputs explicitly.
jax_setup.configure()


DEFAULT_MAX_LENGTH = 256
DEFAULT_MAX_BATCH = 16384
# Share of device memory one launch may use; JAX, XLA temporaries and the
# problem's own arrays need the rest.
DEFAULT_MEMORY_FRACTION = 0.5
STRATEGIES = ("stream", "vmap")

# Trace counts per interpreter and shape; a trace is followed by a compilation.
_TRACES: collections.Counter = collections.Counter()


def trace_counts() -> dict:
    """Return how often each interpreter was traced, keyed by (name, shapes, dtype, ...)."""
    return {**_TRACES, **stream.TRACES}


# ---------------------------------------------------------------- encoding


@dataclasses.dataclass(frozen=True)
class EncodedBatch:
    """A batch of programs as padded arrays.

    Attributes:
        opcodes: int32, shape (programs, length). Positions at and after a
            program's length hold ``copy`` of the previous register.
        args: int32, shape (programs, length, 3); unused arguments are 0.
        constants: float64, shape (programs, length); 0 where the op is not ``const``.
        n_inputs: inputs of every program in the batch.
        count: real programs; rows beyond it are padding.
        lengths: int32, shape (programs,); instructions per row, at least 1.
        failed: bool, shape (programs,); True where the program was longer
            than ``max_length`` or had a constant beyond the dtype's range, so
            its row runs as a NaN constant. Empty programs also run as a NaN
            constant but are not marked.
    """

    opcodes: np.ndarray
    args: np.ndarray
    constants: np.ndarray
    n_inputs: int
    count: int
    lengths: np.ndarray
    failed: np.ndarray


def bucket(n: int, minimum: int = 1) -> int:
    """Round ``n`` up to a power of two, at least ``minimum``."""
    size = max(minimum, 1)
    while size < n:
        size *= 2
    return size


def encode(
    programs: Sequence[Program],
    min_length: int = 8,
    min_batch: int = 8,
    max_length: int = DEFAULT_MAX_LENGTH,
    dtype=np.float64,
) -> EncodedBatch:
    """Encode programs into bucketed padded arrays.

    Args:
        programs: programs with the same number of inputs.
        min_length: smallest length bucket.
        min_batch: smallest batch bucket.
        max_length: maximum program length; longer programs become NaN constants.
        dtype: the evaluation dtype; programs with a finite constant beyond its
            range become NaN constants instead of running with ``inf``.

    Raises:
        ValueError: if the batch is empty or mixes numbers of inputs.
    """
    n_inputs = _common_inputs(programs)
    lengths = np.array([len(p) for p in programs], dtype=np.int64)
    too_long = lengths > max_length
    length = bucket(max(int(lengths[~too_long].max(initial=1)), 1), min_length)
    size = bucket(len(programs), min_batch)
    opcodes, args, constants = _scatter(programs, lengths, too_long, (size, length))

    all_lengths = np.zeros(size, dtype=np.int32)
    all_lengths[: len(programs)] = np.where(too_long, 0, lengths)
    failed = np.zeros(size, dtype=bool)
    failed[: len(programs)] = too_long | _out_of_range(constants[: len(programs)], dtype)
    stream.log_failures(int(too_long.sum()), int((failed[: len(programs)] & ~too_long).sum()), max_length, dtype)

    # Empty, failed and padding rows become one NaN constant. Then every row is
    # padded with copies of its last register, so the output is the last register.
    nan_rows = (all_lengths == 0) | failed
    opcodes[nan_rows] = OPCODE["const"]
    constants[nan_rows] = 0.0
    constants[nan_rows, 0] = np.nan
    all_lengths[nan_rows] = 1
    _pad_with_copies(opcodes, args, constants, all_lengths, n_inputs)
    return EncodedBatch(opcodes, args, constants, n_inputs, len(programs), all_lengths, failed)


def _common_inputs(programs: Sequence[Program]) -> int:
    if not programs:
        raise ValueError("cannot encode an empty batch of programs.")
    counts = sorted({p.n_inputs for p in programs})
    if len(counts) > 1:
        raise ValueError(
            f"every program in a batch must have the same number of inputs, got {counts}. "
            "Evaluate programs with different input counts in separate batches."
        )
    return counts[0]


def _scatter(programs, lengths, too_long, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return zero-padded opcode, argument and constant arrays of ``shape`` for the programs not too long."""
    encodable = [p for p, skip in zip(programs, too_long) if not skip]
    encodable_lengths = lengths[~too_long]
    codes, args, values = _flatten(encodable)
    starts = np.cumsum(encodable_lengths) - encodable_lengths
    rows = np.repeat(np.nonzero(~too_long)[0], encodable_lengths)
    columns = np.arange(len(codes)) - np.repeat(starts, encodable_lengths)

    opcodes = np.zeros(shape, dtype=np.int32)
    arg_array = np.zeros((*shape, MAX_ARITY), dtype=np.int32)
    constants = np.zeros(shape, dtype=np.float64)
    opcodes[rows, columns] = codes
    arg_array[rows, columns] = args
    constants[rows, columns] = values
    return opcodes, arg_array, constants


def _flatten(programs: Sequence[Program]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return opcodes, padded arguments and constants of all instructions, in order."""
    # Each program packed its instructions when it was created; joining the
    # bytes reads a whole batch without visiting an instruction object.
    code, constants = stream.joined_code(map(stream.code_of, programs), map(stream.code_constants_of, programs))
    return code[:, 0], code[:, 1:], constants


def _out_of_range(constants: np.ndarray, dtype) -> np.ndarray:
    """Return, per row, whether a finite constant overflows ``dtype``."""
    limit = np.finfo(dtype).max
    with np.errstate(invalid="ignore"):
        overflow = np.isfinite(constants) & (np.abs(constants) > limit)
    return overflow.any(axis=1)


def _pad_with_copies(opcodes, args, constants, lengths, n_inputs: int) -> None:
    length = opcodes.shape[1]
    columns = np.arange(length)
    padding = columns[None, :] >= lengths[:, None]
    opcodes[padding] = OPCODE["copy"]
    constants[padding] = 0.0
    args[padding] = 0
    args[..., 0] = np.where(padding, n_inputs + columns[None, :] - 1, args[..., 0])


def live_instructions(encoded: EncodedBatch) -> np.ndarray:
    """Return a bool mask (programs, length) of the instructions the output depends on."""
    size, length = encoded.opcodes.shape
    n_inputs = encoded.n_inputs
    live = np.zeros((size, n_inputs + length), dtype=bool)
    live[np.arange(size), n_inputs + encoded.lengths - 1] = True
    arity = ARITY[encoded.opcodes]
    for i in range(length - 1, -1, -1):
        reads = live[:, n_inputs + i]
        for j in range(MAX_ARITY):
            rows = np.nonzero(reads & (arity[:, i] > j))[0]
            live[rows, encoded.args[rows, i, j]] = True
    return live[:, n_inputs:]


# ---------------------------------------------------------------- vmap interpreter


def _branches():
    # Every branch takes (a, b, c, constant) so lax.switch can select among them.
    def const(a, b, c, k):
        return jnp.full_like(a, k)

    def op(name):
        function = jax_ops.OP_FUNCTIONS[name]
        return lambda a, b, c, k: function(a, b, c)

    return [const if name == "const" else op(name) for name in OPCODES]



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


@jax.jit
def run_batch(opcodes, args, constants, inputs):
    """Run every encoded program on the same points; returns (programs, points)."""
    _TRACES[("vmap", opcodes.shape, inputs.shape, str(inputs.dtype))] += 1
    return jax.vmap(run_program, in_axes=(0, 0, 0, None))(opcodes, args, constants, inputs)


@jax.jit
def _vmap_mse(opcodes, args, constants, inputs, targets):
    _TRACES[("vmap-mse", opcodes.shape, inputs.shape, str(inputs.dtype))] += 1
    outputs = jax.vmap(run_program, in_axes=(0, 0, 0, None))(opcodes, args, constants, inputs)
    return stream.squared_error(outputs, targets)


# ---------------------------------------------------------------- streams of an encoded batch (constant fitting)


def live_positions(encoded: EncodedBatch) -> tuple[np.ndarray, np.ndarray]:
    """Return (rows, columns) of the live instructions of the real programs, program by program, in order."""
    live = live_instructions(encoded)
    live[encoded.count :] = False
    return np.nonzero(live)


def stream_instructions(encoded: EncodedBatch, rows, columns, output_rows) -> tuple[np.ndarray, np.ndarray]:
    """Return the stream rows (opcode, three argument rows, destination row) and constants of instructions.

    Args:
        encoded: the batch.
        rows, columns: positions of the instructions, from `live_positions`.
        output_rows: per instruction, the register row its program's output goes to.
    """
    last = columns == encoded.lengths[rows] - 1
    instructions = np.empty((len(rows), 5), dtype=np.int32)
    instructions[:, 0] = encoded.opcodes[rows, columns]
    instructions[:, 1:4] = encoded.args[rows, columns]
    instructions[:, 4] = np.where(last, output_rows, encoded.n_inputs + columns)
    return instructions, encoded.constants[rows, columns]


# ---------------------------------------------------------------- public entry points


def bytes_per_program(n_points: int, length: int, n_inputs: int = 1, dtype=np.float32, strategy: str | None = None) -> int:
    """Estimate the device memory one program of a launch needs, in bytes.

    The ``vmap`` interpreter keeps every register of every program, about three
    copies at a time during the loop. The ``stream`` interpreter keeps
    ``stream.shared_rows_per_program`` shared rows per program, because work
    rows are reused, plus one output row, and per instruction a few dozen bytes
    of code, stream and layout arrays.
    """
    itemsize = np.dtype(dtype).itemsize
    if _check_strategy(strategy) == "vmap":
        return 3 * (n_inputs + length) * n_points * itemsize
    return (stream.shared_rows_per_program(length) + 1) * n_points * itemsize + length * 128


def device_memory_bytes(device=None) -> int:
    """Return the memory of a JAX device in bytes: its allocator limit, or the host's RAM for a CPU.

    Args:
        device: a ``jax.Device``; None uses the first default device.
    """
    return _memory_bytes(device or jax.devices()[0])


@functools.cache
def _memory_bytes(device) -> int:
    # A device's memory does not change while the process runs, and every launch reads it.
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    # CPU devices report no statistics; their arrays live in host memory.
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def choose_batch_size(
    n_points: int,
    length: int,
    n_inputs: int = 1,
    dtype=np.float32,
    strategy: str | None = None,
    memory_bytes: int | None = None,
    fraction: float = DEFAULT_MEMORY_FRACTION,
    minimum: int = 256,
    maximum: int = DEFAULT_MAX_BATCH,
) -> int:
    """Return the most programs per launch that fit in ``fraction`` of the device memory.

    The result is a power of two, so it is also a batch bucket, between
    ``minimum`` and ``maximum``.

    Args:
        n_points: points each program runs on.
        length: the length bucket of the programs.
        n_inputs: program inputs.
        dtype: the evaluation dtype.
        strategy: the interpreter (``stream`` or ``vmap``); None picks the
            default for the JAX backend.
        memory_bytes: device memory; None reads it with ``device_memory_bytes``.
        fraction: share of the memory one launch may use.
        minimum, maximum: bounds of the result.
    """
    if memory_bytes is None:
        memory_bytes = device_memory_bytes()
    per_program = max(bytes_per_program(n_points, length, n_inputs, dtype, strategy), 1)
    fitting = max(1, int(memory_bytes * fraction // per_program))
    size = 1 << (fitting.bit_length() - 1)
    return int(min(max(size, minimum), maximum))


def default_strategy() -> str:
    """Return the interpreter for the default JAX backend: ``stream`` on CPU, else ``vmap``."""
    return "stream" if jax.default_backend() == "cpu" else "vmap"


def _check_inputs(programs: Sequence[Program], inputs, dtype) -> np.ndarray:
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype).name}.")
    inputs = np.asarray(inputs, dtype=dtype)
    n_inputs = _common_inputs(programs) if programs else inputs.shape[-1]
    if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
        raise ValueError(f"inputs must have shape (points, {n_inputs}), got {inputs.shape}.")
    return inputs


def _check_strategy(strategy: str | None) -> str:
    strategy = strategy or default_strategy()
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.")
    return strategy


def _launches(programs: Sequence[Program], max_batch: int | None, n_points: int, max_length: int, dtype, strategy: str):
    """Yield the programs in launches of at most ``max_batch``; None sizes launches from device memory."""
    if max_batch is None:
        longest = min(max(map(len, map(stream.code_constants_of, programs))) // 8, max_length)
        n_inputs = programs[0].n_inputs
        max_batch = choose_batch_size(n_points, bucket(longest, 8), n_inputs, dtype, strategy)
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}.")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}.")
    for start in range(0, len(programs), max_batch):
        yield programs[start : start + max_batch]


def evaluate_batch(
    programs: Sequence[Program],
    inputs: np.ndarray,
    dtype=np.float64,
    strategy: str | None = None,
    max_batch: int | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    min_batch: int = 8,
    share: bool = True,
) -> np.ndarray:
    """Run programs on points with a batched interpreter.

    Args:
        programs: programs with the same number of inputs.
        inputs: array of shape (points, n_inputs).
        dtype: the floating-point type every op computes in.
        strategy: ``stream`` or ``vmap``; None picks ``default_strategy()``.
        max_batch: maximum programs per compiled launch; larger batches are
            split. None sizes launches from the device's memory with
            ``choose_batch_size``.
        max_length: maximum program length; longer programs return NaN.
        min_batch: smallest batch bucket. A search that passes its batch size
            here compiles once per length bucket, even when cache hits shrink
            some batches.
        share: with the ``stream`` interpreter, compute each distinct value of
            a launch once (``evolve.subexpressions``). Results are the same
            either way, except that a NaN can carry another sign or payload,
            because ``a + b`` and ``b + a`` then share one computation.

    Returns:
        Outputs of shape (programs, points), NaN rows for failed programs. Like
        NumPy views of JAX results, the array may be read-only; copy it to
        modify it.
    """
    strategy = _check_strategy(strategy)
    inputs = _check_inputs(programs, inputs, dtype)
    if not programs:
        return np.zeros((0, inputs.shape[0]), dtype=dtype)
    return _run_launches(programs, inputs, None, dtype, strategy, max_batch, max_length, min_batch, share)


def mse_batch(
    programs: Sequence[Program],
    inputs: np.ndarray,
    targets: np.ndarray,
    dtype=np.float64,
    strategy: str | None = None,
    max_batch: int | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    min_batch: int = 8,
    share: bool = True,
) -> np.ndarray:
    """Return each program's mean squared error on (inputs, targets), computed on the device.

    Only one number per program leaves the device. A program whose output is
    not finite at some point, and a failed program, get ``inf``.

    Args:
        programs: programs with the same number of inputs.
        inputs: array of shape (points, n_inputs).
        targets: array of shape (points,).
        dtype, strategy, max_batch, max_length, min_batch, share: as for ``evaluate_batch``.

    Returns:
        float array of shape (programs,).
    """
    strategy = _check_strategy(strategy)
    inputs = _check_inputs(programs, inputs, dtype)
    targets = np.asarray(targets, dtype=dtype)
    if targets.shape != (inputs.shape[0],):
        raise ValueError(f"targets must have shape ({inputs.shape[0]},), got {targets.shape}.")
    if not programs:
        return np.zeros(0, dtype=dtype)
    return _run_launches(programs, inputs, targets, dtype, strategy, max_batch, max_length, min_batch, share)


def _run_launches(programs, inputs, targets, dtype, strategy, max_batch, max_length, min_batch, share) -> np.ndarray:
    """Return the outputs (``targets`` None) or the losses of the programs, launch by launch."""
    results = []
    for launch in _launches(programs, max_batch, inputs.shape[0], max_length, dtype, strategy):
        if strategy == "stream":
            results.append(stream.run(launch, inputs, bucket(len(launch), min_batch), max_length, targets, share))
            continue
        encoded = encode(launch, min_batch=min_batch, max_length=max_length, dtype=dtype)
        arrays = [jnp.asarray(a) for a in (encoded.opcodes, encoded.args, encoded.constants.astype(dtype), inputs)]
        result = run_batch(*arrays) if targets is None else _vmap_mse(*arrays, jnp.asarray(targets))
        results.append(np.asarray(result)[: encoded.count])
    # One launch is the common case; concatenating would copy its outputs.
    return results[0] if len(results) == 1 else np.concatenate(results)
