"""Run an untrusted Python program in a resource-limited subprocess.

`run_in_sandbox` imports a program's source as a module in a fresh Python process,
calls one of its functions with keyword arguments and returns the decoded result.
Every failure of the program (a hang, a crash, an exception, a result that cannot
be serialized) comes back as a `SandboxResult` with ``ok=False`` and a short reason,
never as an exception.

Process layout, per call:

* The **runner** is started with `subprocess.Popen` and ``start_new_session=True``,
  so it leads its own session and process group. With ``preload``, it is instead
  forked from a long-lived server that has imported those modules
  (`evolve.sandbox_server`), and calls ``setsid()`` itself. It marks itself a child subreaper
  (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``), so every process the program forks and
  orphans is re-parented to it rather than to PID 1. Elsewhere orphans go to PID 1
  as usual.
* The runner forks the **worker**, which moves into a process group of its own,
  sets the resource limits, applies Landlock when `SandboxLimits.landlock` is
  set, reads the request from stdin and runs the program.
  The worker writes the result frame to a dedicated pipe, never to stdout.
* When the worker exits, the runner kills the worker's process group, then kills
  and reaps each remaining child (including processes that called ``setsid()``),
  reports the worker's exit status on a status pipe and exits.
* On timeout the caller sends SIGTERM to the runner, which kills the worker's group
  and cleans up as above. If the runner does not exit within a grace period, the
  caller kills both process groups with SIGKILL.

Arguments and results are encoded with msgpack, never pickle. Supported values are
None, bool, int (64-bit), float (nan and inf included), complex, str, bytes, list,
tuple, dict, numpy arrays of non-object dtypes and numpy scalars. Tuples, complex
numbers, numpy arrays and numpy scalars travel as msgpack extension types and come
back with their type, dtype and shape.

NOTE: This is a process sandbox for buggy and runaway programs, not a security
boundary against a determined attacker. It protects the caller from hangs, runaway
CPU time and memory, crashes, forked children, unbounded output, large result
payloads and files, secrets in environment variables and files left in the working
directory.

The program runs as the caller's user, so the sandbox does not stop it from:

* reading any file that user can access, including the caller's environment in
  ``/proc/<pid>/environ``;
* writing files outside the scratch directory, opening TCP connections and
  sending signals to the caller's processes, unless `SandboxLimits.landlock` is
  set and the kernel supports the matching Landlock ABI;
* opening other network connections (UDP, Unix sockets, and MPTCP sockets,
  which Landlock's TCP rules do not cover);
* using more memory in total than `SandboxLimits.memory_mb`: the limit applies
  to each process's address space, so forked children and ``memfd`` files add
  to it, and the scratch directory caps single files, not their sum;
* making the caller spend memory and time decoding a small result that
  expands, such as ``[[]] * 20_000_000``;
* writing a forged result to the result pipe;
* raising its own resource limits, when it runs as root.

Run adversarial code inside a container, a VM or a namespace sandbox such as
nsjail, bubblewrap or gVisor.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evolve import sandbox_child
from evolve.sandbox_child import _FRAME_HEADER_BYTES, _landlock_abi, _pack, _unpack

logger = logging.getLogger(__name__)

MIB = 1024 * 1024

# Seconds the runner gets to kill and reap the worker after SIGTERM before the
# caller kills both process groups itself.
_STOP_GRACE_S = 2.0

# Seconds between exit checks where os.pidfd_open is missing (not Linux >= 5.3).
_POLL_INTERVAL_S = 0.005

_READ_CHUNK_BYTES = 64 * 1024

# Environment variables whose names contain one of these words, or start with one
# of these prefixes, are treated as secrets by strip_secrets.
_SECRET_NAME_WORDS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "PRIVATE",
    "SIGNATURE",
)
_SECRET_NAME_PREFIXES = (
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "GCLOUD_",
    "GCP_",
    "GEMINI_",
    "OPENAI_",
    "ANTHROPIC_",
    "COHERE_",
    "MISTRAL_",
    "GROQ_",
    "DEEPSEEK_",
    "HF_",
    "HUGGINGFACE_",
    "HUGGING_FACE_",
    "WANDB_",
    "GITHUB_",
    "GH_",
    "GITLAB_",
    "SSH_",
    "GPG_",
    "DOCKER_",
    "NPM_",
    "PYPI_",
    "TWINE_",
)
_SECRET_NAME_PATTERN = re.compile(
    "|".join(
        [re.escape(word) for word in _SECRET_NAME_WORDS]
        + ["^" + re.escape(prefix) for prefix in _SECRET_NAME_PREFIXES]
    )
)
# A URL with a user name or password, such as postgres://user:password@host/db.
_URL_WITH_CREDENTIALS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]+@")

# Thread pools of numerical libraries default to one thread per core, which
# oversubscribes the machine when several sandboxes run at once.
_SINGLE_THREAD_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    # A GPU client maps far more address space than RLIMIT_AS allows.
    "JAX_PLATFORMS": "cpu",
}


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run.

    Attributes:
        timeout_s: Wall-clock limit in seconds, counted from process start, so it
            includes interpreter start-up and the program's imports. When it passes,
            the whole process group is killed.
        memory_mb: Address-space limit (RLIMIT_AS) of the worker in MiB. The default
            was enough to import numpy, scipy and jax (CPU backend) on a 2-core
            test machine. Address space is not resident memory: every thread the
            program starts reserves its stack (often 8 MiB), so programs with
            many threads need more.
        cpu_s: CPU-time limit (RLIMIT_CPU) of the worker in seconds. None derives it
            from timeout_s as ``ceil(timeout_s) + 1``. CPU time of all threads
            counts, so a multi-threaded program can reach it before timeout_s.
        max_output_bytes: Maximum size in bytes of the encoded result.
        max_stdout_bytes: Bytes kept from the end of stdout and of stderr each.
            Output beyond that is read and dropped, so printing cannot block.
        max_file_bytes: Maximum size in bytes of any file the program writes
            (RLIMIT_FSIZE). A larger write raises ``OSError: File too large``.
        landlock: Confine the worker with Linux Landlock: it may create, write or
            delete files only beneath its scratch directory (and write
            ``/dev/null``), may not bind or connect TCP sockets (kernel 6.7 and
            later) and may not signal processes outside the sandbox (kernel 6.12
            and later). Reading stays allowed. Where the kernel has no Landlock
            (before 5.13, or not enabled), the run goes ahead unconfined and the
            caller logs a warning once.
    """

    timeout_s: float = 10.0
    memory_mb: int = 2048
    cpu_s: int | None = None
    max_output_bytes: int = 64 * MIB
    max_stdout_bytes: int = 64 * 1024
    max_file_bytes: int = 64 * MIB
    landlock: bool = False

    def __post_init__(self) -> None:
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ValueError(
                f"timeout_s must be a number of seconds, got {timeout!r}. "
                "Pass e.g. SandboxLimits(timeout_s=10.0)."
            )
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(
                f"timeout_s must be a positive finite number of seconds, got {timeout!r}. "
                "Pass e.g. SandboxLimits(timeout_s=10.0)."
            )
        _check_positive_int("memory_mb", self.memory_mb, "megabytes", 2048)
        if self.cpu_s is not None:
            _check_positive_int("cpu_s", self.cpu_s, "seconds", 11)
        _check_positive_int("max_output_bytes", self.max_output_bytes, "bytes", 64 * MIB)
        _check_positive_int("max_stdout_bytes", self.max_stdout_bytes, "bytes", 64 * 1024)
        _check_positive_int("max_file_bytes", self.max_file_bytes, "bytes", 64 * MIB)
        if not isinstance(self.landlock, bool):
            raise ValueError(
                f"landlock must be True or False, got {self.landlock!r}. Pass e.g. SandboxLimits(landlock=True)."
            )

    @property
    def cpu_limit_s(self) -> int:
        """CPU-time limit in seconds: cpu_s, or ``ceil(timeout_s) + 1`` when cpu_s is None."""
        if self.cpu_s is not None:
            return self.cpu_s
        return math.ceil(self.timeout_s) + 1


