"""Tests of batched evaluation: agreement with the NumPy reference, bad input, padding, compilation, placement."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cluster import placement
from evolve import batched, stream
from evolve.mutation import OpMutator
from evolve.ops import OP_NAMES, OPS
from evolve.program import Instruction, Program
from problems.symbolic_regression import fitting
from problems.symbolic_regression.fitting import fit_constants

N_INPUTS = 3
RNG = np.random.default_rng(11)
INPUTS = RNG.uniform(-3.0, 3.0, size=(64, N_INPUTS))
STRATEGIES = batched.STRATEGIES


def random_programs(count: int, seed: int, max_length: int = 24) -> list[Program]:
    """Draw programs over every op, of lengths 1 to ``max_length``."""
    rng = np.random.default_rng(seed)
    mutator = OpMutator(OP_NAMES, N_INPUTS, max_length=max_length)
    return [mutator.random_program(rng, int(rng.integers(1, max_length + 1))) for _ in range(count)]


def reference(program: Program, inputs: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Return the float64 NumPy output and a mask of points where a register is out of ``dtype``'s range.

    Out of range means finite but beyond the largest ``dtype`` number, or nonzero
    but subnormal: ``dtype`` itself overflows there, and XLA on CPU flushes
    subnormal numbers to zero, so the batched result may differ by design.
    """
    info = np.finfo(dtype)
    registers = [inputs[:, i] for i in range(program.n_inputs)]
    out_of_range = np.zeros(inputs.shape[0], dtype=bool)
    with np.errstate(all="ignore"):
        for instruction in program.instructions:
            if instruction.op == "const":
                value = np.full(inputs.shape[0], instruction.value)
            else:
                value = OPS[instruction.op].numpy_fn(*(registers[a] for a in instruction.args))
            magnitude = np.abs(value)
            out_of_range |= ((value != 0) & (magnitude < info.tiny)) | (np.isfinite(value) & (magnitude > info.max))
            registers.append(value)
    output = registers[-1] if program.instructions else np.full(inputs.shape[0], np.nan)
    return output, out_of_range


def stable_reference(programs, inputs, step: float, tolerance: float, dtype):
    """Return reference outputs and a mask of the points that are safe to compare.

    A point is safe when random relative perturbations of size ``step`` of each
    input change the output by less than ``tolerance`` and keep its NaN/inf
    pattern, and every register stays in ``dtype``'s range. Chaotic programs, such
    as the sine of a huge argument, differ between any two correct implementations.
    """
    rng = np.random.default_rng(0)
    perturbed_inputs = [inputs * (1 + step * rng.choice([-1.0, 1.0], size=inputs.shape)) for _ in range(2)]
    outputs, safe = [], []
    for program in programs:
        output, out_of_range = reference(program, inputs, dtype)
        stable = ~out_of_range
        for perturbed_input in perturbed_inputs:
            perturbed, perturbed_out_of_range = reference(program, perturbed_input, dtype)
            same_kind = (np.isnan(perturbed) == np.isnan(output)) & (np.isinf(perturbed) == np.isinf(output))
            with np.errstate(all="ignore"):
                close = np.isclose(perturbed, output, rtol=tolerance, atol=tolerance, equal_nan=True)
            stable &= same_kind & close & ~perturbed_out_of_range
        outputs.append(output)
        safe.append(stable)
    return np.array(outputs), np.array(safe)


def assert_matches(outputs, expected, safe, rtol):
    """Assert equal NaN/inf patterns and values within ``rtol`` at the safe points."""
    assert outputs.shape == expected.shape
    assert np.array_equal(np.isnan(outputs[safe]), np.isnan(expected[safe]))
    assert np.array_equal(np.isposinf(outputs[safe]), np.isposinf(expected[safe]))
    assert np.array_equal(np.isneginf(outputs[safe]), np.isneginf(expected[safe]))
    finite = safe & np.isfinite(expected)
    with np.errstate(all="ignore"):
        close = np.isclose(outputs[finite], expected[finite], rtol=rtol, atol=rtol)
    assert close.all(), f"{(~close).sum()} of {close.size} values differ by more than rtol={rtol}"


# ---------------------------------------------------------------- agreement with the reference

PROGRAMS = random_programs(2000, seed=1)


@pytest.fixture(scope="module")
def reference_float64():
    return stable_reference(PROGRAMS, INPUTS, step=1e-9, tolerance=1e-6, dtype=np.float64)


