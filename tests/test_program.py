"""Tests of op programs: validation, the NumPy interpreter, readable forms, rewrites, serialization."""

import math
import warnings

import msgpack
import numpy as np
import pytest
import sympy

from evolve.errors import UserInputError
from evolve.ops import OP_NAMES, OPS, check_op_names, get_op
from evolve.program import Instruction, Program

RNG = np.random.default_rng(7)
INPUTS = RNG.uniform(0.5, 3.0, size=(64, 3))
X0, X1, X2 = INPUTS.T


def const(value: float) -> Instruction:
    return Instruction("const", (), value)


def op(name: str, *args: int) -> Instruction:
    return Instruction(name, args)


def program(*instructions: Instruction, n_inputs: int = 3) -> Program:
    return Program(n_inputs, tuple(instructions))


# ---------------------------------------------------------------- validation


def test_validate_rejects_later_register():
    with pytest.raises(ValueError, match="reads register 4; only registers 0..3 exist"):
        program(op("neg", 0), op("add", 3, 4))


def test_validate_rejects_own_register():
    with pytest.raises(ValueError, match="reads register 3"):
        program(op("sin", 3))


def test_validate_rejects_negative_register():
    with pytest.raises(ValueError, match="reads register -1"):
        program(op("neg", -1))


@pytest.mark.parametrize(
    "instruction, count, expected",
    [
        (Instruction("add", (0,)), 1, 2),
        (Instruction("neg", (0, 1)), 2, 1),
        (Instruction("fma", (0, 1)), 2, 3),
        (Instruction("const", (0,), 1.0), 1, 0),
    ],
    ids=["add", "neg", "fma", "const"],
)
def test_validate_rejects_wrong_arity(instruction, count, expected):
    with pytest.raises(ValueError, match=rf"\({instruction.op}\) has {count} arguments, expected {expected}"):
        program(instruction)


def test_validate_rejects_unknown_op():
    with pytest.raises(UserInputError, match="unknown op 'sinh'"):
        program(op("sinh", 0))


def test_unknown_op_suggests_close_name():
    with pytest.raises(ValueError, match="Did you mean 'square'"):
        program(op("sqaure", 0))


def test_validate_rejects_zero_inputs():
    with pytest.raises(ValueError, match="n_inputs must be an integer of at least 1, got 0"):
        Program(0, ())


def test_validate_names_instruction_index():
    with pytest.raises(ValueError, match="instruction 2 "):
        program(op("neg", 0), op("neg", 3), op("mul", 0, 9))


def test_empty_program_is_valid():
    empty = program()

    assert len(empty) == 0
    assert empty.output_register == 2


def test_op_registry_lookup():
    assert get_op("fma").arity == 3
    assert get_op("const").arity == 0
    assert set(OP_NAMES) == set(OPS)


def test_op_set_needs_an_argument_op():
    with pytest.raises(UserInputError, match="no op with arguments"):
        check_op_names(["const"])


def test_op_set_rejects_unknown_name():
    with pytest.raises(UserInputError, match="unknown op 'tan'"):
        check_op_names(["add", "tan"])


# ---------------------------------------------------------------- evaluate


EVALUATE_CASES = {
    "x0*x1 + sin(x2)": (
        program(op("mul", 0, 1), op("sin", 2), op("add", 3, 4)),
        X0 * X1 + np.sin(X2),
    ),
    "(x0 - x1) / x2": (
        program(op("sub", 0, 1), op("div", 3, 2)),
        (X0 - X1) / X2,
    ),
    "exp(-x0**2 / 2)": (
        program(op("square", 0), op("neg", 3), const(0.5), op("mul", 4, 5), op("exp", 6)),
        np.exp(-np.square(X0) * 0.5),
    ),
    "fma(x0, x1, x2)": (
        program(op("fma", 0, 1, 2)),
        X0 * X1 + X2,
    ),
    "sqrt(x0) * log(x1) + cos(x2)": (
        program(op("sqrt", 0), op("log", 1), op("mul", 3, 4), op("cos", 2), op("add", 5, 6)),
        np.sqrt(X0) * np.log(X1) + np.cos(X2),
    ),
    "const 2.5": (
        program(const(2.5)),
        np.full(len(INPUTS), 2.5),
    ),
    "x1 reused": (
        program(op("mul", 1, 1), op("mul", 3, 1), op("sub", 4, 1)),
        X1 * X1 * X1 - X1,
    ),
}


@pytest.mark.parametrize("built, expected", EVALUATE_CASES.values(), ids=EVALUATE_CASES.keys())
def test_evaluate_equals_numpy_formula(built, expected):
    outputs = built.evaluate(INPUTS)

    assert outputs.shape == (len(INPUTS),)
    assert outputs.dtype == np.float64
    np.testing.assert_array_equal(outputs, expected)


