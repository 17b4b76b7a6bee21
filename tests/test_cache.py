"""Tests of the functional equivalence cache: LRU order, counters, averaging, forgetting, serialization."""

import math

import msgpack
import pytest

from hashing import CacheStats, FitnessRecord, FunctionalEquivalenceCache


def filled(keys, **options) -> FunctionalEquivalenceCache:
    """Return a cache holding one evaluation per key, fitness (index,)."""
    cache = FunctionalEquivalenceCache(**options)
    for index, key in enumerate(keys):
        cache.store(key, (float(index),))
    return cache


# ---------------------------------------------------------------- LRU eviction


def test_lru_evicts_oldest_store():
    cache = filled(["a", "b", "c"], max_size=2)

    assert "a" not in cache
    assert "b" in cache
    assert "c" in cache
    assert len(cache) == 2
    assert cache.stats.evictions == 1


def test_lru_lookup_refreshes():
    cache = filled(["a", "b"], max_size=2)

    cache.lookup("a")
    cache.store("c", (2.0,))

    assert "a" in cache
    assert "b" not in cache
    assert "c" in cache


def test_lru_store_refreshes():
    cache = filled(["a", "b"], max_size=2)

    cache.store("a", (0.0,))
    cache.store("c", (2.0,))

    assert "a" in cache
    assert "b" not in cache


def test_lru_peek_does_not_refresh():
    cache = filled(["a", "b"], max_size=2)

    record = cache.peek("a")
    cache.store("c", (2.0,))

    assert record.fitness == (0.0,)
    assert "a" not in cache
    assert "b" in cache


def test_lru_eviction_order_over_many():
    cache = filled([f"k{i}" for i in range(10)], max_size=4)
    cache.lookup("k6")
    cache.store("new", (1.0,))

    assert list(cache._records) == ["k8", "k9", "k6", "new"]
    assert cache.stats.evictions == 7


def test_max_size_one():
    cache = filled(["a", "b"], max_size=1)

    assert len(cache) == 1
    assert cache.lookup("b").fitness == (1.0,)
    assert cache.lookup("a") is None


# ---------------------------------------------------------------- counters


def test_counters_count_lookups_and_stores():
    cache = FunctionalEquivalenceCache(max_size=2)

    assert cache.lookup("a") is None
    cache.store("a", (1.0,))
    assert cache.lookup("a").fitness == (1.0,)
    assert cache.lookup("a").fitness == (1.0,)
    assert cache.lookup("b") is None
    cache.store("b", (2.0,))
    cache.store("c", (3.0,))

    assert cache.stats.hits == 2
    assert cache.stats.misses == 2
    assert cache.stats.evaluations == 3
    assert cache.stats.evictions == 1
    assert cache.stats.forgotten == 0
    assert cache.stats.hit_rate == 0.5
    assert cache.stats.evaluations_saved == 2


def test_peek_counts_nothing():
    cache = filled(["a"])

    cache.peek("a")
    cache.peek("missing")

    assert cache.stats.hits == 0
    assert cache.stats.misses == 0


def test_record_counts_its_hits():
    cache = filled(["a"])

    cache.lookup("a")
    cache.lookup("a")
    record = cache.lookup("a")

    assert record.hits == 3
    assert record.count == 1


def test_hit_rate_without_lookups_is_zero():
    assert CacheStats().hit_rate == 0.0


def test_hit_rate_all_hits():
    cache = filled(["a"])
    for _ in range(4):
        cache.lookup("a")

    assert cache.stats.hit_rate == 1.0


# ---------------------------------------------------------------- average_first


def test_average_first_misses_until_k():
    cache = FunctionalEquivalenceCache(average_first=3)

    cache.store("a", (1.0,))
    assert cache.lookup("a") is None
    cache.store("a", (2.0,))
    assert cache.lookup("a") is None
    cache.store("a", (6.0,))
    record = cache.lookup("a")

    assert record is not None
    assert record.count == 3
    assert cache.stats.misses == 2
    assert cache.stats.hits == 1


def test_average_first_mean_is_right():
    cache = FunctionalEquivalenceCache(average_first=4)
    evaluations = [(1.0, 10.0), (2.0, 20.0), (4.0, -30.0), (9.0, 0.5)]
    returned = [cache.store("a", fitness) for fitness in evaluations]

    assert returned[0] == (1.0, 10.0)
    assert returned[1] == pytest.approx((1.5, 15.0))
    assert returned[2] == pytest.approx((7 / 3, 0.0))
    assert cache.peek("a").fitness == pytest.approx((4.0, 0.125))


def test_average_first_ignores_extra_stores():
    cache = FunctionalEquivalenceCache(average_first=2)
    cache.store("a", (1.0,))
    cache.store("a", (3.0,))

    returned = cache.store("a", (100.0,))

    assert returned == (2.0,)
    assert cache.peek("a").count == 2
    assert cache.stats.evaluations == 3


def test_average_first_keeps_minus_inf():
    cache = FunctionalEquivalenceCache(average_first=3)
    cache.store("a", (5.0,))
    cache.store("a", (-math.inf,))
    cache.store("a", (7.0,))

    assert cache.lookup("a").fitness == (-math.inf,)


def test_average_first_minus_inf_first():
    cache = FunctionalEquivalenceCache(average_first=2)
    cache.store("a", (-math.inf,))
    cache.store("a", (3.0,))

    assert cache.lookup("a").fitness == (-math.inf,)


@pytest.mark.parametrize("order", ["nan first", "nan last"])
def test_average_first_nan_score_fails(order):
    # A NaN score is a failed evaluation, whichever evaluation it was.
    evaluations = [(math.nan,), (1.0,)] if order == "nan first" else [(1.0,), (math.nan,)]
    cache = FunctionalEquivalenceCache(average_first=2)
    for fitness in evaluations:
        cache.store("a", fitness)

    assert not math.isfinite(cache.lookup("a").fitness[0])


