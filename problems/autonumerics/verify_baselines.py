"""Check baselines on every float32 in [-ln2/2, ln2/2] and print lines for ``EXHAUSTIVE_MAX_ULP``.

Usage:
    python -m problems.autonumerics.verify_baselines [NAME ...]

Without names it checks every baseline that runs in JAX (numpy-exp does not).
Each check takes a few minutes on a CPU.
"""

import sys

import jax.numpy as jnp

from problems.autonumerics import execute, verify
from problems.autonumerics.baselines import all_baselines


def _jax_exp_kernel(x64):
    return jnp.exp(x64.astype(jnp.float32)).astype(jnp.float64)


def main(names: list[str]) -> int:
    """Check the named baselines and print one ``"name": max_ulp,`` line each."""
    by_name = {b.name: b for b in all_baselines()}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        print(f"unknown baselines {unknown}; known: {', '.join(by_name)}", file=sys.stderr)
        return 2
    for name in names or list(by_name):
        baseline = by_name[name]
        if baseline.program is not None:
            kernel = execute.straight_line(baseline.program)
        elif name == "jax-exp":
            kernel = _jax_exp_kernel
        else:
            print(f"# {name} runs outside JAX and cannot be checked here")
            continue
        result = verify.exhaustive(kernel)
        print(f'    "{name}": {result.max_ulp:.4f},  # at x={result.worst_input!r}, {result.seconds:.0f} s', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
