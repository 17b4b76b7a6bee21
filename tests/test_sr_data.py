"""Tests for the symbolic regression data layer: Feynman equations, CSV loading, splits."""

import logging
import os

import numpy as np
import pytest
import sympy

from evolve.errors import UserInputError
from problems.symbolic_regression import dataset, feynman
from problems.symbolic_regression.dataset import Dataset, from_equation, load_csv
from problems.symbolic_regression.feynman import Variable

# ---------------------------------------------------------------- Feynman equations


def test_table_has_100_equations():
    assert len(feynman.equations()) == 100


@pytest.mark.parametrize("name", list(feynman.equations()))
def test_equation_parses_and_samples_finite(name):
    eq = feynman.equation(name)
    expression = eq.expression()
    X, y = eq.sample(500, np.random.default_rng(0))

    assert {s.name for s in expression.free_symbols} == set(eq.variable_names)
    assert X.shape == (500, len(eq.variables))
    assert y.shape == (500,)
    assert X.dtype == np.float64
    assert y.dtype == np.float64
    assert np.all(np.isfinite(y))
    for column, variable in enumerate(eq.variables):
        assert X[:, column].min() >= variable.low
        assert X[:, column].max() <= variable.high


def test_sample_matches_expression():
    eq = feynman.equation("II.6.15a")
    X, y = eq.sample(5, np.random.default_rng(3))
    expression = eq.expression()
    symbols = [sympy.Symbol(name) for name in eq.variable_names]

    for row, value in zip(X, y):
        exact = float(expression.subs(dict(zip(symbols, row))))
        assert value == pytest.approx(exact, rel=1e-12)


def test_i_6_2a_fields():
    eq = feynman.equation("I.6.2a")
    theta = sympy.Symbol("theta")
    expected = sympy.exp(-(theta**2) / 2) / sympy.sqrt(2 * sympy.pi)

    assert eq.name == "I.6.2a"
    assert eq.output == "f"
    assert eq.formula == "exp(-theta**2/2)/sqrt(2*pi)"
    assert eq.variables == (Variable("theta", 1.0, 3.0),)
    assert sympy.simplify(eq.expression() - expected) == 0


def test_i_12_1_fields():
    eq = feynman.equation("I.12.1")
    X, y = eq.sample(100, np.random.default_rng(0))

    assert eq.output == "F"
    assert eq.variable_names == ("mu", "Nn")
    assert eq.variables == (Variable("mu", 1.0, 5.0), Variable("Nn", 1.0, 5.0))
    assert np.allclose(y, X[:, 0] * X[:, 1])


@pytest.mark.parametrize(
    "name, variable, builtin",
    [
        ("II.13.17", "I", sympy.I),
        ("I.39.11", "gamma", sympy.gamma),
        ("III.17.37", "beta", sympy.beta),
    ],
)
def test_variable_shadows_sympy_name(name, variable, builtin):
    expression = feynman.equation(name).expression()

    assert sympy.Symbol(variable) in expression.free_symbols
    assert not expression.has(builtin)


def test_numpy_function_names_map_to_sympy():
    assert feynman.equation("I.26.2").expression().has(sympy.asin)
    assert feynman.equation("I.44.4").expression().has(sympy.log)
    assert feynman.equation("I.6.2a").expression().has(sympy.pi)


def test_sampling_same_seed_same_data():
    eq = feynman.equation("I.9.18")
    X1, y1 = eq.sample(50, np.random.default_rng(7))
    X2, y2 = eq.sample(50, np.random.default_rng(7))
    X3, _ = eq.sample(50, np.random.default_rng(8))

    assert np.array_equal(X1, X2)
    assert np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_sampling_accepts_integer_seed():
    eq = feynman.equation("I.6.2a")
    X1, _ = eq.sample(10, 7)
    X2, _ = eq.sample(10, np.random.default_rng(7))

    assert np.array_equal(X1, X2)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_sample_rejects_invalid_count(n):
    with pytest.raises(UserInputError) as info:
        feynman.equation("I.6.2a").sample(n, np.random.default_rng(0))

    assert repr(n) in str(info.value)


@pytest.mark.parametrize(
    "typo, closest",
    [("I.6.2x", "I.6.2"), ("I.8.41", "I.8.14"), ("i.6.2a", "I.6.2a"), ("II.6.15", "II.6.15b")],
)
def test_unknown_equation_suggests_closest(typo, closest):
    with pytest.raises(UserInputError) as info:
        feynman.equation(typo)

    assert repr(typo) in str(info.value)
    assert f"Did you mean {closest!r}?" in str(info.value)
    assert "feynman_equations.csv" in str(info.value)