def _check_positive_int(name: str, value: object, unit: str, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{name} must be a positive integer number of {unit}, got {value!r}. "
            f"Pass e.g. SandboxLimits({name}={example})."
        )


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one sandboxed run.

    Attributes:
        ok: True when the entry function returned and its value was decoded.
        value: The decoded return value, or None when ok is False.
        reason: Empty when ok is True, else a short description of the failure,
            such as ``'timed out after 2.0 s'`` or ``'raised ValueError: bad input'``.
        wall_s: Wall-clock seconds from process start until the process was reaped.
        stderr_tail: The last `SandboxLimits.max_stdout_bytes` bytes of stderr,
            decoded as UTF-8 with invalid bytes replaced. A traceback of an
            exception the program raised ends up here.
        stdout_tail: The last `SandboxLimits.max_stdout_bytes` bytes of stdout.
    """

    ok: bool
    value: Any
    reason: str
    wall_s: float
    stderr_tail: str
    stdout_tail: str = ""


def strip_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of an environment without the variables that look like secrets.

    A variable is dropped in three cases. Its upper-cased name contains one of KEY,
    TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, AUTH, COOKIE, PRIVATE
    or SIGNATURE. Its name starts with a cloud or model-provider prefix such as
    AWS_, AZURE_, GOOGLE_, GEMINI_, OPENAI_, ANTHROPIC_, HF_, GITHUB_ or SSH_. Or its
    value is a URL that contains a user name or password.

    The list is a deny-list and cannot know every secret name, so
    `run_in_sandbox` builds the child environment from an allow-list and applies
    this function on top.

    Args:
        environ: Variable names mapped to values, such as ``os.environ``.

    Returns:
        A new dict with the remaining variables.
    """
    without_secrets = {}
    for name, value in environ.items():
        if _SECRET_NAME_PATTERN.search(name.upper()):
            continue
        if _URL_WITH_CREDENTIALS_PATTERN.match(value):
            continue
        without_secrets[name] = value
    return without_secrets


