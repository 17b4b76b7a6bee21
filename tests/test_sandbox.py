"""Tests for evolve.sandbox: the happy path, each hostile behaviour and input checks."""

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from evolve import sandbox
from evolve.sandbox import SandboxLimits, run_in_sandbox, strip_secrets

# A hang in the sandbox must fail one test, not stall the whole run.
pytestmark = pytest.mark.timeout(60)

SHORT = SandboxLimits(timeout_s=1.0)
NORMAL = SandboxLimits(timeout_s=5.0)


def run(source: str, limits: SandboxLimits = NORMAL, **kwargs):
    return run_in_sandbox(source, "main", kwargs, limits)


def wait_until_gone(pid: int, timeout_s: float = 2.0) -> bool:
    """Return True once pid no longer exists (a zombie still counts as existing)."""
    give_up_at = time.monotonic() + timeout_s
    while time.monotonic() < give_up_at:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


# Happy path and round trips.


def test_returns_numpy_array():
    source = "import numpy as np\ndef main(n):\n    return np.arange(n, dtype=np.int32)\n"
    result = run(source, n=5)
    assert result.ok, result.reason
    assert result.reason == ""
    assert isinstance(result.value, np.ndarray)
    assert result.value.dtype == np.int32
    assert np.array_equal(result.value, np.arange(5))
    assert result.value.flags.writeable


def test_kwargs_arrays_round_trip():
    arrays = {
        "matrix": np.arange(12, dtype=np.float64).reshape(3, 4),
        "fortran": np.asfortranarray(np.ones((2, 3), dtype=np.float32)),
        "empty": np.zeros((0, 3)),
        "zero_dim": np.array(7, dtype=np.int16),
        "bools": np.array([True, False]),
        "complex": np.array([1 + 2j, -1j]),
        "strings": np.array(["ab", "c"]),
        "dates": np.array(["2024-01-01"], dtype="datetime64[D]"),
    }
    result = run("def main(**arrays):\n    return arrays\n", **arrays)
    assert result.ok, result.reason
    for name, expected in arrays.items():
        returned = result.value[name]
        assert returned.dtype == expected.dtype, name
        assert returned.shape == expected.shape, name
        assert np.array_equal(returned, expected), name


def test_dicts_and_floats_round_trip():
    source = (
        "def main():\n"
        "    return {\n"
        "        'nan': float('nan'), 'inf': float('inf'), 'ninf': float('-inf'),\n"
        "        'nested': {'list': [1, 'two', None, True], 'bytes': b'\\x00\\xff'},\n"
        "        'tuple': (1, (2.5, 'x')), 'complex': 3 - 4j, 1: 'int key',\n"
        "    }\n"
    )
    result = run(source)
    assert result.ok, result.reason
    value = result.value
    assert math.isnan(value["nan"])
    assert value["inf"] == math.inf
    assert value["ninf"] == -math.inf
    assert value["nested"] == {"list": [1, "two", None, True], "bytes": b"\x00\xff"}
    assert value["tuple"] == (1, (2.5, "x"))
    assert value["complex"] == 3 - 4j
    assert value[1] == "int key"


def test_numpy_scalars_keep_type():
    source = (
        "import numpy as np\n"
        "def main():\n"
        "    return [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64('nan')]\n"
    )
    result = run(source)
    assert result.ok, result.reason
    float32, int64, boolean, nan = result.value
    assert type(float32) is np.float32
    assert float32 == np.float32(1.5)
    assert type(int64) is np.int64
    assert int64 == -3
    assert type(boolean) is np.bool_
    assert type(nan) is np.float64
    assert np.isnan(nan)


def test_numpy_and_scipy_import_under_default_limits():
    source = (
        "import numpy as np\n"
        "import scipy.optimize\n"
        "def main():\n"
        "    return float(scipy.optimize.minimize_scalar(lambda x: (x - 2) ** 2).x)\n"
    )
    result = run_in_sandbox(source, "main", {})
    assert result.ok, result.reason + result.stderr_tail
    assert result.value == pytest.approx(2.0)


