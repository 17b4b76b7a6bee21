"""Datasets for symbolic regression: sampled from a Feynman equation or read from a CSV file.

Column names become sympy Symbol names, so ``load_csv`` turns every column name
into a Python identifier. A name that is already an identifier is kept as written.
Any other name has each run of characters that cannot appear in an identifier
replaced by one underscore, with leading and trailing underscores removed, so
``mass (kg)`` becomes ``mass_kg``. A name that then starts with a character that
cannot start an identifier, such as a digit, gets the prefix ``v_``. A Python
keyword gets a trailing underscore (``lambda_``).
``Dataset.original_names`` maps each identifier back to the header text.

Names that are also sympy names, such as ``I``, ``E``, ``pi`` or ``gamma``, are kept.
Code that builds expressions must create Symbols from ``variable_names`` and not
parse the names with ``sympy.sympify``, which would read them as constants or
functions.
"""

import csv
import io
import keyword
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evolve.errors import UserInputError, did_you_mean
from problems.symbolic_regression.feynman import Equation

logger = logging.getLogger(__name__)

MIN_ROWS = 2
FEW_ROWS = 10


@dataclass(frozen=True, eq=False)
class Dataset:
    """Input matrix and target vector of a regression problem.

    Attributes:
        X: inputs, shape ``(n, k)``, float64. Column ``j`` is ``variable_names[j]``.
        y: target, shape ``(n,)``, float64.
        variable_names: identifier of each input column.
        target_name: identifier of the target.
        source: where the data came from: ``'feynman:<equation name>'`` or the CSV path.
        original_names: header text of each column, keyed by identifier. Empty or
            missing entries mean the identifier is the header text.
    """

    X: np.ndarray
    y: np.ndarray
    variable_names: tuple[str, ...]
    target_name: str
    source: str
    original_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        X = np.asarray(self.X, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (n, k) and y (n,), got {X.shape} and {y.shape}")
        if X.shape[1] != len(self.variable_names):
            raise ValueError(
                f"X has {X.shape[1]} columns but there are "
                f"{len(self.variable_names)} variable names"
            )
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "variable_names", tuple(self.variable_names))

    @property
    def n_rows(self) -> int:
        """Number of data points."""
        return self.X.shape[0]

    def original_name(self, name: str) -> str:
        """Return the header text of the column whose identifier is ``name``."""
        return self.original_names.get(name, name)

    def split(
        self, test_fraction: float, rng: np.random.Generator | int
    ) -> tuple["Dataset", "Dataset"]:
        """Shuffle the rows and split them into a train and a test dataset.

        ``rng`` is a NumPy Generator or an integer seed, so the same seed gives the
        same split. The test set gets ``round(n * test_fraction)`` rows, clamped so
        that each part has at least one row. Raises UserInputError unless
        ``0 < test_fraction < 1`` and the dataset has at least 2 rows.
        """
        if isinstance(test_fraction, bool) or not (
            isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1
        ):
            raise UserInputError(
                f"invalid test fraction {test_fraction!r}. "
                "Use a number between 0 and 1, such as 0.25."
            )
        if self.n_rows < 2:
            raise UserInputError(
                f"cannot split {self.source!r}: it has {_plural(self.n_rows, 'row')}, "
                "and a split needs at least 2."
            )

        n_test = min(max(round(self.n_rows * test_fraction), 1), self.n_rows - 1)
        order = np.random.default_rng(rng).permutation(self.n_rows)
        return self._subset(order[n_test:]), self._subset(order[:n_test])

    def _subset(self, rows: np.ndarray) -> "Dataset":
        return Dataset(
            X=self.X[rows],
            y=self.y[rows],
            variable_names=self.variable_names,
            target_name=self.target_name,
            source=self.source,
            original_names=self.original_names,
        )


def from_equation(eq: Equation, n: int, rng: np.random.Generator | int) -> Dataset:
    """Sample ``n`` points of a Feynman equation, as ``Equation.sample`` does."""
    X, y = eq.sample(n, rng)
    return Dataset(
        X=X,
        y=y,
        variable_names=eq.variable_names,
        target_name=eq.output,
        source=f"feynman:{eq.name}",
    )


