"""Tests of the random op edits: every child is a valid program, for every op set and edit."""

import warnings

import numpy as np
import pytest

from evolve.errors import UserInputError
from evolve.mutation import DEFAULT_EDIT_WEIGHTS, OpMutator
from evolve.ops import OP_NAMES
from evolve.program import Instruction, Program

EDITS = tuple(DEFAULT_EDIT_WEIGHTS)

# (op set, inputs, max_length): the full set, arithmetic only, no constants,
# constants with unary and ternary ops, a single unary op, and tiny length limits.
SETTINGS = [
    (OP_NAMES, 1, 8),
    (OP_NAMES, 3, 16),
    (("add", "mul"), 2, 6),
    (("const", "sin", "fma"), 2, 10),
    (("neg",), 1, 5),
    (("const", "add", "div", "log"), 4, 2),
    (("const", "sub"), 1, 1),
]
SETTINGS_IDS = [f"{len(ops)}ops-{n}inputs-max{length}" for ops, n, length in SETTINGS]
STEPS_PER_SETTING = 750  # 5250 edits in all
POINTS = np.random.default_rng(3).uniform(-2.0, 2.0, size=(16, 4))


def live_key(program: Program) -> tuple:
    pruned = program.pruned()
    return tuple((ins.op, ins.args, ins.value) for ins in pruned.instructions)


def structure(program: Program) -> list[tuple[str, tuple[int, ...]]]:
    return [(ins.op, ins.args) for ins in program.instructions]


def random_walk(mutator: OpMutator, seed: int, steps: int, restart_every: int = 50):
    """Yield (parent, child) pairs of a walk that restarts from a fresh random program now and then."""
    rng = np.random.default_rng(seed)
    parent = mutator.random_program(rng, min(3, mutator.max_length))
    for step in range(steps):
        child = mutator.mutate(parent, rng)
        yield parent, child
        if step % restart_every == restart_every - 1:
            length = int(rng.integers(1, mutator.max_length + 1))
            parent = mutator.random_program(rng, length)
        else:
            parent = child


def check_valid(child: Program, mutator: OpMutator) -> None:
    assert isinstance(child, Program)
    child.validate()
    assert child.n_inputs == mutator.n_inputs
    assert 1 <= len(child) <= mutator.max_length
    assert {ins.op for ins in child.instructions} <= set(mutator.op_names)
    outputs = child.evaluate(POINTS[:, : mutator.n_inputs])
    assert outputs.shape == (len(POINTS),)


# ---------------------------------------------------------------- random walks


@pytest.mark.parametrize("op_names, n_inputs, max_length", SETTINGS, ids=SETTINGS_IDS)
def test_random_edits_give_valid_programs(op_names, n_inputs, max_length):
    mutator = OpMutator(op_names, n_inputs, max_length=max_length)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, child in random_walk(mutator, seed=max_length, steps=STEPS_PER_SETTING):
            check_valid(child, mutator)


@pytest.mark.parametrize("op_names, n_inputs, max_length", SETTINGS[:5], ids=SETTINGS_IDS[:5])
def test_random_edits_mostly_change_live_part(op_names, n_inputs, max_length):
    mutator = OpMutator(op_names, n_inputs, max_length=max_length)

    pairs = list(random_walk(mutator, seed=1, steps=STEPS_PER_SETTING))
    changed = sum(live_key(child) != live_key(parent) for parent, child in pairs)

    assert changed / len(pairs) >= 0.85


def test_mutate_never_returns_dead_only_change():
    # Most edits of a long dead prefix leave the live part alone, so mutate must
    # retry. With 100 tries, a child that changes nothing is all but impossible.
    dead = tuple(Instruction("sin", (0,)) for _ in range(6))
    parent = Program(2, dead + (Instruction("mul", (0, 1)),))
    mutator = OpMutator(("sin", "cos", "mul"), 2, max_length=8, max_tries=100)
    rng = np.random.default_rng(0)

    children = [mutator.mutate(parent, rng) for _ in range(200)]
    changed = sum(live_key(child) != live_key(parent) for child in children)

    assert changed == len(children)


