"""Python-source programs: a module with one evolvable block.

A program is the full text of a Python module. The lines after a comment line
starting with ``# EVOLVE-BLOCK-START`` and before one starting with
``# EVOLVE-BLOCK-END`` form the evolvable block, the only part that mutation
changes. A module without markers is evolvable as a whole. The problem decides
which function of the module it calls (for example ``construct(n, seed,
time_budget, start)``).

A program may also carry a warm start: plain data, for example the construction
its last run returned. The problem passes it to the next run of the program or
of its children, so that a lineage keeps improving one object instead of
starting over.
"""

import ast
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"


@dataclasses.dataclass(frozen=True)
class PythonProgram:
    """A Python module, its evolvable block and an optional warm start.

    Attributes:
        source: the module's text.
        warm_start: JSON-like data for the next run (dicts with str keys, lists,
            numbers, str, bool, None); numpy arrays and tuples are converted to
            lists. For an evaluated program it is the value its own run returned.

    Raises:
        TypeError: if ``source`` is not a str or ``warm_start`` contains other types.
        ValueError: if the block markers are missing a partner, repeated or out of order.
    """

    source: str
    warm_start: Any = None

    def __post_init__(self):
        if not isinstance(self.source, str):
            raise TypeError(f"source must be the module's text as a str, got {type(self.source).__name__}.")
        object.__setattr__(self, "warm_start", plain_data(self.warm_start))
        self.block_lines()  # validates the markers

    # The evolvable block.

    def block_lines(self) -> tuple[int, int]:
        """Return the 0-based line range ``[first, end)`` of the evolvable block.

        The marker lines are outside the range. Without markers the range covers
        the whole module.
        """
        return _block_lines(self.source)

    def block(self) -> str:
        """Return the text of the evolvable block, marker lines excluded."""
        first, end = self.block_lines()
        return "".join(self.source.splitlines(keepends=True)[first:end])

    def with_block(self, text: str) -> "PythonProgram":
        """Return a copy whose evolvable block is ``text`` (a trailing newline is added if missing)."""
        if text and not text.endswith("\n"):
            text += "\n"
        lines = self.source.splitlines(keepends=True)
        first, end = self.block_lines()
        source = "".join(lines[:first]) + text + "".join(lines[end:])
        return PythonProgram(source, self.warm_start)

    def with_warm_start(self, warm_start: Any) -> "PythonProgram":
        return PythonProgram(self.source, warm_start)

    # Normalized source.

    def normalized_source(self) -> str:
        """Return the source as ``ast.unparse`` writes it: comments and formatting removed.

        Raises:
            SyntaxError: if the source does not parse.
        """
        return normalize_source(self.source)

    # Serialization.

    def to_dict(self) -> dict:
        return {"source": self.source, "warm_start": self.warm_start}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PythonProgram":
        try:
            return cls(data["source"], data.get("warm_start"))
        except KeyError:
            raise ValueError(f"a Python program dict needs a 'source' key, got keys {sorted(data)}.") from None


@functools.lru_cache(maxsize=4096)
def normalize_source(source: str) -> str:
    """Return ``ast.unparse(ast.parse(source))``; see `PythonProgram.normalized_source`."""
    return ast.unparse(ast.parse(source))


@functools.lru_cache(maxsize=4096)
def _block_lines(source: str) -> tuple[int, int]:
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(BLOCK_START)]
    ends = [i for i, line in enumerate(lines) if line.strip().startswith(BLOCK_END)]
    if not starts and not ends:
        return 0, len(lines)
    if len(starts) != 1 or len(ends) != 1:
        raise ValueError(
            f"a program needs exactly one {BLOCK_START!r} line and one {BLOCK_END!r} line, "
            f"found {len(starts)} and {len(ends)}; mark a single evolvable block, or none."
        )
    if ends[0] < starts[0]:
        raise ValueError(
            f"{BLOCK_END!r} (line {ends[0] + 1}) comes before {BLOCK_START!r} "
            f"(line {starts[0] + 1}); put the start marker first."
        )
    return starts[0] + 1, ends[0]


def plain_data(value: Any) -> Any:
    """Return ``value`` as JSON-like data: numpy arrays and tuples become lists.

    Raises:
        TypeError: for a value of another type, or a dict key that is not a str.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"warm start arrays must be numeric, got dtype {value.dtype}.")
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"warm start dict keys must be str, got {key!r}.")
        return {key: plain_data(item) for key, item in value.items()}
    raise TypeError(
        f"a warm start may contain only numbers, str, bool, None, lists, dicts and numeric numpy arrays; "
        f"got {type(value).__name__}."
    )


def summarize(program: PythonProgram) -> str:
    """Return a one-line description: the module's length and where its block is."""
    first, end = program.block_lines()
    total = len(program.source.splitlines())
    lines = f"{total} line" + ("" if total == 1 else "s")
    if (first, end) == (0, total):
        return f"Python module, {lines}, all evolvable"
    return f"Python module, {lines}, evolvable block at lines {first + 1}-{max(end, first + 1)}"