def test_evaluate_empty_program_is_nan():
    outputs = program().evaluate(INPUTS)

    assert outputs.shape == (len(INPUTS),)
    assert np.all(np.isnan(outputs))


def test_evaluate_float32():
    built = program(op("mul", 0, 1), const(0.1), op("add", 3, 4))

    outputs = built.evaluate(INPUTS, dtype=np.float32)

    assert outputs.dtype == np.float32
    x = INPUTS.astype(np.float32)
    np.testing.assert_array_equal(outputs, x[:, 0] * x[:, 1] + np.float32(0.1))


@pytest.mark.parametrize("shape", [(64,), (64, 2), (64, 4), (2, 3, 4)])
def test_evaluate_rejects_bad_shape(shape):
    with pytest.raises(ValueError, match=r"inputs must have shape \(points, 3\)"):
        program(op("neg", 0)).evaluate(np.zeros(shape))


def test_evaluate_zero_points():
    outputs = program(op("add", 0, 1)).evaluate(np.zeros((0, 3)))

    assert outputs.shape == (0,)


# ---------------------------------------------------------------- IEEE semantics

IEEE_CASES = {
    "1/0 is inf": (program(const(0.0), op("div", 0, 1), n_inputs=1), 1.0, math.inf),
    "-1/0 is -inf": (program(const(0.0), op("div", 0, 1), n_inputs=1), -1.0, -math.inf),
    "0/0 is nan": (program(const(0.0), op("div", 0, 1), n_inputs=1), 0.0, math.nan),
    "log(-1) is nan": (program(op("log", 0), n_inputs=1), -1.0, math.nan),
    "log(0) is -inf": (program(op("log", 0), n_inputs=1), 0.0, -math.inf),
    "sqrt(-1) is nan": (program(op("sqrt", 0), n_inputs=1), -1.0, math.nan),
    "exp(1000) is inf": (program(op("exp", 0), n_inputs=1), 1000.0, math.inf),
    "square(1e200) is inf": (program(op("square", 0), n_inputs=1), 1e200, math.inf),
    "inf - inf is nan": (program(op("sub", 0, 0), n_inputs=1), math.inf, math.nan),
    "sin(inf) is nan": (program(op("sin", 0), n_inputs=1), math.inf, math.nan),
    "fma overflow is inf": (program(op("fma", 0, 0, 0), n_inputs=1), 1e300, math.inf),
}


