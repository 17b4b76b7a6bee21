"""The Pareto front of a run beside the baselines: ``front.csv`` and ``front.png``.

The front is taken from ``leaderboard.csv`` (max_ulp and ops, both minimized),
so it shows what the leaderboard keeps; baselines come from the problem.
"""

import io
import logging
import math
from collections.abc import Mapping
from pathlib import Path

from evolve import rundir

logger = logging.getLogger(__name__)

FRONT_CSV = "front.csv"
FRONT_PNG = "front.png"
COLUMNS = ("kind", "name", "max_ulp", "ops", "verified", "verified_max_ulp", "expression")


def pareto_front(points: list[dict]) -> list[dict]:
    """Return the points no other point dominates on (max_ulp, ops), by ops then max_ulp."""
    ordered = sorted(points, key=lambda p: (p["ops"], p["max_ulp"]))
    front, best_ulp = [], math.inf
    for point in ordered:
        if point["max_ulp"] < best_ulp:
            front.append(point)
            best_ulp = point["max_ulp"]
    return front


def write_front(run_dir: Path, baselines: Mapping[str, Mapping], target_ulp: float) -> None:
    """Write the run's front and the baselines to ``front.csv`` and ``front.png``."""
    path = run_dir / rundir.LEADERBOARD
    if not path.is_file():
        return
    _, rows = rundir.read_csv(path)
    evolved = [_point(row) for row in rows if row.get("rank") != "ref"]
    evolved = [p for p in evolved if math.isfinite(p["max_ulp"]) and math.isfinite(p["ops"])]
    front = pareto_front(evolved)
    references = [
        {"kind": "baseline", "name": name, "expression": values.get("source", ""), **{k: values[k] for k in COLUMNS[2:6]}}
        for name, values in baselines.items()
    ]
    table = [*front, *references]
    rundir.write_csv(run_dir / FRONT_CSV, table, COLUMNS)
    try:
        _plot(run_dir / FRONT_PNG, evolved, front, references, target_ulp)
    except (ImportError, RuntimeError, ValueError) as error:
        logger.warning("could not draw %s: %s", FRONT_PNG, error)


def _point(row: Mapping[str, str]) -> dict:
    return {
        "kind": "evolved",
        "name": f"rank {row.get('rank', '')}",
        "max_ulp": _float(row.get("max_ulp")),
        "ops": _float(row.get("ops")),
        "verified": _float(row.get("verified")),
        "verified_max_ulp": _float(row.get("verified_max_ulp")),
        "expression": row.get("expression", ""),
    }


def _float(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _plot(path: Path, evolved: list[dict], front: list[dict], references: list[dict], target_ulp: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if evolved:
        axes.scatter([p["ops"] for p in evolved], [p["max_ulp"] for p in evolved], s=12, color="0.7", label="evolved (leaderboard)")
    if front:
        axes.step([p["ops"] for p in front], [p["max_ulp"] for p in front], where="post", color="C0")
        verified = [p for p in front if p["verified"] == 1.0]
        axes.scatter([p["ops"] for p in front], [p["max_ulp"] for p in front], color="C0", zorder=3, label="evolved Pareto front")
        if verified:
            axes.scatter(
                [p["ops"] for p in verified], [p["verified_max_ulp"] for p in verified],
                marker="*", s=140, color="C3", zorder=4, label="verified on all float32 inputs",
            )
    for reference in references:
        if math.isfinite(reference["ops"]):
            marker = "s" if reference["name"].endswith("-fma") else "^"
            axes.scatter(reference["ops"], reference["max_ulp"], marker=marker, color="C1", zorder=2)
            axes.annotate(reference["name"], (reference["ops"], reference["max_ulp"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        elif math.isfinite(reference["max_ulp"]):
            # Library functions have no op count: a line at their error, labelled at the left edge.
            axes.axhline(reference["max_ulp"], color="C2", linestyle=":", linewidth=1)
            axes.annotate(
                reference["name"], (0.01, reference["max_ulp"]), xycoords=("axes fraction", "data"),
                fontsize=7, color="C2", xytext=(0, 2), textcoords="offset points",
            )
    axes.axhline(target_ulp, color="k", linestyle="--", linewidth=0.8, label=f"{target_ulp:g} ULP")
    axes.set_yscale("log")
    axes.set_xlabel("ops that depend on x")
    axes.set_ylabel("max error (float32 ULPs)")
    axes.set_title("exp-float32: evolved front and baselines (triangles: Horner, squares: FMA)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    rundir.write_atomic(path, buffer.getvalue())
