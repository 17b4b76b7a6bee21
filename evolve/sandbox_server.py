"""A fork server for `evolve.sandbox`: runs start by forking a process that has imported numpy.

Importing numpy in a fresh interpreter costs about 75 ms, and scipy.optimize
several hundred more, which dwarfs a short program. A fork server is a long-lived
interpreter, started once per caller process, that imports the requested modules
and then forks one sandbox runner per run. The runner and the worker it forks
behave as in a fresh-interpreter run (own session and process group, subreaper,
resource limits, scratch directory, stripped environment, pipes), but start with
the modules already imported.

Protocol: the caller and the server share a ``SOCK_SEQPACKET`` Unix socket pair,
one msgpack message per packet. A ``spawn`` request carries the runner's limit
arguments, scratch directory and environment. The runner's stdin, stdout,
stderr, status and result pipe ends travel with it as ``SCM_RIGHTS`` file
descriptors, and the server replies with the pid of the runner it forked. A
``status`` request returns a runner's exit code, without reaping the runner
(``wait=False``) or reaping it (``wait=True``). The server exits when the caller
closes its end.

Because the server forks every runner, the server stays single-threaded and
never runs candidate code itself. A program can still find and kill the server
(see the NOTE in `evolve.sandbox`); the caller then starts a new one for the next run.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from evolve import sandbox, sandbox_child

logger = logging.getLogger(__name__)

# Seconds the server gets to import its modules before the caller gives up.
_START_TIMEOUT_S = 120.0

# Seconds a request may wait for the server's reply. Spawning and reaping a runner
# take milliseconds. A server that is stopped (SIGSTOP) or stuck must not hang
# the caller, so it is replaced instead.
_REQUEST_TIMEOUT_S = 10.0

# Largest control message in bytes; requests carry an environment and a path.
_MAX_MESSAGE_BYTES = 1 << 20

# Modules every runner uses, so they are imported once in the server.
_ALWAYS_PRELOADED = ("ctypes", "faulthandler", "linecache", "msgpack", "resource", "traceback")


class ForkServerError(OSError):
    """The fork server could not be started or stopped responding."""


# One server per (caller pid, preload, import path); see fork_server.
_servers: dict[tuple, "ForkServer"] = {}
_servers_lock = threading.Lock()


def fork_server(preload: Sequence[str]) -> ForkServer:
    """Return this process's fork server for ``preload``, creating it on first use.

    Args:
        preload: module names the server imports before forking runners, e.g.
            ``("numpy", "scipy.optimize")``.

    Raises:
        TypeError: if ``preload`` is a str or contains something other than str.
        ValueError: if a name is not a dotted module name.
    """
    if isinstance(preload, str):
        raise TypeError(f"preload must be a sequence of module names, got the str {preload!r}; pass ({preload!r},).")
    names = tuple(preload)
    for name in names:
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"preload names must be dotted module names such as 'scipy.optimize', got {name!r}.")
    # A forked caller must not share its parent's server, socket or lock.
    key = (os.getpid(), names, tuple(sandbox._import_paths()))
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = ForkServer(names)
            _servers[key] = server
        return server


class ForkServer:
    """The caller's side of one fork server; safe to use from several threads.

    The server process starts on the first `start_runner` call and again after it
    dies.

    Args:
        preload: module names the server imports.
    """

    def __init__(self, preload: tuple[str, ...]):
        self.preload = preload
        self.import_failures: list[str] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None

    def start_runner(
        self,
        runner_arguments: list[str],
        scratch: str,
        environment: dict[str, str],
        status_fd: int,
        result_fd: int,
    ) -> ForkedRunner:
        """Fork a runner in the server and return the caller's handle on it.

        Args:
            runner_arguments: the memory, CPU and file-size limits, as text.
            scratch: the runner's working directory.
            environment: the runner's whole environment.
            status_fd: write end of the status pipe; the caller closes its copy.
            result_fd: write end of the result pipe; the caller closes its copy.

        Raises:
            ForkServerError: if the server cannot be started or does not respond.
        """
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        child_ends = [stdin_read, stdout_write, stderr_write]
        request = sandbox_child._pack(["spawn", runner_arguments, scratch, environment])
        try:
            reply = self._request(request, [*child_ends, status_fd, result_fd])
            if reply[0] != "pid":
                raise ForkServerError(f"fork server could not start a runner: {reply[1]}")
        except BaseException:
            for fd in (stdin_write, stdout_read, stderr_read):
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        return ForkedRunner(self, int(reply[1]), stdin_write, stdout_read, stderr_read)

    def exit_code(self, pid: int, wait: bool) -> int | None:
        """Return a runner's exit code, or None while it runs or when the server is gone.

        Args:
            pid: the runner's pid.
            wait: reap the runner, blocking until it exits. Only set it once the
                runner is exiting or killed, because the server handles one
                request at a time.
        """
        try:
            reply = self._request(sandbox_child._pack(["status", pid, wait]), [], start=False)
        except ForkServerError as error:
            logger.warning("fork server lost while checking runner %d: %s", pid, error)
            return None
        return reply[1]

    def close(self) -> None:
        """Stop the server process; the next run starts a new one."""
        with self._lock:
            self._stop()

    # Private.

    def _request(self, message: bytes, fds: list[int], start: bool = True) -> list:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                if not start:
                    raise ForkServerError("the fork server is not running")
                self._start()
            try:
                socket.send_fds(self._socket, [message], fds)
                reply = self._socket.recv(_MAX_MESSAGE_BYTES)
            except OSError as error:
                self._stop()
                raise ForkServerError(f"fork server stopped responding: {error}") from error
            if not reply:
                self._stop()
                raise ForkServerError("fork server exited before it replied to a request")
            return sandbox_child._unpack(reply)

    def _start(self) -> None:
        self._stop()
        caller_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = self._launch(server_end)
        finally:
            server_end.close()
        self._socket = caller_end

        self._socket.settimeout(_START_TIMEOUT_S)
        try:
            reply = self._socket.recv(_MAX_MESSAGE_BYTES)
        except OSError as error:
            self._stop()
            raise ForkServerError(f"fork server did not start within {_START_TIMEOUT_S:g} s: {error}") from error
        if not reply:
            self._stop()
            raise ForkServerError("fork server exited while importing its modules")
        self._socket.settimeout(_REQUEST_TIMEOUT_S)

        self.import_failures = list(sandbox_child._unpack(reply)[1])
        for failure in self.import_failures:
            # Programs that import the module then pay for it themselves (and fail the same way).
            logger.warning("fork server could not preload %s", failure)
        logger.debug("fork server %d started with %s preloaded", self._process.pid, ", ".join(self.preload) or "nothing")

    def _launch(self, server_end: socket.socket) -> subprocess.Popen:
        command = [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            _server_script(),
            str(server_end.fileno()),
            str(len(self.preload)),
            *self.preload,
            *sandbox._import_paths(),
        ]
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=sandbox._child_environment(tempfile.gettempdir()),
            pass_fds=(server_end.fileno(),),
            start_new_session=True,
        )

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None


class ForkedRunner:
    """The caller's handle on a runner forked by a `ForkServer`.

    The server keeps the runner unreaped until `wait`, so the runner's pid, which is
    also its process group id, cannot be reused while the caller may signal it.
    """

    def __init__(self, server: ForkServer, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int):
        self.server = server
        self.pid = pid
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self._stdin_open = True

    def has_exited(self) -> bool:
        return self.server.exit_code(self.pid, wait=False) is not None

    def close_stdin(self) -> None:
        if self._stdin_open:
            os.close(self.stdin_fd)
            self._stdin_open = False

    def wait(self) -> int | None:
        """Reap the runner and return its exit code, or None when the server is gone."""
        return self.server.exit_code(self.pid, wait=True)

    def close(self) -> None:
        self.close_stdin()
        for fd in (self.stdout_fd, self.stderr_fd):
            try:
                os.close(fd)
            except OSError:
                pass


# The functions below run inside the server. `_server_script` copies their source
# text into the server's ``-c`` argument together with the runner's functions from
# `evolve.sandbox`, so they must import every module they use themselves.


def _server_main(argv: list[str]) -> None:
    """Import the preload modules, report failures, then handle requests until the caller leaves."""
    import importlib
    import os
    import socket
    import sys

    control = socket.socket(fileno=int(argv[0]))
    count = int(argv[1])
    preload, paths = argv[2 : 2 + count], argv[2 + count :]
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)

    failures = []
    for name in [*_ALWAYS_PRELOADED, *preload]:
        try:
            importlib.import_module(name)
        except Exception as error:
            failures.append(f"{name}: {type(error).__name__}: {error}")
    control.send(_pack(["ready", failures]))

    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE_BYTES, 8)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)
        request = _unpack(message)
        if request[0] == "spawn":
            reply = _spawn_runner(control, request[1:], fds, paths)
        else:
            for fd in fds:
                os.close(fd)
            reply = ["status", _runner_exit_code(request[1], request[2])]
        control.send(_pack(reply))


def _spawn_runner(control: Any, request: list, fds: list[int], paths: list[str]) -> list:
    """Fork a runner with the request's pipes and environment; return ``["pid", pid]``."""
    import os

    runner_arguments, scratch, environment = request
    if len(fds) != 5:
        for fd in fds:
            os.close(fd)
        return ["error", f"expected 5 file descriptors, got {len(fds)}"]
    pid = os.fork()
    if pid == 0:
        # The runner must never return into the server loop, whatever happens.
        try:
            _become_runner(control, fds, scratch, environment, runner_arguments, paths)
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    return ["pid", pid]


