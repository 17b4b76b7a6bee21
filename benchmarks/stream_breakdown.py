"""Split the time of one stream-interpreter launch into its parts, to show where the CPU time goes.

One population of random expression trees (the populations of
``eval_throughput.py``) is evaluated in float32 on all JAX CPU devices. The
script times, each as the minimum over ``--repeats`` rounds:

- ``evaluate_batch``: the whole call, from Program objects to NumPy outputs;
- ``pack``: joining the packed code on the host (``stream.pack``);
- ``layout``: unpacking, liveness, shared values and register rows on the
  devices, with and without sharing;
- ``run``: the instruction stream alone, on a prepared layout, with and
  without sharing;
- ``run, every op negation``: the same stream with every op replaced by
  negation, the cost of the loop steps and register traffic without arithmetic;
- ``run, no instructions``: the register file set-up and output gather alone.

Usage:
    python benchmarks/stream_breakdown.py [--population N] [--length L] [--repeats R] [--output PATH]

Prints a table and writes JSON (by default benchmarks/results/stream_breakdown.json).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "stream_breakdown.json"
POINTS = 1024


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=4096, help="programs in the launch (default 4096)")
    parser.add_argument("--length", type=int, default=16, help="instructions per program (default 16)")
    parser.add_argument("--repeats", type=int, default=9, help="rounds per measurement (default 9)")
    parser.add_argument("--cpu-devices", type=int, default=os.cpu_count(), help="JAX CPU devices (default: CPUs)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    return parser.parse_args()


def best_milliseconds(function, repeats: int) -> float:
    """Return the shortest of ``repeats`` timed calls of ``function``, after one untimed call."""
    import jax

    jax.block_until_ready(function())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function())
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def measure(population: int, length: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    from eval_throughput import N_INPUTS, random_tree_program
    from evolve import batched, jax_ops, stream, stream_layout

    rng = np.random.default_rng(2024)
    inputs = rng.uniform(-2.0, 2.0, size=(POINTS, N_INPUTS)).astype(np.float32)
    programs = [random_tree_program(rng, length) for _ in range(population)]
    size = batched.bucket(population, 8)
    shards = stream.shard_count(size)
    packed = stream.pack(programs, size, shards, batched.DEFAULT_MAX_LENGTH)
    code, code_constants, lengths, failed, bucket_length = packed
    layout = stream.layout_for(N_INPUTS, bucket_length, size // shards)
    inputs_t = jnp.asarray(np.ascontiguousarray(inputs.T))

    def build(share: bool):
        return jax.pmap(lambda *arrays: stream_layout.build(*arrays, layout, jnp.float32, share))

    def runner():
        # A fresh function, so that it traces the op table as it is now.
        return jax.pmap(lambda shard, points: stream._run(shard, layout, points), in_axes=(0, None))

    build_shared, build_unshared = build(True), build(False)
    shared = build_shared(code, code_constants, lengths, failed)
    unshared = build_unshared(code, code_constants, lengths, failed)
    empty = dataclasses.replace(shared, count=jnp.zeros_like(shared.count))
    run = runner()
    times = {
        "evaluate_batch": best_milliseconds(lambda: batched.evaluate_batch(programs, inputs, np.float32), repeats),
        "pack": best_milliseconds(lambda: stream.pack(programs, size, shards, batched.DEFAULT_MAX_LENGTH), repeats),
        "layout, sharing": best_milliseconds(lambda: build_shared(code, code_constants, lengths, failed), repeats),
        "layout, no sharing": best_milliseconds(lambda: build_unshared(code, code_constants, lengths, failed), repeats),
        "run": best_milliseconds(lambda: run(shared, inputs_t), repeats),
        "run, no sharing": best_milliseconds(lambda: run(unshared, inputs_t), repeats),
        "run, no instructions": best_milliseconds(lambda: run(empty, inputs_t), repeats),
    }

    original = dict(jax_ops.FAST_CPU_FUNCTIONS)
    try:
        for name in original:
            if name != "copy":
                jax_ops.FAST_CPU_FUNCTIONS[name] = lambda a, b, c: -a
        negation = runner()
        times["run, every op negation"] = best_milliseconds(lambda: negation(shared, inputs_t), repeats)
    finally:
        jax_ops.FAST_CPU_FUNCTIONS.update(original)

    live, computed = jax.device_get((shared.live, shared.count))
    return {
        "milliseconds": times,
        "live_instructions": int(np.sum(live)),
        "computed_instructions": int(np.sum(computed)),
        "shards": shards,
    }


def main() -> None:
    args = parse_arguments()
    import jax

    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    result = measure(args.population, args.length, args.repeats)
    per_device = result["computed_instructions"] / result["shards"]

    print(f"population {args.population}, length {args.length}, {POINTS} points, float32, {result['shards']} devices")
    print(f"{result['live_instructions']} live instructions, {result['computed_instructions']} computed")
    print(f"{'part':24s} {'ms':>8s} {'us per computed instruction and device':>40s}")
    for name, milliseconds in result["milliseconds"].items():
        print(f"{name:24s} {milliseconds:8.2f} {milliseconds * 1e3 / per_device:40.3f}")

    result.update(
        command="python " + " ".join(sys.argv),
        population=args.population,
        length=args.length,
        points=POINTS,
        load_average=list(os.getloadavg()),
        units="milliseconds per launch, minimum over the rounds",
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
