"""A base class for problems whose candidates are op programs."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from evolve.mutation import OpMutator
from evolve.problem import Problem
from evolve.program import Program


class OpProblem(Problem):
    """Problem over op programs: seeds, mutation, hashing and serialization done once.

    A subclass sets, in ``__init__`` after calling ``super().__init__``:

    Attributes:
        variable_names: one name per input, used in listings and sympy forms.
        op_names: the ops mutation may introduce.
        probe_inputs: array of shape (probes, inputs) for the functional hash,
            drawn from the problem's input domain.
        max_length: longest program mutation builds.
        initial_length: length of the random seed programs.
    """

    variable_names: tuple[str, ...]
    op_names: tuple[str, ...]
    probe_inputs: np.ndarray
    max_length: int = 32
    initial_length: int = 4

    @property
    def n_inputs(self) -> int:
        return len(self.variable_names)

    def random_mutator(self) -> OpMutator:
        return OpMutator(self.op_names, self.n_inputs, max_length=self.max_length)

    def seed_programs(self, rng: np.random.Generator, count: int) -> list[Program]:
        mutator = self.random_mutator()
        return [mutator.random_program(rng, self.initial_length) for _ in range(count)]

    def probe_outputs(self, program: Program) -> np.ndarray:
        return program.evaluate(self.probe_inputs)

    def structural_key(self, program: Program) -> str:
        return program.structural_key()

    def expression(self, program: Program) -> str:
        return str(program.pruned().to_sympy(self.variable_names))

    def program_text(self, program: Program) -> str:
        pruned = program.pruned()
        return (
            f"# expression: {pruned.to_sympy(self.variable_names)}\n"
            f"{pruned.listing(self.variable_names)}\n"
        )

    def program_to_dict(self, program: Program) -> dict:
        return program.to_dict()

    def program_from_dict(self, data: Mapping[str, Any]) -> Program:
        return Program.from_dict(data)