@pytest.mark.parametrize("built, x, expected", IEEE_CASES.values(), ids=IEEE_CASES.keys())
def test_ieee_semantics_without_warnings(built, x, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output = built.evaluate(np.array([[x]]))[0]

    if math.isnan(expected):
        assert math.isnan(output)
    else:
        assert output == expected


def test_ieee_float32_overflow_without_warnings():
    built = program(op("exp", 0), n_inputs=1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output = built.evaluate(np.array([[100.0]]), dtype=np.float32)[0]

    assert output == np.inf


# ---------------------------------------------------------------- to_sympy and listing


def test_to_sympy_matches_formula():
    built = program(op("mul", 0, 1), op("sin", 2), op("add", 3, 4))
    x0, x1, x2 = sympy.symbols("x0 x1 x2")

    assert sympy.simplify(built.to_sympy() - (x0 * x1 + sympy.sin(x2))) == 0


def test_to_sympy_every_op():
    built = program(
        op("add", 0, 1),
        op("sub", 3, 2),
        op("mul", 4, 0),
        op("div", 5, 1),
        op("neg", 6),
        op("square", 7),
        op("sqrt", 8),
        op("exp", 9),
        op("log", 10),
        op("sin", 11),
        op("cos", 12),
        op("fma", 13, 0, 1),
        const(2.0),
        op("mul", 14, 15),
    )
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    inner = -((x0 + x1 - x2) * x0 / x1)
    expected = 2 * (sympy.cos(sympy.sin(sympy.log(sympy.exp(sympy.sqrt(inner**2))))) * x0 + x1)

    assert sympy.simplify(built.to_sympy() - expected) == 0


def test_to_sympy_agrees_with_evaluate():
    built = program(op("div", 0, 1), op("exp", 2), const(-0.75), op("fma", 3, 5, 4))
    function = sympy.lambdify(sympy.symbols("x0 x1 x2"), built.to_sympy(), "numpy")

    np.testing.assert_allclose(function(X0, X1, X2), built.evaluate(INPUTS), rtol=1e-12)


def test_to_sympy_variable_names():
    built = program(op("mul", 0, 1), n_inputs=2)

    expression = built.to_sympy(["mu", "Nn"])

    assert expression == sympy.Symbol("mu") * sympy.Symbol("Nn")


def test_to_sympy_constant_is_float():
    expression = program(const(2.5)).to_sympy()

    assert expression == sympy.Float(2.5)


def test_to_sympy_empty_is_nan():
    assert program().to_sympy() is sympy.nan


def test_listing_format():
    built = program(op("mul", 0, 1), const(2.5), op("fma", 3, 4, 2))

    assert built.listing() == "r3 = mul x0 x1\nr4 = const 2.5\nr5 = fma r3 r4 x2"


def test_listing_variable_names():
    built = program(op("mul", 0, 1), op("sin", 2), n_inputs=2)

    assert built.listing(["mu", "Nn"]) == "r2 = mul mu Nn\nr3 = sin r2"


def test_listing_empty():
    assert program().listing() == ""


# ---------------------------------------------------------------- live, pruned, cost, structural_key

WITH_DEAD_CODE = program(
    op("sin", 0),  # r3, dead
    op("mul", 0, 1),  # r4
    const(7.0),  # r5, dead
    op("exp", 3),  # r6, dead: reads dead r3
    const(0.5),  # r7
    op("add", 4, 7),  # r8, output
)


def test_live_marks_dependencies():
    assert WITH_DEAD_CODE.live() == [False, True, False, False, True, True]


def test_live_empty():
    assert program().live() == []


def test_pruned_drops_dead_code():
    pruned = WITH_DEAD_CODE.pruned()

    assert len(pruned) == 3
    assert pruned.listing() == "r3 = mul x0 x1\nr4 = const 0.5\nr5 = add r3 r4"


def test_pruned_keeps_function():
    np.testing.assert_array_equal(WITH_DEAD_CODE.pruned().evaluate(INPUTS), WITH_DEAD_CODE.evaluate(INPUTS))


def test_pruned_is_idempotent():
    pruned = WITH_DEAD_CODE.pruned()

    assert pruned.pruned() == pruned


def test_pruned_live_program_unchanged():
    built = program(op("mul", 0, 1), op("sin", 3))

    assert built.pruned() == built


def test_pruned_empty():
    assert program().pruned() == program()


def test_cost_counts_live_non_constants():
    assert WITH_DEAD_CODE.cost() == 2
    assert program(const(1.0)).cost() == 0


def test_structural_key_ignores_dead_code():
    assert WITH_DEAD_CODE.structural_key() == WITH_DEAD_CODE.pruned().structural_key()


def test_structural_key_differs_for_different_programs():
    first = program(op("mul", 0, 1))
    second = program(op("mul", 0, 2))
    third = program(const(1.0), op("mul", 0, 3))
    fourth = program(const(1.5), op("mul", 0, 3))

    keys = {first.structural_key(), second.structural_key(), third.structural_key(), fourth.structural_key()}

    assert len(keys) == 4


# ---------------------------------------------------------------- without_identities

IDENTITY_CASES = {
    "x*1": program(const(1.0), op("mul", 0, 3), op("sin", 4)),
    "1*x": program(const(1.0), op("mul", 3, 0), op("sin", 4)),
    "x/1": program(const(1.0), op("div", 0, 3), op("sin", 4)),
    "x+0": program(const(0.0), op("add", 0, 3), op("sin", 4)),
    "0+x": program(const(0.0), op("add", 3, 0), op("sin", 4)),
    "x-0": program(const(0.0), op("sub", 0, 3), op("sin", 4)),
    "x+(-0.0)": program(const(-0.0), op("add", 0, 3), op("sin", 4)),
}


@pytest.mark.parametrize("built", IDENTITY_CASES.values(), ids=IDENTITY_CASES.keys())
def test_without_identities_removes_neutral_op(built):
    simplified = built.without_identities()

    assert simplified.listing() == "r3 = sin x0"


NOT_IDENTITY_CASES = {
    "1/x": program(const(1.0), op("div", 3, 0), op("sin", 4)),
    "0-x": program(const(0.0), op("sub", 3, 0), op("sin", 4)),
    "x*2": program(const(2.0), op("mul", 0, 3), op("sin", 4)),
    "x+1": program(const(1.0), op("add", 0, 3), op("sin", 4)),
    "x*0": program(const(0.0), op("mul", 0, 3), op("sin", 4)),
}


@pytest.mark.parametrize("built", NOT_IDENTITY_CASES.values(), ids=NOT_IDENTITY_CASES.keys())
def test_without_identities_keeps_other_ops(built):
    assert built.without_identities() == built


def test_without_identities_at_output():
    # Linear scaling's identity wrapper 1.0 * f + 0.0 around f = x0 * x1.
    built = program(op("mul", 0, 1), const(1.0), op("mul", 3, 4), const(0.0), op("add", 5, 6))

    simplified = built.without_identities()

    assert simplified.listing() == "r3 = mul x0 x1"


def test_without_identities_chain():
    built = program(
        const(1.0),  # r3
        const(0.0),  # r4
        op("mul", 0, 3),  # r5 = x0 * 1
        op("add", 5, 4),  # r6 = (x0 * 1) + 0
        op("div", 6, 3),  # r7 = ... / 1
        op("mul", 7, 1),  # r8 = x0 * x1
    )

    assert built.without_identities().listing() == "r3 = mul x0 x1"


def test_without_identities_output_is_input():
    # With the output an input register, no instruction can be removed.
    built = program(const(1.0), op("mul", 0, 3))

    simplified = built.without_identities()

    np.testing.assert_array_equal(simplified.evaluate(INPUTS), X0)


def test_without_identities_keeps_function():
    built = program(
        op("sin", 0),
        const(1.0),
        op("mul", 3, 4),
        const(0.0),
        op("sub", 5, 6),
        op("exp", 1),  # dead
        op("div", 7, 2),
        op("mul", 4, 9),
    )

    simplified = built.without_identities()

    assert len(simplified) < len(built)
    np.testing.assert_array_equal(simplified.evaluate(INPUTS), built.evaluate(INPUTS))


def test_without_identities_empty():
    assert program().without_identities() == program()


# ---------------------------------------------------------------- constants


def test_constants_in_program_order():
    built = program(const(3.0), op("mul", 0, 3), const(-1.5), op("add", 4, 5))

    assert built.constant_indices() == [0, 2]
    np.testing.assert_array_equal(built.constants(), [3.0, -1.5])


def test_constants_empty():
    built = program(op("neg", 0))

    assert built.constant_indices() == []
    assert built.constants().shape == (0,)


def test_with_constants_replaces_values():
    built = program(const(3.0), op("mul", 0, 3), const(-1.5), op("add", 4, 5))

    changed = built.with_constants([2.0, 0.25])

    np.testing.assert_array_equal(changed.constants(), [2.0, 0.25])
    np.testing.assert_array_equal(changed.evaluate(INPUTS), X0 * 2.0 + 0.25)
    np.testing.assert_array_equal(built.constants(), [3.0, -1.5])


def test_with_constants_keeps_structure():
    built = program(const(3.0), op("mul", 0, 3))

    changed = built.with_constants(np.array([np.float32(4.0)]))

    assert [i.op for i in changed.instructions] == ["const", "mul"]
    assert changed.instructions[1].args == (0, 3)
    assert type(changed.instructions[0].value) is float


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 2.0, 3.0]])
def test_with_constants_rejects_wrong_count(values):
    built = program(const(3.0), op("mul", 0, 3), const(-1.5), op("add", 4, 5))

    with pytest.raises(ValueError, match=f"expected 2 constants, got {len(values)}"):
        built.with_constants(values)


