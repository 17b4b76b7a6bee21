"""Placement of evaluator actors: an accelerator share when the Ray cluster has GPUs, a CPU otherwise.

``evaluator_actor_options`` returns the ``.options()`` for
``cluster.RayEvaluatorPool(..., actor_options=...)``. ``choose_batch_size`` and
``device_memory_bytes`` live in ``evolve.batched``, which sizes its launches
with them, and are re-exported here.
"""

import logging
import math
from collections.abc import Mapping

from evolve.batched import DEFAULT_MEMORY_FRACTION, choose_batch_size, device_memory_bytes

__all__ = ["DEFAULT_MEMORY_FRACTION", "GPU_MEMORY_HEADROOM", "choose_batch_size", "device_memory_bytes", "evaluator_actor_options"]

logger = logging.getLogger(__name__)

# Share of a GPU's memory JAX may take in each actor that shares the GPU. JAX
# preallocates 75% per process by default, so two actors on one GPU would fail.
GPU_MEMORY_HEADROOM = 0.9


def evaluator_actor_options(num_actors: int, resources: Mapping[str, float] | None = None) -> dict:
    """Return Ray actor options that put evaluator actors on GPUs when the cluster has some.

    With G GPUs and A actors, each actor requests ``min(1, G / A)`` of a GPU
    (a fractional share when actors outnumber GPUs) and JAX in that actor is
    limited to the same share of the GPU's memory. Without GPUs each actor
    requests one CPU, and JAX runs on the CPU.

    Args:
        num_actors: evaluator actors that will be started.
        resources: the cluster's resources as ``ray.cluster_resources()``
            returns them; None queries the running Ray instance.

    Returns:
        Keyword arguments for ``EvaluatorActor.options()``.

    Raises:
        ValueError: if ``num_actors`` is less than 1.
    """
    if num_actors < 1:
        raise ValueError(f"num_actors must be at least 1, got {num_actors}.")
    if resources is None:
        import ray

        resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0.0))
    if gpus <= 0:
        logger.info("no GPU in the Ray cluster; evaluator actors run on CPUs")
        return {"num_cpus": 1}

    # Ray resolves fractional resources to 0.0001 and takes fractions only below
    # 1 (Ray documentation, resource requirements). Rounding down keeps every actor on a GPU.
    share = min(1.0, math.floor(gpus / num_actors * 10_000) / 10_000)
    options: dict = {"num_cpus": 1, "num_gpus": share}
    if share < 1.0:
        fraction = f"{GPU_MEMORY_HEADROOM * share:.4f}"
        options["runtime_env"] = {"env_vars": {"XLA_PYTHON_CLIENT_MEM_FRACTION": fraction}}
    logger.info("%g GPUs in the Ray cluster; each of %d evaluator actors gets %g of a GPU", gpus, num_actors, share)
    return options
