"""Tests of the sandbox's fork server: every test of test_sandbox.py again, run through it.

The tests imported from ``test_sandbox`` call ``run_in_sandbox`` through that
module's globals, so an autouse fixture swaps it for a version that forks from a
server with numpy preloaded. Server-specific tests follow.
"""

import functools
import os
import signal
import time

import pytest

import test_sandbox
from evolve import sandbox_server
from evolve.sandbox import SandboxLimits, run_in_sandbox
from test_sandbox import *  # noqa: F401,F403  (collects the same tests again)

pytestmark = pytest.mark.timeout(60)

PRELOAD = ("numpy",)


@pytest.fixture(autouse=True)
def through_fork_server(monkeypatch):
    monkeypatch.setattr(test_sandbox, "run_in_sandbox", functools.partial(run_in_sandbox, preload=PRELOAD))


def server_pid() -> int:
    server = sandbox_server.fork_server(PRELOAD)
    assert server._process is not None
    return server._process.pid


def test_preloaded_module_is_imported_before_the_program():
    source = "import sys\ndef main():\n    return 'numpy' in sys.modules\n"
    result = run_in_sandbox(source, "main", {}, SandboxLimits(timeout_s=10.0), preload=PRELOAD)
    assert result.ok, result.reason
    assert result.value is True


def test_server_restarts_after_it_is_killed():
    run_in_sandbox("def main():\n    return 1\n", "main", {}, preload=PRELOAD)
    first = server_pid()
    os.kill(first, signal.SIGKILL)
    time.sleep(0.1)

    result = run_in_sandbox("def main():\n    return 2\n", "main", {}, preload=PRELOAD)

    assert result.ok, result.reason
    assert result.value == 2
    assert server_pid() != first


def test_program_killing_the_server_fails_only_its_run():
    # The worker's grandparent is the server: runner's parent.
    source = (
        "import os, signal\n"
        "def main():\n"
        "    server = int(open(f'/proc/{os.getppid()}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "    os.kill(server, signal.SIGKILL)\n"
        "    return server\n"
    )
    run_in_sandbox("def main():\n    return 0\n", "main", {}, preload=PRELOAD)
    killed = run_in_sandbox(source, "main", {}, SandboxLimits(timeout_s=5.0), preload=PRELOAD)
    after = run_in_sandbox("def main():\n    return 3\n", "main", {}, preload=PRELOAD)

    assert killed.value is None or killed.value > 0
    assert after.ok, after.reason
    assert after.value == 3


def test_monkeypatched_numpy_does_not_leak_into_next_run():
    patch = "import numpy as np\ndef main():\n    np.sum = lambda *a, **k: 42\n    return int(np.sum([1, 2]))\n"
    check = "import numpy as np\ndef main():\n    return int(np.sum([1, 2]))\n"
    patched = run_in_sandbox(patch, "main", {}, preload=PRELOAD)
    clean = run_in_sandbox(check, "main", {}, preload=PRELOAD)
    assert patched.value == 42
    assert clean.value == 3


def test_failed_preload_is_reported_not_raised(caplog):
    result = run_in_sandbox(
        "def main():\n    return 'ran'\n", "main", {}, preload=("no_such_module_for_fork_server_tests",)
    )
    assert result.ok, result.reason
    assert result.value == "ran"
    server = sandbox_server.fork_server(("no_such_module_for_fork_server_tests",))
    assert server.import_failures
    assert server.import_failures[0].startswith("no_such_module_for_fork_server_tests: ModuleNotFoundError")


@pytest.mark.parametrize("preload", ["numpy", ("numpy", "not a module")])
def test_invalid_preload_raises(preload):
    with pytest.raises((TypeError, ValueError), match="preload"):
        run_in_sandbox("def main():\n    return 1\n", "main", {}, preload=preload)


def test_runner_zombies_are_reaped():
    for _ in range(5):
        run_in_sandbox("import os\ndef main():\n    os._exit(1)\n", "main", {}, preload=PRELOAD)
    server = server_pid()
    zombies = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server and fields[0] == b"Z":
            zombies.append(int(name))
    assert zombies == []
