"""Tests of the functional hash: equivalent candidates collide, different ones do not.

Op programs, Python functions and lambdified sympy expressions all go through
``functional_hash`` on the same probe points, so a table row may mix them.
"""

import random
import warnings

import numpy as np
import pytest
import sympy

from evolve.config import SearchConfig
from evolve.program import Instruction, Program
from hashing import canonical_bytes, functional_hash, hash_callable, hash_outputs, make_probe_inputs, quantize
from hashing.canonical import DEFAULT_MANTISSA_BITS

# Positive probes, so that sqrt(square(x)) == x holds on them.
PROBES = make_probe_inputs([0.5, 1.0, 2.0], [4.0, 3.0, 5.0])
CANONICAL_NAN_BITS = 0x7FF8000000000000


def ops(*instructions, n_inputs: int = 3) -> Program:
    """Build a program from ``(op, args)`` or ``("const", value)`` tuples."""
    built = []
    for op, operand in instructions:
        if op == "const":
            built.append(Instruction("const", (), operand))
        else:
            built.append(Instruction(op, tuple(operand)))
    return Program(n_inputs, tuple(built))


def lambdified(text: str):
    """Return a vectorized candidate computing the sympy expression ``text`` of x0, x1, x2."""
    symbols = sympy.symbols("x0 x1 x2")
    function = sympy.lambdify(symbols, sympy.sympify(text), "numpy")
    return lambda points: function(*points.T)


def hash_of(candidate) -> str:
    if isinstance(candidate, Program):
        return functional_hash(candidate.evaluate, PROBES)
    return functional_hash(candidate, PROBES)


def bits(values) -> list[int]:
    return np.asarray(values, dtype="<f8").view("<u8").tolist()


# ---------------------------------------------------------------- equivalent pairs

EQUIVALENT = {
    "x*2 vs x+x": (
        ops(("const", 2.0), ("mul", (0, 3))),
        ops(("add", (0, 0))),
    ),
    "a*b vs b*a": (
        ops(("mul", (0, 1))),
        ops(("mul", (1, 0))),
    ),
    "(a+b)+c vs a+(b+c)": (
        ops(("add", (0, 1)), ("add", (3, 2))),
        ops(("add", (1, 2)), ("add", (0, 3))),
    ),
    "dead code vs pruned": (
        ops(("sin", (0,)), ("exp", (1,)), ("mul", (0, 1)), ("cos", (3,)), ("add", (5, 2))),
        ops(("mul", (0, 1)), ("add", (3, 2))),
    ),
    "x-x vs const 0": (
        ops(("sub", (0, 0))),
        ops(("const", 0.0)),
    ),
    "x-x vs scalar lambda": (
        ops(("sub", (0, 0))),
        lambda points: 0.0,
    ),
    "sqrt(square(x)) vs x on positive probes": (
        ops(("square", (0,)), ("sqrt", (3,))),
        lambda points: points[:, 0],
    ),
    "program vs lambda": (
        ops(("mul", (0, 1)), ("sin", (2,)), ("add", (3, 4))),
        lambda points: points[:, 0] * points[:, 1] + np.sin(points[:, 2]),
    ),
    "program vs sympy": (
        ops(("mul", (0, 1)), ("sin", (2,)), ("add", (3, 4))),
        lambdified("x0*x1 + sin(x2)"),
    ),
    "lambda vs sympy": (
        lambda points: np.exp(-points[:, 0] ** 2 / 2) / np.sqrt(2 * np.pi),
        lambdified("exp(-x0**2/2)/sqrt(2*pi)"),
    ),
    "div vs mul by reciprocal": (
        ops(("div", (0, 1))),
        ops(("const", 1.0), ("div", (3, 1)), ("mul", (0, 4))),
    ),
}


@pytest.mark.parametrize("first, second", EQUIVALENT.values(), ids=EQUIVALENT.keys())
def test_equivalent_pairs_hash_equal(first, second):
    assert hash_of(first) == hash_of(second)


# ---------------------------------------------------------------- different pairs

