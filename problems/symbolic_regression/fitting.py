"""Batched constant fitting: Levenberg-Marquardt on every program of a batch at once.

Least-squares fitting of the ``const`` instructions of op programs, as one jitted
JAX computation vmapped over the batch. Levenberg-Marquardt (Marquardt, 1963)
suits symbolic regression because the models are small and nearly linear in
their constants near a good fit, where it converges in a few steps.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from evolve.batched import bucket, encode, run_program
from evolve.program import Program

DEFAULT_ITERATIONS = 25

# Smallest batch and constant-slot buckets of a fit. A search hands each actor a
# few dozen programs, fewer after cache hits; padding every fit to these sizes
# keeps one compiled shape per length bucket instead of one per batch size. A
# padding row costs as much as a real one, which is cheap next to a compilation
# (seconds).
FIT_MIN_BATCH = 32
FIT_MIN_CONSTANTS = 4


def _fit_one(opcodes, args, constants, slots, inputs, targets, iterations):
    """Fit the constants at positions ``slots`` of one program; return (constants, mse)."""
    # slots has a fixed size; -1 marks an unused slot. Unused slots read constant 0
    # (their gradient is masked out below) and write out of bounds, where the
    # scatter drops them: writing index 0 as well would race with a used slot 0.
    used = slots >= 0
    index = jnp.where(used, slots, 0)
    target = jnp.where(used, slots, constants.shape[0])

    def with_theta(theta):
        return constants.at[target].set(theta, mode="drop")

    def predict(theta):
        return run_program(opcodes, args, with_theta(theta), inputs)

    def mse(theta):
        residual = predict(theta) - targets
        value = jnp.mean(residual**2)
        return jnp.where(jnp.isfinite(value), value, jnp.inf)

    def step(_, state):
        theta, damping, loss = state
        residual = predict(theta) - targets
        jacobian = jax.jacfwd(predict)(theta) * used
        gradient = jacobian.T @ residual
        hessian = jacobian.T @ jacobian
        scale = jnp.diag(hessian) + 1e-12
        delta = jnp.linalg.solve(hessian + damping * jnp.diag(scale) + jnp.diag(~used * 1.0), -gradient)
        delta = jnp.where(jnp.isfinite(delta), delta, 0.0)
        candidate = theta + delta
        candidate_loss = mse(candidate)
        better = candidate_loss < loss
        return (
            jnp.where(better, candidate, theta),
            jnp.where(better, damping * 0.3, damping * 4.0),
            jnp.where(better, candidate_loss, loss),
        )

    theta0 = jnp.where(used, constants[index], 0.0)
    state = (theta0, jnp.asarray(1e-3, inputs.dtype), mse(theta0))
    theta, _, loss = jax.lax.fori_loop(0, iterations, step, state)
    return with_theta(theta), loss


@functools.partial(jax.jit, static_argnames=("iterations",))
def _fit_batch(opcodes, args, constants, slots, inputs, targets, iterations):
    fit = functools.partial(_fit_one, iterations=iterations)
    return jax.vmap(fit, in_axes=(0, 0, 0, 0, None, None))(opcodes, args, constants, slots, inputs, targets)


def fit_constants(
    programs: list[Program],
    inputs: np.ndarray,
    targets: np.ndarray,
    iterations: int = DEFAULT_ITERATIONS,
) -> tuple[list[Program], np.ndarray]:
    """Fit every program's constants to the data by least squares.

    Args:
        programs: op programs with the same number of inputs.
        inputs: array of shape (points, inputs).
        targets: array of shape (points,).
        iterations: Levenberg-Marquardt steps.

    Returns:
        The programs with fitted constants, and their mean squared errors
        (``inf`` where the output is not finite).
    """
    encoded = encode(programs, min_batch=FIT_MIN_BATCH)
    max_constants = max(len(p.constant_indices()) for p in programs)
    slots = np.full((encoded.opcodes.shape[0], bucket(max_constants, FIT_MIN_CONSTANTS)), -1, dtype=np.int32)
    for row, program in enumerate(programs):
        indices = program.constant_indices()
        if not encoded.failed[row]:
            slots[row, : len(indices)] = indices
    constants, losses = _fit_batch(
        jnp.asarray(encoded.opcodes),
        jnp.asarray(encoded.args),
        jnp.asarray(encoded.constants),
        jnp.asarray(slots),
        jnp.asarray(inputs, dtype=jnp.float64),
        jnp.asarray(targets, dtype=jnp.float64),
        iterations=iterations,
    )
    constants = np.asarray(constants)
    losses = np.asarray(losses)[: len(programs)].copy()
    fitted = []
    for row, program in enumerate(programs):
        # A failed row (too long, or an out-of-range constant) ran as one NaN
        # constant, so its fitted values do not belong to the program.
        if encoded.failed[row]:
            fitted.append(program)
            losses[row] = np.inf
            continue
        values = constants[row, program.constant_indices()]
        fitted.append(program.with_constants(values) if len(values) else program)
    return fitted, losses

