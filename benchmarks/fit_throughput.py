"""Measure batched constant fitting: the tangent-stream fit against the vmapped fit.

Both fit the same random symbolic regression programs (pruned, with linear
scaling, as the symbolic-regression problem fits them) to the AI Feynman
equation I.6.2a with Levenberg-Marquardt. The two run interleaved in one
process, ``--repeats`` rounds each, after one compiling call. The table shows
the median time per batch of each and the median of the per-round ratios, and
checks that both reach the same losses.

Usage:
    python benchmarks/fit_throughput.py [--quick] [--output PATH]

Writes benchmarks/results/fit_throughput.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.mutation import OpMutator  # noqa: E402
from problems.symbolic_regression.fitting import fit_constants  # noqa: E402
from problems.symbolic_regression.scaling import with_linear_scaling  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "fit_throughput.json"
OPS = ("const", "add", "sub", "mul", "div", "neg", "square", "sqrt", "exp", "log", "sin", "cos")
FULL = {"batches": [32, 256], "points": [100, 1000], "repeats": 7}
QUICK = {"batches": [32], "points": [100], "repeats": 3}
ITERATIONS = 15


def random_programs(rng: np.random.Generator, count: int) -> list:
    mutator = OpMutator(OPS, 1)
    programs = []
    while len(programs) < count:
        program = mutator.random_program(rng, int(rng.integers(3, 14))).pruned()
        if len(program):
            programs.append(with_linear_scaling(program))
    return programs


def measure(batch: int, points: int, repeats: int) -> dict:
    rng = np.random.default_rng(batch * 7919 + points)
    inputs = rng.uniform(1.0, 3.0, size=(points, 1))
    targets = np.exp(-inputs[:, 0] ** 2 / 2) / np.sqrt(2 * np.pi)
    programs = random_programs(rng, batch)

    losses = {}
    for strategy in ("stream", "vmap"):
        losses[strategy] = fit_constants(programs, inputs, targets, ITERATIONS, strategy=strategy)[1]
    times: dict = {"stream": [], "vmap": []}
    for _ in range(repeats):
        for strategy in times:
            start = time.perf_counter()
            fit_constants(programs, inputs, targets, ITERATIONS, strategy=strategy)
            times[strategy].append(time.perf_counter() - start)

    finite = np.isfinite(losses["vmap"])
    agree = bool(np.array_equal(finite, np.isfinite(losses["stream"])))
    difference = float(np.max(np.abs(losses["stream"][finite] / losses["vmap"][finite] - 1.0), initial=0.0))
    ratios = [v / s for s, v in zip(times["stream"], times["vmap"])]
    return {
        "batch": batch,
        "points": points,
        "stream_ms": 1e3 * statistics.median(times["stream"]),
        "vmap_ms": 1e3 * statistics.median(times["vmap"]),
        "speedup": statistics.median(ratios),
        "same_failures": agree,
        "max_relative_loss_difference": difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small configuration, under a minute")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL

    print(f"{'batch':>6} {'points':>7} {'stream ms':>10} {'vmap ms':>9} {'speedup':>8} {'same failures':>14} {'max loss diff':>14}")
    rows = []
    for batch in config["batches"]:
        for points in config["points"]:
            row = measure(batch, points, config["repeats"])
            rows.append(row)
            print(
                f"{row['batch']:>6} {row['points']:>7} {row['stream_ms']:>10.1f} {row['vmap_ms']:>9.1f} "
                f"{row['speedup']:>8.1f} {str(row['same_failures']):>14} {row['max_relative_loss_difference']:>14.1e}"
            )

    data = {
        "script": "benchmarks/fit_throughput.py",
        "iterations": ITERATIONS,
        "config": config,
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