# ---------------------------------------------------------------- forget_after_hits


def test_forget_after_hits():
    cache = filled(["a", "b"], forget_after_hits=2)

    first = cache.lookup("a")
    second = cache.lookup("a")
    third = cache.lookup("a")

    assert first.fitness == (0.0,)
    assert second.fitness == (0.0,)
    assert third is None
    assert "a" not in cache
    assert "b" in cache
    assert cache.stats.forgotten == 1
    assert cache.stats.hits == 2
    assert cache.stats.misses == 1


def test_forget_then_measure_again():
    cache = filled(["a"], forget_after_hits=1)
    cache.lookup("a")

    cache.store("a", (5.0,))

    assert cache.lookup("a").fitness == (5.0,)
    assert cache.stats.forgotten == 2


def test_forget_counts_not_evictions():
    cache = filled(["a"], forget_after_hits=1)
    cache.lookup("a")

    assert cache.stats.evictions == 0
    assert len(cache) == 0


# ---------------------------------------------------------------- payload


def test_payload_round_trip():
    payload = {"program": {"kind": "ops", "instructions": [["const", [], 2.5]]}, "hash": "abc"}
    cache = FunctionalEquivalenceCache()

    cache.store("a", (1.0,), payload)

    assert cache.lookup("a").payload == payload


def test_payload_defaults_to_none():
    cache = filled(["a"])

    assert cache.lookup("a").payload is None


def test_payload_kept_when_store_gives_none():
    cache = FunctionalEquivalenceCache(average_first=2)
    cache.store("a", (1.0,), {"n": 1})
    cache.store("a", (2.0,))

    assert cache.peek("a").payload == {"n": 1}


def test_payload_replaced_when_store_gives_one():
    cache = FunctionalEquivalenceCache(average_first=2)
    cache.store("a", (1.0,), {"n": 1})
    cache.store("a", (2.0,), {"n": 2})

    assert cache.peek("a").payload == {"n": 2}


# ---------------------------------------------------------------- serialization


def through_msgpack(cache: FunctionalEquivalenceCache) -> FunctionalEquivalenceCache:
    data = msgpack.unpackb(msgpack.packb(cache.to_dict()))
    return FunctionalEquivalenceCache.from_dict(data)


def busy_cache() -> FunctionalEquivalenceCache:
    """Return a cache with hits, misses, evictions, forgotten records, averages and payloads."""
    cache = FunctionalEquivalenceCache(max_size=3, average_first=2, forget_after_hits=3)
    cache.store("a", (1.0, 0.5), {"program": [1, 2], "hash": "a"})
    cache.store("a", (2.0, 0.25))
    cache.store("b", (-math.inf, math.nan))
    cache.store("b", (-math.inf, math.nan))
    cache.store("c", (3.0, 1.0))
    for _ in range(3):
        cache.lookup("a")
    cache.lookup("b")
    cache.lookup("c")
    cache.store("d", (4.0, 4.0), "text payload")
    cache.store("d", (6.0, 4.0))
    cache.store("e", (5.0, 5.0))
    return cache


def test_to_dict_msgpack_round_trip():
    cache = busy_cache()

    restored = through_msgpack(cache)

    assert restored.max_size == cache.max_size
    assert restored.average_first == cache.average_first
    assert restored.forget_after_hits == cache.forget_after_hits
    assert restored.stats == cache.stats
    assert list(restored._records) == list(cache._records)
    for key, record in cache._records.items():
        copy = restored.peek(key)
        assert copy.fitness == pytest.approx(record.fitness, nan_ok=True)
        assert copy.count == record.count
        assert copy.hits == record.hits
        assert copy.payload == record.payload


def test_round_trip_fitness_is_tuple():
    restored = through_msgpack(busy_cache())

    assert isinstance(restored.peek("d").fitness, tuple)
    assert restored.peek("d").fitness == (5.0, 4.0)


def test_round_trip_to_dict_equal():
    cache = busy_cache()

    restored = through_msgpack(cache)

    assert msgpack.packb(restored.to_dict()) == msgpack.packb(cache.to_dict())


def test_round_trip_keeps_lru_order():
    cache = busy_cache()
    restored = through_msgpack(cache)

    for copy in (cache, restored):
        copy.store("f", (0.0, 0.0))
        copy.store("g", (0.0, 0.0))

    assert list(restored._records) == list(cache._records)


def test_round_trip_without_forgetting():
    cache = filled(["a", "b"], forget_after_hits=None)

    restored = through_msgpack(cache)

    assert restored.forget_after_hits is None
    assert restored.lookup("b").fitness == (1.0,)


def test_round_trip_empty_cache():
    restored = through_msgpack(FunctionalEquivalenceCache(max_size=7))

    assert len(restored) == 0
    assert restored.max_size == 7
    assert restored.stats == CacheStats()


def test_fitness_record_defaults():
    record = FitnessRecord((1.0,))

    assert record.count == 1
    assert record.hits == 0
    assert record.payload is None


# ---------------------------------------------------------------- invalid arguments


@pytest.mark.parametrize(
    "options, name",
    [
        ({"max_size": 0}, "max_size"),
        ({"max_size": -5}, "max_size"),
        ({"average_first": 0}, "average_first"),
        ({"forget_after_hits": 0}, "forget_after_hits"),
        ({"forget_after_hits": -1}, "forget_after_hits"),
    ],
)
def test_invalid_arguments_raise(options, name):
    value = next(iter(options.values()))

    with pytest.raises(ValueError, match=rf"{name} must be .*got {value}"):
        FunctionalEquivalenceCache(**options)
