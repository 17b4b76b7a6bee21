"""Run every AlphaEvolve construction problem for a fixed time and record the verified results.

Each configuration runs as ``evolve run PROBLEM --time-limit SECONDS --seed 1``
(default search settings, random AST edits), one after the other so each has
the whole machine, then ``evolve verify RUN --top 1``. The script copies each
``best_construction.json`` and writes a summary with the value, the seed
program's first result, the best known value, the ratio and the run's counters.

Usage:
    python benchmarks/construction_runs.py [--seconds 600] [--only circle-packing] [--runs-dir DIR]

Writes benchmarks/results/alphaevolve/runs.json and one JSON file per
construction. The six runs of 600 s take about 65 minutes.
"""

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "alphaevolve"
EVOLVE = Path(sys.executable).with_name("evolve")

# (file name, problem, settings)
CONFIGURATIONS = (
    ("circle_packing_26", "circle-packing", {"n": 26}),
    ("heilbronn_triangle_11", "heilbronn-triangle", {"n": 11}),
    ("min_max_distance_16_2d", "min-max-distance", {"n": 16, "dimension": 2}),
    ("min_max_distance_14_3d", "min-max-distance", {"n": 14, "dimension": 3}),
    ("autocorrelation_first_600", "autocorrelation-first", {"steps": 600}),
    ("erdos_min_overlap_400", "erdos-min-overlap", {"steps": 400}),
)
FIRST_BEST = re.compile(r"new best score \S+ at candidate (\d+): \S+ (\S+)")


def run_one(name: str, problem: str, settings: dict, seconds: float, runs_dir: Path) -> dict:
    """Run, verify and summarize one configuration."""
    out = runs_dir / name
    command = [str(EVOLVE), "run", problem, "--time-limit", str(seconds), "--seed", "1", "--out", str(out)]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    log = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    verify = subprocess.run([str(EVOLVE), "verify", str(out), "--top", "1"], capture_output=True, text=True)

    best = json.loads((out / "best_construction.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    first = FIRST_BEST.search(log)
    shutil.copy(out / "best_construction.json", RESULTS / f"{name}.json")
    return {
        "run": f"{problem} " + " ".join(f"{k}={v}" for k, v in settings.items()),
        "file": f"benchmarks/results/alphaevolve/{name}.json",
        "verified": verify.returncode == 0,
        "objective": best["objective"],
        "minimize": best["minimize"],
        "value": best["value"],
        "seed_program_first_run": float(first.group(2)) if first else None,
        "best_known": best["best_known"],
        "ratio_to_best_known": best["ratio_to_best_known"],
        "references": best["references"],
        **{key: stats[key] for key in ("candidates", "evaluations", "cache_hits", "hit_rate", "failed", "wall_seconds")},
        "failure_reasons": stats.get("failure_reasons"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="--time-limit of each run (default 600)")
    parser.add_argument("--only", help="run only this problem")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/alphaevolve"), help="where the run folders go")
    args = parser.parse_args()
    if not EVOLVE.exists():
        parser.error(f"the evolve script is not installed next to {sys.executable}; run `make install` first")

    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, problem, settings in CONFIGURATIONS:
        if args.only and problem != args.only:
            continue
        row = run_one(name, problem, settings, args.seconds, args.runs_dir)
        rows.append(row)
        print(f"{row['run']:40s} {row['value']:.12g}  ratio {row['ratio_to_best_known']:.6f}  verified {row['verified']}")

    summary = {
        "command": f"python benchmarks/construction_runs.py --seconds {args.seconds:g}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "runs": rows,
    }
    path = RESULTS / ("runs.json" if not args.only else f"runs_{args.only}.json")
    path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