def test_unknown_equation_without_close_match():
    with pytest.raises(UserInputError) as info:
        feynman.equation("pendulum")

    assert "'pendulum'" in str(info.value)
    assert "Did you mean" not in str(info.value)


# ---------------------------------------------------------------- datasets


def test_from_equation_fields():
    eq = feynman.equation("I.12.1")
    data = from_equation(eq, 20, np.random.default_rng(0))

    assert data.X.shape == (20, 2)
    assert data.y.shape == (20,)
    assert data.variable_names == ("mu", "Nn")
    assert data.target_name == "F"
    assert data.source == "feynman:I.12.1"


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_good_csv_loads(tmp_path):
    path = write(tmp_path, "x1,y,x2\n1,10,2\n3,30,4\n5,50,6\n")
    data = load_csv(path, "y")

    assert data.X.shape == (3, 2)
    assert data.y.shape == (3,)
    assert data.X.dtype == np.float64
    assert data.variable_names == ("x1", "x2")
    assert data.target_name == "y"
    assert data.source == str(path)
    assert np.array_equal(data.X, [[1, 2], [3, 4], [5, 6]])
    assert np.array_equal(data.y, [10, 30, 50])


def test_csv_constant_target_rejected(tmp_path):
    path = write(tmp_path, "x,y\n1,7\n2,7\n3,7\n")

    with pytest.raises(UserInputError, match="target column 'y' .* is constant"):
        load_csv(path, "y")


def test_csv_huge_values_rejected(tmp_path):
    path = write(tmp_path, "x,y\n1,1e308\n2,-1e308\n3,5\n")

    with pytest.raises(UserInputError, match="column 'y' .* values up to 1e\\+308"):
        load_csv(path, "y")


def test_csv_tolerates_bom_spaces_blank_lines(tmp_path):
    path = write(tmp_path, "\ufeffx, y\r\n1, 2\r\n\r\n3 ,4\r\n\r\n")
    data = load_csv(path, "y")

    assert data.variable_names == ("x",)
    assert np.array_equal(data.X[:, 0], [1, 3])
    assert np.array_equal(data.y, [2, 4])


def test_csv_names_become_identifiers(tmp_path):
    path = write(tmp_path, "mass (kg),2theta,lambda,energy [J]\n1,2,3,4\n5,6,7,8\n")
    data = load_csv(path, "energy [J]")

    assert data.variable_names == ("mass_kg", "v_2theta", "lambda_")
    assert data.target_name == "energy_J"
    assert data.original_name("mass_kg") == "mass (kg)"
    assert data.original_name("energy_J") == "energy [J]"
    assert data.original_name("lambda_") == "lambda"


def test_csv_target_by_identifier(tmp_path):
    path = write(tmp_path, "x,energy (J)\n1,2\n3,4\n")

    assert np.array_equal(load_csv(path, "energy_J").y, [2, 4])


def test_csv_few_rows_warns(tmp_path, caplog):
    path = write(tmp_path, "x,y\n1,2\n3,4\n")
    with caplog.at_level(logging.WARNING, logger=dataset.__name__):
        load_csv(path, "y")

    assert "only 2 data rows" in caplog.text


def test_csv_ten_rows_no_warning(tmp_path, caplog):
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(10)))
    with caplog.at_level(logging.WARNING, logger=dataset.__name__):
        load_csv(path, "y")

    assert caplog.text == ""


CSV_ERRORS = [
    # (case, file text, target, substrings the message must contain)
    ("empty file", "", "y", ["is empty"]),
    ("blank lines only", "\n  \n\n", "y", ["is empty"]),
    ("no header", "1,2\n3,4\n", "y", ["no header row", "line 1", "'1,2'"]),
    ("target not found", "x1,x2,yy\n1,2,3\n4,5,6\n", "y", ["'y'", "Did you mean 'yy'?", "'x1', 'x2', 'yy'"]),
    ("semicolon delimiter", "x;y\n1;2\n3;4\n", "y", ["'y' not found", "';'"]),
    ("non-numeric cell", "x,y\n1,2\n3,abc\n", "y", ["line 3", "column 'y'", "'abc'", "not a number"]),
    ("empty cell", "x,y\n1,2\n,4\n5,6\n", "y", ["line 3", "column 'x'", "is empty", "Remove", "impute"]),
    ("nan cell", "x,y\n1,2\n3,NaN\n5,nan\n", "y", ["line 3", "column 'y'", "'NaN'", "2 of 3"]),
    ("inf cell", "x,y\n1,2\n3,4\n-inf,6\n", "y", ["line 4", "column 'x'", "'-inf'", "not a finite number"]),
    ("one data row", "x,y\n1,2\n", "y", ["1 data row,", "at least 2"]),
    ("header only", "x,y\n", "y", ["no data rows"]),
    ("only target column", "y\n1\n2\n", "y", ["only the target column 'y'", "input column"]),
    ("duplicate columns", "x,y,x\n1,2,3\n4,5,6\n", "y", ["two columns named 'x'", "columns 1 and 3"]),
    ("empty column name", "x,y,\n1,2,\n3,4,\n", "y", ["column 3", "has no name"]),
    ("names collide", "mass (kg),mass_kg,y\n1,2,3\n4,5,6\n", "y", ["'mass (kg)'", "'mass_kg'", "Rename one"]),
    ("unusable name", "x,(%),y\n1,2,3\n4,5,6\n", "y", ["'(%)'", "Rename the column"]),
    ("ragged row", "x1,x2,y\n1,2,3\n4,5\n", "y", ["line 3", "2 fields", "3 columns"]),
]


