"""The leaderboard: the best distinct programs of a run, one per functional hash."""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass
class Entry:
    """One leaderboard row before ranking.

    Attributes:
        hash: functional hash; the leaderboard keeps one program per hash.
        score: higher is better.
        values: the problem's objective columns.
        candidate: index of the candidate that found it.
        program: the program itself.
    """

    hash: str
    score: float
    values: dict[str, float]
    candidate: int
    program: Any


class Leaderboard:
    """The ``size`` best programs seen, ranked by score, earliest first among ties.

    Failed programs (non-finite score) never enter.
    """

    def __init__(self, size: int = 50):
        if size < 1:
            raise ValueError(f"leaderboard size must be at least 1, got {size}.")
        self.size = size
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def offer(self, entry: Entry) -> bool:
        """Add ``entry`` if it ranks; return True if it is the new best."""
        if not math.isfinite(entry.score):
            return False
        best = self.best()
        current = self._entries.get(entry.hash)
        if current is not None and current.score >= entry.score:
            return False
        self._entries[entry.hash] = entry
        if len(self._entries) > self.size:
            worst = min(self._entries.values(), key=_rank_key)
            del self._entries[worst.hash]
        return best is None or entry.score > best.score

    def ranked(self) -> list[Entry]:
        """Return the entries best first."""
        return sorted(self._entries.values(), key=_rank_key, reverse=True)

    def best(self) -> Entry | None:
        if not self._entries:
            return None
        return max(self._entries.values(), key=_rank_key)

    def rows(self, columns: Sequence[str], expression) -> list[dict]:
        """Return the CSV rows: rank, score, the problem's columns, hash, candidate, expression.

        Args:
            columns: the problem's objective column names.
            expression: maps an entry to its readable form.
        """
        rows = []
        for rank, entry in enumerate(self.ranked(), start=1):
            row = {"rank": rank, "score": entry.score}
            row.update({c: entry.values.get(c, math.nan) for c in columns})
            row.update({"hash": entry.hash, "candidate": entry.candidate, "expression": expression(entry)})
            rows.append(row)
        return rows


def _rank_key(entry: Entry) -> tuple[float, int]:
    return (entry.score, -entry.candidate)