DIFFERENT = {
    "x*2 vs x*2.001": (
        ops(("const", 2.0), ("mul", (0, 3))),
        ops(("const", 2.001), ("mul", (0, 3))),
    ),
    "sin vs cos": (
        ops(("sin", (0,))),
        ops(("cos", (0,))),
    ),
    "x vs -x": (
        lambda points: points[:, 0],
        ops(("neg", (0,))),
    ),
    "a/b vs b/a": (
        ops(("div", (0, 1))),
        ops(("div", (1, 0))),
    ),
    "x0 vs x1": (
        lambda points: points[:, 0],
        lambda points: points[:, 1],
    ),
    "x vs x+1e-3": (
        lambda points: points[:, 0],
        lambda points: points[:, 0] + 1e-3,
    ),
    "exp vs square": (
        ops(("exp", (0,))),
        ops(("square", (0,))),
    ),
    "const 0 vs empty program (NaN)": (
        ops(("const", 0.0)),
        ops(),
    ),
    "+inf vs -inf outputs": (
        lambda points: np.full(len(points), np.inf),
        lambda points: np.full(len(points), -np.inf),
    ),
}


@pytest.mark.parametrize("first, second", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_different_pairs_hash_differ(first, second):
    assert hash_of(first) != hash_of(second)


def test_functional_hash_is_32_hex_digits():
    digest = hash_of(ops(("mul", (0, 1))))

    assert len(digest) == 32
    assert int(digest, 16) >= 0


def test_failed_programs_share_one_hash():
    log_of_negative = ops(("neg", (0,)), ("log", (3,)))
    sqrt_of_negative = ops(("neg", (1,)), ("sqrt", (3,)))
    empty = ops()

    assert hash_of(log_of_negative) == hash_of(empty)
    assert hash_of(sqrt_of_negative) == hash_of(empty)


# ---------------------------------------------------------------- quantize: special values


def test_quantize_merges_nan_payloads():
    patterns = np.array(
        [
            0x7FF8000000000000,  # the default quiet NaN
            0xFFF8000000000000,  # negative quiet NaN
            0x7FF8000000000001,  # quiet NaN with a payload
            0x7FFFFFFFFFFFFFFF,  # quiet NaN with every payload bit set
            0x7FF0000000000001,  # signaling NaN
            0xFFF4000000000000,  # negative signaling NaN
        ],
        dtype="<u8",
    )
    nans = patterns.view("<f8")
    assert np.all(np.isnan(nans))

    quantized = quantize(nans)

    assert bits(quantized) == [CANONICAL_NAN_BITS] * len(patterns)


def test_nan_payloads_hash_equal():
    patterns = np.array([0x7FF8000000000000, 0xFFF8000000000123, 0x7FF0000000000001], dtype="<u8")
    digests = {hash_outputs(patterns[i : i + 1].view("<f8")) for i in range(len(patterns))}

    assert len(digests) == 1


def test_quantize_keeps_infinities():
    quantized = quantize([np.inf, -np.inf])

    assert quantized[0] == np.inf
    assert quantized[1] == -np.inf


def test_infinities_and_nan_hash_apart():
    digests = [hash_outputs([np.inf]), hash_outputs([-np.inf]), hash_outputs([np.nan])]

    assert len(set(digests)) == 3


def test_quantize_negative_zero_is_zero():
    quantized = quantize([-0.0])

    assert quantized[0] == 0.0
    assert not np.signbit(quantized[0])


def test_negative_zero_hashes_as_zero():
    assert hash_outputs([-0.0]) == hash_outputs([0.0])
    assert canonical_bytes(np.array([-0.0, 1.0])) == canonical_bytes(np.array([0.0, 1.0]))


# ---------------------------------------------------------------- quantize: mantissa rounding


@pytest.mark.parametrize("value", [1.0, 3.75, -1234.5678, 6.02e23, 1.6e-19])
def test_quantize_merges_within_budget(value):
    # A relative change of 2**-30 is far below the 20 kept bits.
    nearby = value * (1 + 2.0**-30)
    assert nearby != value

    assert quantize(nearby) == quantize(value)
    assert hash_outputs([nearby]) == hash_outputs([value])


@pytest.mark.parametrize("value", [1.0, 3.75, -1234.5678, 6.02e23, 1.6e-19])
def test_quantize_separates_outside_budget(value):
    # A relative change of 2**-12 is far above the 20 kept bits.
    distant = value * (1 + 2.0**-12)

    assert quantize(distant) != quantize(value)
    assert hash_outputs([distant]) != hash_outputs([value])


def test_mantissa_bits_sets_the_budget():
    value = 1.0
    nearby = 1.0 + 2.0**-15

    assert quantize(nearby, mantissa_bits=10) == quantize(value, mantissa_bits=10)
    assert quantize(nearby, mantissa_bits=20) != quantize(value, mantissa_bits=20)
    assert hash_outputs([nearby], mantissa_bits=10) == hash_outputs([value], mantissa_bits=10)
    assert hash_outputs([nearby], mantissa_bits=20) != hash_outputs([value], mantissa_bits=20)


def test_quantize_exact_for_short_mantissas():
    # Values with at most DEFAULT_MANTISSA_BITS significant bits are unchanged.
    values = np.array([1.0, 0.5, 3.0, 1 + 2.0**-19, -(2.0**40), 2.0**-1000])

    np.testing.assert_array_equal(quantize(values), values)


def test_quantize_keeps_shape_and_dtype():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)

    quantized = quantize(values)

    assert quantized.shape == (2, 3)
    assert quantized.dtype == np.float64