def test_mutate_does_not_change_parent():
    mutator = OpMutator(OP_NAMES, 2)
    rng = np.random.default_rng(5)
    parent = mutator.random_program(rng, 6)
    copy = Program.from_dict(parent.to_dict())

    for _ in range(100):
        mutator.mutate(parent, rng)

    assert parent == copy


def test_mutate_empty_parent():
    mutator = OpMutator(("const", "add"), 1)
    rng = np.random.default_rng(0)

    children = [mutator.mutate(Program(1, ()), rng) for _ in range(50)]

    for child in children:
        check_valid(child, mutator)


def test_mutate_at_max_length_stays():
    mutator = OpMutator(("add", "mul", "neg"), 2, max_length=4, edit_weights={"insert": 1.0})
    rng = np.random.default_rng(0)
    parent = mutator.random_program(rng, 4)

    for _ in range(100):
        assert len(mutator.mutate(parent, rng)) == 4


# ---------------------------------------------------------------- one edit kind at a time


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("op_names, n_inputs, max_length", SETTINGS, ids=SETTINGS_IDS)
def test_single_edit_gives_valid_children(edit, op_names, n_inputs, max_length):
    mutator = OpMutator(op_names, n_inputs, max_length=max_length, edit_weights={edit: 1.0})

    for _, child in random_walk(mutator, seed=11, steps=150, restart_every=10):
        check_valid(child, mutator)


def parents_for(mutator: OpMutator, count: int, length: int) -> list[Program]:
    rng = np.random.default_rng(21)
    return [mutator.random_program(rng, length) for _ in range(count)]


def test_insert_adds_one_instruction():
    mutator = OpMutator(OP_NAMES, 2, max_length=12, edit_weights={"insert": 1.0})
    rng = np.random.default_rng(1)

    for parent in parents_for(mutator, 200, 5):
        child = mutator.mutate(parent, rng)
        assert len(child) == len(parent) + 1


def test_delete_removes_one_instruction():
    mutator = OpMutator(OP_NAMES, 2, max_length=12, edit_weights={"delete": 1.0})
    rng = np.random.default_rng(1)

    for parent in parents_for(mutator, 200, 5):
        child = mutator.mutate(parent, rng)
        assert len(child) == len(parent) - 1


def test_change_op_keeps_length():
    mutator = OpMutator(OP_NAMES, 2, max_length=12, edit_weights={"change_op": 1.0})
    rng = np.random.default_rng(1)

    for parent in parents_for(mutator, 200, 5):
        child = mutator.mutate(parent, rng)
        changed = [i for i in range(len(parent)) if parent.instructions[i] != child.instructions[i]]
        assert len(child) == len(parent)
        assert len(changed) <= 1


def test_rewire_changes_only_arguments():
    mutator = OpMutator(OP_NAMES, 2, max_length=12, edit_weights={"rewire": 1.0})
    rng = np.random.default_rng(1)

    for parent in parents_for(mutator, 200, 5):
        if not any(ins.args for ins in parent.instructions):
            continue  # rewire falls back to change_op
        child = mutator.mutate(parent, rng)
        changed = [i for i in range(len(parent)) if parent.instructions[i] != child.instructions[i]]
        assert [ins.op for ins in child.instructions] == [ins.op for ins in parent.instructions]
        np.testing.assert_array_equal(child.constants(), parent.constants())
        assert len(changed) <= 1


def test_perturb_constant_changes_only_values():
    mutator = OpMutator(("const", "add", "mul"), 2, max_length=12, edit_weights={"perturb_constant": 1.0})
    rng = np.random.default_rng(1)
    parents = [p for p in parents_for(mutator, 300, 5) if p.constant_indices()]
    assert len(parents) > 100

    for parent in parents:
        child = mutator.mutate(parent, rng)
        changed = np.flatnonzero(child.constants() != parent.constants())
        assert structure(child) == structure(parent)
        assert len(changed) == 1
        assert np.all(np.isfinite(child.constants()))


def test_perturb_without_constants_inserts():
    mutator = OpMutator(("add", "mul"), 2, max_length=12, edit_weights={"perturb_constant": 1.0})
    rng = np.random.default_rng(1)
    parent = Program(2, (Instruction("mul", (0, 1)),))

    child = mutator.mutate(parent, rng)

    assert len(child) == 2