def _become_runner(
    control: Any, fds: list[int], scratch: str, environment: dict, runner_arguments: list, paths: list
) -> None:
    import os
    import sys

    control.close()
    os.setsid()
    stdin_fd, stdout_fd, stderr_fd, status_fd, result_fd = fds
    for fd, target in ((stdin_fd, 0), (stdout_fd, 1), (stderr_fd, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(environment)
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # the server's cached TMPDIR is not this run's
    # The same argv as a fresh runner: python -c SCRIPT STATUS_FD RESULT_FD LIMITS... PATHS...
    sys.argv = ["-c", str(status_fd), str(result_fd), *runner_arguments, *paths]
    _runner_main(sys.argv[1:])


def _runner_exit_code(pid: int, wait: bool) -> int | None:
    """Return a runner's exit code; reap it only when ``wait`` is set."""
    import os

    try:
        if not wait:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                return None
            return os.waitstatus_to_exitcode(_wait_status(info))
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        return None


def _wait_status(info: Any) -> int:
    """Convert a ``waitid`` result to the status word that ``waitpid`` returns."""
    import os

    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xFF) << 8
    return info.si_status & 0x7F


_SERVER_FUNCTIONS = (_server_main, _spawn_runner, _become_runner, _runner_exit_code, _wait_status)


@functools.cache
def _server_script() -> str:
    """Return the source of the server program passed to ``python -c``."""
    constants = {"_MAX_MESSAGE_BYTES": _MAX_MESSAGE_BYTES, "_ALWAYS_PRELOADED": _ALWAYS_PRELOADED}
    return sandbox_child.script("_server_main(sys.argv[1:])", _SERVER_FUNCTIONS, constants)
