"""Random op edits on op programs.

Each edit keeps the register layout of ``evolve.program`` valid, so every child
runs. The edits follow the usual set of linear genetic programming (Brameier and
Banzhaf, 2007) and AutoNumerics-Zero (Real et al., 2023): insert, delete, change
op, rewire an argument and perturb a constant.
"""

import dataclasses
import logging
from collections.abc import Mapping

import numpy as np

from evolve.ops import OPS, check_op_names
from evolve.program import Instruction, Program

logger = logging.getLogger(__name__)

DEFAULT_EDIT_WEIGHTS: Mapping[str, float] = {
    "insert": 1.0,
    "wrap": 3.0,
    "delete": 2.0,
    "change_op": 2.0,
    "rewire": 2.0,
    "perturb_constant": 2.0,
}


@dataclasses.dataclass(frozen=True)
class OpMutator:
    """Proposes children of op programs by one random edit.

    Attributes:
        op_names: ops the edits may introduce.
        n_inputs: number of program inputs.
        max_length: inserts stop at this many instructions.
        edit_weights: relative probability of each edit.
        constant_scale: standard deviation of a freshly drawn constant.
        max_tries: edits drawn before giving up on producing a different program.
    """

    op_names: tuple[str, ...]
    n_inputs: int
    max_length: int = 32
    edit_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_EDIT_WEIGHTS)
    )
    constant_scale: float = 1.0
    max_tries: int = 20

    def __post_init__(self):
        object.__setattr__(self, "op_names", check_op_names(self.op_names))
        unknown = set(self.edit_weights) - set(DEFAULT_EDIT_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown edits {sorted(unknown)}; known edits: {sorted(DEFAULT_EDIT_WEIGHTS)}."
            )
        weights = list(self.edit_weights.values())
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(
                f"edit weights must be non-negative with a positive sum, got {dict(self.edit_weights)}."
            )
        if self.n_inputs < 1:
            raise ValueError(f"n_inputs must be at least 1, got {self.n_inputs}.")
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {self.max_tries}.")
        if self.max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {self.max_length}.")

    # Public API.

    def random_program(self, rng: np.random.Generator, length: int) -> Program:
        """Draw a program of ``length`` instructions with uniformly random ops and arguments."""
        instructions = []
        for i in range(length):
            instructions.append(self._random_instruction(rng, self.n_inputs + i))
        return Program(self.n_inputs, tuple(instructions))

    def mutate(self, parent: Program, rng: np.random.Generator) -> Program:
        """Return a child that differs from ``parent`` in its live structure or constants.

        After ``max_tries`` edits that change nothing (for example edits of dead
        code only) the last child is returned as it is.
        """
        if parent.n_inputs != self.n_inputs:
            raise ValueError(
                f"parent has {parent.n_inputs} inputs but this mutator makes programs with "
                f"{self.n_inputs}; build the mutator with n_inputs={parent.n_inputs}."
            )
        names = list(self.edit_weights)
        weights = np.array([self.edit_weights[n] for n in names], dtype=float)
        weights /= weights.sum()
        parent_key = _live_key(parent)
        child = parent
        for _ in range(self.max_tries):
            edit = names[rng.choice(len(names), p=weights)]
            child = getattr(self, f"_{edit}")(parent, rng)
            if _live_key(child) != parent_key:
                return child
        logger.debug("no effective edit after %d tries", self.max_tries)
        return child

    # Edits. Each returns a valid program, possibly equal to the parent.

    def _insert(self, program: Program, rng: np.random.Generator) -> Program:
        if len(program) >= self.max_length:
            return self._change_op(program, rng)
        position = int(rng.integers(len(program) + 1))
        new_register = self.n_inputs + position
        shifted = [_shift_registers(ins, new_register, +1) for ins in program.instructions]
        new = self._random_instruction(rng, new_register)
        instructions = shifted[:position] + [new] + shifted[position:]

        # Wire the new value into the computation, or the insert would be dead code:
        # a later instruction reads it, or, appended last, it reads the old output.
        if position < len(program):
            target = int(rng.integers(position + 1, len(instructions)))
            instructions[target] = _rewire_one(instructions[target], new_register, rng)
        elif program.instructions and new.args:
            instructions[-1] = _rewire_one(new, new_register - 1, rng)
        return Program(self.n_inputs, tuple(instructions))

    def _wrap(self, program: Program, rng: np.random.Generator) -> Program:
        """Replace a value ``v`` that an instruction (or the output) reads by ``op(v, ...)``.

        This is the tree edit "insert a node above a subtree". A binary op's second
        argument is a fresh constant half of the time, so ``v`` becomes ``v * c`` or
        ``v + c``, the most common step towards a formula.
        """
        if not program.instructions or len(program) + 2 > self.max_length:
            return self._insert(program, rng)
        op = self._random_op(rng, exclude_const=True)
        readers = [i for i, ins in enumerate(program.instructions) if ins.args]

        # The wrapped value is read by instruction `target`, or is the output.
        if readers and rng.random() < 0.7:
            target = readers[int(rng.integers(len(readers)))]
            slot = int(rng.integers(len(program.instructions[target].args)))
            value = program.instructions[target].args[slot]
        else:
            target, slot, value = len(program), 0, program.output_register

        new: list[Instruction] = []
        base = self.n_inputs + target
        args = [value]
        if OPS[op].arity >= 2 and "const" in self.op_names and rng.random() < 0.5:
            new.append(Instruction("const", (), self._random_constant(rng)))
            args.append(base)
        while len(args) < OPS[op].arity:
            args.append(int(rng.integers(base + len(new))))
        new.append(Instruction(op, tuple(args)))
        wrapped = base + len(new) - 1

        shifted = [_shift_registers(ins, base, len(new)) for ins in program.instructions[target:]]
        if target < len(program):
            readers_args = list(shifted[0].args)
            readers_args[slot] = wrapped
            shifted[0] = dataclasses.replace(shifted[0], args=tuple(readers_args))
        instructions = program.instructions[:target] + tuple(new) + tuple(shifted)
        return Program(self.n_inputs, instructions)

    def _delete(self, program: Program, rng: np.random.Generator) -> Program:
        if len(program) <= 1:
            return self._insert(program, rng)
        position = int(rng.integers(len(program)))
        removed = program.instructions[position]
        register = self.n_inputs + position

        # Readers of the deleted register read one of its arguments instead, so
        # deleting f(g(x)) can leave f(x) rather than a random rewire.
        if removed.args:
            replacement = removed.args[int(rng.integers(len(removed.args)))]
        else:
            replacement = int(rng.integers(register)) if register > 0 else 0
        instructions = []
        for ins in program.instructions[position + 1 :]:
            args = tuple(replacement if a == register else a for a in ins.args)
            instructions.append(_shift_registers(dataclasses.replace(ins, args=args), register, -1))
        return Program(self.n_inputs, program.instructions[:position] + tuple(instructions))

    def _change_op(self, program: Program, rng: np.random.Generator) -> Program:
        if not program.instructions:
            return self._insert(program, rng)
        position = int(rng.integers(len(program)))
        old = program.instructions[position]
        op = self.op_names[int(rng.integers(len(self.op_names)))]
        arity = OPS[op].arity
        register = self.n_inputs + position

        # Keep the old arguments where the new op has room for them.
        args = list(old.args[:arity])
        while len(args) < arity:
            args.append(int(rng.integers(register)))
        value = old.value if old.op == "const" else self._random_constant(rng)
        new = Instruction(op, tuple(args), value if op == "const" else 0.0)
        return _replace_at(program, position, new)

    def _rewire(self, program: Program, rng: np.random.Generator) -> Program:
        candidates = [i for i, ins in enumerate(program.instructions) if ins.args]
        if not candidates:
            return self._change_op(program, rng)
        position = candidates[int(rng.integers(len(candidates)))]
        register = int(rng.integers(self.n_inputs + position))
        new = _rewire_one(program.instructions[position], register, rng)
        return _replace_at(program, position, new)

    def _perturb_constant(self, program: Program, rng: np.random.Generator) -> Program:
        indices = program.constant_indices()
        if not indices:
            return self._insert(program, rng)
        position = indices[int(rng.integers(len(indices)))]
        old = program.instructions[position].value

        # Mostly small relative steps, sometimes a fresh draw to leave a basin.
        if rng.random() < 0.8:
            value = old * (1.0 + 0.1 * rng.standard_normal()) + 0.01 * rng.standard_normal()
        else:
            value = self._random_constant(rng)
        return _replace_at(program, position, Instruction("const", (), float(value)))

    # Helpers.

    def _random_op(self, rng: np.random.Generator, exclude_const: bool = False) -> str:
        names = [n for n in self.op_names if not (exclude_const and n == "const")]
        return names[int(rng.integers(len(names)))]

    def _random_instruction(self, rng: np.random.Generator, register: int) -> Instruction:
        op = self._random_op(rng)
        if op == "const":
            return Instruction("const", (), self._random_constant(rng))
        args = tuple(int(rng.integers(register)) for _ in range(OPS[op].arity))
        return Instruction(op, args)

    def _random_constant(self, rng: np.random.Generator) -> float:
        return float(self.constant_scale * rng.standard_normal())


def _live_key(program: Program) -> tuple:
    pruned = program.pruned()
    return tuple((ins.op, ins.args, ins.value) for ins in pruned.instructions)


def _shift_registers(instruction: Instruction, start: int, delta: int) -> Instruction:
    """Move every argument at or above ``start`` by ``delta``."""
    args = tuple(a + delta if a >= start else a for a in instruction.args)
    return dataclasses.replace(instruction, args=args)


def _rewire_one(instruction: Instruction, register: int, rng: np.random.Generator) -> Instruction:
    if not instruction.args:
        return instruction
    args = list(instruction.args)
    args[int(rng.integers(len(args)))] = register
    return dataclasses.replace(instruction, args=tuple(args))


def _replace_at(program: Program, position: int, instruction: Instruction) -> Program:
    instructions = list(program.instructions)
    instructions[position] = instruction
    return Program(program.n_inputs, tuple(instructions))

