"""The functional equivalence cache (FEC): functional hash -> fitness record.

A bounded LRU map with the two options of the unified functional hashing paper
for noisy fitness: average the first ``k`` evaluations of a hash before trusting
it, and forget a record after ``N`` hits so that it is measured again.
"""

import collections
import math
import dataclasses
from collections.abc import Sequence
from typing import Any

Fitness = tuple[float, ...]


@dataclasses.dataclass
class FitnessRecord:
    """The cached fitness of one functional hash.

    Attributes:
        fitness: mean of the evaluations so far, one value per objective.
        count: number of evaluations averaged into ``fitness``.
        hits: lookups answered from this record.
        payload: optional msgpack-friendly data stored with the fitness, e.g. the
            program as evaluated when evaluation fitted its constants.
    """

    fitness: Fitness
    count: int = 1
    hits: int = 0
    payload: Any = None


@dataclasses.dataclass
class CacheStats:
    """Counters of a cache's lifetime.

    Attributes:
        hits: lookups answered from the cache; each is an evaluation saved.
        misses: lookups that needed an evaluation.
        evaluations: fitness values stored.
        evictions: records dropped because the cache was full.
        forgotten: records dropped by ``forget_after_hits``.
    """

    hits: int = 0
    misses: int = 0
    evaluations: int = 0
    evictions: int = 0
    forgotten: int = 0

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    @property
    def evaluations_saved(self) -> int:
        return self.hits


class FunctionalEquivalenceCache:
    """Bounded LRU cache from functional hash to fitness.

    Args:
        max_size: records kept; the least recently used is evicted beyond it.
        average_first: evaluations of a hash averaged before lookups hit; 1 trusts
            the first evaluation, as for deterministic fitness.
        forget_after_hits: drop a record after this many hits, so that the next
            lookup measures the candidate again; None keeps records until evicted.
    """

    def __init__(self, max_size: int = 100_000, average_first: int = 1, forget_after_hits: int | None = None):
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}.")
        if average_first < 1:
            raise ValueError(f"average_first must be at least 1, got {average_first}.")
        if forget_after_hits is not None and forget_after_hits < 1:
            raise ValueError(f"forget_after_hits must be at least 1 or None, got {forget_after_hits}.")
        self.max_size = max_size
        self.average_first = average_first
        self.forget_after_hits = forget_after_hits
        self.stats = CacheStats()
        self._records: collections.OrderedDict[str, FitnessRecord] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def peek(self, key: str) -> FitnessRecord | None:
        """Return the record for ``key`` without counting a lookup or touching LRU order."""
        return self._records.get(key)

    def lookup(self, key: str) -> FitnessRecord | None:
        """Return the cached record of ``key``, or None if it must be evaluated.

        A record with fewer than ``average_first`` evaluations counts as a miss.
        """
        record = self._records.get(key)
        if record is None or record.count < self.average_first:
            self.stats.misses += 1
            return None
        self._records.move_to_end(key)
        record.hits += 1
        self.stats.hits += 1
        if self.forget_after_hits is not None and record.hits >= self.forget_after_hits:
            del self._records[key]
            self.stats.forgotten += 1
        return record

    def store(self, key: str, fitness: Sequence[float], payload: Any = None) -> Fitness:
        """Record one evaluation of ``key`` and return the fitness now cached for it.

        A later evaluation of the same key replaces the payload only if it gives one.
        """
        fitness = tuple(float(f) for f in fitness)
        self.stats.evaluations += 1
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = FitnessRecord(fitness, payload=payload)
        elif record.count < self.average_first:
            record.fitness = _running_mean(record.fitness, record.count, fitness)
            record.count += 1
            if payload is not None:
                record.payload = payload
        self._records.move_to_end(key)
        while len(self._records) > self.max_size:
            self._records.popitem(last=False)
            self.stats.evictions += 1
        return record.fitness

    # Serialization to msgpack-friendly data.

    def to_dict(self) -> dict:
        return {
            "max_size": self.max_size,
            "average_first": self.average_first,
            "forget_after_hits": self.forget_after_hits,
            "stats": dataclasses.asdict(self.stats),
            "records": [[k, list(r.fitness), r.count, r.hits, r.payload] for k, r in self._records.items()],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "FunctionalEquivalenceCache":
        cache = cls(data["max_size"], data["average_first"], data["forget_after_hits"])
        cache.stats = CacheStats(**data["stats"])
        for key, fitness, count, hits, payload in data["records"]:
            cache._records[key] = FitnessRecord(tuple(fitness), count, hits, payload)
        return cache


def _running_mean(mean: Fitness, count: int, new: Fitness) -> Fitness:
    # The mean of -inf and a finite value is nan in IEEE arithmetic; a failed
    # evaluation (-inf) instead keeps the record at the worse value.
    out = []
    for m, x in zip(mean, new):
        if math.isfinite(m) and math.isfinite(x):
            out.append(m + (x - m) / (count + 1))
        elif math.isnan(m) or math.isnan(x):
            out.append(math.nan)
        else:
            out.append(min(m, x))
    return tuple(out)
