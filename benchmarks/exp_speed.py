"""Time an exported exp-float32 kernel against jnp.exp and Horner baselines under jax.jit.

Every function runs on the same array of float32 values, compiled once, in
interleaved order (each repeat runs all functions once, in a rotated order), so
a load spike on a shared machine hits them alike. The result for each function
is the median over repeats of its time divided by the time of jnp.exp in the
same repeat.

Two comparisons:

- ``exp``: the exported ``exp(x)`` (range reduction around the evolved kernel)
  against ``jnp.exp`` on x uniform in [-87, 88];
- ``kernel``: the exported ``approx(r)`` and the Horner baselines exported the
  same way, against ``jnp.exp``, on r uniform in [-ln2/2, ln2/2].

Usage:
    python benchmarks/exp_speed.py MODULE.py [--size 10000000] [--repeats 21] [--output PATH]

where MODULE.py comes from ``evolve export RUN --format python -o MODULE.py``.
Writes JSON, by default to benchmarks/results/exp_speed.json.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from problems.autonumerics import baselines, export, structure  # noqa: E402
from problems.autonumerics.sample import LN2_HALF  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "exp_speed.json"
BASELINES = ("minimax-6-fma", "minimax-7-fma", "cephes-fma", "cephes-horner", "taylor-7-horner", "minimax-7-horner")


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_kernels(folder: Path) -> dict:
    """Export each Horner baseline as a module and return its jitted approx by name."""
    by_name = {b.name: b for b in baselines.all_baselines()}
    kernels = {}
    for name in BASELINES:
        program = structure.fold_constants(by_name[name].program)
        path = folder / f"baseline_{name.replace('-', '_')}.py"
        path.write_text(export.python_module(program, name, structure.cost(program, {})), encoding="utf-8")
        kernels[name] = load_module(path, path.stem).approx
    return kernels


def time_interleaved(functions: dict, x, repeats: int) -> dict:
    """Return per-function lists of seconds, one per repeat, running the functions interleaved."""
    for function in functions.values():
        function(x).block_until_ready()  # compile, and touch the memory once
    names = list(functions)
    seconds = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names):] + names[: repeat % len(names)]
        for name in order:
            start = time.perf_counter()
            functions[name](x).block_until_ready()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def summarize(seconds: dict, reference: str) -> dict:
    summary = {}
    for name, times in seconds.items():
        ratios = [t / r for t, r in zip(times, seconds[reference])]
        summary[name] = {
            "median_ms": 1e3 * statistics.median(times),
            "min_ms": 1e3 * min(times),
            "median_ratio_to_jnp_exp": statistics.median(ratios),
        }
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", type=Path, help="module written by `evolve export --format python`")
    parser.add_argument("--size", type=int, default=10_000_000, help="float32 values per array (default 1e7)")
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats (default 21)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)

    exported = load_module(args.module, "exported_exp")
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-87, 88, args.size).astype(np.float32))
    r = jnp.asarray(rng.uniform(-LN2_HALF, LN2_HALF, args.size).astype(np.float32))
    jnp_exp = jax.jit(jnp.exp)

    full = time_interleaved({"jnp.exp": jnp_exp, "exported exp": exported.exp}, x, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        kernels = {"jnp.exp": jnp_exp, "exported approx": exported.approx, **baseline_kernels(Path(folder))}
        kernel = time_interleaved(kernels, r, args.repeats)

    result = {
        "script": "benchmarks/exp_speed.py",
        "measured_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "module": str(args.module),
        "size": args.size,
        "repeats": args.repeats,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
            "jax": jax.__version__,
            "device": str(jax.devices()[0]),
        },
        "exp_on_x_in_-87_88": summarize(full, "jnp.exp"),
        "kernel_on_r_in_reduced_range": summarize(kernel, "jnp.exp"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for section in ("exp_on_x_in_-87_88", "kernel_on_r_in_reduced_range"):
        print(section)
        for name, values in result[section].items():
            print(f"  {name:18s} {values['median_ms']:8.2f} ms  ratio to jnp.exp {values['median_ratio_to_jnp_exp']:.3f}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