def test_concurrent_runs_keep_results_apart():
    source = "import time\ndef main(i):\n    time.sleep(0.05)\n    return i * 10\n"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: run(source, i=i), range(8)))
    assert all(result.ok for result in results), [result.reason for result in results]
    assert [result.value for result in results] == [i * 10 for i in range(8)]


# Process isolation.


def test_runs_in_own_session():
    source = "import os\ndef main():\n    return os.getsid(0), os.getpgid(0), os.getpid()\n"
    result = run(source)
    assert result.ok, result.reason
    session, group, pid = result.value
    assert session != os.getsid(0)
    assert group != os.getpgid(0)
    assert group == pid


def test_scratch_is_cwd_and_removed():
    source = (
        "import os, tempfile\n"
        "def main():\n"
        "    with open('left_behind.txt', 'w') as f:\n"
        "        f.write('x')\n"
        "    return os.getcwd(), os.environ['HOME'], tempfile.gettempdir()\n"
    )
    result = run(source)
    assert result.ok, result.reason
    cwd, home, tmpdir = result.value
    assert cwd != os.getcwd()
    assert os.path.basename(cwd).startswith("evolve-sandbox-")
    assert home == cwd
    assert tmpdir == cwd
    assert not os.path.exists(cwd)


def test_writes_outside_scratch_are_visible(tmp_path):
    # The program runs as the caller's user, so the sandbox cannot stop this write.
    # The test pins down that the write is at least visible to the caller.
    target = tmp_path / "outside.txt"
    source = "def main(path):\n    open(path, 'w').write('written')\n    return True\n"
    result = run(source, path=str(target))
    assert result.ok, result.reason
    assert target.read_text() == "written"


def test_secrets_are_stripped_from_environment(monkeypatch):
    secrets = ["GEMINI_API_KEY", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "MY_TOKEN"]
    for name in secrets:
        monkeypatch.setenv(name, "do-not-leak")
    monkeypatch.setenv("HARMLESS_SETTING", "visible?")
    result = run("import os\ndef main():\n    return dict(os.environ)\n")
    assert result.ok, result.reason
    for name in secrets:
        assert name not in result.value, name
    assert "do-not-leak" not in result.value.values()
    assert "HARMLESS_SETTING" not in result.value
    assert result.value["OMP_NUM_THREADS"] == "1"
    assert result.value["OPENBLAS_NUM_THREADS"] == "1"


def test_stdin_is_empty():
    result = run("import sys\ndef main():\n    return sys.stdin.read()\n")
    assert result.ok, result.reason
    assert result.value == ""


# Hostile behaviour: time.


def test_infinite_loop_times_out():
    result = run("def main():\n    while True:\n        pass\n", SHORT)
    assert not result.ok
    assert result.reason == "timed out after 1.0 s"
    assert result.wall_s < 3.0


def test_sleep_times_out():
    result = run("import time\ndef main():\n    time.sleep(60)\n", SHORT)
    assert not result.ok
    assert result.reason == "timed out after 1.0 s"
    assert result.wall_s < 3.0


def test_import_time_hang_times_out():
    result = run("import time\ntime.sleep(60)\ndef main():\n    return 1\n", SHORT)
    assert not result.ok
    assert result.reason == "timed out after 1.0 s"


def test_cpu_limit_kills_busy_loop():
    limits = SandboxLimits(timeout_s=10.0, cpu_s=1)
    result = run("def main():\n    while True:\n        pass\n", limits)
    assert not result.ok
    assert result.reason == "CPU time limit exceeded (1 s)"
    assert result.wall_s < 5.0


def test_cpu_limit_derives_from_timeout():
    assert SandboxLimits(timeout_s=2.5).cpu_limit_s == 4
    assert SandboxLimits(timeout_s=2.5, cpu_s=9).cpu_limit_s == 9


