"""Lay out a shard of packed programs as an instruction stream, on the device.

The host sends each shard's packed code (``Program.code``, joined) and program
lengths. This module, traced into the same XLA computation as the stream
interpreter, unpacks them into a (programs, length) grid, finds the live
instructions and the values several of them share, assigns register rows and
writes the stream. Only instructions that compute a distinct live value run.

A shard's register rows come in four groups, in order:

- the inputs;
- one row of NaN, the output of failed programs;
- one work row per program position, reused by every program;
- ``shared_rows`` rows for values that outlive their program: outputs, and
  values that other programs read.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from evolve import subexpressions
from evolve.ops import ARITY, MAX_ARITY, OPCODE


@dataclasses.dataclass(frozen=True)
class Layout:
    """Rows of the register file of a shard with ``n_inputs`` inputs and programs of ``length`` positions."""

    n_inputs: int
    length: int
    shared_rows: int

    @property
    def nan_row(self) -> int:
        return self.n_inputs

    @property
    def first_work_row(self) -> int:
        return self.n_inputs + 1

    @property
    def first_shared_row(self) -> int:
        return self.n_inputs + 1 + self.length

    @property
    def rows(self) -> int:
        return self.first_shared_row + self.shared_rows


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ShardStream:
    """The stream of one shard, as device arrays.

    Attributes:
        instructions: int32, shape (programs * length, 5): opcode, three
            argument rows, destination row; the first ``count`` are used.
        constants: float64, shape (programs * length,).
        count: int32 scalar.
        outputs: int32, shape (programs,); the row holding each output.
        failed: bool, shape (programs,); programs that run as NaN because
            they are empty, were marked failed, or have a constant beyond
            the evaluation dtype's range.
        live: int32 scalar; live instructions of the shard.
    """

    instructions: jax.Array
    constants: jax.Array
    count: jax.Array
    outputs: jax.Array
    failed: jax.Array
    live: jax.Array


def unpack(code, code_constants, lengths, length: int):
    """Return the (programs, length) grid of opcodes, argument registers and constants, and a mask of real cells.

    Args:
        code: int32, shape (cells, 4); the shard's packed programs back to back.
        code_constants: float64, shape (cells,).
        lengths: int32, shape (programs,); instructions per program, 0 for
            padding and for programs left out of ``code``.
        length: the length bucket.
    """
    starts = jnp.cumsum(lengths) - lengths
    column = jnp.arange(length, dtype=jnp.int32)
    real = column[None, :] < lengths[:, None]
    cells = jnp.where(real, starts[:, None] + column[None, :], 0)
    grid = jnp.where(real[..., None], code[cells], 0)
    constants = jnp.where(real, code_constants[cells], 0.0)
    return grid[..., 0], grid[..., 1:], constants, real


def live_instructions(opcodes, args, lengths, valid, n_inputs: int):
    """Return a bool mask (programs, length) of the instructions the outputs of valid programs depend on."""
    programs, length = opcodes.shape
    rows = jnp.arange(programs)
    arity = jnp.asarray(ARITY)[opcodes]
    live = jnp.zeros((programs, n_inputs + length), bool)
    live = live.at[rows, n_inputs + jnp.maximum(lengths, 1) - 1].set(valid)

    def column(step, live):
        i = length - 1 - step
        reads = live[:, n_inputs + i]
        for j in range(MAX_ARITY):
            live = live.at[rows, args[:, i, j]].max(reads & (arity[:, i] > j))
        return live

    return lax.fori_loop(0, length, column, live)[:, n_inputs:]


def out_of_range(opcodes, constants, real, dtype):
    """Return, per program, whether a finite constant overflows ``dtype``."""
    limit = jnp.finfo(dtype).max
    beyond = real & (opcodes == OPCODE["const"]) & jnp.isfinite(constants) & (jnp.abs(constants) > limit)
    return jnp.any(beyond, axis=1)


def build(code, code_constants, lengths, failed, layout: Layout, dtype, share: bool = True) -> ShardStream:
    """Return the stream of one shard.

    Args:
        code, code_constants, lengths: the shard's packed programs, as for `unpack`.
        failed: bool, shape (programs,); programs to run as NaN.
        layout: the register rows; ``layout.shared_rows`` must be at least the
            number of programs.
        dtype: the evaluation dtype, for the range of constants.
        share: compute each distinct value once; False runs every live instruction.
    """
    programs = lengths.shape[0]
    opcodes, args, constants, real = unpack(code, code_constants, lengths, layout.length)
    failed = failed | out_of_range(opcodes, constants, real, dtype) | (lengths == 0)
    live = live_instructions(opcodes, args, lengths, ~failed, layout.n_inputs)
    output_cells = jnp.arange(programs, dtype=jnp.int32) * layout.length + jnp.maximum(lengths, 1) - 1

    first, rows = _shared_values(opcodes, args, constants, live, output_cells, ~failed, layout, share)
    return _assemble(opcodes, constants, live, first, rows, output_cells, failed, layout)


def _shared_values(opcodes, args, constants, live, output_cells, valid, layout: Layout, share: bool):
    """Return the cell that computes each value, and the register rows; no sharing when ``share`` is False."""
    unshared = jnp.arange(live.size, dtype=jnp.int32)

    def without_sharing():
        values = subexpressions.argument_values(args, unshared, layout.n_inputs)
        return unshared, _register_rows(values, live, unshared, output_cells, valid, layout)

    if not share:
        return without_sharing()

    hashes = subexpressions.structural_hashes(opcodes, args, constants, layout.n_inputs).reshape(-1)
    matches = subexpressions.first_occurrences(hashes, live.reshape(-1))
    values = subexpressions.argument_values(args, matches, layout.n_inputs)
    exact = subexpressions.matches_are_exact(opcodes, constants, values, matches, live)
    rows = _register_rows(values, live, matches, output_cells, valid, layout)

    # After a hash collision, or with more values outliving their program than
    # shared rows, share nothing: outputs alone always fit.
    sharing = exact & (rows.shared <= layout.shared_rows)
    return lax.cond(sharing, lambda: (matches, rows), without_sharing)


def _assemble(opcodes, constants, live, first, rows, output_cells, failed, layout: Layout) -> ShardStream:
    """Return the stream: the instructions that compute a value, in cell order, which puts arguments first."""
    runs = live.reshape(-1) & (first == jnp.arange(live.size))
    position = jnp.where(runs, jnp.cumsum(runs) - 1, runs.shape[0])
    fields = [opcodes.reshape(-1), *(rows.arguments[..., j].reshape(-1) for j in range(MAX_ARITY)), rows.destination]
    instructions = jnp.zeros((runs.shape[0], 5), jnp.int32).at[position].set(jnp.stack(fields, axis=1), mode="drop")
    stream_constants = jnp.zeros(runs.shape[0], constants.dtype).at[position].set(constants.reshape(-1), mode="drop")
    outputs = jnp.where(failed, layout.nan_row, rows.destination[first[output_cells]])
    return ShardStream(
        instructions, stream_constants, jnp.sum(runs, dtype=jnp.int32), outputs, failed,
        jnp.sum(live, dtype=jnp.int32),
    )  # fmt: skip


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Rows:
    destination: jax.Array  # int32, shape (cells,); the row each value is written to
    arguments: jax.Array  # int32, shape (programs, length, 3); the rows each instruction reads
    shared: jax.Array  # int32 scalar; values that need a shared row


def _register_rows(values, live, first, output_cells, valid, layout: Layout) -> _Rows:
    """Assign register rows to the values of a shard.

    A value read only by its own program takes the work row of its position.
    Outputs and values that other programs read take a shared row.

    Args:
        values: int32, shape (programs, length, 3); from ``subexpressions.argument_values``.
        live: bool, shape (programs, length).
        first: int32, shape (programs * length,); the cell that computes each value.
        output_cells: int32, shape (programs,); the cell of each program's output.
        valid: bool, shape (programs,); programs that are not failed.
        layout: the register rows.
    """
    programs, length, _ = values.shape
    runs = (live.reshape(-1) & (first == jnp.arange(first.shape[0])))[:, None]
    cells = values.reshape(-1, MAX_ARITY) - layout.n_inputs
    reader = jnp.repeat(jnp.arange(programs, dtype=jnp.int32), length)[:, None]
    crossing = runs & (cells >= 0) & (cells // length != reader)

    count = first.shape[0]
    read_across = jnp.zeros(count, bool).at[jnp.where(crossing, cells, count)].set(True, mode="drop")
    output = jnp.zeros(count, bool).at[jnp.where(valid, first[output_cells], count)].set(True, mode="drop")
    only_output = output & ~read_across

    # Values read across programs come first, so that the rows the stream reads
    # again stay together in the cache; outputs only written follow them.
    across = jnp.sum(read_across, dtype=jnp.int32)
    rank = jnp.where(
        read_across,
        jnp.cumsum(read_across, dtype=jnp.int32) - 1,
        across + jnp.cumsum(only_output, dtype=jnp.int32) - 1,
    )
    column = jnp.tile(jnp.arange(length, dtype=jnp.int32), programs)
    persistent = read_across | output
    destination = jnp.where(persistent, layout.first_shared_row + rank, layout.first_work_row + column)

    row_of_value = jnp.concatenate([jnp.arange(layout.n_inputs, dtype=jnp.int32), destination])
    return _Rows(destination, row_of_value[values], jnp.sum(persistent, dtype=jnp.int32))
