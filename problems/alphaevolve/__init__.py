"""AlphaEvolve construction problems: Python programs that build mathematical objects.

Each problem has a seed program under ``seeds/``, a strict verifier and the
published best-known values.
"""

from problems.alphaevolve.autocorrelation import FirstAutocorrelation
from problems.alphaevolve.circle_packing import CirclePacking
from problems.alphaevolve.erdos_overlap import ErdosMinimumOverlap
from problems.alphaevolve.heilbronn import HeilbronnTriangle
from problems.alphaevolve.min_max_distance import MinMaxDistance

__all__ = ["CirclePacking", "ErdosMinimumOverlap", "FirstAutocorrelation", "HeilbronnTriangle", "MinMaxDistance"]