def test_threads_do_not_delay_return():
    source = (
        "import threading, time\n"
        "def main():\n"
        "    threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "    return 'done'\n"
    )
    result = run(source)
    assert result.ok, result.reason
    assert result.value == "done"
    assert result.wall_s < 2.0


# Hostile behaviour: processes.


def test_forked_grandchild_is_reaped():
    source = (
        "import os, time\n"
        "def main():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return pid\n"
    )
    result = run(source)
    assert result.ok, result.reason
    assert result.wall_s < 2.0
    assert wait_until_gone(result.value)


def test_setsid_grandchild_is_reaped():
    source = (
        "import os, time\n"
        "def main():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    return pid\n"
    )
    result = run(source)
    assert result.ok, result.reason
    assert wait_until_gone(result.value)


def test_hanging_forks_are_killed(tmp_path):
    # Each fork records its pid outside the scratch directory, because the
    # program times out and returns nothing.
    pid_file = tmp_path / "pids.txt"
    source = (
        "import os\n"
        "def main(pid_file):\n"
        "    for _ in range(8):\n"
        "        if os.fork() == 0:\n"
        "            with open(pid_file, 'a') as f:\n"
        "                f.write(f'{os.getpid()}\\n')\n"
        "            while True:\n"
        "                pass\n"
        "    while True:\n"
        "        pass\n"
    )
    result = run(source, SHORT, pid_file=str(pid_file))
    assert not result.ok
    assert result.reason == "timed out after 1.0 s"
    pids = [int(line) for line in pid_file.read_text().split()]
    assert len(pids) == 8
    for pid in pids:
        assert wait_until_gone(pid), pid


