"""Measure what the functional equivalence cache saves in symbolic regression searches.

Runs the same seeded searches twice, with the cache on and off, one after the
other in one process with the in-process evaluator, so both arms share the
machine's state. The arms need not reach the same leaderboard: constant fitting
runs on whole batches, and batches of other sizes compile to other XLA code whose
results differ in the last bits, so the two searches can drift apart. The table
shows both arms' best scores.

Usage:
    python benchmarks/cache_ablation.py [--quick] [--budget N] [--seeds 0,1,2]

Prints a table and writes benchmarks/results/cache_ablation.json.
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from evolve.config import SearchConfig
from evolve.registry import create_problem
from evolve.search import LocalEvaluator, Search

RESULTS = Path(__file__).parent / "results" / "cache_ablation.json"
EQUATIONS = ("I.12.1", "I.6.2a", "I.14.3", "II.3.24")


def run_arm(problem, budget: int, seed: int, use_cache: bool) -> dict:
    config = SearchConfig(budget=budget, seed=seed, use_cache=use_cache)
    start = time.perf_counter()
    search = Search(problem, config, LocalEvaluator(problem)).run()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "evaluations": search.counters.evaluations,
        "cache_hits": search.counters.cache_hits,
        "candidates": search.counters.candidates,
        "best_score": search.best_score,
    }


def measure(equation: str, budget: int, seed: int) -> dict:
    problem = create_problem("symbolic-regression", {"equation": equation})
    # Compile the batched kernels once so neither arm pays for it.
    Search(problem, SearchConfig(budget=100, seed=seed), LocalEvaluator(problem)).run()
    cached = run_arm(problem, budget, seed, use_cache=True)
    uncached = run_arm(problem, budget, seed, use_cache=False)
    return {
        "equation": equation,
        "seed": seed,
        "budget": budget,
        "hit_rate": cached["cache_hits"] / cached["candidates"],
        "evaluations_cached": cached["evaluations"],
        "evaluations_uncached": uncached["evaluations"],
        "seconds_cached": cached["seconds"],
        "seconds_uncached": uncached["seconds"],
        "speedup": uncached["seconds"] / cached["seconds"],
        "best_score_cached": cached["best_score"],
        "best_score_uncached": uncached["best_score"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one equation, budget 1000")
    parser.add_argument("--budget", type=int, default=3000, help="candidates per search (default 3000)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    args = parser.parse_args()

    equations = EQUATIONS[:1] if args.quick else EQUATIONS
    budget = 1000 if args.quick else args.budget
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [measure(eq, budget, seed) for eq in equations for seed in seeds]

    print(f"{'equation':10} {'seed':>4} {'hit rate':>8} {'evals on':>8} {'evals off':>9} {'time on':>8} {'time off':>8} {'speedup':>7} {'best on':>10} {'best off':>10}")
    for r in rows:
        print(
            f"{r['equation']:10} {r['seed']:>4} {r['hit_rate']:>8.1%} {r['evaluations_cached']:>8} "
            f"{r['evaluations_uncached']:>9} {r['seconds_cached']:>7.1f}s {r['seconds_uncached']:>7.1f}s "
            f"{r['speedup']:>6.2f}x {r['best_score_cached']:>10.3g} {r['best_score_uncached']:>10.3g}"
        )
    summary = {
        "median_speedup": statistics.median(r["speedup"] for r in rows),
        "median_hit_rate": statistics.median(r["hit_rate"] for r in rows),
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}, Python {platform.python_version()}",
        "runs": rows,
    }
    print(f"median speedup {summary['median_speedup']:.2f}x, median hit rate {summary['median_hit_rate']:.1%}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
