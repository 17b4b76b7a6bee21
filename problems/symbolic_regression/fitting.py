"""Batched constant fitting: Levenberg-Marquardt on every program of a batch at once.

Least-squares fitting of the ``const`` instructions of op programs, as one jitted
JAX computation for the whole batch. Levenberg-Marquardt (Marquardt, 1963)
suits symbolic regression because the models are small and nearly linear in
their constants near a good fit, where it converges in a few steps.

Two implementations share the algorithm, as the interpreters of
``evolve.batched`` do. ``stream`` (CPU) runs each iteration as one pass of
``evolve.tangent_stream``, which yields outputs and Jacobians together at one
loop step per live instruction. ``vmap`` (accelerators) maps one program's fit
over the batch, with the Jacobian from ``jax.jacfwd`` of the vmapped
interpreter.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from evolve import tangent_stream
from evolve.batched import bucket, default_strategy, encode, run_program
from evolve.program import Program

DEFAULT_ITERATIONS = 25

# Smallest batch and constant-slot buckets of a fit. A search hands each actor a
# few dozen programs, fewer after cache hits. Padding every fit to these sizes
# keeps one compiled shape per length bucket instead of one per batch size. The
# stream fit skips padding rows, and in the vmap fit they cost less than a
# compilation (seconds).
FIT_MIN_BATCH = 32
FIT_MIN_CONSTANTS = 4


def _fit_one(opcodes, args, constants, slots, inputs, targets, iterations):
    """Fit the constants at positions ``slots`` of one program; return (constants, mse)."""
    # slots has a fixed size, and -1 marks an unused slot. Unused slots read
    # constant 0 (their gradient is masked out below) and write out of bounds,
    # where the scatter drops them. Writing index 0 instead would collide with a
    # used slot 0 and undo its fit.
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


# ---------------------------------------------------------------- stream: all programs in one pass


def _lm_update(theta, damping, loss, residual, jacobian, used, evaluate):
    """Take one damped Gauss-Newton step per program and keep it where the loss falls."""
    gradient = jnp.einsum("npk,np->nk", jacobian, residual)
    hessian = jnp.einsum("npk,npl->nkl", jacobian, jacobian)
    scale = jnp.diagonal(hessian, axis1=1, axis2=2) + 1e-12
    # Unused slots get a unit diagonal, so the system stays regular and their step is 0.
    system = hessian + jax.vmap(jnp.diag)(damping[:, None] * scale + (~used) * 1.0)
    delta = jnp.linalg.solve(system, -gradient[..., None])[..., 0]
    delta = jnp.where(jnp.isfinite(delta), delta, 0.0)

    candidate = theta + delta
    candidate_residual, candidate_jacobian, candidate_loss = evaluate(candidate)
    better = candidate_loss < loss
    return (
        jnp.where(better[:, None], candidate, theta),
        jnp.where(better, damping * 0.3, damping * 4.0),
        jnp.where(better, candidate_loss, loss),
        jnp.where(better[:, None], candidate_residual, residual),
        jnp.where(better[:, None, None], candidate_jacobian, jacobian),
    )


@functools.partial(jax.jit, static_argnames=("iterations", "length", "size"))
def _fit_stream_jit(arrays, count, theta, used, inputs_t, targets, iterations, length, size):
    def evaluate(theta):
        outputs, jacobian = tangent_stream.outputs_and_jacobians(arrays, count, theta, inputs_t, length, size)
        residual = outputs - targets
        loss = jnp.mean(residual**2, axis=1)
        loss = jnp.where(jnp.isfinite(loss), loss, jnp.inf)
        return residual, jacobian * used[:, None, :], loss

    residual, jacobian, loss = evaluate(theta)
    damping = jnp.full(theta.shape[0], 1e-3, theta.dtype)

    def step(_, state):
        theta, damping, loss, residual, jacobian = state
        return _lm_update(theta, damping, loss, residual, jacobian, used, evaluate)

    state = (theta, damping, loss, residual, jacobian)
    theta, _, loss, _, _ = jax.lax.fori_loop(0, iterations, step, state)
    return theta, loss


def _fit_stream(encoded, slots: np.ndarray, inputs, targets, iterations: int):
    """Fit with the tangent stream; return (constants of shape (size, length), losses)."""
    stream = tangent_stream.build_tangent_stream(encoded, slots)
    used = slots >= 0
    rows = np.arange(slots.shape[0])[:, None]
    theta = np.where(used, encoded.constants[rows, np.maximum(slots, 0)], 0.0)
    fitted, losses = _fit_stream_jit(
        tangent_stream.stream_arrays(stream),
        stream.count,
        jnp.asarray(theta, dtype=jnp.float64),
        jnp.asarray(used),
        jnp.asarray(np.ascontiguousarray(np.asarray(inputs, dtype=np.float64).T)),
        jnp.asarray(targets, dtype=jnp.float64),
        iterations=iterations,
        length=stream.length,
        size=stream.size,
    )
    constants = encoded.constants.copy()
    program_rows, slot_numbers = np.nonzero(used)
    constants[program_rows, slots[program_rows, slot_numbers]] = np.asarray(fitted)[program_rows, slot_numbers]
    return constants, losses


# ---------------------------------------------------------------- the public entry point


def fit_constants(
    programs: list[Program],
    inputs: np.ndarray,
    targets: np.ndarray,
    iterations: int = DEFAULT_ITERATIONS,
    strategy: str | None = None,
) -> tuple[list[Program], np.ndarray]:
    """Fit every program's constants to the data by least squares.

    Args:
        programs: op programs with the same number of inputs.
        inputs: array of shape (points, inputs).
        targets: array of shape (points,).
        iterations: Levenberg-Marquardt steps.
        strategy: ``stream`` or ``vmap``; None picks ``batched.default_strategy()``.

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
    strategy = strategy or default_strategy()
    if strategy == "stream":
        constants, losses = _fit_stream(encoded, slots, inputs, targets, iterations)
    elif strategy == "vmap":
        constants, losses = _fit_batch(
            jnp.asarray(encoded.opcodes),
            jnp.asarray(encoded.args),
            jnp.asarray(encoded.constants),
            jnp.asarray(slots),
            jnp.asarray(inputs, dtype=jnp.float64),
            jnp.asarray(targets, dtype=jnp.float64),
            iterations=iterations,
        )
    else:
        raise ValueError(f"unknown strategy {strategy!r}; use stream or vmap.")
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

