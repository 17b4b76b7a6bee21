"""Everything Ray: starting a local instance or joining a cluster, and evaluator actors."""

from cluster.evaluators import RayEvaluatorPool
from cluster.session import ray_session

__all__ = ["RayEvaluatorPool", "ray_session"]
