"""Plots of a run: the best score over candidates, and two objectives of the leaderboard programs.

Figures are drawn on matplotlib's Agg canvas, without pyplot, and written
atomically as PNG files.
"""

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from evolve import rundir
from evolve.tables import float_or_nan


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A Figure on an Agg canvas, not pyplot: no global state and no display needed.
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save_figure(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    rundir.write_atomic(path, buffer.getvalue())
    return path


def plot_best_score(path: Path, history: Sequence[tuple[int, float]], last_candidate: int, problem: str) -> Path:
    """Plot the best score against candidates proposed and write it to ``path``.

    Args:
        path: the PNG file to write.
        history: (candidate, score) at each new best, in order; not empty.
        last_candidate: candidates proposed so far; the last best extends to it.
        problem: the problem's name, for the title.
    """
    candidates = [candidate for candidate, _ in history]
    scores = [score for _, score in history]
    # Extend the last best score to the last candidate proposed.
    if last_candidate > candidates[-1]:
        candidates.append(last_candidate)
        scores.append(scores[-1])

    figure, axes = _new_figure()
    axes.step(candidates, scores, where="post")
    axes.plot(candidates[: len(history)], scores[: len(history)], "o", markersize=3)
    magnitudes = [abs(s) for s in scores if s != 0]
    if magnitudes and max(magnitudes) / min(magnitudes) > 1e3:
        # Scores such as -MSE span many decades; symlog keeps the late gains visible.
        axes.set_yscale("symlog", linthresh=min(magnitudes))
    axes.set_xlabel("candidates proposed")
    axes.set_ylabel("best score")
    axes.set_title(f"{problem}: best score")
    axes.grid(True, alpha=0.3)
    return _save_figure(figure, path)


def plot_objectives(path: Path, rows: Sequence[Mapping[str, str]], x_column: str, y_column: str, problem: str) -> Path:
    """Scatter two objective columns of leaderboard rows, coloured by score, and write it to ``path``."""
    points = []
    for row in rows:
        values = [float_or_nan(row.get(c, "")) for c in (x_column, y_column, "score")]
        if all(math.isfinite(v) for v in values):
            points.append(values)

    figure, axes = _new_figure()
    # NOTE: the problem does not say whether each column is minimized or maximized,
    # so the plot shows every leaderboard program, coloured by score, and no front line.
    if points:
        xs, ys, scores = zip(*points)
        scatter = axes.scatter(xs, ys, c=scores, cmap="viridis")
        figure.colorbar(scatter, ax=axes, label="score")
    axes.set_xlabel(x_column)
    axes.set_ylabel(y_column)
    axes.set_title(f"{problem}: leaderboard programs, {y_column} against {x_column}")
    axes.grid(True, alpha=0.3)
    return _save_figure(figure, path)