# ---------------------------------------------------------------- serialization


def through_msgpack(built: Program) -> Program:
    return Program.from_dict(msgpack.unpackb(msgpack.packb(built.to_dict())))


SERIALIZATION_CASES = {
    "every op": program(
        op("add", 0, 1), op("sub", 3, 2), op("mul", 4, 0), op("div", 5, 1), op("neg", 6),
        op("square", 7), op("sqrt", 8), op("exp", 9), op("log", 10), op("sin", 11),
        op("cos", 12), op("fma", 13, 0, 1), const(2.0), op("mul", 14, 15),
    ),  # fmt: skip
    "awkward constants": program(const(0.1), const(-1e-300), const(math.inf), const(2.0**-1074), op("add", 3, 6)),
    "one input": program(op("square", 0), n_inputs=1),
    "empty": program(),
}


@pytest.mark.parametrize("built", SERIALIZATION_CASES.values(), ids=SERIALIZATION_CASES.keys())
def test_to_dict_msgpack_round_trip(built):
    restored = through_msgpack(built)

    assert restored == built
    assert restored.listing() == built.listing()


def test_to_dict_is_plain_data():
    data = program(op("mul", 0, 1), const(0.5)).to_dict()

    assert data == {"kind": "ops", "n_inputs": 3, "instructions": [["mul", [0, 1], 0.0], ["const", [], 0.5]]}


def test_from_dict_validates():
    data = {"kind": "ops", "n_inputs": 1, "instructions": [["mul", [0, 5], 0.0]]}

    with pytest.raises(ValueError, match="reads register 5"):
        Program.from_dict(data)
