"""Tables and numbers as the command line prints them."""

import math
import sys
from collections.abc import Sequence
from typing import Any


def float_or_nan(text: Any) -> float:
    """Return ``text`` as a float, or NaN where it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def format_number(value: Any) -> str:
    """Return an integer-valued number without decimals, another number to 6 significant digits, text as is."""
    number = float_or_nan(value)
    if math.isnan(number) and not isinstance(value, (int, float)):
        return str(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.6g}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """Print a rich table on a terminal, else aligned plain text."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(*headers, title=title)
        for row in rows:
            # Text() keeps brackets in messages from being read as rich markup.
            table.add_row(*(Text(str(cell)) for cell in row))
        Console().print(table)
        return
    if title:
        print(title)
    print(plain_table(headers, rows))


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return columns padded to equal width, with multi-line cells on continuation lines."""
    split_rows = [[str(cell).splitlines() or [""] for cell in row] for row in [headers, *rows]]
    widths = [max(len(line) for row in split_rows for line in row[i]) for i in range(len(headers))]
    lines = []
    for row in split_rows:
        for line_number in range(max(len(cell) for cell in row)):
            parts = [
                (cell[line_number] if line_number < len(cell) else "").ljust(width)
                for cell, width in zip(row, widths)
            ]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