@pytest.mark.parametrize("mantissa_bits", [0, 53, -1])
def test_quantize_rejects_bad_mantissa_bits(mantissa_bits):
    with pytest.raises(ValueError, match=str(mantissa_bits)):
        quantize([1.0], mantissa_bits=mantissa_bits)


# ---------------------------------------------------------------- canonical_bytes


def test_canonical_bytes_keeps_nesting():
    assert canonical_bytes([1, 2]) != canonical_bytes([[1, 2]])
    assert canonical_bytes([1.0, 2.0]) != canonical_bytes([[1.0], [2.0]])
    assert canonical_bytes({"a": [1, 2]}) != canonical_bytes([1, 2])


def test_canonical_bytes_keeps_shapes():
    values = np.arange(6.0)

    assert canonical_bytes(values.reshape(2, 3)) != canonical_bytes(values.reshape(3, 2))
    assert canonical_bytes(values.reshape(1, 6)) != canonical_bytes(values)
    assert canonical_bytes(np.array(1.0)) != canonical_bytes(np.array([1.0]))


def test_canonical_bytes_keeps_ints_exact():
    # 2**53 + 1 is not a float64, so a float conversion would merge these.
    assert canonical_bytes([2**53]) != canonical_bytes([2**53 + 1])
    assert canonical_bytes(2**62) != canonical_bytes(2**62 + 1)
    assert canonical_bytes(np.array([7], dtype=np.int8)) == canonical_bytes(np.array([7], dtype=np.int64))


def test_canonical_bytes_ints_differ_from_floats():
    assert canonical_bytes([1, 2]) != canonical_bytes([1.0, 2.0])


def test_canonical_bytes_uint64_not_wrapped():
    # 2**64 - 1 and -1 are different integers.
    largest = np.array([2**64 - 1], dtype=np.uint64)
    minus_one = np.array([-1], dtype=np.int64)

    assert canonical_bytes(largest) != canonical_bytes(minus_one)


def test_canonical_bytes_string_lists_unambiguous():
    # Two lists of two different strings each must not serialize alike.
    first = ["as()b", "c"]
    second = ["a", "bs()c"]

    assert canonical_bytes(first) != canonical_bytes(second)


def test_canonical_bytes_dict_key_order_ignored():
    assert canonical_bytes({"a": 1.0, "b": [2, 3]}) == canonical_bytes({"b": [2, 3], "a": 1.0})
    assert canonical_bytes({"a": 1.0}) != canonical_bytes({"b": 1.0})


def test_canonical_bytes_quantizes_floats():
    nearby = 1.0 + 2.0**-30

    assert canonical_bytes([nearby, 2.0]) == canonical_bytes([1.0, 2.0])
    assert canonical_bytes({"x": np.array([nearby])}) == canonical_bytes({"x": np.array([1.0])})


