"""Tests of the stream interpreter's layout: packed code, shared subexpressions and their fallbacks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evolve import batched, cpu_math, stream, subexpressions
from evolve.mutation import OpMutator
from evolve.ops import OP_NAMES, OPCODE
from evolve.program import Instruction, Program

N_INPUTS = 2
INPUTS = np.random.default_rng(3).uniform(-3.0, 3.0, size=(48, N_INPUTS))


def siblings(parents: int, children: int, seed: int) -> list[Program]:
    """Return a population like a search's: parents followed by their mutated children."""
    rng = np.random.default_rng(seed)
    mutator = OpMutator(OP_NAMES, N_INPUTS, max_length=24)
    population = [mutator.random_program(rng, int(rng.integers(4, 20))) for _ in range(parents)]
    for parent in list(population):
        population += [mutator.mutate(parent, rng) for _ in range(children)]
    return population


def run(programs, dtype=np.float64, share=True, inputs=INPUTS):
    size = batched.bucket(len(programs), 8)
    return stream.run(programs, np.asarray(inputs, dtype=dtype), size, batched.DEFAULT_MAX_LENGTH, share=share)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sharing_keeps_results_bitwise(dtype):
    programs = siblings(parents=12, children=10, seed=1)

    shared = run(programs, dtype)
    unshared = run(programs, dtype, share=False)

    np.testing.assert_array_equal(shared, unshared)
    live, computed = stream.count_instructions(programs, batched.bucket(len(programs), 8), 256)
    assert computed < 0.8 * live


def test_losses_with_sharing_match_outputs():
    programs = siblings(parents=6, children=5, seed=5)
    targets = np.sin(INPUTS[:, 0]) + INPUTS[:, 1]

    losses = batched.mse_batch(programs, INPUTS, targets)
    unshared = batched.mse_batch(programs, INPUTS, targets, share=False)

    np.testing.assert_array_equal(losses, unshared)
    outputs = batched.evaluate_batch(programs, INPUTS)
    with np.errstate(all="ignore"):
        expected = np.mean((outputs - targets) ** 2, axis=1)
    expected[~np.isfinite(outputs).all(axis=1) | ~np.isfinite(expected)] = np.inf
    np.testing.assert_allclose(losses, expected, rtol=1e-12)


def test_duplicate_programs_share_values():
    program = Program(2, (Instruction("mul", (0, 1)), Instruction("sin", (2,))))
    swapped = Program(2, (Instruction("mul", (1, 0)), Instruction("sin", (2,))))
    inner = Program(2, (Instruction("mul", (0, 1)),))

    outputs = run([program, swapped, inner])

    expected = np.sin(INPUTS[:, 0] * INPUTS[:, 1])
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-14)
    np.testing.assert_array_equal(outputs[1], outputs[0])
    np.testing.assert_array_equal(outputs[2], INPUTS[:, 0] * INPUTS[:, 1])
    assert stream.count_instructions([program, swapped, inner], 8, 256) == (5, 2)


def test_sub_and_div_keep_order():
    programs = [Program(2, (Instruction(op, args),)) for op in ("sub", "div") for args in ((0, 1), (1, 0))]

    outputs = run(programs)

    a, b = INPUTS[:, 0], INPUTS[:, 1]
    np.testing.assert_array_equal(outputs, [a - b, b - a, a / b, b / a])
    assert stream.count_instructions(programs, 8, 256) == (4, 4)


def test_constants_share_only_with_equal_bits():
    programs = [Program(1, (Instruction("const", (), value), Instruction("add", (0, 1)))) for value in (0.0, -0.0, 0.0)]

    assert stream.count_instructions(programs, 8, 256) == (6, 4)
    outputs = run(programs, inputs=np.array([[-0.0], [1.0]]))
    assert np.signbit(outputs[1, 0])
    assert not np.signbit(outputs[0, 0])


def test_symmetric_input_sums_keep_sharing():
    # add(x0, x2) and add(x1, x1) sum to the same value of any linear input hash.
    programs = [Program(3, (Instruction("add", pair), Instruction("sin", (3,)))) for pair in ((0, 2), (1, 1))]
    programs += [Program(3, (Instruction("add", (0, 2)), Instruction("cos", (3,))))]

    assert stream.count_instructions(programs, 8, 256) == (6, 5)


def test_mixed_input_counts_are_rejected():
    programs = [Program(3, (Instruction("add", (0, 1)),)), Program(2, (Instruction("neg", (0,)),))]

    with pytest.raises(ValueError, match=r"same number of inputs, got \[2, 3\]"):
        batched.evaluate_batch(programs, np.zeros((4, 3)), strategy="stream")