@pytest.mark.parametrize(
    "text, target, expected", [case[1:] for case in CSV_ERRORS], ids=[case[0] for case in CSV_ERRORS]
)
def test_csv_error_names_value(tmp_path, text, target, expected):
    path = write(tmp_path, text)
    with pytest.raises(UserInputError) as info:
        load_csv(path, target)

    for substring in expected:
        assert substring in str(info.value)


def test_csv_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(UserInputError) as info:
        load_csv(path, "y")

    assert "not found" in str(info.value)
    assert str(path) in str(info.value)


def test_csv_path_is_directory(tmp_path):
    with pytest.raises(UserInputError) as info:
        load_csv(tmp_path, "y")

    assert "is a directory" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("temp (°C),y\n1,2\n3,4\n".encode("latin-1"))
    with pytest.raises(UserInputError) as info:
        load_csv(path, "y")

    assert "not valid UTF-8" in str(info.value)
    assert "offset 6" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_csv_permission_denied(tmp_path):
    path = write(tmp_path, "x,y\n1,2\n3,4\n")
    path.chmod(0)
    try:
        with pytest.raises(UserInputError) as info:
            load_csv(path, "y")
    finally:
        path.chmod(0o600)

    assert "permission denied" in str(info.value)
    assert str(path) in str(info.value)


def test_csv_permission_error_message(tmp_path, monkeypatch):
    # Root ignores file modes, so this raises PermissionError from open() directly.
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(dataset, "open", deny, raising=False)
    path = write(tmp_path, "x,y\n1,2\n3,4\n")
    with pytest.raises(UserInputError) as info:
        load_csv(path, "y")

    assert "permission denied" in str(info.value)
    assert str(path) in str(info.value)


def test_csv_oversized_field_rejected(tmp_path):
    # The csv module rejects fields over csv.field_size_limit(), 131072 characters by default.
    path = write(tmp_path, 'x,y\n1,2\n3,"' + "9" * 200_000 + '"\n')
    with pytest.raises(UserInputError) as info:
        load_csv(path, "y")

    assert "not a valid CSV file" in str(info.value)
    assert "line 3" in str(info.value)


# ---------------------------------------------------------------- splits


def make_dataset(n=20):
    X = np.arange(n, dtype=np.float64).reshape(n, 1)
    return Dataset(X=X, y=X[:, 0] * 2, variable_names=("x",), target_name="y", source="test")


def test_split_is_deterministic():
    data = make_dataset()
    train1, test1 = data.split(0.25, np.random.default_rng(5))
    train2, test2 = data.split(0.25, np.random.default_rng(5))
    train3, _ = data.split(0.25, np.random.default_rng(6))

    assert np.array_equal(train1.X, train2.X)
    assert np.array_equal(test1.X, test2.X)
    assert not np.array_equal(train1.X, train3.X)


def test_split_is_disjoint_and_complete():
    data = make_dataset()
    train, test = data.split(0.25, 0)
    train_rows = set(train.X[:, 0])
    test_rows = set(test.X[:, 0])

    assert train.n_rows == 15
    assert test.n_rows == 5
    assert train_rows.isdisjoint(test_rows)
    assert train_rows | test_rows == set(data.X[:, 0])
    assert np.array_equal(train.y, train.X[:, 0] * 2)
    assert train.variable_names == data.variable_names
    assert test.source == data.source


def test_split_keeps_one_row_each():
    train, test = make_dataset(2).split(0.01, 0)

    assert train.n_rows == 1
    assert test.n_rows == 1


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5, "0.2"])
def test_split_rejects_invalid_fraction(fraction):
    with pytest.raises(UserInputError) as info:
        make_dataset().split(fraction, 0)

    assert repr(fraction) in str(info.value)


def test_split_rejects_single_row():
    with pytest.raises(UserInputError) as info:
        make_dataset(1).split(0.5, 0)

    assert "at least 2" in str(info.value)
