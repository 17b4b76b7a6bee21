"""The structure of exp programs: constant folding, dependence on x, cost and the structural key.

A program's cost counts only the ops that depend on ``x``: an op that reads
constants alone is folded into one constant before evaluation, as a compiler
would fold it, so it costs nothing at run time.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from evolve.program import Instruction, Program
from problems.autonumerics import float32

ARITHMETIC_OPS = ("add", "sub", "mul", "div", "fma")


def depends_on_x(program: Program) -> list[bool]:
    """Return, per instruction, whether its value depends on the input ``x``."""
    depends = [True] * program.n_inputs
    for instruction in program.instructions:
        depends.append(any(depends[a] for a in instruction.args))
    return depends[program.n_inputs :]


def fold_constants(program: Program) -> Program:
    """Return the live program with every op on constants alone replaced by its float32 value.

    Constants are rounded to float32 (with flush-to-zero), so the result computes
    the same function in float32 as the input program does.
    """
    program = program.pruned()
    depends = depends_on_x(program)
    values: dict[int, float] = {}
    instructions = []
    for i, instruction in enumerate(program.instructions):
        register = program.n_inputs + i
        if instruction.op == "const":
            values[register] = float32.constant(instruction.value)
            instructions.append(Instruction("const", (), values[register]))
        elif not depends[i]:
            operands = [np.array([values[a]]) for a in instruction.args]
            result = float32.OPS[instruction.op](np, *operands)
            values[register] = float(result[0])
            instructions.append(Instruction("const", (), values[register]))
        else:
            instructions.append(instruction)
    return Program(program.n_inputs, tuple(instructions)).pruned()


def cost(program: Program, weights: Mapping[str, float]) -> float:
    """Return the summed weights of the live ops that depend on ``x`` (constants fold away)."""
    program = program.pruned()
    depends = depends_on_x(program)
    return float(
        sum(weights.get(ins.op, 1.0) for ins, dep in zip(program.instructions, depends) if dep and ins.op != "const")
    )


def structural_key(program: Program) -> str:
    """Return the listing of the folded program with every constant shown as ``c``.

    The operands of ``add`` and ``mul``, and the two factors of ``fma``, are
    sorted, because float32 rounding is the same in either order. Evaluation
    re-tunes every constant, so two programs with one key evaluate to the same
    structure; their tuned constants can still differ (see the problem's
    ``structural_key``).
    """
    folded = fold_constants(program)
    canonical = []
    for instruction in folded.instructions:
        if instruction.op == "const":
            canonical.append(dataclasses.replace(instruction, value=0.0))
        elif instruction.op in ("add", "mul"):
            canonical.append(dataclasses.replace(instruction, args=tuple(sorted(instruction.args))))
        elif instruction.op == "fma":
            a, b, c = instruction.args
            canonical.append(dataclasses.replace(instruction, args=(min(a, b), max(a, b), c)))
        else:
            canonical.append(instruction)
    return Program(folded.n_inputs, tuple(canonical)).listing().replace("const 0.0", "const c")
