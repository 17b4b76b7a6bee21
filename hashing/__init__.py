"""Unified functional hashing and the functional equivalence cache.

Based on Gillard, Jones, Real et al., "Unified Functional Hashing in Automatic
Machine Learning" (2023): a candidate is run on a few fixed probe inputs, its
outputs are quantized and hashed, and candidates with equal hashes share one
fitness record. This package knows nothing about Ray or any problem.
"""

from hashing.cache import CacheStats, FitnessRecord, FunctionalEquivalenceCache
from hashing.canonical import canonical_bytes, quantize
from hashing.functional_hash import functional_hash, hash_callable, hash_outputs, make_probe_inputs

__all__ = [
    "CacheStats",
    "FitnessRecord",
    "FunctionalEquivalenceCache",
    "canonical_bytes",
    "functional_hash",
    "hash_callable",
    "hash_outputs",
    "make_probe_inputs",
    "quantize",
]
