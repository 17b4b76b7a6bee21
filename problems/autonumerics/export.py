"""Exporting an exp program as a standalone JAX module with ``approx(r)`` and ``exp(x)``.

The module uses only ``jax`` and ``jax.numpy`` and computes, under ``jax.jit``
on a CPU with FMA, bit for bit what the float32 evaluator computes:

- ``fma`` is written ``a * b + c``, which XLA contracts into one fused
  multiply-add (checked at import; the module warns where it does not);
- a product that an add, a subtraction or an ``fma`` addend reads goes through
  ``_rounded``, a select that keeps XLA from contracting it into that add, so
  it rounds on its own as the program defines;
- constants are written as the exact binary64 value of their float32 value.

``exp(x)`` wraps the kernel in the usual reduction ``x = k ln2 + r`` with ``k``
rounded to nearest, ``ln2`` split in two parts (Cody and Waite), and the scaling
by ``2**k`` done in two factors so that ``k = 128`` and results near the
subnormal range stay exact before flush-to-zero.
"""

import json

from evolve.program import Program

_HEADER = '''"""exp(x) in float32 from a program evolved by evolve (problem exp-float32).

approx(r) approximates exp(r) for float32 r in [-ln2/2, ln2/2]:
{accuracy}
It costs {ops} ops that depend on r.

Arithmetic: IEEE binary32, round to nearest even; fma rounds once; subnormal
inputs and results are flushed to zero, as XLA runs float32 on CPU. Under
jax.jit on a CPU with FMA the outputs match the program bit for bit; `evolve
verify` checks this on every input, on the machine that runs it.

Program:
{listing}
"""

import logging

import jax
import jax.numpy as jnp

logger = logging.getLogger(__name__)

_LOG2E = jnp.float32(1.4426950408889634)
# ln2 = _LN2_HIGH + _LN2_LOW; _LN2_HIGH has 9 significant bits, so k * _LN2_HIGH is
# exact for |k| <= 2**15 (Cody and Waite's reduction; the split of Cephes expf).
_LN2_HIGH = jnp.float32(0.693359375)
_LN2_LOW = jnp.float32(-2.12194440e-4)
# Beyond these, exp overflows to inf or flushes to 0; clipping keeps k in int32 range.
_X_MIN = jnp.float32(-104.0)
_X_MAX = jnp.float32(89.0)


def _rounded(product):
    # A select that XLA cannot see through: the product keeps its own rounding
    # instead of being contracted into the add that reads it.
    return jnp.where(product == product, product, jnp.float32(jnp.nan))


'''

_APPROX = '''@jax.jit
def approx(r):
    """Return the kernel's approximation of exp(r), float32, for r in [-ln2/2, ln2/2]."""
    r = jnp.asarray(r, dtype=jnp.float32)
{body}
    return {output}


'''

_WRAPPER = '''def _power_of_two(k):
    return jax.lax.bitcast_convert_type((k + 127) << 23, jnp.float32)


@jax.jit
def exp(x):
    """Return exp(x) for float32 x by range reduction around approx."""
    x = jnp.clip(jnp.asarray(x, dtype=jnp.float32), _X_MIN, _X_MAX)
    k = jnp.round(x * _LOG2E)
    r = x - k * _LN2_HIGH
    r = r - _rounded(k * _LN2_LOW)
    y = approx(r)
    k = k.astype(jnp.int32)
    half = k >> 1
    return y * _power_of_two(half) * _power_of_two(k - half)


def _fma_is_fused():
    # 1 + 2**-12 squared is 1 + 2**-11 + 2**-24; rounded on its own the 2**-24 is lost.
    a = jnp.float32(1 + 2.0**-12)
    c = jnp.float32(-(1 + 2.0**-11))
    return float(jax.jit(lambda a, c: a * a + c)(a, c)) != 0.0


if not _fma_is_fused():
    logger.warning(
        "XLA does not fuse a * b + c on this platform, so approx differs from the "
        "verified program in the last bit where it uses fma."
    )
'''


def python_module(program: Program, accuracy: str, ops: float) -> str:
    """Return the source of a standalone module for ``program``.

    Args:
        program: the kernel, a one-input program over const, add, sub, mul, div
            and fma, with constants folded and rounded to float32
            (``structure.fold_constants``).
        accuracy: one or two lines on its measured error, for the docstring.
        ops: its cost in ops.
    """
    program = program.pruned()
    listing = "\n".join(f"    {line}" for line in program.listing(("r",)).splitlines()) or "    (empty)"
    header = _HEADER.format(accuracy=accuracy, ops=f"{ops:g}", listing=listing)
    body, output = _approx_body(program)
    return header + _APPROX.format(body=body, output=output) + _WRAPPER


def _approx_body(program: Program) -> tuple[str, str]:
    """Return the statements of approx and the name of its output."""
    if not program.instructions:
        return "    nan = jnp.full_like(r, jnp.nan)", "nan"
    readers_of = _contracting_readers(program)
    names = ["r"]
    lines = []
    for i, instruction in enumerate(program.instructions):
        register = program.n_inputs + i
        name = f"v{register}"
        names.append(name)
        args = [names[a] for a in instruction.args]
        if instruction.op == "const":
            expression = f"jnp.float32({float(instruction.value)!r})"
            if i == len(program.instructions) - 1:
                expression = f"jnp.full_like(r, {expression})"
        elif instruction.op == "fma":
            expression = f"{args[0]} * {args[1]} + {args[2]}"
        elif instruction.op == "mul":
            expression = f"{args[0]} * {args[1]}"
            if register in readers_of:
                expression = f"_rounded({expression})"
        else:
            symbol = {"add": "+", "sub": "-", "div": "/"}[instruction.op]
            expression = f"{args[0]} {symbol} {args[1]}"
        lines.append(f"    {name} = {expression}")
    return "\n".join(lines), names[-1]


def _contracting_readers(program: Program) -> set[int]:
    """Return the registers of products that an add, a sub or an fma addend reads."""
    registers = set()
    for instruction in program.instructions:
        if instruction.op in ("add", "sub"):
            registers.update(instruction.args)
        elif instruction.op == "fma":
            registers.add(instruction.args[2])
    products = {program.n_inputs + i for i, ins in enumerate(program.instructions) if ins.op == "mul"}
    return registers & products


def json_document(program: Program, values: dict) -> str:
    """Return the program and its scores as JSON, constants also as exact hex floats."""
    program = program.pruned()
    data = {
        "problem": "exp-float32",
        "range": "[-ln2/2, ln2/2]",
        "values": values,
        "program": program.to_dict(),
        "constants_hex": [float(v).hex() for v in program.constants()],
        "listing": program.listing(("r",)).splitlines(),
    }
    return json.dumps(data, indent=2) + "\n"