@pytest.mark.parametrize("devices, size, shards", [(2, 3, 1), (2, 6, 2), (4, 6, 2), (4, 12, 4), (8, 200, 8), (8, 100, 4)])
def test_shards_divide_the_launch(monkeypatch, devices, size, shards):
    monkeypatch.setattr(jax, "local_device_count", lambda: devices)

    assert stream.shard_count(size) == shards


def test_hash_collision_turns_sharing_off(monkeypatch):
    programs = siblings(parents=4, children=6, seed=2)
    expected = run(programs, share=False)
    jax.clear_caches()

    # Every instruction gets the same hash, so the first instruction matches all.
    monkeypatch.setattr(subexpressions, "structural_hashes", lambda opcodes, *rest: jnp.zeros(opcodes.shape, jnp.uint64))
    live, computed = stream.count_instructions(programs, 32, 256)
    outputs = run(programs)
    jax.clear_caches()

    assert computed == live
    np.testing.assert_array_equal(outputs, expected)


def test_shared_rows_overflow_turns_sharing_off():
    # Three chains (sine, cosine, negation) that program k reads at depth k: each
    # depth but the last is read by the next program, 21 shared values and 8
    # outputs for 8 programs, more than the shared rows at length 25.
    chain = []
    for depth in range(8):
        for k, op in enumerate(("sin", "cos", "neg")):
            chain.append(Instruction(op, (k % 2 if depth == 0 else 2 + 3 * (depth - 1) + k,)))
    programs = [Program(2, (*chain[: 3 * k + 3], Instruction("fma", (2 + 3 * k, 3 + 3 * k, 4 + 3 * k)))) for k in range(8)]
    assert 21 + 8 > 8 * stream.shared_rows_per_program(32)

    live, computed = stream.count_instructions(programs, 8, 256)
    outputs = run(programs)

    assert computed == live
    np.testing.assert_array_equal(outputs, run(programs, share=False))
    for program, output in zip(programs, outputs):
        np.testing.assert_allclose(output, program.evaluate(INPUTS), rtol=1e-13, atol=1e-15)


def test_failed_programs_poison_nothing():
    good = Program(1, (Instruction("exp", (0,)), Instruction("neg", (1,))))
    huge = Program(1, (Instruction("exp", (0,)), Instruction("const", (), 1e300), Instruction("mul", (1, 2))))

    outputs = run([good, huge, good], dtype=np.float32, inputs=np.array([[0.0], [1.0]]))

    np.testing.assert_allclose(outputs[0], [-1.0, -np.e], rtol=1e-6)
    assert np.isnan(outputs[1]).all()
    np.testing.assert_array_equal(outputs[2], outputs[0])


def test_packed_code_matches_instructions():
    program = Program(2, (Instruction("const", (), 2.5), Instruction("fma", (0, 1, 2)), Instruction("sqrt", (3,))))

    code = np.frombuffer(program.code, dtype=np.int32).reshape(-1, 4)
    constants = np.frombuffer(program.code_constants, dtype=np.float64)

    np.testing.assert_array_equal(code, [[OPCODE["const"], 0, 0, 0], [OPCODE["fma"], 0, 1, 2], [OPCODE["sqrt"], 3, 0, 0]])
    np.testing.assert_array_equal(constants, [2.5, 0.0, 0.0])
    assert Program.from_dict(program.to_dict()).code == program.code


@pytest.mark.parametrize("value", ["pi", "1.5", None, True])
def test_constant_must_be_a_real_number(value):
    with pytest.raises(ValueError, match=rf"instruction 0 \(const\) has value {value!r}; a constant must be a real number"):
        Program(1, (Instruction("const", (), value),))


def test_constant_beyond_float64_is_rejected():
    with pytest.raises(ValueError, match="beyond the float64 range"):
        Program(1, (Instruction("const", (), 10**400),))


def test_non_integer_input_count_is_rejected():
    with pytest.raises(ValueError, match="n_inputs must be an integer of at least 1, got 2.0"):
        Program(2.0, (Instruction("add", (0, 1)),))


@pytest.mark.parametrize("cosine", [False, True])
def test_float32_sine_cosine_accuracy(cosine):
    rng = np.random.default_rng(4)
    x = np.concatenate([
        rng.uniform(-4, 4, 4000), rng.uniform(-1e5, 1e5, 4000), rng.uniform(-1e7, 1e7, 2000),
        [0.0, -0.0, 2.0**19, -(2.0**19), 3.4e38, np.pi / 2, np.inf, -np.inf, np.nan],
    ]).astype(np.float32)  # fmt: skip

    got = np.asarray(jax.jit(lambda v: cpu_math.fast_sin_or_cos(v, cosine=cosine))(x))

    with np.errstate(invalid="ignore"):
        exact = (np.cos if cosine else np.sin)(x.astype(np.float64))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
    finite = np.isfinite(exact)
    ulp = np.spacing(np.abs(exact[finite]).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got[finite] - exact[finite]) / ulp) <= 2.0