def load_csv(path: str | Path, target: str) -> Dataset:
    """Read a comma-separated file with a header row, using column ``target`` as y.

    Every other column is an input. ``target`` may be the header text or its
    identifier (see the module docstring). Every cell must be a finite number.
    Raises UserInputError, naming the file, line and column, for a file that is
    missing, unreadable, not UTF-8 or empty, and for a missing header, an unknown
    target, a bad cell, fewer than 2 data rows or no input column. Logs a warning
    below 10 data rows.
    """
    path = Path(path)
    rows = _read_rows(path)
    header = _check_header(path, rows[0])
    identifiers = _to_identifiers(path, header)
    target_index = _find_target(path, header, identifiers, target)
    if len(header) < 2:
        raise UserInputError(
            f"{_quoted(path)} has only the target column {header[target_index]!r}. "
            "Add at least one input column."
        )

    values = _parse_values(path, header, rows[1:])
    if len(values) < MIN_ROWS:
        raise UserInputError(
            f"{_quoted(path)} has {_plural(len(values), 'data row')}, but fitting "
            f"needs at least {MIN_ROWS}. Add more rows."
        )
    if len(values) < FEW_ROWS:
        logger.warning(
            "%s has only %d data rows, so the fitted expression is poorly determined",
            path,
            len(values),
        )

    data = np.array(values, dtype=np.float64)
    _check_magnitudes(path, header, data)
    target = data[:, target_index]
    if np.ptp(target) == 0:
        raise UserInputError(
            f"target column {header[target_index]!r} of {_quoted(path)} is constant ({target[0]!r}), "
            "so there is nothing to fit. Choose another --set target=COLUMN."
        )
    input_indices = [i for i in range(len(header)) if i != target_index]
    renamed = [pair for pair in zip(header, identifiers) if pair[0] != pair[1]]
    if renamed:
        logger.info("%s: renamed columns to identifiers: %s", path, renamed)
    logger.info(
        "loaded %s: %d rows, %d inputs, target %r",
        path,
        len(values),
        len(input_indices),
        identifiers[target_index],
    )

    return Dataset(
        X=data[:, input_indices],
        y=data[:, target_index],
        variable_names=tuple(identifiers[i] for i in input_indices),
        target_name=identifiers[target_index],
        source=str(path),
        original_names=dict(zip(identifiers, header)),
    )


# Squared errors of values beyond this overflow float64 (about 1.8e308).
MAX_MAGNITUDE = 1e150


def _check_magnitudes(path: Path, header: list[str], data: np.ndarray) -> None:
    """Raise UserInputError for a column with values whose squares overflow float64."""
    largest = np.abs(data).max(axis=0)
    for name, value in zip(header, largest):
        if value > MAX_MAGNITUDE:
            raise UserInputError(
                f"column {name!r} of {_quoted(path)} contains values up to {value:.3g}, whose squared errors "
                f"overflow float64. Rescale the column below {MAX_MAGNITUDE:.0e} (divide it by a power of 10)."
            )


