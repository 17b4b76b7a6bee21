"""Running a search end to end: the run directory, Ray, the loop, checkpoints and resume."""

import contextlib
import logging
import math
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evolve import rundir
from evolve.checkpoint import restore_search, search_state
from evolve.config import SearchConfig
from evolve.errors import UserInputError
from evolve.leaderboard import Entry, Leaderboard
from evolve.problem import Problem
from evolve.registry import ProblemSpec
from evolve.search import Search

logger = logging.getLogger(__name__)

# Flags that may change when a run is resumed; the rest must stay as they were.
RESUME_OVERRIDES = ("budget", "time_limit", "checkpoint_seconds", "num_evaluators")


def prepare_new_run(out_dir: Path) -> Path:
    """Create the run directory, refusing to overwrite a run that is already there."""
    out_dir = Path(out_dir)
    if rundir.has_run(out_dir):
        raise UserInputError(
            f"{str(out_dir)!r} already contains a run; pass --resume to continue it, "
            "or choose another --out."
        )
    (out_dir / rundir.PROGRAMS).mkdir(parents=True, exist_ok=True)
    return out_dir


def _restore(search: Search, state: Mapping[str, Any], out_dir: Path) -> None:
    """Restore a checkpoint into ``search``, raising UserInputError for a damaged one."""
    try:
        restore_search(search, state)
    except UserInputError:
        raise
    except Exception as error:  # any field of the file can be damaged, so any error can occur
        raise UserInputError(
            f"checkpoint in {str(out_dir)!r} is damaged or from another version of evolve "
            f"({type(error).__name__}: {error}); start a new run with another --out."
        ) from error


def run_search(
    spec: ProblemSpec,
    config: SearchConfig,
    out_dir: Path,
    address: str | None = None,
    resume_state: Mapping[str, Any] | None = None,
    on_generation: Callable[[Search], None] | None = None,
) -> Search:
    """Run (or resume) a search on Ray and write the run directory.

    Args:
        spec: the problem's name, settings and plugin search paths.
        config: search settings.
        out_dir: the run directory; it must exist.
        address: Ray cluster to join; None starts a local instance.
        resume_state: checkpoint data to continue from, or None for a new run.
        on_generation: progress callback.

    Returns:
        The finished search.
    """
    from cluster import RayEvaluatorPool, ray_session
    from cluster.placement import evaluator_actor_options

    problem = spec.create()
    rundir.write_json(out_dir / rundir.RUN_INFO, _run_info(spec, config))
    with ray_session(address):
        options = evaluator_actor_options(config.num_evaluators)
        pool = RayEvaluatorPool(spec, problem, config.num_evaluators, actor_options=options)
        try:
            search = Search(problem, config, pool, on_generation=on_generation)
            if resume_state is not None:
                _restore(search, resume_state, out_dir)
                logger.info("resumed %s at candidate %d", out_dir, search.counters.candidates)
            with _stop_on_interrupt(search):
                search.run(checkpoint=lambda s: save_run(out_dir, s, spec))
        finally:
            pool.close()
    return search


@contextlib.contextmanager
def _stop_on_interrupt(search: Search):
    """Turn the first Ctrl-C (SIGINT) or SIGTERM into a request to stop after the current generation.

    A KeyboardInterrupt raised inside a blocking Ray call can be lost there, so
    the flag is the reliable path. A second signal of the same kind gets the
    previous handler. SIGTERM, as sent by ``kill`` or a job scheduler, then
    also ends with a checkpoint and the resume hint instead of Ray's crash report.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def request_stop(signum, frame):
        search.request_stop()
        signal.signal(signum, previous[signum])

    for signum in previous:
        signal.signal(signum, request_stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def resume_config(state: Mapping[str, Any], overrides: Mapping[str, Any]) -> SearchConfig:
    """Return the checkpoint's search settings with the allowed flags applied."""
    values = dict(state["config"])
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in RESUME_OVERRIDES:
            raise UserInputError(
                f"{_flag(key)} cannot change when resuming; only "
                f"{', '.join(_flag(k) for k in RESUME_OVERRIDES)} can. Start a new run to change it."
            )
        values[key] = value
    return SearchConfig(**values)


def _flag(key: str) -> str:
    return "--no-cache" if key == "use_cache" else f"--{key.replace('_', '-')}"