def run_in_sandbox(
    source: str,
    entry: str,
    kwargs: Mapping[str, Any],
    limits: SandboxLimits = SandboxLimits(),
    preload: Sequence[str] | None = None,
) -> SandboxResult:
    """Import `source` as a module in a sandboxed subprocess and return ``entry(**kwargs)``.

    The program runs as a module named ``candidate`` (so ``if __name__ ==
    "__main__"`` blocks do not run) with a fresh scratch directory as its working
    directory, HOME and TMPDIR. The directory is deleted afterwards. Its import path
    is the caller's ``sys.path`` (absolute entries only) without import hooks that
    ``.pth`` files install, such as editable installs. Its stdin is ``/dev/null``.

    Args:
        source: Python source of the program.
        entry: Name of the function in `source` to call.
        kwargs: Keyword arguments for the function. Values must be of the types
            listed in the module docstring.
        limits: Resource limits for the run.
        preload: None starts a fresh interpreter for the run. A sequence of module
            names instead forks the run from this process's fork server for those
            modules, which has imported them already. That costs about 15 ms in
            place of 25 ms plus the imports (benchmarks/sandbox_overhead.py). A
            module that fails to import there is logged and left to the program.

    Returns:
        A `SandboxResult`. Every failure of the program is reported in it with
        ``ok=False``.

    Raises:
        TypeError: If `source` or `entry` is not a str, `kwargs` is not a mapping
            with str keys or `limits` is not a `SandboxLimits`.
        ValueError: If `entry` is not a valid identifier or `kwargs` contains a
            value that cannot be serialized.
        OSError: If the sandbox process cannot be started, for example because the
            system is out of processes or file descriptors.
    """
    request = _encode_request(source, entry, kwargs, limits)
    if limits.landlock:
        _warn_if_no_landlock()
    server = None
    if preload is not None:
        from evolve.sandbox_server import fork_server  # imports this module

        server = fork_server(preload)
    scratch = tempfile.mkdtemp(prefix="evolve-sandbox-")
    try:
        result = _SandboxProcess(request, limits, scratch, server).run()
    finally:
        _remove_scratch(scratch)

    outcome = "ok" if result.ok else result.reason
    logger.debug("sandbox run of %r finished in %.3f s: %s", entry, result.wall_s, outcome)
    return result


