"""The ops of ``evolve.ops`` as JAX functions, for the batched interpreters.

Each op is ``f(a, b, c)`` on equal-shaped arrays, its unused arguments None;
``const`` has no function, because each interpreter places constants itself.
``copy`` is the padding op: it returns its first argument.
"""

import jax.numpy as jnp

from evolve import cpu_math

OP_FUNCTIONS = {
    "copy": lambda a, b, c: a,
    "add": lambda a, b, c: a + b,
    "sub": lambda a, b, c: a - b,
    "mul": lambda a, b, c: a * b,
    "div": lambda a, b, c: a / b,
    "neg": lambda a, b, c: -a,
    "square": lambda a, b, c: a * a,
    "sqrt": lambda a, b, c: jnp.sqrt(a),
    "exp": lambda a, b, c: jnp.exp(a),
    "log": lambda a, b, c: jnp.log(a),
    "sin": lambda a, b, c: jnp.sin(a),
    "cos": lambda a, b, c: jnp.cos(a),
    "fma": lambda a, b, c: a * b + c,
}

# On the CPU, sine, cosine and the float64 logarithm have faster forms that XLA vectorizes.
FAST_CPU_FUNCTIONS = {
    **OP_FUNCTIONS,
    "log": lambda a, b, c: cpu_math.fast_log(a),
    "sin": lambda a, b, c: cpu_math.fast_sin_or_cos(a, cosine=False),
    "cos": lambda a, b, c: cpu_math.fast_sin_or_cos(a, cosine=True),
}
