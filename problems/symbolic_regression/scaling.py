"""Linear scaling: fit ``a * f(x) + b`` instead of ``f(x)``.

Keijzer, "Improving Symbolic Regression with Interval Arithmetic and Linear
Scaling" (EuroGP 2003): letting every candidate's output be scaled and shifted
by fitted constants frees evolution from finding the scale of the target, which
makes formulas such as ``exp(-theta**2/2)/sqrt(2*pi)`` far easier to reach.
The scale and shift are ordinary ``const`` instructions, so the fitted program
still contains its whole formula.
"""

from evolve.program import Instruction, Program


def has_linear_scaling(program: Program) -> bool:
    """Return whether the output is already ``add(mul(const, r), const)`` in some argument order."""
    if len(program) < 4:
        return False
    last = program.instructions[-1]
    if last.op != "add":
        return False
    product, shift = _split(program, last.args)
    if product is None or shift is None:
        return False
    factor, _ = _split(program, product.args) if product.op == "mul" else (None, None)
    return factor is not None


def _split(program: Program, args: tuple[int, ...]):
    """Return (the non-constant source, the constant source) of a binary op, or Nones."""
    sources = [program.instructions[a - program.n_inputs] if a >= program.n_inputs else None for a in args]
    for first, second in ((0, 1), (1, 0)):
        if sources[second] is not None and sources[second].op == "const" and sources[first] is not None:
            return sources[first], sources[second]
    return None, None


def with_linear_scaling(program: Program) -> Program:
    """Return ``1.0 * program + 0.0`` as a program, unless it is scaled already."""
    if not program.instructions or has_linear_scaling(program):
        return program
    output = program.output_register
    scale, product, shift = output + 1, output + 2, output + 3
    extra = (
        Instruction("const", (), 1.0),
        Instruction("mul", (output, scale)),
        Instruction("const", (), 0.0),
        Instruction("add", (product, shift)),
    )
    return Program(program.n_inputs, program.instructions + extra)