@functools.cache
def _warn_if_no_landlock() -> None:
    if _landlock_abi() < 1:
        logger.warning(
            "this kernel has no Landlock (Linux 5.13 or later with Landlock enabled), so sandboxed "
            "programs run without the file-write, TCP and signal confinement that landlock=True asks for"
        )


def _encode_request(
    source: str, entry: str, kwargs: Mapping[str, Any], limits: SandboxLimits
) -> bytes:
    if not isinstance(source, str):
        raise TypeError(f"source must be a str of Python code, got {type(source).__name__}.")
    if not isinstance(entry, str):
        raise TypeError(f"entry must be a function name as a str, got {type(entry).__name__}.")
    if not entry.isidentifier():
        raise ValueError(
            f"entry must be the name of a function defined in source, got {entry!r}."
        )
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs must be a mapping of argument names, got {type(kwargs).__name__}.")
    for name in kwargs:
        if not isinstance(name, str):
            raise TypeError(f"kwargs keys must be argument names as str, got {name!r}.")
    if not isinstance(limits, SandboxLimits):
        raise TypeError(f"limits must be a SandboxLimits, got {type(limits).__name__}.")

    try:
        return _pack({"source": source, "entry": entry, "kwargs": dict(kwargs)})
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(
            f"kwargs cannot be serialized for the sandbox: {error}. Pass only None, bool, "
            "64-bit int, float, complex, str, bytes, lists, tuples, dicts and numpy "
            "arrays or scalars of non-object dtype."
        ) from error


def _remove_scratch(scratch: str) -> None:
    try:
        shutil.rmtree(scratch)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass

    # The program may have removed write or execute permission from its own
    # directories. Restore them and try once more.
    for directory, _, _ in os.walk(scratch):
        try:
            os.chmod(directory, stat.S_IRWXU)
        except OSError:
            pass
    shutil.rmtree(scratch, ignore_errors=True)
    if os.path.exists(scratch):
        logger.warning("could not remove sandbox scratch directory %s", scratch)


def _child_environment(scratch: str) -> dict[str, str]:
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": scratch,
        "TMPDIR": scratch,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        **_SINGLE_THREAD_ENVIRONMENT,
    }
    return strip_secrets(environment)


def _import_paths() -> list[str]:
    """Return the caller's absolute, existing sys.path entries for the worker."""
    paths = []
    for path in sys.path:
        if path and os.path.isabs(path) and os.path.exists(path) and path not in paths:
            paths.append(path)
    return paths


