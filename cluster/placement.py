"""Placement of evaluator actors: an accelerator share when the Ray cluster has GPUs, a CPU otherwise.

``evaluator_actor_options`` returns the ``.options()`` for
``cluster.RayEvaluatorPool(..., actor_options=...)``, and ``choose_batch_size``
sizes one compiled launch of ``evolve.batched`` from the memory of the device
an actor uses.
"""

import logging
import math
import os
from collections.abc import Mapping

import numpy as np

from evolve import batched

logger = logging.getLogger(__name__)

# Share of device memory one launch may use; JAX, XLA temporaries and the
# problem's own arrays need the rest.
DEFAULT_MEMORY_FRACTION = 0.5

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


def device_memory_bytes(device=None) -> int:
    """Return the memory of a JAX device in bytes: its allocator limit, or the host's RAM for a CPU.

    Args:
        device: a ``jax.Device``; None uses the first default device.
    """
    import jax

    device = device or jax.devices()[0]
    stats = device.memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    # CPU devices report no statistics; their arrays live in host memory.
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def choose_batch_size(
    n_points: int,
    length: int,
    n_inputs: int = 1,
    dtype=np.float32,
    strategy: str | None = None,
    memory_bytes: int | None = None,
    fraction: float = DEFAULT_MEMORY_FRACTION,
    minimum: int = 256,
    maximum: int = batched.DEFAULT_MAX_BATCH,
) -> int:
    """Return the most programs per launch that fit in ``fraction`` of the device memory.

    The result is a power of two, so it is also a batch bucket, between
    ``minimum`` and ``maximum``.

    Args:
        n_points: points each program runs on.
        length: the length bucket of the programs.
        n_inputs: program inputs.
        dtype: the evaluation dtype.
        strategy: the interpreter (``stream`` or ``vmap``); None picks the
            default for the JAX backend.
        memory_bytes: device memory; None reads it with ``device_memory_bytes``.
        fraction: share of the memory one launch may use.
        minimum, maximum: bounds of the result.
    """
    if memory_bytes is None:
        memory_bytes = device_memory_bytes()
    per_program = batched.bytes_per_program(n_points, length, n_inputs, dtype, strategy)
    fitting = max(1, int(memory_bytes * fraction // per_program))
    size = 1 << (fitting.bit_length() - 1)
    return int(min(max(size, minimum), maximum))
