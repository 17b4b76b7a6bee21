"""Tests of the `evolve` command line.

Input errors run `main()` in this process. The end-to-end tests run the real
`evolve` script in subprocesses, each with its own local Ray instance. They
search the problem written by `evolve new-problem demo` and share one run
directory where they can.
"""

import csv
import io
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import msgpack
import numpy as np
import pytest

from evolve import registry, rundir, runner
from evolve.cli import main, parse_set_options
from evolve.errors import UserInputError

EVOLVE = Path(sys.executable).with_name("evolve")
RUN_TIMEOUT = 180


# ---------------------------------------------------------------- helpers and fixtures


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `evolve ARGS` in this process and return (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evolve(*args, cwd: Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """Run the installed `evolve` script in a subprocess."""
    if not EVOLVE.exists():
        pytest.skip(f"the evolve script is not installed next to {sys.executable}")
    return subprocess.run(
        [str(EVOLVE), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Return the bytes and modification time of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_stats(run_dir: Path) -> dict:
    return json.loads((run_dir / rundir.STATS).read_text())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder holding the plugin written by `evolve new-problem demo`."""
    folder = tmp_path_factory.mktemp("workspace")
    assert main(["new-problem", "demo", "--dir", str(folder)]) == 0
    return folder


@pytest.fixture
def in_workspace(workspace, monkeypatch) -> Path:
    """Run the test from the workspace, so that `demo` is found as a local plugin."""
    monkeypatch.chdir(workspace)
    return workspace


@pytest.fixture(scope="module")
def finished_run(workspace):
    """A finished `evolve run demo --budget 200` through a local Ray instance."""
    result = evolve("run", "demo", "--budget", 200, "--out", "run", cwd=workspace)
    if result.returncode != 0:
        pytest.fail(f"evolve run failed with exit code {result.returncode}:\n{result.stderr}")
    return result, workspace / "run"


@pytest.fixture
def run_dir(finished_run) -> Path:
    return finished_run[1]


# ---------------------------------------------------------------- --set parsing


def test_set_options_parse():
    assert parse_set_options(["points=128", "name=a=b", "points=5"]) == {"points": "5", "name": "a=b"}


@pytest.mark.parametrize("item", ["points", "=3", " =3"])
def test_set_option_malformed(item):
    with pytest.raises(UserInputError, match="KEY=VALUE"):
        parse_set_options([item])


# ---------------------------------------------------------------- evolve run: input errors


def test_unknown_problem_suggests_name(capsys):
    code, _, err = cli(capsys, "run", "symbolic-regresion")
    assert code == 2
    assert "'symbolic-regresion'" in err
    assert "Did you mean 'symbolic-regression'?" in err


def test_error_has_no_traceback(capsys):
    _, _, err = cli(capsys, "run", "symbolic-regresion")
    assert err.startswith("evolve: error: ")
    assert "Traceback" not in err


def test_malformed_set_exits_2(capsys, in_workspace):
    code, _, err = cli(capsys, "run", "demo", "--set", "points")
    assert code == 2
    assert "'points'" in err


def test_unknown_setting_exits_2(capsys, in_workspace, tmp_path):
    out = tmp_path / "never"
    code, _, err = cli(capsys, "run", "demo", "--set", "bogus=1", "--out", out)
    assert code == 2
    assert "'bogus'" in err
    assert not out.exists()


def test_invalid_setting_value(capsys, in_workspace):
    code, _, err = cli(capsys, "run", "demo", "--set", "points=-4")
    assert code == 2
    assert "'-4'" in err


def test_config_missing(capsys, in_workspace, tmp_path):
    path = tmp_path / "missing.toml"
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert str(path) in err


def test_config_invalid_toml(capsys, in_workspace, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[search\nbudget = ")
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert "not valid TOML" in err


def test_config_unknown_search_key(capsys, in_workspace, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[search]\nbudgett = 5\n")
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert "'budgett'" in err
    assert "Did you mean 'budget'?" in err


def test_config_unknown_problem_key(capsys, in_workspace, tmp_path):
    path = tmp_path / "problem.toml"
    path.write_text("[problem]\npointz = 5\n")
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert "'pointz'" in err


def test_config_invalid_search_value(capsys, in_workspace, tmp_path):
    path = tmp_path / "value.toml"
    path.write_text("[search]\npopulation_size = 1\n")
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert "population_size" in err


def test_plugin_with_syntax_error(capsys, tmp_path, monkeypatch):
    assert main(["new-problem", "broken", "--dir", str(tmp_path)]) == 0
    module = next((tmp_path / "broken").glob("*_problem.py"))
    module.write_text(module.read_text() + "\ndef oops(:\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    code, _, err = cli(capsys, "run", "broken", "--budget", 10)

    assert code == 2
    assert "raised SyntaxError at" in err
    assert "Fix the plugin's code" in err


def test_unreachable_address_fails_fast(capsys, in_workspace, tmp_path):
    with socket.socket() as listener:  # bind, then close, so the port is known to be free
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    out = tmp_path / "run"

    code, _, err = cli(capsys, "run", "demo", "--address", f"127.0.0.1:{port}", "--out", out)

    assert code == 2
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in err
    assert not out.exists()


def test_rejected_problem_writes_no_run_dir(capsys, tmp_path):
    out = tmp_path / "run"

    code, _, err = cli(capsys, "run", "symbolic-regression", "--set", "equation=NOPE", "--out", out)

    assert code == 2
    assert "unknown Feynman equation 'NOPE'" in err
    assert not out.exists()


def test_relative_data_path_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "my.csv").write_text("x,y\n" + "".join(f"{x},{3 * x + 1}\n" for x in range(1, 30)))
    monkeypatch.chdir(tmp_path)

    result = evolve("run", "symbolic-regression", "--set", "data=my.csv", "--set", "target=y",
                    "--budget", 60, "--out", "run", "-q", cwd=tmp_path)
    stored = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["data"]

    assert result.returncode == 0, result.stderr
    assert stored == str(tmp_path.resolve() / "my.csv")
    assert evolve("verify", tmp_path / "run", "--top", 1, cwd=tmp_path.parent).returncode == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[search]\nbudget = 1.5\n", "invalid budget 1.5: expected an integer"),
        ('[search]\nbudget = "abc"\n', "invalid budget 'abc': expected an integer"),
        ("[search]\nuse_cache = 1\n", "invalid use_cache 1: expected true or false"),
        ("search = 5\n", "Write a table instead, [search]"),
    ],
)
def test_config_wrong_types(capsys, in_workspace, tmp_path, text, expected):
    path = tmp_path / "types.toml"
    path.write_text(text)

    code, _, err = cli(capsys, "run", "demo", "--config", path)

    assert code == 2
    assert expected in err


@pytest.mark.parametrize("mutator", ["llm", "mixed"])
def test_llm_mutator_not_built(capsys, in_workspace, mutator):
    code, _, err = cli(capsys, "run", "demo", "--mutator", mutator)
    assert code == 2
    assert f"'{mutator}'" in err
    assert "--mutator random" in err


def test_llm_mutator_from_config(capsys, in_workspace, tmp_path):
    path = tmp_path / "llm.toml"
    path.write_text('[search]\nmutator = "llm"\n')
    code, _, err = cli(capsys, "run", "demo", "--config", path)
    assert code == 2
    assert "--mutator random" in err


@pytest.mark.parametrize("flag, value", [("--budget", "0"), ("--time-limit", "-1"), ("--seed", "x")])
def test_bad_numeric_flag(capsys, flag, value):
    code, _, err = cli(capsys, "run", "demo", flag, value)
    assert code == 2
    assert f"'{value}'" in err


def test_verbose_with_quiet(capsys):
    code, _, err = cli(capsys, "-v", "problems", "-q")
    assert code == 2
    assert "--quiet" in err


def test_no_command(capsys):
    code, _, _ = cli(capsys)
    assert code == 2


# ---------------------------------------------------------------- run directories that are not runs


@pytest.mark.parametrize("command", ["leaderboard", "verify", "export", "plot"])
def test_missing_run_dir(capsys, tmp_path, command):
    path = tmp_path / "nowhere"
    code, _, err = cli(capsys, command, path)
    assert code == 2
    assert str(path) in err


@pytest.mark.parametrize("command", ["leaderboard", "verify", "export", "plot"])
def test_folder_without_run(capsys, tmp_path, command):
    code, _, err = cli(capsys, command, tmp_path)
    assert code == 2
    assert "not a run directory" in err


def write_checkpoint_bytes(folder: Path, payload: bytes) -> Path:
    folder.mkdir()
    (folder / rundir.CHECKPOINT).write_bytes(payload)
    (folder / rundir.LEADERBOARD).write_text("rank,score,hash\n")
    return folder


# Garbage that msgpack rejects, and a map whose key is a list (TypeError in msgpack).
GARBAGE = [bytes(range(255, 128, -1)), b"\x81\x91\x01\x02"]


@pytest.mark.parametrize("payload", GARBAGE)
@pytest.mark.parametrize("command", ["verify", "export", "plot"])
def test_corrupt_checkpoint(capsys, tmp_path, command, payload):
    folder = write_checkpoint_bytes(tmp_path / "corrupt", payload)
    code, _, err = cli(capsys, command, folder)
    assert code == 2
    assert "corrupt" in err


@pytest.mark.parametrize("command", ["verify", "export", "plot"])
def test_foreign_checkpoint(capsys, tmp_path, command):
    folder = write_checkpoint_bytes(tmp_path / "foreign", msgpack.packb({"weights": [1.0, 2.0]}))
    code, _, err = cli(capsys, command, folder)
    assert code == 2
    assert "not an evolve checkpoint" in err


@pytest.mark.parametrize("command", ["verify", "export", "plot"])
def test_incomplete_checkpoint(capsys, tmp_path, command):
    payload = msgpack.packb({"format": rundir.CHECKPOINT_FORMAT, "version": rundir.CHECKPOINT_VERSION})
    folder = write_checkpoint_bytes(tmp_path / "incomplete", payload)
    code, _, err = cli(capsys, command, folder)
    assert code == 2
    assert "incomplete or malformed" in err


def test_resume_corrupt_checkpoint(capsys, tmp_path):
    folder = write_checkpoint_bytes(tmp_path / "corrupt", GARBAGE[0])
    code, _, err = cli(capsys, "run", "demo", "--out", folder, "--resume")
    assert code == 2
    assert "corrupt" in err


def test_resume_damaged_checkpoint(finished_run, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(finished_run[1], damaged)
    state = rundir.read_checkpoint(damaged)
    state["leaderboard"] = "garbage"
    rundir.write_checkpoint(damaged, state)

    result = evolve("run", "demo", "--out", damaged, "--resume", "--budget", 300, cwd=finished_run[1].parent)

    assert result.returncode == 2, result.stderr
    assert "is damaged or from another version of evolve" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_foreign_checkpoint(capsys, tmp_path):
    folder = write_checkpoint_bytes(tmp_path / "foreign", msgpack.packb([1, 2, 3]))
    code, _, err = cli(capsys, "run", "demo", "--out", folder, "--resume")
    assert code == 2
    assert "not an evolve checkpoint" in err


def test_leaderboard_not_csv(capsys, tmp_path):
    folder = write_checkpoint_bytes(tmp_path / "binary", b"")
    (folder / rundir.LEADERBOARD).write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = cli(capsys, "leaderboard", folder)
    assert code == 2
    assert rundir.LEADERBOARD in err


def test_resume_needs_out(capsys):
    code, _, err = cli(capsys, "run", "demo", "--resume")
    assert code == 2
    assert "--out" in err


# ---------------------------------------------------------------- evolve problems and new-problem


def test_problems_lists_plugins(capsys, in_workspace):
    code, out, _ = cli(capsys, "problems")
    assert code == 0
    assert "symbolic-regression" in out
    assert "demo" in out


def test_problems_shows_setting_help(capsys, in_workspace):
    _, out, _ = cli(capsys, "problems")
    assert "points" in out
    assert "grid points" in out


def test_problems_shows_broken_plugin(capsys, tmp_path, monkeypatch):
    plugin = tmp_path / "broken"
    plugin.mkdir()
    (plugin / "pyproject.toml").write_text(
        '[project]\nname = "broken"\n[project.entry-points."evolve.problems"]\n'
        'broken = "no_such_module_here:Nope"\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "problems")
    assert code == 0
    assert "cannot load" in out
    assert "symbolic-regression" in out


@pytest.mark.parametrize("name", ["Demo", "1demo", "de_mo", "demo!"])
def test_new_problem_invalid_name(capsys, tmp_path, name):
    code, _, err = cli(capsys, "new-problem", name, "--dir", tmp_path)
    assert code == 2
    assert f"'{name}'" in err


def test_new_problem_installed_name(capsys, tmp_path):
    code, _, err = cli(capsys, "new-problem", "symbolic-regression", "--dir", tmp_path)
    assert code == 2
    assert "already taken" in err
    assert not (tmp_path / "symbolic-regression").exists()


def test_new_problem_folder_exists(capsys, tmp_path):
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "new-problem", "fresh", "--dir", tmp_path)
    assert code == 2
    assert "already exists" in err
    assert (tmp_path / "fresh" / "keep.txt").read_text() == "mine"


def test_new_problem_files(workspace):
    plugin = workspace / "demo"
    assert (plugin / "pyproject.toml").is_file()
    assert (plugin / "demo_problem.py").is_file()
    assert (plugin / "tests" / "test_demo_problem.py").is_file()


def test_new_problem_pyproject(workspace):
    data = tomllib.loads((workspace / "demo" / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["evolve.problems"] == {"demo": "demo_problem:DemoProblem"}
    assert "evolve-fh" in data["project"]["dependencies"]
    assert data["tool"]["setuptools"]["py-modules"] == ["demo_problem"]


def test_new_problem_entry_point_resolves(workspace):
    problem_class = registry.load_problem_class("demo", [workspace])
    assert problem_class.name == "demo"
    assert problem_class().columns == ("mse", "ops")


def test_new_problem_hyphenated_name(capsys, tmp_path):
    code, _, _ = cli(capsys, "new-problem", "my-fit", "--dir", tmp_path)
    problem_class = registry.load_problem_class("my-fit", [tmp_path])
    assert code == 0
    assert problem_class.__name__ == "MyFitProblem"
    assert (tmp_path / "my-fit" / "my_fit_problem.py").is_file()


@pytest.mark.slow
def test_generated_tests_pass(workspace):
    plugin = workspace / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(plugin)],
        cwd=plugin, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- a real run through Ray


@pytest.mark.slow
def test_run_exit_code(finished_run):
    result, _ = finished_run
    assert result.returncode == 0


@pytest.mark.slow
def test_run_counts_budget(run_dir):
    assert read_stats(run_dir)["candidates"] == 200


@pytest.mark.slow
def test_run_prints_summary(finished_run):
    result, _ = finished_run
    assert "Top 5 of the leaderboard" in result.stdout
    assert "run directory: run" in result.stdout
    assert "hit rate" in result.stdout


@pytest.mark.slow
def test_run_files(run_dir):
    for name in (rundir.CHECKPOINT, rundir.LEADERBOARD, rundir.STATS, rundir.RUN_INFO):
        assert (run_dir / name).is_file(), name


@pytest.mark.slow
def test_existing_run_untouched(capsys, in_workspace, run_dir):
    before = snapshot(run_dir)
    code, _, err = cli(capsys, "run", "demo", "--out", run_dir, "--budget", 10)
    assert code == 2
    assert "--resume" in err
    assert snapshot(run_dir) == before


@pytest.mark.slow
def test_resume_other_problem(capsys, run_dir):
    code, _, err = cli(capsys, "run", "symbolic-regression", "--out", run_dir, "--resume")
    assert code == 2
    assert "'demo'" in err


@pytest.mark.slow
def test_resume_with_set(capsys, run_dir):
    code, _, err = cli(capsys, "run", "demo", "--out", run_dir, "--resume", "--set", "points=5")
    assert code == 2
    assert "--set" in err


@pytest.mark.slow
def test_resume_budget_spent(capsys, run_dir):
    code, _, err = cli(capsys, "run", "demo", "--out", run_dir, "--resume", "--budget", 150)
    assert code == 2
    assert "200" in err


@pytest.mark.slow
def test_resume_seed_change(capsys, run_dir):
    code, _, err = cli(capsys, "run", "demo", "--out", run_dir, "--resume", "--seed", 7, "--budget", 300)
    assert code == 2
    assert "--seed" in err


# ---------------------------------------------------------------- leaderboard, verify, export, plot


@pytest.mark.slow
def test_leaderboard_table(capsys, run_dir):
    code, out, _ = cli(capsys, "leaderboard", run_dir, "--top", 3)
    lines = out.strip().splitlines()
    assert code == 0
    assert lines[0].split()[:4] == ["rank", "score", "mse", "ops"]
    assert len(lines) == 4


@pytest.mark.slow
def test_leaderboard_csv(capsys, run_dir):
    code, out, _ = cli(capsys, "leaderboard", run_dir, "--top", 2, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [row["rank"] for row in rows] == ["1", "2"]


@pytest.mark.slow
def test_leaderboard_json(capsys, run_dir):
    code, out, _ = cli(capsys, "leaderboard", run_dir, "--format", "json")
    rows = json.loads(out)
    assert code == 0
    assert rows[0]["rank"] == 1
    assert isinstance(rows[0]["score"], float)
    assert len(rows) == 10


@pytest.mark.slow
def test_verify_passes(capsys, run_dir):
    code, out, _ = cli(capsys, "verify", run_dir)
    assert code == 0
    assert "5 of 5 programs passed" in out


@pytest.mark.slow
def test_verify_top_one(capsys, run_dir):
    code, out, _ = cli(capsys, "verify", run_dir, "--top", 1)
    assert code == 0
    assert "1 of 1 programs passed" in out


def best_program(run_dir: Path):
    problem, state = runner.problem_from_run(run_dir)
    return runner.leaderboard_programs(problem, state)[0][1]


@pytest.mark.slow
def test_export_python(capsys, run_dir):
    code, out, _ = cli(capsys, "export", run_dir)
    namespace = {}
    exec(out, namespace)
    expected = best_program(run_dir).evaluate(np.array([[1.5]]))[0]
    assert code == 0
    assert namespace["evolved"](1.5) == pytest.approx(expected)


@pytest.mark.slow
def test_export_json(capsys, run_dir):
    code, out, _ = cli(capsys, "export", run_dir, "--format", "json", "--rank", 2)
    assert code == 0
    assert json.loads(out)["kind"] == "ops"


@pytest.mark.slow
def test_export_to_file(capsys, run_dir, tmp_path):
    _, expected, _ = cli(capsys, "export", run_dir)
    target = tmp_path / "best.py"
    code, _, _ = cli(capsys, "export", run_dir, "-o", target)
    assert code == 0
    assert target.read_text() == expected


@pytest.mark.slow
def test_export_rank_out_of_range(capsys, run_dir):
    code, _, err = cli(capsys, "export", run_dir, "--rank", 999)
    assert code == 2
    assert "rank 999" in err
    assert "--rank between 1 and" in err


@pytest.mark.slow
def test_export_unsupported_format(capsys, run_dir):
    code, _, err = cli(capsys, "export", run_dir, "--format", "latex")
    assert code == 2
    assert "'latex'" in err


@pytest.mark.slow
def test_export_missing_folder(capsys, run_dir, tmp_path):
    target = tmp_path / "no" / "best.py"
    code, _, err = cli(capsys, "export", run_dir, "-o", target)
    assert code == 2
    assert str(target.parent) in err


@pytest.mark.slow
def test_plot_writes_png(capsys, run_dir):
    code, out, _ = cli(capsys, "plot", run_dir)
    assert code == 0
    for name in ("best_score.png", "pareto.png"):
        assert name in out
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG"), name


# ---------------------------------------------------------------- resume


@pytest.mark.slow
def test_resume_larger_budget(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    old_history = rundir.read_checkpoint(copy)["history"]

    result = evolve("run", "demo", "--out", copy, "--resume", "--budget", 300, cwd=run_dir.parent)
    new_history = rundir.read_checkpoint(copy)["history"]

    assert result.returncode == 0, result.stderr
    assert read_stats(copy)["candidates"] == 300
    assert "at candidate 200" in result.stderr
    assert new_history[: len(old_history)] == old_history


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if process.poll() is not None:
            pytest.fail(f"evolve exited with {process.returncode} before {text!r}:\n{path.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{text!r} not logged within {timeout} s:\n{path.read_text()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def interrupted_run(workspace):
    """An `evolve run` stopped with SIGINT a second into its search loop."""
    if not EVOLVE.exists():
        pytest.skip(f"the evolve script is not installed next to {sys.executable}")
    config = workspace / "interrupted.toml"
    config.write_text("[search]\npopulation_size = 50\n\n[problem]\npoints = 48\n")
    log = workspace / "interrupted.log"
    command = [
        str(EVOLVE), "run", "demo", "--time-limit", "120", "--out", "interrupted",
        "--config", config.name, "--set", "points=40", "--no-cache",
    ]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.PIPE, stderr=stderr, text=True)
        wait_for_text(log, "seeded the population", process, RUN_TIMEOUT)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=RUN_TIMEOUT)
    return process.returncode, stdout, log.read_text(), workspace / "interrupted"


@pytest.mark.slow
def test_sigterm_stops_with_checkpoint(workspace):
    if not EVOLVE.exists():
        pytest.skip(f"the evolve script is not installed next to {sys.executable}")
    log = workspace / "terminated.log"
    command = [str(EVOLVE), "run", "demo", "--time-limit", "120", "--out", "terminated", "--no-cache"]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.PIPE, stderr=stderr, text=True)
        wait_for_text(log, "seeded the population", process, RUN_TIMEOUT)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=RUN_TIMEOUT)
    text = log.read_text()

    assert process.returncode == 130, text
    assert "evolve run demo --out terminated --resume" in text
    assert (workspace / "terminated" / rundir.CHECKPOINT).exists()


@pytest.mark.slow
def test_sigint_exit_code(interrupted_run):
    code, _, stderr, _ = interrupted_run
    assert code == 130, stderr


@pytest.mark.slow
def test_sigint_prints_resume_hint(interrupted_run):
    _, _, stderr, _ = interrupted_run
    assert "evolve run demo --out interrupted --resume" in stderr


@pytest.mark.slow
def test_run_options_recorded(interrupted_run):
    _, _, _, folder = interrupted_run
    info = json.loads((folder / rundir.RUN_INFO).read_text())
    assert info["settings"] == {"points": "40"}
    assert info["config"]["population_size"] == 50
    assert info["config"]["budget"] is None
    assert info["config"]["time_limit"] == 120
    assert info["config"]["use_cache"] is False


@pytest.mark.slow
def test_no_cache_has_no_hits(interrupted_run):
    _, _, _, folder = interrupted_run
    stats = read_stats(folder)
    assert stats["cache_hits"] == 0
    assert stats["evaluations"] == stats["candidates"]


@pytest.mark.slow
def test_sigint_files_valid(interrupted_run):
    _, _, _, folder = interrupted_run
    state = rundir.read_checkpoint(folder)
    _, rows = rundir.read_csv(folder / rundir.LEADERBOARD)
    stats = read_stats(folder)
    assert state["counters"]["candidates"] == stats["candidates"]
    assert stats["interrupted"] is True
    assert rows
    assert math.isfinite(float(rows[0]["score"]))


@pytest.mark.slow
def test_sigint_then_resume(interrupted_run):
    _, _, _, folder = interrupted_run
    done = read_stats(folder)["candidates"]

    result = evolve("run", "demo", "--out", folder.name, "--resume", "--budget", done + 100, cwd=folder.parent)
    stats = read_stats(folder)

    assert result.returncode == 0, result.stderr
    assert stats["candidates"] == done + 100
    assert stats["interrupted"] is False
    assert f"at candidate {done}" in result.stderr
