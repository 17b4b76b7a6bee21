"""The ``evolve`` command line: run searches, then inspect, verify, export and plot them.

Every command reports bad input as ``evolve: error: <message>`` on stderr and
exits with code 2. An interrupted run writes its checkpoint and exits with code
130. This module is the only place that configures logging.
"""

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evolve import plots, registry, rundir, runner, scaffold
from evolve.config import MUTATORS, SearchConfig, build_config, load_config_file
from evolve.errors import UserInputError
from evolve.problem import Problem, Verification, parse_settings
from evolve.progress import progress_display
from evolve.registry import ProblemSpec
from evolve.tables import format_number, print_table

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# These loggers log at INFO, or DEBUG with -v. All others, such as Ray's, log at WARNING.
PROJECT_LOGGERS = ("evolve", "problems", "cluster", "hashing")
SUMMARY_ROWS = 5
# Errors from user-given paths (a missing -o folder, an unreadable file).
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``evolve`` command line and return its exit code.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv``.

    Returns:
        0 on success, 1 when ``verify`` finds a failing program, 2 for bad
        input, 130 when Ctrl-C stopped a run.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits on --help (code 0) and on invalid arguments (code 2).
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_OK
    if args.verbose and args.quiet:
        return _fail("-v/--verbose and -q/--quiet cannot be used together; pass one of them.")

    console = _interactive_console()
    _configure_logging(args.verbose, args.quiet, console)
    try:
        return args.handler(args, console)
    except UserInputError as error:
        return _fail(str(error))
    except PATH_ERRORS as error:
        return _fail(f"{error.strerror or error}: {error.filename!r}." if error.filename else str(error))
    except KeyboardInterrupt:
        print("evolve: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(message: str) -> int:
    print(f"evolve: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


# ---------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``evolve`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="evolve",
        description="Evolutionary program search with functional hashing.",
    )
    _add_verbosity(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(subparsers)
    _add_leaderboard_parser(subparsers)
    _add_problems_parser(subparsers)
    _add_new_problem_parser(subparsers)
    _add_verify_parser(subparsers)
    _add_export_parser(subparsers)
    _add_plot_parser(subparsers)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    # Subcommands get SUPPRESS defaults, so `evolve -v run ...` is not reset by
    # the subcommand parser; both `evolve -v run` and `evolve run -v` work.
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="log only warnings and errors")


def _subparser(subparsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    _add_verbosity(parser, default=argparse.SUPPRESS)
    return parser


def _add_run_parser(subparsers) -> None:
    parser = _subparser(subparsers, "run", "Run (or resume) a search on a problem.")
    parser.add_argument("problem", metavar="PROBLEM", help="problem name, as listed by `evolve problems`")

    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="set a problem setting; repeat for several; overrides [problem] of --config",
    )
    parser.add_argument(
        "--config", metavar="FILE.toml",
        help="TOML file with a [search] table (search settings) and a [problem] table (problem settings)",
    )
    parser.add_argument("--out", metavar="DIR", help="run directory (default: runs/<problem>-<UTC timestamp>)")

    parser.add_argument(
        "--budget", type=_positive_int, metavar="N",
        help="candidates to propose, cache hits included (default 2000, none if only --time-limit is given)",
    )
    parser.add_argument(
        "--time-limit", type=_positive_float, metavar="SECONDS",
        help="stop after this many seconds of searching; with --resume, counted from the resume "
        "and, without --budget, the run's old budget no longer applies",
    )
    parser.add_argument("--seed", type=_non_negative_int, metavar="N", help="random seed (default 0)")
    parser.add_argument("--mutator", choices=MUTATORS, help="how children are proposed (default random)")
    parser.add_argument(
        "--no-cache", action="store_true",
        help="turn the functional equivalence cache off, e.g. for ablations",
    )

    parser.add_argument(
        "--address", metavar="ADDR",
        help="Ray cluster to join (host:port or auto); without it a local Ray instance runs for the search",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out from its checkpoint; only --budget and --time-limit may change",
    )
    parser.set_defaults(handler=_cmd_run)


def _add_leaderboard_parser(subparsers) -> None:
    parser = _subparser(subparsers, "leaderboard", "Print the leaderboard of a run.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run")
    parser.add_argument("--top", type=_positive_int, default=10, metavar="K", help="rows to print (default 10)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    parser.set_defaults(handler=_cmd_leaderboard)


def _add_problems_parser(subparsers) -> None:
    parser = _subparser(subparsers, "problems", "List installed problems and local plugin folders.")
    parser.set_defaults(handler=_cmd_problems)


def _add_new_problem_parser(subparsers) -> None:
    parser = _subparser(subparsers, "new-problem", "Write a working problem plugin to start from.")
    parser.add_argument("name", metavar="NAME", help="problem name: lowercase letters, digits and '-'")
    parser.add_argument("--dir", default=".", metavar="DIR", help="folder that receives the plugin folder (default .)")
    parser.set_defaults(handler=_cmd_new_problem)


def _add_verify_parser(subparsers) -> None:
    parser = _subparser(
        subparsers, "verify", "Re-check the best programs of a run, or a best_construction.json file, with the problem's verifier."
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run, or a best_construction.json file")
    parser.add_argument("--top", type=_positive_int, default=5, metavar="K", help="programs to check (default 5)")
    parser.set_defaults(handler=_cmd_verify)


def _add_export_parser(subparsers) -> None:
    parser = _subparser(subparsers, "export", "Write a leaderboard program in a standalone form.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run")
    parser.add_argument("--rank", type=_positive_int, default=1, metavar="K", help="leaderboard rank (default 1, the best)")
    parser.add_argument(
        "--format", choices=("python", "sympy", "latex", "json"), default="python",
        help="output format; json works for every problem, the others where the problem supports them",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(handler=_cmd_export)


def _add_plot_parser(subparsers) -> None:
    parser = _subparser(subparsers, "plot", "Write best_score.png (and pareto.png) into a run directory.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run")
    parser.set_defaults(handler=_cmd_plot)


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer of at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer of at least 0")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a positive number")
    return value


def parse_set_options(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--set KEY=VALUE`` options into a dict; a later key wins.

    Raises:
        UserInputError: if an item has no '=' or an empty key.
    """
    settings = {}
    for item in items:
        key, separator, value = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise UserInputError(f"invalid --set {item!r}: expected KEY=VALUE, e.g. --set points=128.")
        settings[key] = value
    return settings


# ---------------------------------------------------------------- logging and progress


def _interactive_console():
    """Return a rich console on stderr when both output streams are terminals, else None."""
    if not (sys.stdout.isatty() and sys.stderr.isatty()):
        return None
    from rich.console import Console

    return Console(stderr=True)


def _configure_logging(verbose: bool, quiet: bool, console) -> None:
    level = logging.INFO
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.WARNING
    if console is not None:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    # basicConfig leaves the root logger alone if it already has handlers (an
    # embedding program, pytest), so only the project's levels change then.
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)


# ---------------------------------------------------------------- evolve run


def _cmd_run(args: argparse.Namespace, console) -> int:
    settings = parse_set_options(args.settings)
    if args.resume:
        out_dir, spec, config, state = _prepare_resume(args, settings)
    else:
        out_dir, spec, config = _prepare_new_run(args, settings)
        state = None

    logger.info("run directory: %s", out_dir)
    try:
        with progress_display(config, console, args.quiet) as on_generation:
            search = runner.run_search(spec, config, out_dir, args.address, state, on_generation)
    except KeyboardInterrupt:
        # Ctrl-C before or after the search loop, which handles it itself.
        _print_interrupted(spec.name, out_dir)
        return EXIT_INTERRUPTED

    _print_run_summary(search.stats(), out_dir)
    if search.interrupted:
        _print_interrupted(spec.name, out_dir)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _prepare_new_run(args: argparse.Namespace, settings: Mapping[str, str]) -> tuple[Path, ProblemSpec, SearchConfig]:
    search_values, problem_values = load_config_file(args.config) if args.config else ({}, {})
    problem_values.update(settings)
    search_paths = (str(Path.cwd()),)

    # Check the problem and its settings before anything is written: parse them,
    # then build the problem once, which loads its data.
    problem_class = registry.load_problem_class(args.problem, search_paths)
    parse_settings(args.problem, problem_class.settings_spec, problem_values)
    for key, setting in problem_class.settings_spec.items():
        if setting.path and problem_values.get(key) not in (None, ""):
            problem_values[key] = str(Path(str(problem_values[key])).expanduser().resolve())
    problem_class(problem_values)

    if args.time_limit is not None and args.budget is None and "budget" not in search_values:
        search_values["budget"] = None
    config = build_config(search_values, _search_flags(args))
    _check_mutator(config.mutator)
    if args.address:
        from cluster.session import check_reachable  # imported late: it is needed only with --address

        check_reachable(args.address)

    out_dir = Path(args.out) if args.out else _unused_default_run_dir(args.problem)
    runner.prepare_new_run(out_dir)
    return out_dir, ProblemSpec(args.problem, problem_values, search_paths), config


def _search_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "budget": args.budget,
        "time_limit": args.time_limit,
        "seed": args.seed,
        "mutator": args.mutator,
        "use_cache": False if args.no_cache else None,
    }


def _check_mutator(mutator: str) -> None:
    if mutator != "random":
        raise UserInputError(
            f"mutator {mutator!r} is not available yet: the LLM mutator is not built. "
            "Use --mutator random."
        )


def _unused_default_run_dir(problem: str) -> Path:
    # Two runs started in the same second would share runs/<problem>-<timestamp>.
    base = rundir.default_run_dir(problem)
    path, number = base, 1
    while path.exists():
        number += 1
        path = base.with_name(f"{base.name}-{number}")
    return path


def _prepare_resume(args: argparse.Namespace, settings: Mapping[str, str]) -> tuple[Path, ProblemSpec, SearchConfig, dict]:
    if args.out is None:
        raise UserInputError("--resume needs --out DIR, the run directory to continue.")
    if settings or args.config:
        raise UserInputError(
            "--set and --config cannot be used with --resume: a resumed run keeps the settings it "
            "started with. Pass only --budget or --time-limit, or start a new run."
        )
    out_dir = Path(args.out)
    state = rundir.read_checkpoint(out_dir)
    try:
        return out_dir, *_resume_plan(args, out_dir, state), state
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, UserInputError):
            raise
        raise UserInputError(
            f"checkpoint in {str(out_dir)!r} is incomplete or malformed ({error!r}); "
            "start a new run with another --out."
        ) from error


def _resume_plan(args: argparse.Namespace, out_dir: Path, state: dict) -> tuple[ProblemSpec, SearchConfig]:
    stored_problem = state["problem"]
    if stored_problem != args.problem:
        raise UserInputError(
            f"{str(out_dir)!r} contains a run of problem {stored_problem!r}, not {args.problem!r}; "
            f"resume it with `evolve run {stored_problem} --out {out_dir} --resume`."
        )

    stored_config = dict(state["config"])
    if args.time_limit is not None and args.budget is None:
        # A time limit alone means "continue for this long", whatever the old budget.
        stored_config["budget"] = None
    flags = _search_flags(args)
    overrides = {key: value for key, value in flags.items() if value is not None and value != stored_config.get(key)}
    if "use_cache" in overrides:
        raise UserInputError(
            "--no-cache cannot change when resuming: the run started with the cache on. "
            "Start a new run for an ablation without the cache."
        )
    config = runner.resume_config({**state, "config": stored_config}, overrides)

    done = int(state["counters"]["candidates"])
    if config.budget is not None and config.budget <= done:
        raise UserInputError(
            f"the run in {str(out_dir)!r} has already proposed {done} candidates and its budget is "
            f"{config.budget}; pass --budget above {done}, or a --time-limit, to continue it."
        )
    return runner.spec_from_state(state), config


def _print_run_summary(stats: Mapping[str, Any], out_dir: Path) -> None:
    leaderboard = out_dir / rundir.LEADERBOARD
    if leaderboard.is_file():
        header, rows = rundir.read_csv(leaderboard)
        _print_leaderboard_table(header, rows[:SUMMARY_ROWS], title=f"Top {SUMMARY_ROWS} of the leaderboard")
    print(f"run directory: {out_dir}")
    print(
        f"candidates: {stats['candidates']}, evaluations: {stats['evaluations']}, "
        f"cache hits: {stats['cache_hits']} (hit rate {stats['hit_rate']:.1%}), "
        f"best score: {format_number(stats['best_score'])}"
    )


def _print_interrupted(problem: str, out_dir: Path) -> None:
    checkpoint = out_dir / rundir.CHECKPOINT
    if checkpoint.is_file():
        print(f"interrupted; checkpoint written to {checkpoint}", file=sys.stderr)
        print(f"resume with: evolve run {problem} --out {out_dir} --resume", file=sys.stderr)
    else:
        print("interrupted before the search wrote a checkpoint; nothing to resume.", file=sys.stderr)


# ---------------------------------------------------------------- evolve leaderboard


def _cmd_leaderboard(args: argparse.Namespace, console) -> int:
    header, rows = _read_leaderboard(Path(args.run_dir))
    rows = rows[: args.top]
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    elif args.format == "json":
        print(json.dumps([_typed_row(row, header) for row in rows], indent=2))
    else:
        _print_leaderboard_table(header, rows)
    return EXIT_OK


def _read_leaderboard(run_dir: Path) -> tuple[list[str], list[dict]]:
    rundir.require_run_dir(run_dir)
    path = run_dir / rundir.LEADERBOARD
    if not path.is_file():
        raise UserInputError(f"{str(run_dir)!r} has no {rundir.LEADERBOARD}; the run wrote no leaderboard yet.")
    try:
        header, rows = rundir.read_csv(path)
    except (csv.Error, UnicodeDecodeError) as error:
        raise UserInputError(f"{str(path)!r} is not a valid CSV file: {error}.") from error
    if "rank" not in header or "score" not in header:
        raise UserInputError(f"{str(path)!r} is not an evolve leaderboard: it has no rank and score columns.")
    return header, rows


def _objective_columns(header: Sequence[str]) -> list[str]:
    """Return the problem's objective columns: those between ``score`` and ``hash``."""
    if "score" not in header or "hash" not in header:
        return []
    return list(header[header.index("score") + 1 : header.index("hash")])


def _typed_row(row: Mapping[str, str], header: Sequence[str]) -> dict[str, Any]:
    numeric = {"score", *_objective_columns(header)}
    typed: dict[str, Any] = {}
    for key in header:
        value = row.get(key, "")
        if key in ("rank", "candidate"):
            typed[key] = _to_int(value)
        elif key in numeric:
            typed[key] = _to_json_float(value)
        else:
            typed[key] = value
    return typed


def _to_int(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _to_json_float(text: str) -> float | str:
    # JSON has no inf or nan; those stay strings that Python's float() reads back.
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _print_leaderboard_table(header: Sequence[str], rows: Sequence[Mapping[str, str]], title: str | None = None) -> None:
    columns = ["rank", "score", *_objective_columns(header), "candidate", "expression"]
    columns = [c for c in columns if c in header]
    numeric = {"score", *_objective_columns(header)}
    cells = [[format_number(row[c]) if c in numeric else row[c] for c in columns] for row in rows]
    print_table(columns, cells, title)
    if not rows:
        print("(the leaderboard is empty)")


# ---------------------------------------------------------------- evolve problems and new-problem


def _cmd_problems(args: argparse.Namespace, console) -> int:
    search_paths = (str(Path.cwd()),)
    sources = registry.discover(search_paths)
    if not sources:
        print("no problems found; install a plugin or write one with `evolve new-problem NAME`.")
        return EXIT_OK

    rows, settings = [], {}
    for name in sorted(sources):
        where = sources[name].folder or "installed"
        try:
            problem_class = registry.load_problem_class(name, search_paths)
        except Exception as error:  # a broken plugin must not hide the others
            logger.debug("cannot load problem %s", name, exc_info=True)
            rows.append([name, f"cannot load: {type(error).__name__}: {error}", where])
            continue
        rows.append([name, getattr(problem_class, "description", ""), where])
        settings[name] = problem_class.settings_spec
    print_table(["name", "description", "source"], rows, "Problems")

    for name, spec in settings.items():
        if spec:
            print(f"\nsettings of {name} (--set KEY=VALUE):")
            width = max(len(key) for key in spec)
            for key, setting in spec.items():
                print(f"  {key.ljust(width)}  {setting.help} (default: {setting.default!r})")
    return EXIT_OK


def _cmd_new_problem(args: argparse.Namespace, console) -> int:
    folder = scaffold.write_skeleton(args.name, Path(args.dir))
    module = scaffold.module_name(args.name)
    print(f"wrote the problem plugin {folder}")
    print(f"  edit {folder / (module + '.py')} (lines marked CHANGE)")
    print(f"  test it:    pytest {folder}")
    print(f"  run it:     cd {args.dir} && evolve run {args.name} --budget 2000")
    print(f"  install it: pip install -e {folder}")
    return EXIT_OK


# ---------------------------------------------------------------- evolve verify and export


def _load_run(run_dir: Path) -> tuple[Problem, list[tuple[dict, Any]]]:
    """Rebuild a run's problem and return it with its ``(row, program)`` leaderboard, best first."""
    try:
        problem, state = runner.problem_from_run(run_dir)
        return problem, list(runner.leaderboard_programs(problem, state))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, UserInputError):
            raise
        raise UserInputError(
            f"checkpoint in {str(run_dir)!r} is incomplete or malformed ({error!r}); "
            "it may come from another version of evolve."
        ) from error


def _cmd_verify(args: argparse.Namespace, console) -> int:
    run_dir = Path(args.run_dir)
    if run_dir.is_file():
        return _verify_file(run_dir)
    problem, entries = _load_run(run_dir)
    if not entries:
        raise UserInputError(f"the leaderboard of {str(run_dir)!r} is empty; there is nothing to verify.")

    rows, failed = [], 0
    for row, program in entries[: args.top]:
        verification = _verify(problem, row["rank"], program)
        problem.record_verification(run_dir, program, verification)
        failed += not verification.ok
        rows.append([
            str(row["rank"]),
            format_number(row["score"]),
            format_number(verification.score),
            "yes" if verification.ok else "NO",
            verification.message,
        ])
    # Stored verdicts (e.g. a verified column) show in the leaderboard from now on.
    runner.refresh_leaderboard(run_dir, problem)
    print_table(["rank", "stored score", "verified score", "ok", "message"], rows, "Verification")
    checked = len(rows)
    print(f"{checked - failed} of {checked} programs passed verification.")
    return EXIT_OK if failed == 0 else EXIT_FAILED


def _verify_file(path: Path) -> int:
    """Verify a file a run wrote for anyone to check, such as ``best_construction.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        name, settings = str(data["problem"]), dict(data.get("settings") or {})
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserInputError(
            f"{str(path)!r} is neither a run directory nor a JSON file with a 'problem' field ({error}). "
            "Pass a run's --out folder or its best_construction.json."
        ) from error
    problem = registry.create_problem(name, settings, search_paths=[Path.cwd()])
    if not hasattr(problem, "verify_file"):
        raise UserInputError(f"problem {name!r} cannot verify a single file. Pass the run directory instead.")
    verification = problem.verify_file(path)
    print_table(["file", "ok", "message"], [[str(path), "yes" if verification.ok else "NO", verification.message]], "Verification")
    return EXIT_OK if verification.ok else EXIT_FAILED


def _verify(problem: Problem, rank: int, program) -> Verification:
    try:
        return problem.verify(program)
    except Exception as error:  # a verifier's bug fails that program, not the command
        logger.warning("verifier of %s raised on rank %d: %s", problem.name, rank, error, exc_info=True)
        return Verification(False, -math.inf, f"verifier raised {type(error).__name__}: {error}")


def _cmd_export(args: argparse.Namespace, console) -> int:
    run_dir = Path(args.run_dir)
    problem, entries = _load_run(run_dir)
    if not entries:
        raise UserInputError(f"the leaderboard of {str(run_dir)!r} is empty; there is nothing to export.")
    if args.rank > len(entries):
        raise UserInputError(
            f"rank {args.rank} is out of range: the leaderboard of {str(run_dir)!r} has "
            f"{len(entries)} programs; pass --rank between 1 and {len(entries)}."
        )
    _, program = entries[args.rank - 1]
    text = _export_text(problem, program, args.format)

    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    output = Path(args.output)
    if not output.parent.is_dir():
        raise UserInputError(f"folder {str(output.parent)!r} of -o {str(output)!r} not found; create it first.")
    rundir.write_atomic(output, text)
    print(f"wrote rank {args.rank} as {args.format} to {output}")
    return EXIT_OK


def _export_text(problem: Problem, program, fmt: str) -> str:
    # JSON, the problem's own serialization, works for every problem.
    if fmt == "json" and "json" not in problem.export_formats:
        return json.dumps(problem.program_to_dict(program), indent=2) + "\n"
    if problem.export_formats and fmt not in problem.export_formats:
        formats = ", ".join(dict.fromkeys([*problem.export_formats, "json"]))
        raise UserInputError(
            f"problem {problem.name!r} cannot export programs as {fmt!r}; use --format with one of: {formats}."
        )
    text = problem.export(program, fmt)
    return text if text.endswith("\n") else text + "\n"


# ---------------------------------------------------------------- evolve plot


def _cmd_plot(args: argparse.Namespace, console) -> int:
    run_dir = Path(args.run_dir)
    state = rundir.read_checkpoint(run_dir)
    try:
        history = [(int(candidate), float(score)) for candidate, score in state["history"]]
        last_candidate = int(state["counters"]["candidates"])
        problem = str(state["problem"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserInputError(f"checkpoint in {str(run_dir)!r} is incomplete or malformed ({error!r}).") from error
    if not history:
        raise UserInputError(f"the run in {str(run_dir)!r} has no scored candidates yet; there is nothing to plot.")

    written = [plots.plot_best_score(run_dir / "best_score.png", history, last_candidate, problem)]
    header, rows = _read_leaderboard(run_dir)
    columns = _objective_columns(header)
    if len(columns) >= 2:
        written.append(plots.plot_objectives(run_dir / "pareto.png", rows, columns[0], columns[1], problem))
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK
