"""Tests of evolve.python_program: the evolvable block, normalization and serialization."""

import msgpack
import numpy as np
import pytest

from evolve.python_program import BLOCK_END, BLOCK_START, PythonProgram, plain_data, summarize

SOURCE = f"""import numpy as np

SCALE = 2.0

{BLOCK_START}
def shape(x):
    return np.sin(x) * SCALE  # evolvable
{BLOCK_END}


def construct(n):
    return shape(np.arange(n))
"""


def test_block_lines_exclude_markers():
    program = PythonProgram(SOURCE)
    first, end = program.block_lines()
    lines = SOURCE.splitlines()
    assert lines[first - 1] == BLOCK_START
    assert lines[end] == BLOCK_END
    assert program.block() == "def shape(x):\n    return np.sin(x) * SCALE  # evolvable\n"


def test_with_block_replaces_only_block():
    program = PythonProgram(SOURCE, warm_start={"values": [1.0]})
    child = program.with_block("def shape(x):\n    return x")
    assert child.block() == "def shape(x):\n    return x\n"
    assert child.source.startswith("import numpy as np\n\nSCALE = 2.0\n\n" + BLOCK_START + "\n")
    assert child.source.endswith(BLOCK_END + "\n\n\ndef construct(n):\n    return shape(np.arange(n))\n")
    assert child.warm_start == {"values": [1.0]}


def test_no_markers_means_whole_module():
    program = PythonProgram("x = 1\ny = 2\n")
    assert program.block_lines() == (0, 2)
    assert program.block() == "x = 1\ny = 2\n"
    assert summarize(program) == "Python module, 2 lines, all evolvable"


def test_summary_names_block_lines():
    assert summarize(PythonProgram(SOURCE)) == "Python module, 12 lines, evolvable block at lines 6-7"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (f"{BLOCK_START}\nx = 1\n", "exactly one"),
        (f"x = 1\n{BLOCK_END}\n", "exactly one"),
        (f"{BLOCK_START}\n{BLOCK_START}\nx = 1\n{BLOCK_END}\n", "exactly one"),
        (f"{BLOCK_END}\nx = 1\n{BLOCK_START}\n", "comes before"),
    ],
)
def test_invalid_markers_raise(source, message):
    with pytest.raises(ValueError, match=message):
        PythonProgram(source)


def test_source_must_be_str():
    with pytest.raises(TypeError, match="source"):
        PythonProgram(b"x = 1\n")


def test_normalized_source_ignores_comments_and_layout():
    first = PythonProgram("x = ( 1+2 )  # three\n\n\ndef f( a ):\n    return a*2\n")
    second = PythonProgram("x = 1 + 2\ndef f(a):\n    # double it\n    return a * 2\n")
    assert first.normalized_source() == second.normalized_source()


def test_normalized_source_sees_real_changes():
    assert PythonProgram("x = 1 + 2\n").normalized_source() != PythonProgram("x = 1 - 2\n").normalized_source()


def test_normalized_source_raises_on_syntax_error():
    with pytest.raises(SyntaxError):
        PythonProgram("def f(:\n").normalized_source()


def test_dict_round_trip_through_msgpack():
    program = PythonProgram(SOURCE, warm_start={"centers": np.eye(2), "radii": (0.5, 0.25), "n": np.int64(2)})
    data = msgpack.unpackb(msgpack.packb(program.to_dict()), raw=False)
    restored = PythonProgram.from_dict(data)
    assert restored == program
    assert restored.warm_start == {"centers": [[1.0, 0.0], [0.0, 1.0]], "radii": [0.5, 0.25], "n": 2}


def test_from_dict_without_source_raises():
    with pytest.raises(ValueError, match="source"):
        PythonProgram.from_dict({"warm_start": None})


def test_plain_data_converts_numpy():
    converted = plain_data({"a": np.float32(1.5), "b": np.array([True, False]), "c": [np.int8(3)]})
    assert converted == {"a": 1.5, "b": [True, False], "c": [3]}
    assert type(converted["a"]) is float
    assert type(converted["c"][0]) is int


@pytest.mark.parametrize("value", [object(), {1: 2.0}, np.array(["a"]), np.array([1j])])
def test_plain_data_rejects_other_types(value):
    with pytest.raises(TypeError):
        plain_data(value)