def save_run(out_dir: Path, search: Search, spec: ProblemSpec) -> None:
    """Write the leaderboard, program files, stats, artifacts and checkpoint."""
    write_leaderboard(out_dir, search.problem, search.leaderboard)
    rundir.write_json(out_dir / rundir.STATS, search.stats())
    best = search.leaderboard.best()
    if best is not None:
        search.problem.write_artifacts(out_dir, best.program)
    rundir.write_checkpoint(out_dir, search_state(search, spec))
    logger.info("checkpoint written at candidate %d", search.counters.candidates)


def write_leaderboard(out_dir: Path, problem: Problem, leaderboard) -> None:
    """Write ``leaderboard.csv`` and the program files it points to."""
    programs_dir = out_dir / rundir.PROGRAMS
    programs_dir.mkdir(exist_ok=True)
    suffix = problem.program_suffix
    entries = leaderboard.ranked()
    for entry in entries:
        path = programs_dir / f"{entry.hash}{suffix}"
        if not path.exists():
            rundir.write_atomic(path, problem.program_text(entry.program))

    # Files of programs that dropped off the leaderboard go, so programs/ mirrors it.
    keep = {f"{e.hash}{suffix}" for e in entries}
    for path in programs_dir.iterdir():
        if path.name not in keep and not path.name.startswith("."):
            path.unlink(missing_ok=True)

    rows = leaderboard.rows(problem.columns, lambda e: problem.expression(e.program))
    for row, entry in zip(rows, entries):
        row["program_file"] = f"{rundir.PROGRAMS}/{row['hash']}{suffix}"
        row.update(problem.verified_values(out_dir, entry.program))
    rows.extend(_reference_rows(problem))
    columns = ["rank", "score", *problem.columns, "hash", "candidate", "expression", "program_file"]
    rundir.write_csv(out_dir / rundir.LEADERBOARD, rows, columns)


def _reference_rows(problem: Problem) -> list[dict]:
    """Return a ``ref`` row for each of the problem's references that has column values."""
    rows = []
    for reference in problem.references():
        if not reference.values:
            continue
        row = {"rank": "ref", "score": reference.score, "hash": "", "candidate": "", "program_file": ""}
        row.update({c: reference.values.get(c, math.nan) for c in problem.columns})
        row["expression"] = f"{reference.name}: {reference.source}"
        rows.append(row)
    return rows


def refresh_leaderboard(run_dir: Path, problem: Problem) -> None:
    """Rewrite ``leaderboard.csv`` and the problem's artifacts from the checkpoint.

    ``evolve verify`` calls it after storing verdicts, so the files show them.
    """
    state = rundir.read_checkpoint(run_dir)
    board = Leaderboard(max(len(state["leaderboard"]), 1))
    for digest, score, values, candidate, program in state["leaderboard"]:
        board.offer(Entry(digest, score, dict(values), candidate, problem.program_from_dict(program)))
    write_leaderboard(Path(run_dir), problem, board)
    best = board.best()
    if best is not None:
        problem.write_artifacts(Path(run_dir), best.program)


def _run_info(spec: ProblemSpec, config: SearchConfig) -> dict:
    return {
        "problem": spec.name,
        "settings": dict(spec.settings),
        "search_paths": list(spec.search_paths),
        "config": config.to_dict(),
    }


def spec_from_state(state: Mapping[str, Any]) -> ProblemSpec:
    return ProblemSpec(state["problem"], dict(state["settings"]), tuple(state["search_paths"]))


def problem_from_run(run_dir: Path) -> tuple[Problem, dict]:
    """Rebuild the problem of a run directory and return it with the checkpoint data."""
    state = rundir.read_checkpoint(run_dir)
    return spec_from_state(state).create(), state


def leaderboard_programs(problem: Problem, state: Mapping[str, Any]) -> Sequence[tuple[dict, Any]]:
    """Return ``(row, program)`` for each checkpointed leaderboard entry, best first."""
    out = []
    for rank, (digest, score, values, candidate, program) in enumerate(state["leaderboard"], start=1):
        row = {"rank": rank, "score": score, **values, "hash": digest, "candidate": candidate}
        out.append((row, problem.program_from_dict(program)))
    return out