def test_zero_weights_disable_edits():
    weights = dict.fromkeys(EDITS, 0.0) | {"rewire": 1.0}
    mutator = OpMutator(OP_NAMES, 2, max_length=12, edit_weights=weights)
    rng = np.random.default_rng(1)

    for parent in parents_for(mutator, 100, 5):
        if not any(ins.args for ins in parent.instructions):
            continue
        child = mutator.mutate(parent, rng)
        assert [ins.op for ins in child.instructions] == [ins.op for ins in parent.instructions]


# ---------------------------------------------------------------- random programs


@pytest.mark.parametrize("op_names, n_inputs, max_length", SETTINGS, ids=SETTINGS_IDS)
def test_random_program_is_valid(op_names, n_inputs, max_length):
    mutator = OpMutator(op_names, n_inputs, max_length=max_length)
    rng = np.random.default_rng(2)

    for length in range(1, max_length + 1):
        built = mutator.random_program(rng, length)
        assert len(built) == length
        check_valid(built, mutator)


def test_random_constants_use_scale():
    mutator = OpMutator(("const", "add"), 1, constant_scale=100.0)
    rng = np.random.default_rng(4)

    constants = np.concatenate([mutator.random_program(rng, 8).constants() for _ in range(200)])

    assert len(constants) > 300
    assert 60.0 < np.std(constants) < 140.0


# ---------------------------------------------------------------- determinism


def children_of(mutator: OpMutator, seed: int) -> list[Program]:
    return [child for _, child in random_walk(mutator, seed=seed, steps=300)]


def test_same_seed_same_children():
    first = children_of(OpMutator(OP_NAMES, 3), seed=9)
    second = children_of(OpMutator(OP_NAMES, 3), seed=9)

    assert first == second


def test_different_seed_different_children():
    first = children_of(OpMutator(OP_NAMES, 3), seed=9)
    second = children_of(OpMutator(OP_NAMES, 3), seed=10)

    assert first != second


# ---------------------------------------------------------------- invalid settings


def test_unknown_op_raises():
    with pytest.raises(UserInputError, match="unknown op 'tanh'"):
        OpMutator(("add", "tanh"), 2)


def test_only_constants_raises():
    with pytest.raises(UserInputError, match="no op with arguments"):
        OpMutator(("const",), 2)


def test_unknown_edit_raises():
    with pytest.raises(ValueError, match=r"unknown edits \['swap'\]"):
        OpMutator(("add",), 2, edit_weights={"swap": 1.0})


@pytest.mark.parametrize(
    "weights",
    [{"insert": -1.0, "delete": 2.0}, {"insert": 0.0}, dict.fromkeys(EDITS, 0.0), {}],
    ids=["negative", "single zero", "all zero", "empty"],
)
def test_bad_edit_weights_raise(weights):
    with pytest.raises(ValueError, match="edit weights must be non-negative with a positive sum"):
        OpMutator(("add",), 2, edit_weights=weights)


@pytest.mark.parametrize("max_length", [0, -3])
def test_bad_max_length_raises(max_length):
    with pytest.raises(ValueError, match=f"max_length must be at least 1, got {max_length}"):
        OpMutator(("add",), 2, max_length=max_length)


@pytest.mark.parametrize("n_inputs", [0, -1])
def test_bad_n_inputs_raises(n_inputs):
    with pytest.raises(ValueError, match="n_inputs"):
        OpMutator(("add",), n_inputs)


def test_bad_max_tries_raises():
    # With no tries, mutate would return the parent itself.
    with pytest.raises(ValueError, match="max_tries"):
        OpMutator(("add",), 2, max_tries=0)


def test_mutate_rejects_other_input_count():
    mutator = OpMutator(("add", "mul", "const"), 2)
    rng = np.random.default_rng(0)
    parent = OpMutator(("add", "mul", "const"), 3).random_program(rng, 4)

    for _ in range(20):
        with pytest.raises(ValueError, match="n_inputs"):
            mutator.mutate(parent, rng)