class _OutputTail:
    """The last `limit` bytes of a stream, and how many bytes were dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.total_bytes = 0

    def append(self, chunk: bytes) -> None:
        self.total_bytes += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            del self.data[: -self.limit]

    def text(self) -> str:
        tail = bytes(self.data[-self.limit :])
        text = tail.decode("utf-8", errors="replace")
        dropped = self.total_bytes - len(tail)
        if dropped:
            return f"[{dropped} earlier bytes dropped]\n{text}"
        return text


class _FreshRunner:
    """A runner started as a new interpreter with the runner script as its ``-c`` argument."""

    def __init__(self, runner_arguments: list[str], scratch: str, status_fd: int, result_fd: int) -> None:
        # NOTE: A fresh interpreter per run costs about 25 ms, and importing numpy in
        # it about 75 ms more (benchmarks/sandbox_overhead.py on a 2-core AMD EPYC VM).
        # Runs with ``preload`` fork from a server that has imported numpy instead.
        command = [
            sys.executable,
            "-I",  # ignore PYTHON* variables and keep the working directory off sys.path
            "-S",  # skip site-packages scanning, because the worker adds _import_paths()
            "-B",  # never write .pyc files, for example into site-packages
            "-c",
            _child_script(),
            str(status_fd),
            str(result_fd),
            *runner_arguments,
            *_import_paths(),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            cwd=scratch,
            env=_child_environment(scratch),
            pass_fds=(status_fd, result_fd),
            start_new_session=True,
        )
        self.pid = self.process.pid
        self.stdin_fd = self.process.stdin.fileno()
        self.stdout_fd = self.process.stdout.fileno()
        self.stderr_fd = self.process.stderr.fileno()

    def has_exited(self) -> bool:
        return _has_exited(self.pid)

    def close_stdin(self) -> None:
        self.process.stdin.close()

    def wait(self) -> int:
        """Reap the runner and return its exit code (negative for a signal)."""
        return self.process.wait()

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


class _SandboxProcess:
    """One runner process: starts it, feeds the request, collects output and cleans up."""

    def __init__(
        self, request: bytes, limits: SandboxLimits, scratch: str, server: "ForkServer | None" = None
    ) -> None:
        self.limits = limits
        self.request = memoryview(request)
        self.request_offset = 0
        self.stdout = _OutputTail(limits.max_stdout_bytes)
        self.stderr = _OutputTail(limits.max_stdout_bytes)
        self.result = bytearray()
        self.result_too_large = False
        self.result_completed_at: float | None = None
        self.status = bytearray()
        self.worker_pid: int | None = None
        self.runner_exit_code: int | None = None
        self.runner_exited = False
        self.timed_out = False

        status_read, status_write = os.pipe()
        result_read, result_write = os.pipe()
        runner_arguments = [
            str(limits.memory_mb * MIB),
            str(limits.cpu_limit_s),
            str(limits.max_file_bytes),
            "1" if limits.landlock else "0",
        ]
        self.started = time.monotonic()
        try:
            if server is None:
                self.runner = _FreshRunner(runner_arguments, scratch, status_write, result_write)
            else:
                self.runner = server.start_runner(
                    runner_arguments, scratch, _child_environment(scratch), status_write, result_write
                )
        except BaseException:
            os.close(status_read)
            os.close(result_read)
            raise
        finally:
            os.close(status_write)
            os.close(result_write)

        self.pidfd = _open_pidfd(self.runner.pid)
        self.selector = selectors.DefaultSelector()
        self.stdin_fd = self.runner.stdin_fd
        self.result_fd = result_read
        self.status_fd = status_read
        self.readers = {
            self.runner.stdout_fd: self.stdout.append,
            self.runner.stderr_fd: self.stderr.append,
            result_read: self._append_result,
            status_read: self._append_status,
        }
        for fd in self.readers:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        os.set_blocking(self.stdin_fd, False)
        self.selector.register(self.stdin_fd, selectors.EVENT_WRITE)
        if self.pidfd is not None:
            self.selector.register(self.pidfd, selectors.EVENT_READ)

    def run(self) -> SandboxResult:
        """Wait for the runner, enforcing the timeout, and return the result."""
        try:
            deadline = self.started + self.limits.timeout_s
            if not self._pump_until_exit(deadline, stop_on_overflow=True):
                self.timed_out = not self.result_too_large
                self._stop_runner()
        finally:
            self._release()
        wall_s = time.monotonic() - self.started

        ok, value, reason = self._outcome()
        if b"stray " in self.status and b"stray 0\n" not in self.status:
            logger.warning(
                "sandbox runner %d could not kill all processes the program started: %s",
                self.runner.pid,
                self.status.decode("ascii", errors="replace").strip(),
            )
        return SandboxResult(
            ok=ok,
            value=value,
            reason=reason,
            wall_s=wall_s,
            stderr_tail=self.stderr.text(),
            stdout_tail=self.stdout.text(),
        )

    def _pump_until_exit(self, deadline: float, stop_on_overflow: bool) -> bool:
        """Move data through the pipes until the runner exits.

        Returns False when the deadline passes first, or when the result exceeds
        max_output_bytes and stop_on_overflow is set.
        """
        while not self.runner_exited:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop_on_overflow and self.result_too_large):
                return False
            if self.pidfd is None:
                remaining = min(remaining, _POLL_INTERVAL_S)

            for key, _ in self.selector.select(remaining):
                fd = key.fd
                if fd == self.pidfd:
                    self.runner_exited = True
                elif fd == self.stdin_fd:
                    self._write_request()
                else:
                    self._read(fd)

            if self.pidfd is None and self.runner.has_exited():
                self.runner_exited = True

        # Data written before the exit is still in the pipes.
        self._drain(self.result_fd)
        self._drain(self.status_fd)
        return True

    def _write_request(self) -> None:
        try:
            written = os.write(self.stdin_fd, self.request[self.request_offset :])
        except BrokenPipeError:
            written = None
        if written is not None:
            self.request_offset += written
        if written is None or self.request_offset >= len(self.request):
            self.selector.unregister(self.stdin_fd)
            self.runner.close_stdin()

    def _read(self, fd: int) -> None:
        if fd not in self.readers:
            return
        try:
            chunk = os.read(fd, _READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        if not chunk:
            self._close_reader(fd)
            return
        self.readers[fd](chunk)

    def _drain(self, fd: int, max_chunks: int = 1024) -> None:
        """Read fd until it would block or ends, at most max_chunks reads.

        The cap keeps a process that escaped the kill from holding the caller
        here by writing without pause.
        """
        for _ in range(max_chunks):
            if fd not in self.readers:
                return
            try:
                chunk = os.read(fd, _READ_CHUNK_BYTES)
            except BlockingIOError:
                return
            if not chunk:
                self._close_reader(fd)
                return
            self.readers[fd](chunk)

    def _close_reader(self, fd: int) -> None:
        del self.readers[fd]
        self.selector.unregister(fd)
        if fd == self.result_fd or fd == self.status_fd:
            os.close(fd)

    def _append_result(self, chunk: bytes) -> None:
        self.result += chunk
        if len(self.result) < _FRAME_HEADER_BYTES:
            return
        body_bytes = int.from_bytes(self.result[:_FRAME_HEADER_BYTES], "big")
        if body_bytes > self.limits.max_output_bytes:
            # Closing the pipe makes the worker's next write fail, so it stops.
            self.result_too_large = True
            self._close_reader(self.result_fd)
            self.result.clear()
        elif len(self.result) >= _FRAME_HEADER_BYTES + body_bytes:
            if self.result_completed_at is None:
                self.result_completed_at = time.monotonic()
            if len(self.result) > _FRAME_HEADER_BYTES + body_bytes:
                # Bytes after a complete frame are not part of the result, and a
                # program that keeps writing them must not fill the caller's memory.
                del self.result[_FRAME_HEADER_BYTES + body_bytes + 1 :]

    def _append_status(self, chunk: bytes) -> None:
        # The runner writes a few short lines, so anything longer is not from it.
        if len(self.status) > 4096:
            return
        self.status += chunk
        match = re.search(rb"^worker (\d+)\n", self.status)
        if match:
            self.worker_pid = int(match.group(1))

    def _stop_runner(self) -> None:
        """Ask the runner to kill the worker, then kill both process groups if it does not."""
        _send_signal(os.kill, self.runner.pid, signal.SIGTERM)
        if self._pump_until_exit(time.monotonic() + _STOP_GRACE_S, stop_on_overflow=False):
            return
        logger.warning(
            "sandbox runner %d did not exit within %.1f s of SIGTERM, killing it with SIGKILL",
            self.runner.pid,
            _STOP_GRACE_S,
        )
        if self.worker_pid is not None:
            _send_signal(os.killpg, self.worker_pid, signal.SIGKILL)
        _send_signal(os.killpg, self.runner.pid, signal.SIGKILL)

    def _release(self) -> None:
        """Kill what is left, reap the runner and close every file descriptor."""
        # Without the exit report, the runner may have died before it killed the
        # worker's group (for example because the program killed the runner).
        if self.worker_pid is not None and self._reported_exit_code() is None:
            _send_signal(os.killpg, self.worker_pid, signal.SIGKILL)
        # The runner is not reaped yet, so its process group id cannot be reused.
        _send_signal(os.killpg, self.runner.pid, signal.SIGKILL)
        self.runner_exit_code = self.runner.wait()

        # Keep output that arrived after the last read, but never block on a pipe
        # that a process outside the killed groups still holds open.
        for fd in list(self.readers):
            if fd != self.result_fd or not self.result_too_large:
                self._drain(fd)
        for fd in list(self.readers):
            self._close_reader(fd)
        if self.stdin_fd in self.selector.get_map():
            self.selector.unregister(self.stdin_fd)
        if self.pidfd is not None:
            if self.pidfd in self.selector.get_map():
                self.selector.unregister(self.pidfd)
            os.close(self.pidfd)
        self.selector.close()
        self.runner.close()

    def _outcome(self) -> tuple[bool, Any, str]:
        limits = self.limits
        if self.result_too_large:
            return False, None, f"result larger than {limits.max_output_bytes} bytes (max_output_bytes)"

        exit_code = self._reported_exit_code()
        deadline = self.started + limits.timeout_s
        completed_in_time = (
            self.result_completed_at is not None and self.result_completed_at <= deadline
        )
        if completed_in_time and exit_code is not None:
            return _decode_frame(bytes(self.result))
        if self.timed_out:
            return False, None, f"timed out after {float(limits.timeout_s)} s"
        if exit_code is None and self.runner_exit_code is None:
            return False, None, "sandbox runner was lost: its fork server exited before reporting its status"
        if exit_code is None:
            return False, None, (
                f"sandbox runner exited with code {self.runner_exit_code} "
                "before reporting the program's exit status"
            )
        return False, None, _describe_exit(exit_code, limits)

    def _reported_exit_code(self) -> int | None:
        """Return the worker's exit code from the runner's report, or None before it."""
        match = re.search(rb"^exit (-?\d+)\n", self.status, re.MULTILINE)
        return None if match is None else int(match.group(1))


def _decode_frame(frame: bytes) -> tuple[bool, Any, str]:
    body = frame[_FRAME_HEADER_BYTES:]
    body_bytes = int.from_bytes(frame[:_FRAME_HEADER_BYTES], "big")
    if len(body) != body_bytes:
        return False, None, (
            f"result could not be decoded: the result pipe held {len(body)} bytes "
            f"after a header announcing {body_bytes}"
        )
    try:
        message = _unpack(body)
    except Exception as error:  # the frame comes from the program, so any decoding error is its failure
        return False, None, f"result could not be decoded: {type(error).__name__}: {error}"

    valid = isinstance(message, list) and len(message) == 2 and isinstance(message[0], str) and message[0] in ("ok", "error")
    if not valid:
        return False, None, "result could not be decoded: unexpected message layout"
    status, payload = message
    if status == "ok":
        return True, payload, ""
    return False, None, str(payload)


def _describe_exit(code: int, limits: SandboxLimits) -> str:
    if code >= 0:
        return f"exited with code {code} before returning"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    if name == "SIGXCPU":
        return f"CPU time limit exceeded ({limits.cpu_limit_s} s)"
    if name == "SIGXFSZ":
        return f"file size limit exceeded ({limits.max_file_bytes} bytes)"
    return f"killed by signal {name}"


def _open_pidfd(pid: int) -> int | None:
    """Return a file descriptor that becomes readable when pid exits, or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Return True once pid has exited, without reaping it."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    try:
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:
        return True


def _send_signal(send: Any, pid: int, signum: int) -> None:
    try:
        send(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@functools.cache
def _child_script() -> str:
    """Return the source of the runner program passed to ``python -c``."""
    return sandbox_child.script("_runner_main(sys.argv[1:])")