def test_canonical_bytes_rejects_object_dtype():
    with pytest.raises(TypeError, match="object"):
        canonical_bytes(np.array([object(), 1], dtype=object))


def test_canonical_bytes_rejects_none():
    with pytest.raises(TypeError, match="object"):
        canonical_bytes([None, None])


# ---------------------------------------------------------------- hash_callable


def test_hash_callable_reseeds_numpy_random():
    def candidate(probe):
        return np.random.rand(3) * probe

    probes = [1.0, 2.0, 3.0]
    first = hash_callable(candidate, probes)
    np.random.seed(12345)  # whatever the global state, the hash must not change
    second = hash_callable(candidate, probes)

    assert first == second


def test_hash_callable_reseeds_python_random():
    def candidate(probe):
        return [random.random() * probe for _ in range(3)]

    probes = [1.0, 2.0]
    first = hash_callable(candidate, probes)
    random.seed(999)
    second = hash_callable(candidate, probes)

    assert first == second


def test_hash_callable_seed_changes_random_hash():
    def candidate(probe):
        return np.random.rand(3)

    assert hash_callable(candidate, [0], seed=1) != hash_callable(candidate, [0], seed=2)


def test_hash_callable_matches_hash_outputs():
    def candidate(probe):
        return {"sum": probe * 2.0, "items": [probe, probe + 1]}

    probes = [1, 2, 3]
    expected = hash_outputs([candidate(p) for p in probes])

    assert hash_callable(candidate, probes) == expected


def test_hash_callable_mantissa_bits():
    def exact(probe):
        return probe

    def perturbed(probe):
        return probe * (1 + 2.0**-15)

    probes = [1.0, 3.0]

    assert hash_callable(exact, probes, mantissa_bits=10) == hash_callable(perturbed, probes, mantissa_bits=10)
    assert hash_callable(exact, probes) != hash_callable(perturbed, probes)


def test_hash_callable_hides_float_warnings():
    def candidate(probe):
        return np.array([1.0, -1.0, 0.0]) / probe

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        digest = hash_callable(candidate, [0.0])

    assert digest == hash_outputs([np.array([np.inf, -np.inf, np.nan])])


# ---------------------------------------------------------------- make_probe_inputs


def test_probe_inputs_deterministic():
    first = make_probe_inputs([0.0, -1.0], [1.0, 1.0])
    second = make_probe_inputs([0.0, -1.0], [1.0, 1.0])

    np.testing.assert_array_equal(first, second)


def test_probe_inputs_shape_and_bounds():
    low = [1.0, -5.0, 10.0]
    high = [2.0, 5.0, 10.0]

    probes = make_probe_inputs(low, high, num_probes=50)

    assert probes.shape == (50, 3)
    assert probes.dtype == np.float64
    assert np.all(probes >= low)
    assert np.all(probes <= high)
    assert np.all(probes[:, 2] == 10.0)


def test_probe_inputs_default_count():
    probes = make_probe_inputs([0.0], [1.0])

    assert probes.shape == (10, 1)
    assert len(np.unique(probes)) == 10


def test_probe_inputs_seed_changes_points():
    first = make_probe_inputs([0.0], [1.0], seed=1)
    second = make_probe_inputs([0.0], [1.0], seed=2)

    assert not np.array_equal(first, second)


def test_probe_inputs_rejects_high_below_low():
    with pytest.raises(ValueError, match="at least its low"):
        make_probe_inputs([0.0, 1.0], [1.0, 0.5])


@pytest.mark.parametrize(
    "low, high",
    [
        ([0.0, 0.0], [1.0]),
        ([[0.0, 0.0]], [[1.0, 1.0]]),
        (0.0, 1.0),
    ],
    ids=["unequal lengths", "matrix bounds", "scalar bounds"],
)
def test_probe_inputs_rejects_bad_shapes(low, high):
    with pytest.raises(ValueError, match="equal-length vectors"):
        make_probe_inputs(low, high)


def test_config_default_matches_hash_bits():
    # The search config's default must match the hash's, or cached hashes split.
    assert DEFAULT_MANTISSA_BITS == SearchConfig().mantissa_bits