@pytest.fixture(scope="module")
def reference_float32():
    return stable_reference(PROGRAMS, INPUTS, step=1e-5, tolerance=1e-4, dtype=np.float32)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_float64_matches_reference(strategy, reference_float64):
    expected, safe = reference_float64
    outputs = batched.evaluate_batch(PROGRAMS, INPUTS, np.float64, strategy=strategy)

    assert outputs.dtype == np.float64
    assert safe.mean() > 0.9
    assert (safe & ~np.isfinite(expected)).sum() > 1000, "the sample should exercise NaN and inf"
    assert_matches(outputs, expected, safe, rtol=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_float32_matches_reference(strategy, reference_float32):
    expected, safe = reference_float32
    outputs = batched.evaluate_batch(PROGRAMS, INPUTS, np.float32, strategy=strategy)

    assert outputs.dtype == np.float32
    assert safe.mean() > 0.8
    assert_matches(outputs.astype(np.float64), expected, safe, rtol=1e-3)


SPECIAL_VALUES = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 1e300, 700.0, 710.0, -745.0, -800.0,
     3.0e5, 6.0e5, 1e10, 1e20, -1e20, np.pi, np.inf, -np.inf, np.nan]
)  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", [name for name in OP_NAMES if OPS[name].arity == 1])
def test_unary_op_on_special_values(strategy, name):
    program = Program(1, (Instruction(name, (0,)),))
    inputs = SPECIAL_VALUES[:, None]
    expected, out_of_range = reference(program, inputs, np.float64)

    outputs = batched.evaluate_batch([program], inputs, np.float64, strategy=strategy)[0]

    assert_matches(outputs[None], expected[None], ~out_of_range[None], rtol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_op_on_special_values(strategy, name):
    program = Program(2, (Instruction(name, (0, 1)),))
    a, b = np.meshgrid(SPECIAL_VALUES, SPECIAL_VALUES)
    inputs = np.column_stack([a.ravel(), b.ravel()])
    expected, out_of_range = reference(program, inputs, np.float64)

    outputs = batched.evaluate_batch([program], inputs, np.float64, strategy=strategy)[0]

    assert_matches(outputs[None], expected[None], ~out_of_range[None], rtol=1e-15)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_bad_programs_fail_alone(strategy):
    good = Program(1, (Instruction("add", (0, 0)),))
    empty = Program(1, ())
    too_long = Program(1, tuple(Instruction("neg", (i,)) for i in range(40)))
    huge_constant = Program(1, (Instruction("const", (), 1e300), Instruction("div", (0, 1))))
    nan_everywhere = Program(1, (Instruction("log", (0,)), Instruction("sqrt", (1,))))
    inputs = np.array([[-1.0], [2.0], [0.0]])
    programs = [good, empty, too_long, huge_constant, nan_everywhere, good]

    outputs32 = batched.evaluate_batch(programs, inputs, np.float32, strategy=strategy, max_length=32)
    outputs64 = batched.evaluate_batch(programs, inputs, np.float64, strategy=strategy, max_length=32)

    for outputs in (outputs32, outputs64):
        np.testing.assert_array_equal(outputs[0], [-2.0, 4.0, 0.0])
        np.testing.assert_array_equal(outputs[5], [-2.0, 4.0, 0.0])
        assert np.isnan(outputs[1]).all()
        assert np.isnan(outputs[2]).all()
        assert np.isnan(outputs[4, 0])
    # 1e300 overflows float32, so the program fails instead of returning x / inf = 0.
    # float64 represents 1e300.
    assert np.isnan(outputs32[3]).all()
    np.testing.assert_allclose(outputs64[3], inputs[:, 0] / 1e300)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mse_batch_fails_non_finite(strategy):
    inputs = np.linspace(0.5, 2.0, 16)[:, None]
    targets = 3.0 * inputs[:, 0]
    exact = Program(1, (Instruction("const", (), 3.0), Instruction("mul", (0, 1))))
    off = Program(1, (Instruction("add", (0, 0)),))
    infinite = Program(1, (Instruction("sub", (0, 0)), Instruction("div", (0, 1))))
    empty = Program(1, ())

    losses = batched.mse_batch([exact, off, infinite, empty], inputs, targets, strategy=strategy)

    assert losses[0] == 0.0
    assert losses[1] == pytest.approx(np.mean(inputs[:, 0] ** 2))
    assert losses[2] == np.inf
    assert losses[3] == np.inf


def test_evaluate_batch_rejects_bad_arguments():
    program = Program(2, (Instruction("add", (0, 1)),))
    with pytest.raises(ValueError, match=r"inputs must have shape \(points, 2\), got \(5, 3\)"):
        batched.evaluate_batch([program], np.zeros((5, 3)))
    with pytest.raises(ValueError, match="unknown strategy 'gpu'; use one of stream, vmap"):
        batched.evaluate_batch([program], np.zeros((5, 2)), strategy="gpu")
    with pytest.raises(ValueError, match=r"same number of inputs, got \[1, 2\]"):
        batched.encode([program, Program(1, ())])
    with pytest.raises(ValueError, match=r"targets must have shape \(5,\), got \(4,\)"):
        batched.mse_batch([program], np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="max_length must be at least 1, got -1"):
        batched.evaluate_batch([program], np.zeros((5, 2)), max_length=-1)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got float16"):
        batched.evaluate_batch([program], np.zeros((5, 2)), dtype=np.float16)


def test_evaluate_batch_of_no_programs():
    assert batched.evaluate_batch([], np.zeros((5, 2))).shape == (0, 5)


# ---------------------------------------------------------------- padding and compilation


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_padding_invariance(strategy):
    programs = random_programs(5, seed=3, max_length=6)
    longer = random_programs(1, seed=4, max_length=60)
    many = random_programs(40, seed=5)

    alone = np.array([batched.evaluate_batch([p], INPUTS, strategy=strategy)[0] for p in programs])
    together = batched.evaluate_batch(programs, INPUTS, strategy=strategy)
    with_longer = batched.evaluate_batch(longer + programs, INPUTS, strategy=strategy)[1:]
    in_bigger_batch = batched.evaluate_batch(many + programs, INPUTS, strategy=strategy)[40:]
    split = batched.evaluate_batch(many + programs, INPUTS, strategy=strategy, max_batch=8)[40:]

    for outputs in (together, with_longer, in_bigger_batch, split):
        np.testing.assert_array_equal(outputs, alone)


def test_stream_runs_many_points_in_blocks():
    programs = random_programs(50, seed=8)
    inputs = np.random.default_rng(8).uniform(-3.0, 3.0, size=(stream.BLOCK_POINTS * 2 + 5, N_INPUTS))

    blocked = batched.evaluate_batch(programs, inputs, strategy="stream")
    block = stream.BLOCK_POINTS
    pieces = [batched.evaluate_batch(programs, inputs[start : start + block], strategy="stream") for start in (0, block)]

    assert blocked.shape == (50, inputs.shape[0])
    np.testing.assert_array_equal(blocked[:, : 2 * block], np.concatenate(pieces, axis=1))
    np.testing.assert_array_equal(blocked[:, 2 * block :], batched.evaluate_batch(programs, inputs[2 * block :]))


def test_padding_is_copy_of_last_register():
    program = Program(2, (Instruction("mul", (0, 1)), Instruction("neg", (2,))))
    encoded = batched.encode([program], min_length=8)

    assert encoded.opcodes.shape == (8, 8)
    assert list(encoded.opcodes[0, 2:]) == [batched.OPCODE["copy"]] * 6
    assert list(encoded.args[0, 2:, 0]) == [3, 4, 5, 6, 7, 8]
    assert encoded.lengths[0] == 2


def test_live_instructions_skip_dead_code():
    program = Program(1, (Instruction("exp", (0,)), Instruction("sin", (0,)), Instruction("neg", (2,))))
    encoded = batched.encode([program])

    assert list(batched.live_instructions(encoded)[0, :3]) == [False, True, True]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_trace_per_bucket(strategy):
    # 37 points give shapes that no other test uses.
    inputs = RNG.uniform(-1, 1, size=(37, N_INPUTS))
    rng = np.random.default_rng(9)
    mutator = OpMutator(OP_NAMES, N_INPUTS)
    before = sum(batched.trace_counts().values())

    # Twenty "generations" of 9 to 16 programs of 9 to 16 instructions: one bucket.
    for _ in range(20):
        count = int(rng.integers(9, 17))
        programs = [mutator.random_program(rng, int(rng.integers(9, 17))) for _ in range(count)]
        batched.evaluate_batch(programs, inputs, strategy=strategy)
    after_one_bucket = sum(batched.trace_counts().values())

    batched.evaluate_batch([mutator.random_program(rng, 20)], inputs, strategy=strategy)
    after_longer = sum(batched.trace_counts().values())

    assert after_one_bucket - before == 1
    assert after_longer - after_one_bucket == 1


def test_min_batch_keeps_one_batch_bucket():
    # 41 points give shapes that no other test uses.
    inputs = RNG.uniform(-1, 1, size=(41, N_INPUTS))
    before = sum(batched.trace_counts().values())

    for count in (3, 20, 50, 64):
        batched.evaluate_batch(random_programs(count, seed=count, max_length=8), inputs, min_batch=64)

    assert sum(batched.trace_counts().values()) - before == 1


def test_stream_split_over_cpu_devices_matches_one_device():
    # The device count is fixed when JAX starts, so the split runs in a child process.
    programs = random_programs(64, seed=6)
    script = textwrap.dedent(
        """
        import json, sys
        import jax
        jax.config.update("jax_num_cpu_devices", 2)
        import numpy as np
        from evolve import batched
        from evolve.program import Program
        data = json.load(sys.stdin)
        programs = [Program.from_dict(d) for d in data["programs"]]
        outputs = batched.evaluate_batch(programs, np.array(data["inputs"]))
        losses = batched.mse_batch(programs, np.array(data["inputs"]), np.zeros(len(data["inputs"])))
        batched.evaluate_batch(programs[:3], np.array(data["inputs"]), min_batch=3)
        print(json.dumps({"devices": jax.local_device_count(), "keys": [k[0] for k in batched.trace_counts()],
                          "outputs": outputs.tolist(), "losses": losses.tolist()}))
        """
    )
    message = json.dumps({"programs": [p.to_dict() for p in programs], "inputs": INPUTS.tolist()})
    environment = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.run(
        [sys.executable, "-c", script], input=message, capture_output=True, text=True, env=environment, timeout=120
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)

    # Each shard compiles for its own shape, so XLA may vectorize a sum in
    # another order: results may differ in the last bit.
    assert result["devices"] == 2
    assert "stream" in result["keys"]
    outputs = batched.evaluate_batch(programs, INPUTS)
    np.testing.assert_allclose(np.array(result["outputs"], dtype=float), outputs, rtol=1e-13)
    losses = batched.mse_batch(programs, INPUTS, np.zeros(len(INPUTS)))
    np.testing.assert_allclose(np.array(result["losses"], dtype=float), losses, rtol=1e-13)


# ---------------------------------------------------------------- constant fitting


FIT_FUNCTIONS = {"stream": fitting._fit_stream_jit, "vmap": fitting._fit_batch}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fit_constants_recovers_line_and_skips_failed(strategy):
    inputs = np.linspace(-2.0, 2.0, 50)[:, None]
    targets = 2.5 * inputs[:, 0] - 0.75
    line = Program(
        1,
        (
            Instruction("const", (), 1.0),
            Instruction("mul", (0, 1)),
            Instruction("const", (), 0.0),
            Instruction("add", (2, 3)),
        ),
    )
    too_long = Program(1, (Instruction("const", (), 1.0),) + tuple(Instruction("neg", (i,)) for i in range(1, 300)))

    fitted, losses = fit_constants([line, too_long], inputs, targets, iterations=20, strategy=strategy)

    np.testing.assert_allclose(fitted[0].constants(), [2.5, -0.75], rtol=1e-8)
    assert losses[0] < 1e-20
    assert fitted[1] is too_long
    assert losses[1] == np.inf


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fit_constants_first_instruction_constant(strategy):
    # Unused constant slots once wrote instruction 0 too and undid its fit.
    inputs = np.linspace(-2.0, 2.0, 50)[:, None]
    targets = 2.5 * inputs[:, 0]
    scaled = Program(1, (Instruction("const", (), 1.0), Instruction("mul", (0, 1))))

    fitted, losses = fit_constants([scaled], inputs, targets, iterations=20, strategy=strategy)

    np.testing.assert_allclose(fitted[0].constants(), [2.5], rtol=1e-8)
    assert losses[0] < 1e-20


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fit_compiles_once_per_bucket(strategy):
    # 41 points give a shape that no other test fits on.
    inputs = RNG.uniform(-1, 1, size=(41, N_INPUTS))
    targets = inputs[:, 0] * 1.5
    rng = np.random.default_rng(11)
    mutator = OpMutator(OP_NAMES, N_INPUTS)
    compiled = FIT_FUNCTIONS[strategy]._cache_size()

    # Batches of 1 to 25 programs of 9 to 16 instructions, as cache hits leave them.
    for _ in range(8):
        count = int(rng.integers(1, 26))
        programs = [mutator.random_program(rng, int(rng.integers(9, 17))) for _ in range(count)]
        fit_constants(programs, inputs, targets, iterations=2, strategy=strategy)

    assert FIT_FUNCTIONS[strategy]._cache_size() - compiled == 1


def test_fit_strategies_agree_on_random_programs():
    rng = np.random.default_rng(5)
    mutator = OpMutator(OP_NAMES, N_INPUTS)
    inputs = rng.uniform(0.5, 2.0, size=(64, N_INPUTS))
    targets = np.exp(-inputs[:, 0] ** 2 / 2) + 0.3 * inputs[:, 1]
    programs = [mutator.random_program(rng, int(rng.integers(2, 14))).pruned() for _ in range(60)]
    programs = [p for p in programs if len(p) > 0]

    fitted_stream, losses_stream = fit_constants(programs, inputs, targets, iterations=10, strategy="stream")
    fitted_vmap, losses_vmap = fit_constants(programs, inputs, targets, iterations=10, strategy="vmap")

    assert np.array_equal(np.isinf(losses_stream), np.isinf(losses_vmap))
    finite = np.isfinite(losses_vmap)
    assert finite.sum() > 10
    np.testing.assert_allclose(losses_stream[finite], losses_vmap[finite], rtol=1e-6)


def test_fit_constants_unknown_strategy_raises():
    program = Program(1, (Instruction("const", (), 1.0),))

    with pytest.raises(ValueError, match="unknown strategy 'gpu'"):
        fit_constants([program], np.ones((3, 1)), np.ones(3), strategy="gpu")


# ---------------------------------------------------------------- placement


def test_launches_sized_from_device_memory(monkeypatch):
    real_run = stream.run
    sizes = []

    def counting_run(launch, *args, **kwargs):
        sizes.append(len(launch))
        return real_run(launch, *args, **kwargs)

    monkeypatch.setattr(batched, "choose_batch_size", lambda *args: 16)
    monkeypatch.setattr(stream, "run", counting_run)
    programs = PROGRAMS[:40]

    outputs = batched.evaluate_batch(programs, INPUTS, np.float64)

    assert sizes == [16, 16, 8]
    assert outputs.shape == (40, INPUTS.shape[0])


def test_batch_size_without_points_is_positive():
    assert placement.choose_batch_size(0, 16, memory_bytes=2**30, strategy="vmap") >= 1


def test_actor_options_fall_back_to_cpu():
    assert placement.evaluator_actor_options(4, resources={"CPU": 2.0}) == {"num_cpus": 1}
    assert placement.evaluator_actor_options(1, resources={"CPU": 8.0, "GPU": 0.0}) == {"num_cpus": 1}


def test_actor_options_share_gpus():
    whole = placement.evaluator_actor_options(2, resources={"CPU": 16.0, "GPU": 4.0})
    shared = placement.evaluator_actor_options(3, resources={"CPU": 16.0, "GPU": 1.0})

    assert whole == {"num_cpus": 1, "num_gpus": 1.0}
    assert shared["num_gpus"] == 0.3333
    assert shared["runtime_env"] == {"env_vars": {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.3000"}}


def test_actor_options_reject_no_actors():
    with pytest.raises(ValueError, match="num_actors must be at least 1, got 0"):
        placement.evaluator_actor_options(0, resources={})


def test_batch_size_follows_memory():
    small = placement.choose_batch_size(1024, 16, memory_bytes=2**30, strategy="vmap")
    large = placement.choose_batch_size(1024, 16, memory_bytes=2**36, strategy="vmap")
    tiny = placement.choose_batch_size(1024, 16, memory_bytes=2**20, strategy="vmap")

    assert small == 2048  # 0.5 GiB / (3 * 17 * 1024 * 4 bytes) = 2570, rounded down
    assert large == batched.DEFAULT_MAX_BATCH
    assert tiny == 256
    assert placement.device_memory_bytes() > 2**20
