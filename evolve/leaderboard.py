"""The leaderboard: the best distinct programs of a run, one per functional hash."""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


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

    Failed programs (non-finite score) never enter. With ``objectives``, a full
    leaderboard drops the lowest-scoring entry that another entry dominates, so
    the Pareto front stays whole (a cheap kernel with a larger error is a result
    too); only when every entry is on the front does the lowest score go.

    Args:
        size: most entries kept.
        objectives: pairs of (column, minimize) of the problem's several
            objectives; empty for a ranking by score alone.
    """

    def __init__(self, size: int = 50, objectives: Sequence[tuple[str, bool]] = ()):
        if size < 1:
            raise ValueError(f"leaderboard size must be at least 1, got {size}.")
        self.size = size
        self.objectives = tuple((str(column), bool(minimize)) for column, minimize in objectives)
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
            del self._entries[self._eviction_candidate().hash]
        return best is None or entry.score > best.score

    def _eviction_candidate(self) -> Entry:
        """Return the entry to drop: the lowest-ranked dominated one, else the lowest-ranked."""
        entries = list(self._entries.values())
        dominated = _dominated(entries, self.objectives) if self.objectives else np.zeros(len(entries), bool)
        pool = [e for e, is_dominated in zip(entries, dominated) if is_dominated] or entries
        return min(pool, key=_rank_key)

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


def _dominated(entries: Sequence[Entry], objectives: Sequence[tuple[str, bool]]) -> np.ndarray:
    """Return, per entry, whether another entry is at least as good on every objective and better on one.

    A missing or NaN objective value counts as the worst possible.
    """
    values = np.array(
        [[entry.values.get(column, math.nan) for column, _ in objectives] for entry in entries], dtype=np.float64
    )
    signs = np.array([1.0 if minimize else -1.0 for _, minimize in objectives])
    values = np.where(np.isnan(values), np.inf, values * signs)
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)
    # dominates[i, j]: entry i dominates entry j.
    dominates = no_worse & better
    return dominates.any(axis=0)
