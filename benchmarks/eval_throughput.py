"""Measure how fast populations of op programs evaluate: batched JAX, per-program NumPy, gplearn.

Every population is drawn once, as random expression trees over the default
symbolic regression op set, so every instruction is live and the three
evaluators do the same work on the same programs:

- JAX: ``evolve.batched.evaluate_batch``, one compiled launch per population,
  timed from Program objects to NumPy outputs (joining the packed code
  included). Its compilation is timed separately, once per shape bucket. In
  float32 it also runs without shared subexpressions (``share=False``), to show
  what sharing adds on these populations.
- NumPy: ``Program.evaluate``, the per-program reference interpreter.
- gplearn: ``gplearn._program._Program.execute`` on the same trees in prefix
  form. gplearn's div, log and sqrt are its protected versions, and exp and
  square are added with ``gplearn.functions.make_function``.

Per-program rates do not depend on the population size, so NumPy and gplearn
time the first ``--baseline-programs`` programs of each population. A point-op
is one instruction on one point: point-ops/s = programs/s * length * points.

Usage:
    python benchmarks/eval_throughput.py [--quick] [--cpu-devices N] [--output PATH] [--plot PATH]

Needs the ``bench`` extra (gplearn). Prints a table and writes JSON (by default
benchmarks/results/eval_throughput.json) and a plot of programs/s.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "eval_throughput.json"
DEFAULT_PLOT = RESULTS / "eval_throughput.png"

OP_NAMES = ("const", "add", "sub", "mul", "div", "neg", "square", "sqrt", "exp", "log", "sin", "cos")
N_INPUTS = 2
POINTS = 1024
HEADLINE = {"population": 4096, "length": 16, "points": POINTS}
HEADLINE_DTYPE = "float32"
FULL = {"populations": [256, 1024, 4096, 16384], "lengths": [8, 16, 32], "repeats": 5, "baseline_programs": 1024}
QUICK = {"populations": [256, 4096], "lengths": [16], "repeats": 3, "baseline_programs": 256}
DTYPES = ("float32", "float64")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="populations 256 and 4096, length 16 only (under a minute)")
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=os.cpu_count(),
        help="JAX CPU devices to split each population over (default: the number of CPUs)",
    )
    parser.add_argument("--baseline-programs", type=int, help="programs NumPy and gplearn time per population")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"PNG plot (default {DEFAULT_PLOT})")
    args = parser.parse_args()
    if args.cpu_devices < 1:
        parser.error(f"--cpu-devices must be at least 1, got {args.cpu_devices}")
    return args


# ---------------------------------------------------------------- populations


def random_tree_program(rng: np.random.Generator, length: int):
    """Draw an expression tree of ``length`` instructions, written in SSA order (children first).

    Each instruction result is read exactly once, by its parent, so the program
    has no dead code and maps one to one onto a gplearn tree.
    """
    from evolve.ops import OPS
    from evolve.program import Instruction, Program

    inner_ops = [name for name in OP_NAMES if OPS[name].arity > 0]
    instructions: list[Instruction] = []

    def build(size: int) -> int:
        if size == 1:
            name = OP_NAMES[rng.integers(len(OP_NAMES))]
            if name == "const":
                instructions.append(Instruction("const", (), float(rng.standard_normal())))
            else:
                args = tuple(int(rng.integers(N_INPUTS)) for _ in range(OPS[name].arity))
                instructions.append(Instruction(name, args))
            return N_INPUTS + len(instructions) - 1

        # Split the remaining instructions among the children; a child of size 0 is an input.
        name = inner_ops[rng.integers(len(inner_ops))]
        arity = OPS[name].arity
        cuts = np.sort(rng.integers(0, size, arity - 1))
        sizes = np.diff(np.concatenate([[0], cuts, [size - 1]]))
        args = tuple(build(int(s)) if s > 0 else int(rng.integers(N_INPUTS)) for s in sizes)
        instructions.append(Instruction(name, args))
        return N_INPUTS + len(instructions) - 1

    build(length)
    return Program(N_INPUTS, tuple(instructions))


# ---------------------------------------------------------------- gplearn


def gplearn_functions() -> dict:
    from gplearn.functions import _function_map, make_function

    def exp(x):
        with np.errstate(over="ignore"):
            return np.exp(x)

    functions = dict(_function_map)
    functions["exp"] = make_function(function=exp, name="exp", arity=1, wrap=False)
    functions["square"] = make_function(function=np.square, name="square", arity=1, wrap=False)
    return functions


def to_gplearn(program, functions: dict):
    """Return the gplearn program (a prefix list) for a tree-shaped op program."""
    from gplearn._program import _Program

    def prefix(register: int) -> list:
        if register < program.n_inputs:
            return [register]
        instruction = program.instructions[register - program.n_inputs]
        if instruction.op == "const":
            return [float(instruction.value)]
        nodes = [functions[instruction.op]]
        for arg in instruction.args:
            nodes += prefix(arg)
        return nodes

    function_set = [functions[name] for name in OP_NAMES if name != "const"]
    arities: dict = {}
    for function in function_set:
        arities.setdefault(function.arity, []).append(function)
    return _Program(
        function_set, arities, (2, 6), "half and half", program.n_inputs, (-1.0, 1.0), None, 0.9, 0.0,
        np.random.RandomState(0), program=prefix(program.n_inputs + len(program) - 1),
    )  # fmt: skip


# ---------------------------------------------------------------- timing


def interleaved_best_times(functions: dict, repeats: int) -> dict:
    """Return the shortest wall time of each function over ``repeats`` rounds, in seconds.

    Each round calls every function once, so that load from other processes
    affects all of them alike and their ratios stay meaningful.
    """
    times: dict = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: min(samples) for name, samples in times.items()}


def evaluators(programs, sample, gplearn_sample, inputs) -> dict:
    """Return the timed calls: JAX on the whole population, NumPy and gplearn on the sample."""
    from evolve import batched, stream

    def numpy_run(dtype):
        def run():
            with np.errstate(all="ignore"):
                for program in sample:
                    program.evaluate(inputs, dtype)

        return run

    def gplearn_run():
        with np.errstate(all="ignore"):
            for program in gplearn_sample:
                program.execute(inputs)

    size = batched.bucket(len(programs), 8)
    calls = {"gplearn": gplearn_run}
    for dtype in DTYPES:
        calls[f"numpy_{dtype}"] = numpy_run(dtype)
        calls[f"jax_{dtype}"] = lambda dtype=dtype: batched.evaluate_batch(programs, inputs, dtype)
    calls["jax_float32_unshared"] = lambda: batched.evaluate_batch(programs, inputs, np.float32, share=False)
    calls["host"] = lambda: stream.pack(programs, size, stream.shard_count(size), batched.DEFAULT_MAX_LENGTH)
    return calls


def compile_seconds(programs, inputs) -> dict:
    """Return, per dtype, the first JAX call's time beyond the second's: the compilation."""
    from evolve import batched

    result = {}
    for dtype in DTYPES:
        first = time.perf_counter()
        batched.evaluate_batch(programs, inputs, dtype)
        second = time.perf_counter()
        batched.evaluate_batch(programs, inputs, dtype)
        result[dtype] = max((second - first) - (time.perf_counter() - second), 0.0)
    return result


def measure(config: dict, functions: dict) -> list[dict]:
    from evolve import batched, stream

    rng = np.random.default_rng(2024)
    inputs = rng.uniform(-2.0, 2.0, size=(POINTS, N_INPUTS))
    rows = []
    for length in config["lengths"]:
        for population in config["populations"]:
            programs = [random_tree_program(rng, length) for _ in range(population)]
            sample = programs[: config["baseline_programs"]]
            gplearn_sample = [to_gplearn(p, functions) for p in sample]
            compiled = compile_seconds(programs, inputs)
            seconds = interleaved_best_times(evaluators(programs, sample, gplearn_sample, inputs), config["repeats"])

            row = {"population": population, "length": length, "points": POINTS, "baseline_programs": len(sample)}
            row["gplearn"] = len(sample) / seconds["gplearn"]
            for dtype in DTYPES:
                row[f"numpy_{dtype}"] = len(sample) / seconds[f"numpy_{dtype}"]
                row[f"jax_{dtype}"] = population / seconds[f"jax_{dtype}"]
                row[f"jax_{dtype}_host_share"] = seconds["host"] / seconds[f"jax_{dtype}"]
                row[f"jax_{dtype}_compile_seconds"] = compiled[dtype]
            row["jax_float32_unshared"] = population / seconds["jax_float32_unshared"]
            live, computed = stream.count_instructions(programs, batched.bucket(population, 8), batched.DEFAULT_MAX_LENGTH)
            row["computed_instruction_share"] = computed / live
            rows.append(row)
            print_row(row)
    return rows


# ---------------------------------------------------------------- report


def print_header() -> None:
    print(
        f"{'pop':>6s} {'len':>4s} | {'programs/s':^52s} | {'JAX f32 speedup':^17s} | {'JAX f64 speedup':^17s}"
        f" | {'':16s} | {'JAX sharing':^21s}"
    )
    print(
        f"{'':6s} {'':4s} | {'JAX f32':>10s} {'JAX f64':>10s} {'NumPy f32':>10s} {'NumPy f64':>10s} {'gplearn':>8s}"
        f" | {'NumPy':>8s} {'gplearn':>8s} | {'NumPy':>8s} {'gplearn':>8s} | {'G point-op/s f32':>16s}"
        f" | {'f32 unshared':>12s} {'computed':>8s}"
    )


def print_row(row: dict) -> None:
    point_ops = row["jax_float32"] * row["length"] * row["points"] / 1e9
    print(
        f"{row['population']:6d} {row['length']:4d} | {row['jax_float32']:10.0f} {row['jax_float64']:10.0f} "
        f"{row['numpy_float32']:10.0f} {row['numpy_float64']:10.0f} {row['gplearn']:8.0f} | "
        f"{row['jax_float32'] / row['numpy_float32']:8.1f} {row['jax_float32'] / row['gplearn']:8.1f} | "
        f"{row['jax_float64'] / row['numpy_float64']:8.1f} {row['jax_float64'] / row['gplearn']:8.1f} | "
        f"{point_ops:16.2f} | {row['jax_float32_unshared']:12.0f} {row['computed_instruction_share']:8.2f}",
        flush=True,
    )


def machine_info(cpu_devices: int) -> dict:
    import jax

    import gplearn

    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": len(jax.devices()),
        "cpu_devices_requested": cpu_devices,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "gplearn": gplearn.__version__,
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
    }


def headline(rows: list[dict]) -> dict:
    """Return the speedups at the headline population, length and points, per dtype."""
    match = [r for r in rows if r["population"] == HEADLINE["population"] and r["length"] == HEADLINE["length"]]
    if not match:
        return {}
    row = match[0]
    speedups = {
        dtype: {
            "vs_numpy_same_dtype": row[f"jax_{dtype}"] / row[f"numpy_{dtype}"],
            "vs_numpy_float64": row[f"jax_{dtype}"] / row["numpy_float64"],
            "vs_gplearn": row[f"jax_{dtype}"] / row["gplearn"],
        }
        for dtype in DTYPES
    }
    return {
        "speedup_vs_numpy": speedups[HEADLINE_DTYPE]["vs_numpy_same_dtype"],
        "speedup_vs_gplearn": speedups[HEADLINE_DTYPE]["vs_gplearn"],
        "speedups": speedups,
    }


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    length = HEADLINE["length"]
    rows = sorted((r for r in rows if r["length"] == length), key=lambda r: r["population"])
    populations = [r["population"] for r in rows]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    series = [
        ("jax_float32", "JAX batched, float32"),
        ("jax_float64", "JAX batched, float64"),
        ("numpy_float32", "NumPy per program, float32"),
        ("numpy_float64", "NumPy per program, float64"),
        ("gplearn", "gplearn execute, float64"),
    ]
    for key, label in series:
        axes.plot(populations, [r[key] for r in rows], marker="o", label=label)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("population (programs per launch)")
    axes.set_ylabel("programs evaluated per second")
    axes.set_title(f"{title}\nlength {length}, {POINTS} points")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> None:
    args = parse_arguments()

    # The CPU device count is fixed when JAX starts, so set it before evolve imports JAX.
    import jax

    jax.config.update("jax_num_cpu_devices", args.cpu_devices)

    config = dict(QUICK if args.quick else FULL)
    if args.baseline_programs is not None:
        config["baseline_programs"] = args.baseline_programs
    machine = machine_info(args.cpu_devices)
    print(f"{machine['cpu']}, {machine['cpus']} CPUs, JAX {machine['jax']} on {machine['jax_backend']} "
          f"({machine['jax_devices']} devices), load average {machine['load_average_at_start'][0]:.2f}")  # fmt: skip
    print_header()
    rows = measure(config, gplearn_functions())
    machine["load_average_at_end"] = list(os.getloadavg())

    summary = headline(rows)
    if summary:
        print(
            f"population {HEADLINE['population']}, length {HEADLINE['length']}, {POINTS} points, "
            f"JAX {HEADLINE_DTYPE}: {summary['speedup_vs_numpy']:.1f}x NumPy ({HEADLINE_DTYPE}), "
            f"{summary['speedup_vs_gplearn']:.1f}x gplearn"
        )
    result = {
        **summary,
        "headline": {**HEADLINE, "jax_dtype": HEADLINE_DTYPE, "numpy_dtype": HEADLINE_DTYPE, "gplearn_dtype": "float64"},
        "command": "python " + " ".join(sys.argv),
        "machine": machine,
        "config": config,
        "units": (
            "programs per second; *_host_share: share of the JAX time spent joining packed code on the host; "
            "computed_instruction_share: live instructions the stream computes after sharing"
        ),
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.plot, f"{machine['cpu']}, {machine['jax_devices']} JAX CPU devices")
    print(f"wrote {args.output} and {args.plot}")


if __name__ == "__main__":
    main()
