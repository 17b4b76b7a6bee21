"""Op programs: straight-line arithmetic programs in static single assignment form.

A program over ``n_inputs`` inputs is a sequence of instructions. Registers
``0 .. n_inputs - 1`` hold the inputs ``x0 .. x{n-1}``; instruction ``i`` writes
register ``n_inputs + i`` and reads only registers below its own, so every
program is a DAG and always runs. The last register is the output. A program
with no instructions has no output and evaluates to NaN.

Every program also carries its packed code, built once when it is created:
batched evaluators read the code of thousands of programs in one join instead of
visiting each instruction object again.
"""

import dataclasses
import functools
import struct
from collections.abc import Sequence

import numpy as np
import sympy

from evolve.ops import MAX_ARITY, OPCODE, OPS, get_op


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One op applied to earlier registers.

    Attributes:
        op: the op's name in ``evolve.ops.OPS``.
        args: the registers the op reads, one per argument.
        value: the constant, for ``const``; ignored by other ops.
    """

    op: str
    args: tuple[int, ...] = ()
    value: float = 0.0


# Per op: its code, its arity and the zeros that pad its arguments to MAX_ARITY.
_PACKING = {name: (OPCODE[name], op.arity, (0,) * (MAX_ARITY - op.arity)) for name, op in OPS.items()}
# An arity no instruction has, so an unknown op takes the error path.
_UNKNOWN_OP = (0, -1, ())


@functools.cache
def _packer(width: int, kind: str, count: int) -> struct.Struct:
    """Return the struct of ``count`` rows of ``width`` native values of type ``kind``."""
    return struct.Struct(f"{width * count}{kind}")


def _constant(instruction: Instruction, index: int) -> float:
    value = instruction.value
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise ValueError(f"instruction {index} (const) has value {value!r}; a constant must be a real number.")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"instruction {index} (const) has value {value!r}, beyond the float64 range; use a smaller constant."
        ) from None


@dataclasses.dataclass(frozen=True)
class Program:
    """A straight-line program; see the module docstring for the register layout.

    Attributes:
        n_inputs: number of inputs.
        instructions: the instructions in order.
        code: the packed instructions, built at creation: per instruction four
            native int32 values (the ``evolve.ops.OPCODE`` of the op, then its
            argument registers, unused ones 0).
        code_constants: per instruction one native float64, the constant of a
            ``const`` and 0.0 for other ops.
    """

    n_inputs: int
    instructions: tuple[Instruction, ...]
    code: bytes = dataclasses.field(init=False, repr=False, compare=False)
    code_constants: bytes = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # Validation visits every instruction anyway, so it packs them on the way.
        code, constants = self._validate_and_pack()
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "code_constants", constants)

    def __len__(self) -> int:
        return len(self.instructions)

    @property
    def output_register(self) -> int:
        return self.n_inputs + len(self.instructions) - 1

    def validate(self) -> None:
        """Raise ValueError if an op is unknown or an argument reads a later register."""
        self._validate_and_pack()

    def _validate_and_pack(self) -> tuple[bytes, bytes]:
        if not isinstance(self.n_inputs, (int, np.integer)) or self.n_inputs < 1:
            raise ValueError(f"n_inputs must be an integer of at least 1, got {self.n_inputs!r}.")
        code: list[int] = []
        constants: list[float] = []
        for i, instruction in enumerate(self.instructions):
            opcode, arity, unused_args = _PACKING.get(instruction.op, _UNKNOWN_OP)
            args = instruction.args
            if len(args) != arity:
                self._raise_invalid(i)
            for arg in args:
                if (arg.__class__ is not int and not isinstance(arg, np.integer)) or not 0 <= arg < self.n_inputs + i:
                    self._raise_invalid(i)
            code.append(opcode)
            code.extend(args)
            code.extend(unused_args)
            constants.append(_constant(instruction, i) if arity == 0 else 0.0)
        count = len(self.instructions)
        return _packer(MAX_ARITY + 1, "i", count).pack(*code), _packer(1, "d", count).pack(*constants)

    def _raise_invalid(self, index: int) -> None:
        instruction = self.instructions[index]
        op = get_op(instruction.op)
        if len(instruction.args) != op.arity:
            raise ValueError(
                f"instruction {index} ({instruction.op}) has {len(instruction.args)} "
                f"arguments, expected {op.arity}."
            )
        for arg in instruction.args:
            if (arg.__class__ is not int and not isinstance(arg, np.integer)) or not 0 <= arg < self.n_inputs + index:
                raise ValueError(
                    f"instruction {index} ({instruction.op}) reads register {arg!r}; "
                    f"only registers 0..{self.n_inputs + index - 1} exist before it."
                )

    # Constants.

    def constant_indices(self) -> list[int]:
        """Return the positions of the ``const`` instructions."""
        return [i for i, ins in enumerate(self.instructions) if ins.op == "const"]

    def constants(self) -> np.ndarray:
        """Return the constants in program order, as float64."""
        return np.array([self.instructions[i].value for i in self.constant_indices()])

    def with_constants(self, values: Sequence[float]) -> "Program":
        """Return a copy whose constants are ``values``, in program order."""
        indices = self.constant_indices()
        if len(values) != len(indices):
            raise ValueError(f"expected {len(indices)} constants, got {len(values)}.")
        instructions = list(self.instructions)
        for i, value in zip(indices, values):
            instructions[i] = dataclasses.replace(instructions[i], value=float(value))
        return Program(self.n_inputs, tuple(instructions))

    # Structure.

    def live(self) -> list[bool]:
        """Return, per instruction, whether the output depends on it."""
        live = [False] * len(self.instructions)
        if not self.instructions:
            return live
        live[-1] = True
        for i in range(len(self.instructions) - 1, -1, -1):
            if not live[i]:
                continue
            for arg in self.instructions[i].args:
                if arg >= self.n_inputs:
                    live[arg - self.n_inputs] = True
        return live

    def pruned(self) -> "Program":
        """Return the program without dead instructions; it computes the same function."""
        live = self.live()
        new_register = list(range(self.n_inputs))
        kept = []
        for i, instruction in enumerate(self.instructions):
            if live[i]:
                args = tuple(new_register[a] for a in instruction.args)
                kept.append(dataclasses.replace(instruction, args=args))
            new_register.append(self.n_inputs + len(kept) - 1)
        return Program(self.n_inputs, tuple(kept))

    def without_identities(self) -> "Program":
        """Return the live program with ``x * 1``, ``x / 1``, ``x + 0`` and ``x - 0`` removed.

        Each removed op returns its operand exactly in IEEE arithmetic (up to the
        sign of zero), so the function is unchanged.
        """
        alias = list(range(self.n_inputs + len(self.instructions)))
        instructions = []
        for i, instruction in enumerate(self.instructions):
            args = tuple(alias[a] for a in instruction.args)
            instructions.append(dataclasses.replace(instruction, args=args))
            operand = self._identity_operand(instruction.op, args, instructions)
            if operand is not None and i < len(self.instructions) - 1:
                alias[self.n_inputs + i] = operand
        program = Program(self.n_inputs, tuple(instructions))
        # The output instruction cannot be aliased away; rebuild it as the operand.
        last = program.instructions[-1] if program.instructions else None
        operand = last and self._identity_operand(last.op, last.args, list(program.instructions))
        if operand is not None and operand >= self.n_inputs:
            program = Program(self.n_inputs, program.instructions[: operand - self.n_inputs + 1])
        return program.pruned()

    def _identity_operand(self, op: str, args: tuple[int, ...], instructions) -> int | None:
        """Return the operand that ``op(args)`` equals when the other argument is a neutral constant."""
        def constant(register: int) -> float | None:
            if register < self.n_inputs:
                return None
            source = instructions[register - self.n_inputs]
            return source.value if source.op == "const" else None

        if op == "mul":
            for keep, other in ((args[0], args[1]), (args[1], args[0])):
                if constant(other) == 1.0:
                    return keep
        if op == "add":
            for keep, other in ((args[0], args[1]), (args[1], args[0])):
                if constant(other) == 0.0:
                    return keep
        if op in ("sub", "div") and constant(args[1]) == (0.0 if op == "sub" else 1.0):
            return args[0]
        return None

    def cost(self) -> int:
        """Return the number of live instructions that are not constants."""
        live = self.live()
        return sum(1 for i, ins in enumerate(self.instructions) if live[i] and ins.op != "const")

    def structural_key(self) -> str:
        """Return a normalized text of the live program, for the free structural pre-check.

        Two programs with the same key compute the same function; the converse needs
        the functional hash.
        """
        return self.pruned().listing()

    # Readable forms.

    def register_name(self, register: int, variable_names: Sequence[str] | None = None) -> str:
        if register < self.n_inputs:
            return variable_names[register] if variable_names else f"x{register}"
        return f"r{register}"

    def listing(self, variable_names: Sequence[str] | None = None) -> str:
        """Return the op listing, one instruction per line, e.g. ``r2 = mul x0 x1``."""
        lines = []
        for i, instruction in enumerate(self.instructions):
            target = self.register_name(self.n_inputs + i)
            if instruction.op == "const":
                operands = repr(float(instruction.value))
            else:
                operands = " ".join(self.register_name(a, variable_names) for a in instruction.args)
            lines.append(f"{target} = {instruction.op} {operands}")
        return "\n".join(lines)

    def to_sympy(self, variable_names: Sequence[str] | None = None) -> sympy.Expr:
        """Return the output as a sympy expression over the input symbols.

        An empty program returns ``sympy.nan``.
        """
        names = variable_names or [f"x{i}" for i in range(self.n_inputs)]
        registers: list[sympy.Expr] = [sympy.Symbol(name) for name in names]
        for instruction in self.instructions:
            if instruction.op == "const":
                registers.append(sympy.Float(instruction.value))
            else:
                args = [registers[a] for a in instruction.args]
                registers.append(OPS[instruction.op].sympy_fn(*args))
        if not self.instructions:
            return sympy.nan
        return registers[-1]

    # Evaluation.

    def evaluate(self, inputs: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Run the program on a batch of points with NumPy; the reference interpreter.

        Args:
            inputs: array of shape (points, n_inputs).
            dtype: the floating-point type every op computes in.

        Returns:
            The output register, shape (points,). All NaN for an empty program.
        """
        inputs = np.asarray(inputs, dtype=dtype)
        if inputs.ndim != 2 or inputs.shape[1] != self.n_inputs:
            raise ValueError(
                f"inputs must have shape (points, {self.n_inputs}), got {inputs.shape}."
            )
        if not self.instructions:
            return np.full(inputs.shape[0], np.nan, dtype=dtype)
        registers = [inputs[:, i] for i in range(self.n_inputs)]
        with np.errstate(all="ignore"):
            for instruction in self.instructions:
                registers.append(self._run(instruction, registers, inputs.shape[0], dtype))
        return registers[-1]

    @staticmethod
    def _run(instruction: Instruction, registers, n_points: int, dtype) -> np.ndarray:
        if instruction.op == "const":
            return np.full(n_points, instruction.value, dtype=dtype)
        args = [registers[a] for a in instruction.args]
        return OPS[instruction.op].numpy_fn(*args).astype(dtype, copy=False)

    # Serialization (msgpack-friendly: only lists, strings, ints and floats).

    def to_dict(self) -> dict:
        return {
            "kind": "ops",
            "n_inputs": self.n_inputs,
            "instructions": [[ins.op, list(ins.args), float(ins.value)] for ins in self.instructions],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Program":
        instructions = tuple(
            Instruction(op, tuple(int(a) for a in args), float(value))
            for op, args, value in data["instructions"]
        )
        return cls(int(data["n_inputs"]), instructions)
