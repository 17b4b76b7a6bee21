"""Tests of evolve.ast_mutation: each edit kind, the block boundary and the child checks."""

import ast

import numpy as np
import pytest

from evolve.ast_mutation import AstMutator, MutationError
from evolve.python_program import BLOCK_END, BLOCK_START, PythonProgram

PREFIX = "import numpy as np\n\nLIMIT = 10  # outside the block\n\n\ndef helper(x):\n    return x * 3.5 + 1\n\n\n"
BLOCK = (
    "def step(x, rng):\n"
    "    # a comment that survives other edits\n"
    "    y = np.max(x) * 0.5 - 2\n"
    "    if y < 1.25:\n"
    "        y += 3\n"
    "    z = -0.75\n"
    "    label = f'{y:.2f} and 7'\n"
    "    return np.sin(y) / z\n"
)
SUFFIX = "\n\ndef construct(n):\n    return step(np.arange(n), None)\n"
SOURCE = f"{PREFIX}{BLOCK_START}\n{BLOCK}{BLOCK_END}\n{SUFFIX}"
GROUPS = (("np.max", "np.min", "np.mean"), ("np.sin", "np.cos"))


def only(kind: str, **options) -> AstMutator:
    return AstMutator(function_groups=GROUPS, edit_weights={kind: 1.0}, extra_edit_probability=0.0, **options)


def children(mutator: AstMutator, count: int = 40, seed: int = 0) -> list[PythonProgram]:
    rng = np.random.default_rng(seed)
    parent = PythonProgram(SOURCE, warm_start={"values": [1.0, 2.0]})
    return [mutator.mutate(parent, rng) for _ in range(count)]


def outside_block(program: PythonProgram) -> tuple[str, str]:
    lines = program.source.splitlines(keepends=True)
    first, end = program.block_lines()
    return "".join(lines[:first]), "".join(lines[end:])


@pytest.mark.parametrize(
    "kind", ["perturb_literal", "swap_operator", "swap_function", "duplicate_statement", "delete_statement"]
)
def test_each_edit_gives_valid_different_child(kind):
    parent = PythonProgram(SOURCE)
    for child in children(only(kind)):
        ast.parse(child.source)
        assert child.normalized_source() != parent.normalized_source()
        assert outside_block(child) == outside_block(parent)
        assert child.warm_start == {"values": [1.0, 2.0]}


def test_default_mutator_keeps_outside_untouched():
    parent = PythonProgram(SOURCE)
    for child in children(AstMutator(function_groups=GROUPS), count=200):
        assert outside_block(child) == outside_block(parent)


def test_literal_perturbation_keeps_ints_and_skips_fstrings():
    changed_ints = 0
    for child in children(only("perturb_literal"), count=200):
        tree = ast.parse(child.block())
        augmented = next(node for node in ast.walk(tree) if isinstance(node, ast.AugAssign))
        value = augmented.value
        number = -value.operand.value if isinstance(value, ast.UnaryOp) else value.value
        assert isinstance(number, int)
        changed_ints += number != 3
        assert "label = f'{y:.2f} and 7'" in child.source
    assert changed_ints > 0


def test_negative_literal_is_one_site():
    values = set()
    for child in children(only("perturb_literal"), count=200):
        line = next(line for line in child.source.splitlines() if line.strip().startswith("z ="))
        values.add(line.strip())
        ast.parse(line.strip())
        assert "--" not in line
    assert len(values) > 1


def test_operator_swaps_stay_in_group():
    seen = set()
    for child in children(only("swap_operator"), count=100):
        tree = ast.parse(child.block())
        for node in ast.walk(tree):
            if isinstance(node, (ast.BinOp, ast.AugAssign)):
                assert not isinstance(node.op, (ast.FloorDiv, ast.Mod))
                seen.add(type(node.op).__name__)
            if isinstance(node, ast.Compare):
                assert all(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in node.ops)
                seen.update(type(op).__name__ for op in node.ops)
    assert {"Add", "Sub", "Mult", "Div", "Pow", "Lt", "Gt"} <= seen


def test_function_swap_uses_groups():
    calls = set()
    for child in children(only("swap_function"), count=60):
        tree = ast.parse(child.block())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls.add(ast.unparse(node.func))
    assert calls <= {"np.max", "np.min", "np.mean", "np.sin", "np.cos"}
    assert {"np.min", "np.mean", "np.cos"} <= calls


def test_comments_survive_literal_edits():
    for child in children(only("perturb_literal"), count=20):
        assert "# a comment that survives other edits" in child.source
        assert "LIMIT = 10  # outside the block" in child.source


def test_delete_of_only_statement_leaves_pass():
    source = f"def f(x):\n    {BLOCK_START}\n    if x:\n        x = 1\n    {BLOCK_END}\n    return x\n"
    parent = PythonProgram(source)
    results = {child.block() for child in children_of(parent, only("delete_statement"), 30)}
    assert results == {"    if x:\n        pass\n", ""}  # the return keeps the function body non-empty


def children_of(parent: PythonProgram, mutator: AstMutator, count: int) -> list[PythonProgram]:
    rng = np.random.default_rng(1)
    return [mutator.mutate(parent, rng) for _ in range(count)]


def test_duplicate_copies_statement():
    parent = PythonProgram(f"{BLOCK_START}\nx = [1]\nx.append(2)\n{BLOCK_END}\nprint(x)\n")
    blocks = {child.block() for child in children_of(parent, only("duplicate_statement"), 20)}
    assert "x = [1]\nx = [1]\nx.append(2)\n" in blocks
    assert "x = [1]\nx.append(2)\nx.append(2)\n" in blocks


def test_same_seed_gives_same_children():
    first = [child.source for child in children(AstMutator(function_groups=GROUPS), count=20, seed=7)]
    second = [child.source for child in children(AstMutator(function_groups=GROUPS), count=20, seed=7)]
    assert first == second


def test_empty_block_raises():
    parent = PythonProgram(f"x = 1\n{BLOCK_START}\n# nothing here\n{BLOCK_END}\n")
    with pytest.raises(MutationError, match="no edit"):
        AstMutator().mutate(parent, np.random.default_rng(0))


def test_unparsable_parent_raises():
    with pytest.raises(SyntaxError):
        AstMutator().mutate(PythonProgram("def f(:\n"), np.random.default_rng(0))


@pytest.mark.parametrize(
    "options",
    [
        {"edit_weights": {"teleport": 1.0}},
        {"edit_weights": {"perturb_literal": -1.0}},
        {"extra_edit_probability": 1.0},
        {"function_groups": (("np.max",),)},
        {"function_groups": ("np.max",)},
    ],
)
def test_invalid_options_raise(options):
    with pytest.raises(ValueError):
        AstMutator(**options)


def test_non_ascii_source_edits_at_right_place():
    parent = PythonProgram(f"{BLOCK_START}\nname = 'é' ; x = 2.5\n{BLOCK_END}\n")
    for child in children_of(parent, only("perturb_literal"), 10):
        assert child.source.startswith(f"{BLOCK_START}\nname = 'é' ; x = ")
