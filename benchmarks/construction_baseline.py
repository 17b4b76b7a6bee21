"""Run a construction problem's seed program alone, as the baseline for a search.

The seed programs are complete optimizers: random starts or perturbations of the
best object so far, then local optimization, until their time budget runs out.
A search must beat what that loop finds on its own in the same wall time on the
same cores, or evolution added nothing. This script runs the unchanged seed
program in ``--processes`` sandboxes at once (one per core by default), each with
its own random seed and the whole ``--seconds`` as its time budget. It verifies
every object with the problem's strict verifier and reports the best.

Usage:
    python benchmarks/construction_baseline.py circle-packing --set n=26 [--seconds 600]

Prints one line per process and writes
benchmarks/results/construction_baseline_<problem>.json.
"""

import argparse
import concurrent.futures
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.cli import parse_set_options  # noqa: E402
from evolve.python_program import PythonProgram  # noqa: E402
from evolve.registry import create_problem  # noqa: E402
from evolve.sandbox import SandboxLimits, run_in_sandbox  # noqa: E402
from problems.alphaevolve.checks import ConstructionError  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem", help="a construction problem, e.g. circle-packing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="problem setting; repeat for several")
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget of each run (default 600)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="runs at once (default: the CPUs)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/construction_baseline_<problem>.json)")
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    return args


def run_seed(problem, seed: int, seconds: float) -> dict:
    """Run the seed program once with random seed ``seed`` and return its verified value or failure."""
    program = PythonProgram(problem.seed_source())
    arguments = {**problem.run_arguments(program), "seed": seed, "time_budget": seconds}
    limits = SandboxLimits(timeout_s=seconds + problem.settings["timeout_grace"] + 30.0, memory_mb=problem.settings["memory_mb"])
    start = time.perf_counter()
    result = run_in_sandbox(program.source, problem.entry, arguments, limits, problem.preload_modules)
    row = {"seed": seed, "wall_seconds": time.perf_counter() - start}
    if not result.ok:
        return {**row, "value": None, "failure": result.reason}
    try:
        value, _ = problem.check(result.value)
    except ConstructionError as error:
        return {**row, "value": None, "failure": f"invalid construction: {error}"}
    return {**row, "value": value, "failure": None}


def main() -> None:
    args = parse_arguments()
    problem = create_problem(args.problem, parse_set_options(args.set))
    print(f"{args.problem} {problem.instance_arguments()}: {args.processes} runs of the seed program, {args.seconds:.0f} s each")

    with concurrent.futures.ThreadPoolExecutor(args.processes) as pool:
        runs = list(pool.map(lambda seed: run_seed(problem, seed, args.seconds), range(1, args.processes + 1)))
    for run in runs:
        outcome = f"failed: {run['failure']}" if run["value"] is None else f"{run['value']:.12g}"
        print(f"  seed {run['seed']}: {outcome} ({run['wall_seconds']:.0f} s)")

    values = [run["value"] for run in runs if run["value"] is not None]
    best = None
    if values:
        best = min(values) if problem.minimize else max(values)
    best_known = problem.best_known()
    ratio = best / best_known if best is not None else None
    print(f"best {best!r}, best known {best_known!r}, ratio {ratio!r}")

    output = args.output or RESULTS / f"construction_baseline_{args.problem}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "script": "benchmarks/construction_baseline.py",
        "problem": args.problem,
        "instance": problem.instance_arguments(),
        "objective": problem.objective,
        "minimize": problem.minimize,
        "seconds": args.seconds,
        "processes": args.processes,
        "runs": runs,
        "best": best,
        "best_known": best_known,
        "ratio_to_best_known": ratio,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    output.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
