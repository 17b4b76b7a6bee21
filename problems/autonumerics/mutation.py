"""Random edits for exp programs: the engine's op edits with a wrap that fits numerical kernels.

``evolve.mutation.OpMutator`` wraps a value ``v`` as ``op(v, ...)``, with ``v``
always first and a fresh constant, when it adds one, second. Kernels such as Horner steps
need ``v`` elsewhere, e.g. ``fma(v, x, c)`` or ``c / v``, and read ``x`` in most
ops. This mutator's wrap puts ``v`` and the fresh constant in random argument
slots and fills the other slots with ``x`` half of the time, else with a random
earlier register, and wraps the output more often. Nothing about polynomials
is built in.
"""

import dataclasses

import numpy as np

from evolve.mutation import OpMutator
from evolve.ops import OPS
from evolve.program import Instruction, Program

# Probability that a filled argument slot reads the input x.
INPUT_PROBABILITY = 0.5
# Probability that the wrapped value is the output rather than an operand inside:
# wrapping the output, as in p -> fma(p, x, c), grows a kernel by one step.
OUTPUT_PROBABILITY = 0.5


@dataclasses.dataclass(frozen=True)
class KernelMutator(OpMutator):
    """``OpMutator`` whose wrap edit permutes the argument slots (see the module docstring)."""

    def _wrap(self, program: Program, rng: np.random.Generator) -> Program:
        if not program.instructions or len(program) + 2 > self.max_length:
            return self._insert(program, rng)
        op = self._random_op(rng, exclude_const=True)
        arity = OPS[op].arity

        # The wrapped value is read by instruction `target` (argument `slot`), or is the output.
        readers = [i for i, ins in enumerate(program.instructions) if ins.args]
        if readers and rng.random() >= OUTPUT_PROBABILITY:
            target = readers[int(rng.integers(len(readers)))]
            slot = int(rng.integers(len(program.instructions[target].args)))
            value = program.instructions[target].args[slot]
        else:
            target, slot, value = len(program), 0, program.output_register

        base = self.n_inputs + target
        new: list[Instruction] = []
        args: list[int | None] = [None] * arity
        free = list(range(arity))
        args[free.pop(int(rng.integers(arity)))] = value
        if free and "const" in self.op_names and rng.random() < 0.5:
            new.append(Instruction("const", (), self._random_constant(rng)))
            args[free.pop(int(rng.integers(len(free))))] = base
        for position in free:
            args[position] = 0 if rng.random() < INPUT_PROBABILITY else int(rng.integers(base + len(new)))
        new.append(Instruction(op, tuple(args)))
        wrapped = base + len(new) - 1

        # Later instructions move up by the inserted count; the target reads the wrapped value.
        shifted = []
        for instruction in program.instructions[target:]:
            moved = tuple(a + len(new) if a >= base else a for a in instruction.args)
            shifted.append(dataclasses.replace(instruction, args=moved))
        if target < len(program):
            target_args = list(shifted[0].args)
            target_args[slot] = wrapped
            shifted[0] = dataclasses.replace(shifted[0], args=tuple(target_args))
        return Program(self.n_inputs, program.instructions[:target] + tuple(new) + tuple(shifted))
