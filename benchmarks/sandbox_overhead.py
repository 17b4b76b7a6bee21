"""Measure the per-evaluation overhead of evolve.sandbox.run_in_sandbox.

Each run calls a trivial program through the sandbox and the same function
in-process, interleaved, and takes the difference as the sandbox overhead. Two
programs are measured: one that returns a small numpy array (so a fresh
interpreter pays for importing numpy) and one in pure Python. Each runs in three
modes: a fresh interpreter per run, a fork server with numpy preloaded, and the
mode Python-source problems use (a fork server with numpy and scipy.optimize
preloaded, and Landlock). For reference the script also times bare interpreter
start-ups with the sandbox's flags.

Usage:
    python benchmarks/sandbox_overhead.py [--runs 30] [--output PATH]

Prints a table in milliseconds and writes the numbers as JSON, by default to
benchmarks/results/sandbox_overhead.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.sandbox import SandboxLimits, run_in_sandbox  # noqa: E402

PROGRAMS = {
    "numpy array": (
        "import numpy as np\n"
        "def evaluate(n):\n"
        "    return np.arange(n, dtype=np.float64) * 0.5\n"
    ),
    "pure Python list": (
        "def evaluate(n):\n"
        "    return [i * 0.5 for i in range(n)]\n"
    ),
}

# Interpreter start-ups with the flags the sandbox runner uses, for reference.
# -S leaves site-packages off sys.path, so the numpy case adds it as the runner does.
SITE_PACKAGES = [path for path in sys.path if os.path.basename(path) == "site-packages"]
IMPORT_NUMPY = f"import sys; sys.path += {SITE_PACKAGES!r}; import numpy"
STARTUP_COMMANDS = {
    "python -I -S -B (no imports)": [sys.executable, "-I", "-S", "-B", "-c", "pass"],
    "python -I -S -B + import numpy": [sys.executable, "-I", "-S", "-B", "-c", IMPORT_NUMPY],
}

# Sandbox modes: (preload, landlock).
MODES = {
    "fresh interpreter": (None, False),
    "fork server, numpy": (("numpy",), False),
    "fork server, numpy + scipy.optimize, Landlock": (("numpy", "scipy.optimize"), True),
}

TARGET_OVERHEAD_MS = 50.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "sandbox_overhead.json"


def load_in_process(source: str) -> types.FunctionType:
    module = types.ModuleType("benchmark_candidate")
    exec(compile(source, "<benchmark>", "exec"), module.__dict__)
    return module.evaluate


def summarize(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def measure_program(
    source: str, runs: int, limits: SandboxLimits, preload: tuple[str, ...] | None
) -> dict[str, dict[str, float]]:
    """Time `runs` sandboxed and in-process calls, interleaved, in milliseconds."""
    evaluate = load_in_process(source)
    kwargs = {"n": 16}

    # Warm-up: file system caches, the runner script cache and the fork server's start.
    warm_up = run_in_sandbox(source, "evaluate", kwargs, limits, preload)
    if not warm_up.ok:
        raise RuntimeError(f"benchmark program failed in the sandbox: {warm_up.reason}")

    sandbox_ms, in_process_ms, overhead_ms = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        result = run_in_sandbox(source, "evaluate", kwargs, limits, preload)
        sandbox_elapsed = time.perf_counter() - start
        if not result.ok:
            raise RuntimeError(f"benchmark program failed in the sandbox: {result.reason}")

        start = time.perf_counter()
        evaluate(**kwargs)
        in_process_elapsed = time.perf_counter() - start

        sandbox_ms.append(sandbox_elapsed * 1000)
        in_process_ms.append(in_process_elapsed * 1000)
        overhead_ms.append((sandbox_elapsed - in_process_elapsed) * 1000)

    return {
        "sandbox_ms": summarize(sandbox_ms),
        "in_process_ms": summarize(in_process_ms),
        "overhead_ms": summarize(overhead_ms),
    }


def measure_startup(command: list[str], runs: int) -> dict[str, float]:
    samples_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, env={"OPENBLAS_NUM_THREADS": "1"})
        samples_ms.append((time.perf_counter() - start) * 1000)
    return summarize(samples_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="calls per program (default 30)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"JSON file to write (default {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")

    programs = {}
    for mode, (preload, landlock) in MODES.items():
        limits = SandboxLimits(timeout_s=10.0, landlock=landlock)
        for name, source in PROGRAMS.items():
            programs[f"{name}, {mode}"] = measure_program(source, args.runs, limits, preload)
    startups = {name: measure_startup(command, args.runs) for name, command in STARTUP_COMMANDS.items()}
    load = os.getloadavg()[0]

    print(f"sandbox overhead per evaluation, {args.runs} runs, {os.cpu_count()} CPUs, load {load:.1f}, ms")
    width = max(len(name) for name in [*programs, *startups]) + 2
    print(f"{'case':{width}s} {'median':>8s} {'p90':>8s} {'min':>8s} {'max':>8s}")
    for name, timings in programs.items():
        overhead = timings["overhead_ms"]
        print(
            f"{name:{width}s} {overhead['median']:8.1f} {overhead['p90']:8.1f} "
            f"{overhead['min']:8.1f} {overhead['max']:8.1f}"
        )
    for name, startup in startups.items():
        print(
            f"{name:{width}s} {startup['median']:8.1f} {startup['p90']:8.1f} "
            f"{startup['min']:8.1f} {startup['max']:8.1f}"
        )
    for name, timings in programs.items():
        median = timings["overhead_ms"]["median"]
        verdict = "meets" if median < TARGET_OVERHEAD_MS else "misses"
        print(f"{name}: median overhead {median:.1f} ms {verdict} the {TARGET_OVERHEAD_MS:g} ms target")

    report = {
        "script": "benchmarks/sandbox_overhead.py",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": args.runs,
        "load_average_1min": load,
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "programs": programs,
        "interpreter_startup_ms": startups,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