def _quoted(path: Path) -> str:
    return repr(str(path))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Read the file into CSV records, each with the line number where it ends.

    Blank lines are dropped. A row of empty cells such as ``,,`` is kept, so that
    it is reported as missing values.
    """
    try:
        # utf-8-sig drops the byte order mark that spreadsheet programs write.
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except FileNotFoundError:
        raise UserInputError(f"CSV file not found: {_quoted(path)}. Check the path.") from None
    except IsADirectoryError:
        raise UserInputError(
            f"{_quoted(path)} is a directory. Give the path of a CSV file."
        ) from None
    except PermissionError:
        raise UserInputError(
            f"cannot read {_quoted(path)}: permission denied. Check the file's permissions."
        ) from None
    except UnicodeDecodeError as error:
        raise UserInputError(
            f"{_quoted(path)} is not valid UTF-8 (invalid byte at offset {error.start}). "
            "Save the file as UTF-8 text."
        ) from None
    except OSError as error:
        raise UserInputError(f"cannot read {_quoted(path)}: {error}.") from None

    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            blank = len(record) <= 1 and not "".join(record).strip()
            if not blank:
                rows.append((reader.line_num, record))
    except csv.Error as error:
        raise UserInputError(
            f"{_quoted(path)} is not a valid CSV file: {error} (line {reader.line_num})."
        ) from None

    if not rows:
        raise UserInputError(
            f"{_quoted(path)} is empty. Write a header row of column names, "
            "then one row per data point."
        )
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_header(path: Path, header_row: tuple[int, list[str]]) -> list[str]:
    """Return the column names, stripped of surrounding spaces, after checking them."""
    line, record = header_row
    header = [cell.strip() for cell in record]

    if all(_is_number(name) for name in header):
        raise UserInputError(
            f"{_quoted(path)} has no header row: line {line} is data "
            f"({','.join(header)[:60]!r}). Add a first line with the column names."
        )

    for column, name in enumerate(header, start=1):
        if not name:
            raise UserInputError(
                f"column {column} of the header of {_quoted(path)} has no name. "
                "Name the column, or remove it if a trailing comma created it."
            )

    first_column: dict[str, int] = {}
    for column, name in enumerate(header, start=1):
        if name in first_column:
            raise UserInputError(
                f"{_quoted(path)} has two columns named {name!r} "
                f"(columns {first_column[name]} and {column}). Rename one of them."
            )
        first_column[name] = column
    return header


def to_identifier(name: str) -> str:
    """Turn a column name into a Python identifier, as the module docstring describes.

    Returns '' if the name has no character that can appear in an identifier.
    """
    if name.isidentifier():
        return name + "_" if keyword.iskeyword(name) else name

    parts = []
    for character in name:
        if ("_" + character).isidentifier():
            parts.append(character)
        elif parts and parts[-1] != "_":
            parts.append("_")
    identifier = "".join(parts).strip("_")

    if identifier and not identifier.isidentifier():
        identifier = "v_" + identifier
    if keyword.iskeyword(identifier):
        identifier += "_"
    return identifier


def _to_identifiers(path: Path, header: list[str]) -> list[str]:
    identifiers = []
    source_of: dict[str, str] = {}
    for name in header:
        identifier = to_identifier(name)
        if not identifier:
            raise UserInputError(
                f"column name {name!r} in {_quoted(path)} has no letter or digit to "
                "make a variable name from. Rename the column, for example to x1."
            )
        if identifier in source_of:
            raise UserInputError(
                f"columns {source_of[identifier]!r} and {name!r} in {_quoted(path)} "
                f"both become the variable name {identifier!r}. Rename one of them."
            )
        source_of[identifier] = name
        identifiers.append(identifier)
    return identifiers


def _find_target(path: Path, header: list[str], identifiers: list[str], target: str) -> int:
    """Return the index of the target column, matched by header text or identifier."""
    if target in header:
        return header.index(target)
    if target in identifiers:
        return identifiers.index(target)

    column_list = ", ".join(repr(name) for name in header[:20])
    if len(header) > 20:
        column_list += f" and {len(header) - 20} more"
    message = (
        f"target column {target!r} not found in {_quoted(path)}."
        f"{did_you_mean(target, header)} The columns are {column_list}."
    )
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        message += (
            " The header has a single column, so the file may use ';' or tabs "
            "between values. Save it with commas."
        )
    raise UserInputError(message)


def _parse_values(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]]
) -> list[list[float]]:
    """Convert the data rows to floats, rejecting text, empty cells, NaN and infinity."""
    if not rows:
        raise UserInputError(
            f"{_quoted(path)} has a header but no data rows. Add at least {MIN_ROWS} rows."
        )

    values = []
    first_bad_cell = None
    bad_row_count = 0
    for line, record in rows:
        if len(record) != len(header):
            raise UserInputError(
                f"line {line} of {_quoted(path)} has {_plural(len(record), 'field')}, "
                f"but the header has {_plural(len(header), 'column')}. "
                "Give every row one value per column."
            )

        row_values = []
        row_is_bad = False
        for name, cell in zip(header, record):
            text = cell.strip()
            try:
                value = float(text) if text else math.nan
            except ValueError:
                raise UserInputError(
                    f"line {line}, column {name!r} of {_quoted(path)}: {cell!r} is not "
                    "a number. Fix the cell or remove the row."
                ) from None
            if not math.isfinite(value):
                row_is_bad = True
                if first_bad_cell is None:
                    first_bad_cell = (line, name, text)
            row_values.append(value)

        bad_row_count += row_is_bad
        values.append(row_values)

    if first_bad_cell is not None:
        line, name, text = first_bad_cell
        problem = f"is {text!r}, which is not a finite number" if text else "is empty"
        raise UserInputError(
            f"line {line}, column {name!r} of {_quoted(path)} {problem}. "
            f"Data rows with missing or non-finite values: {bad_row_count} of {len(values)}. "
            "Remove those rows or impute the values."
        )
    return values