def is_running(pid: int) -> bool:
    """Return True if pid exists and is not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            state = stat_file.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != b"Z"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_killed_runner_does_not_raise(tmp_path):
    # Once the runner is dead, only PID 1 can reap the worker, and in some
    # containers PID 1 never reaps. So the test checks that the worker stops running.
    pid_file = tmp_path / "worker.pid"
    source = (
        "import os, signal, time\n"
        "def main(pid_file):\n"
        "    open(pid_file, 'w').write(str(os.getpid()))\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    time.sleep(60)\n"
    )
    result = run(source, pid_file=str(pid_file))
    assert not result.ok
    assert result.reason == (
        "sandbox runner exited with code -9 before reporting the program's exit status"
    )
    worker = int(pid_file.read_text())
    time.sleep(0.2)
    assert not is_running(worker)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_runs_leak_no_file_descriptors():
    sources = [
        "def main():\n    return 1\n",
        "def main():\n    while True:\n        pass\n",
        "def main():\n    return bytes(1_000_000)\n",
    ]
    limits = SandboxLimits(timeout_s=1.0, max_output_bytes=1000)
    run(sources[0], limits)
    before = len(os.listdir("/proc/self/fd"))
    for source in sources:
        run(source, limits)
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize(
    ("source", "expected_reason"),
    [
        ("def main():\n    return 1\n", ""),
        ("def main():\n    while True:\n        pass\n", "timed out after 1.0 s"),
        ("import os\ndef main():\n    os._exit(5)\n", "exited with code 5 before returning"),
    ],
)
def test_runs_without_pidfd(monkeypatch, source, expected_reason):
    # Where os.pidfd_open is missing (not Linux), the caller polls for the exit.
    monkeypatch.setattr(sandbox, "_open_pidfd", lambda pid: None)
    result = run(source, SHORT)
    assert result.reason == expected_reason


def test_stop_logs_no_warning(caplog):
    limits = SandboxLimits(timeout_s=1.0, max_output_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="evolve.sandbox"):
        run("def main():\n    while True:\n        pass\n", limits)
        run("def main():\n    return bytes(1_000_000)\n", limits)
    assert caplog.records == []


# Hostile behaviour: crashes and exits.


def test_segfault_reports_signal():
    result = run("import ctypes\ndef main():\n    return ctypes.string_at(0)\n")
    assert not result.ok
    assert result.reason == "killed by signal SIGSEGV"
    assert "Fatal Python error" in result.stderr_tail


def test_os_exit_before_return():
    result = run("import os\ndef main():\n    os._exit(0)\n")
    assert not result.ok
    assert result.reason == "exited with code 0 before returning"


def test_os_exit_code_is_reported():
    result = run("import os\ndef main():\n    os._exit(3)\n")
    assert not result.ok
    assert result.reason == "exited with code 3 before returning"


def test_sys_exit_is_reported():
    result = run("import sys\ndef main():\n    sys.exit(4)\n")
    assert not result.ok
    assert result.reason == "called sys.exit(4) before returning"


def test_exception_reports_type_and_message():
    result = run("def main():\n    raise ValueError('bad input')\n")
    assert not result.ok
    assert result.reason == "raised ValueError: bad input"
    assert 'File "<candidate>", line 2, in main' in result.stderr_tail
    assert "raise ValueError('bad input')" in result.stderr_tail


def test_import_time_exception_is_reported():
    result = run("import no_such_module_for_sandbox_tests\ndef main():\n    return 1\n")
    assert not result.ok
    assert result.reason.startswith("raised ModuleNotFoundError:")


def test_syntax_error_is_reported():
    result = run("def main(:\n    return 1\n")
    assert not result.ok
    assert result.reason == "syntax error at line 1: invalid syntax"
    assert "SyntaxError" in result.stderr_tail


def test_missing_entry_is_reported():
    result = run_in_sandbox("def mian():\n    return 1\n", "main", {})
    assert not result.ok
    assert result.reason == "entry function 'main' not found in the source. Did you mean 'mian'?"


def test_entry_not_callable_is_reported():
    result = run("main = 3\n")
    assert not result.ok
    assert result.reason == "entry 'main' is a int, not a function"


# Hostile behaviour: memory, output and files.


def test_huge_allocation_hits_memory_limit():
    result = run("def main():\n    return len(bytearray(10 * 2**30))\n")
    assert not result.ok
    assert result.reason.startswith("memory limit exceeded")


def test_huge_numpy_array_hits_memory_limit():
    source = "import numpy as np\ndef main():\n    return float(np.ones(10 * 2**30 // 8).sum())\n"
    result = run(source)
    assert not result.ok
    assert result.reason.startswith("memory limit exceeded")
    assert "Unable to allocate" in result.reason


def test_megabytes_of_output_are_truncated():
    limits = SandboxLimits(timeout_s=5.0, max_stdout_bytes=1000)
    source = (
        "import sys\n"
        "def main():\n"
        "    for _ in range(100):\n"
        "        print('o' * 100_000)\n"
        "        print('e' * 100_000, file=sys.stderr)\n"
        "    print('last line')\n"
        "    return 'done'\n"
    )
    result = run(source, limits)
    assert result.ok, result.reason
    assert result.value == "done"
    assert result.stdout_tail.startswith("[")
    assert "earlier bytes dropped" in result.stdout_tail
    assert result.stdout_tail.endswith("last line\n")
    assert len(result.stdout_tail) < 1100
    assert len(result.stderr_tail) < 1100


def test_file_size_limit_rejects_large_write():
    limits = SandboxLimits(timeout_s=5.0, max_file_bytes=1024 * 1024)
    source = (
        "def main():\n"
        "    with open('big.bin', 'wb') as f:\n"
        "        f.write(bytes(2 * 1024 * 1024))\n"
    )
    result = run(source, limits)
    assert not result.ok
    assert result.reason.startswith("raised OSError:")
    assert "File too large" in result.reason


# Hostile behaviour: results.


def test_unserializable_result_is_reported():
    result = run("def main():\n    return object()\n")
    assert not result.ok
    assert result.reason == "result is not serializable: cannot serialize an object of type object"


def test_object_array_result_is_reported():
    result = run("import numpy as np\ndef main():\n    return np.array([1, 'a'], dtype=object)\n")
    assert not result.ok
    assert result.reason.startswith("result is not serializable:")
    assert "dtype object" in result.reason


def test_huge_int_result_is_reported():
    result = run("def main():\n    return 2 ** 100\n")
    assert not result.ok
    assert result.reason.startswith("result is not serializable:")


def test_hostile_str_subclass_is_reported():
    source = (
        "class Hostile(str):\n"
        "    def __str__(self):\n"
        "        raise RuntimeError('no')\n"
        "def main():\n"
        "    return Hostile('x')\n"
    )
    result = run(source)
    assert not result.ok
    assert result.reason == "result is not serializable: no"


def test_oversized_result_is_rejected():
    limits = SandboxLimits(timeout_s=5.0, max_output_bytes=1000)
    result = run("def main():\n    return bytes(1_000_000)\n", limits)
    assert not result.ok
    assert result.reason == "result larger than 1000 bytes (max_output_bytes)"
    assert result.wall_s < 3.0


def test_forged_result_bytes_are_rejected():
    source = (
        "import os, sys\n"
        "def main():\n"
        "    fd = int(sys.argv[2])\n"
        "    os.write(fd, (5).to_bytes(8, 'big') + b'\\xc1junk')\n"
        "    os._exit(0)\n"
    )
    result = run(source)
    assert not result.ok
    assert result.reason.startswith("result could not be decoded:")


# Caller misuse.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_s", 0),
        ("timeout_s", -1.0),
        ("timeout_s", math.nan),
        ("timeout_s", math.inf),
        ("timeout_s", "10"),
        ("memory_mb", 0),
        ("memory_mb", 1.5),
        ("cpu_s", 0),
        ("max_output_bytes", -1),
        ("max_stdout_bytes", 0),
        ("max_file_bytes", True),
    ],
)
def test_invalid_limits_raise(field, value):
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: value})


def test_invalid_entry_raises():
    with pytest.raises(ValueError, match="entry"):
        run_in_sandbox("def main(): pass\n", "not a name", {})


def test_unserializable_kwargs_raise():
    with pytest.raises(ValueError, match="kwargs cannot be serialized"):
        run_in_sandbox("def main(x): pass\n", "main", {"x": object()})


def test_non_string_source_raises():
    with pytest.raises(TypeError, match="source"):
        run_in_sandbox(b"def main(): pass\n", "main", {})


# strip_secrets.


@pytest.mark.parametrize(
    "name",
    [
        "GEMINI_API_KEY",
        "OPENAI_API_KEY",
        "OPENAI_ORG_ID",
        "ANTHROPIC_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AZURE_CLIENT_ID",
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "my_secret",
        "SSH_AUTH_SOCK",
    ],
)
def test_strip_secrets_drops_name(name):
    assert name not in strip_secrets({name: "value"})


def test_strip_secrets_drops_credential_url():
    environ = {"DATABASE_URL": "postgres://user:hunter2@db.example/app"}
    assert strip_secrets(environ) == {}


def test_strip_secrets_keeps_ordinary_variables():
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/user",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MIRROR_URL": "https://mirror.example/simple",
    }
    assert strip_secrets(environ) == environ


def test_strip_secrets_returns_copy():
    environ = {"PATH": "/usr/bin", "GEMINI_API_KEY": "x"}
    stripped = strip_secrets(environ)
    assert stripped is not environ
    assert environ == {"PATH": "/usr/bin", "GEMINI_API_KEY": "x"}


def test_deeply_nested_tuples_fail_cleanly():
    # Decoding 200 or more nested tuples once overflowed the caller's C stack.
    source = "def main():\n    value = ()\n    for _ in range(300):\n        value = (value,)\n    return value\n"

    result = run(source)

    assert not result.ok
    assert "nested deeper than 64" in result.reason


def test_nested_tuples_round_trip():
    source = "def main():\n    value = ()\n    for _ in range(60):\n        value = (value,)\n    return value\n"

    result = run(source)
    depth, value = 0, result.value
    while value:
        depth, value = depth + 1, value[0]

    assert result.ok
    assert depth == 60
