"""The code that runs inside the sandbox: the runner and worker processes.

`evolve.sandbox` starts the runner with ``python -c`` and a script assembled from
the source of `_CHILD_FUNCTIONS`; the fork server (`evolve.sandbox_server`)
defines the same functions. So the functions here import every module they use
themselves and refer only to each other and to the constants below. The caller
imports `_pack` and `_unpack` from here too, so both ends of the result pipe
share one wire format.

Wire format: msgpack, never pickle. Tuples, complex numbers, numpy arrays and
numpy scalars travel as msgpack extension types. A result frame is an 8-byte
big-endian length followed by that many msgpack bytes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# msgpack extension type codes, shared by the caller and the worker.
_EXT_NDARRAY = 1
_EXT_NUMPY_SCALAR = 2
_EXT_TUPLE = 3
_EXT_COMPLEX = 4

# A result frame is an 8-byte big-endian length followed by that many msgpack bytes.
_FRAME_HEADER_BYTES = 8

# Most extension values (tuples, arrays) nested in one another that `_unpack` decodes.
_MAX_EXTENSION_DEPTH = 64


def _pack(value: Any) -> bytes:
    """Encode a value with msgpack, using extension types for tuples, complex and numpy."""
    import msgpack

    return msgpack.packb(value, default=_pack_extension, use_bin_type=True, strict_types=True)


def _pack_extension(value: Any) -> Any:
    """Convert a value that msgpack cannot encode as is, or raise TypeError."""
    import struct
    import sys

    import msgpack

    # numpy objects can only exist once numpy is imported, so a program without
    # numpy does not pay for importing it here.
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, (numpy.ndarray, numpy.generic)):
        dtype = value.dtype
        if dtype.hasobject or dtype.kind == "V":
            raise TypeError(
                f"cannot serialize a numpy value of dtype {dtype}. "
                "Use a numeric, bool, str or datetime dtype"
            )
        if isinstance(value, numpy.generic):
            return msgpack.ExtType(_EXT_NUMPY_SCALAR, _pack([dtype.str, value.tobytes()]))
        # tobytes() writes C order whatever the memory layout of the array.
        header_and_data = [dtype.str, list(value.shape), value.tobytes(order="C")]
        return msgpack.ExtType(_EXT_NDARRAY, _pack(header_and_data))

    if isinstance(value, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _pack(list(value)))
    if isinstance(value, complex):
        return msgpack.ExtType(_EXT_COMPLEX, struct.pack("<dd", value.real, value.imag))

    # With strict_types, msgpack passes subclasses of built-in types (IntEnum,
    # OrderedDict, str enums) to this function, which encodes them as the base type.
    for base in (int, float, str, bytes, bytearray, dict, list):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"cannot serialize an object of type {type(value).__qualname__}")


def _unpack(data: bytes, depth: int = 0) -> Any:
    """Decode bytes written by `_pack`.

    Each extension value (a tuple, an array) is decoded by a nested call, and
    ``depth`` counts these calls. A value nested deeper than
    `_MAX_EXTENSION_DEPTH` raises ValueError, because about 200 nested tuples
    overflow the C stack and kill the decoding process.
    """
    import msgpack

    if depth > _MAX_EXTENSION_DEPTH:
        raise ValueError(f"extension values nested deeper than {_MAX_EXTENSION_DEPTH}")
    return msgpack.unpackb(
        data,
        ext_hook=lambda code, payload: _unpack_extension(code, payload, depth + 1),
        raw=False,
        strict_map_key=False,
        use_list=True,
    )


def _unpack_extension(code: int, data: bytes, depth: int = 1) -> Any:
    import struct

    if code == _EXT_TUPLE:
        return tuple(_unpack(data, depth))
    if code == _EXT_COMPLEX:
        real, imag = struct.unpack("<dd", data)
        return complex(real, imag)
    if code not in (_EXT_NDARRAY, _EXT_NUMPY_SCALAR):
        raise ValueError(f"unknown msgpack extension type {code}")

    import numpy

    if code == _EXT_NUMPY_SCALAR:
        dtype_str, raw = _unpack(data, depth)
        dtype = numpy.dtype(dtype_str)
        if dtype.hasobject:
            raise ValueError(f"rejected numpy scalar of dtype {dtype}")
        return numpy.frombuffer(raw, dtype=dtype)[0]

    dtype_str, shape, raw = _unpack(data, depth)
    dtype = numpy.dtype(dtype_str)
    if dtype.hasobject:
        raise ValueError(f"rejected numpy array of dtype {dtype}")
    # frombuffer returns a read-only view of the message, so copy to a writable array.
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _landlock_abi() -> int:
    """Return the kernel's Landlock ABI version, or 0 where Landlock is missing."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    libc.syscall.restype = ctypes.c_long
    landlock_create_ruleset = 444  # the same number on x86-64, arm64 and most other architectures
    landlock_create_ruleset_version = 1
    version = libc.syscall(landlock_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(landlock_create_ruleset_version))
    return max(int(version), 0)


def _apply_landlock(scratch: str) -> int:
    """Confine this process and its children as `SandboxLimits.landlock` describes.

    Returns:
        The Landlock ABI version used, or 0 where the kernel has no Landlock.

    Raises:
        OSError: if the kernel has Landlock but rejects the rules.
    """
    import ctypes
    import os
    import struct

    abi = _landlock_abi()
    if abi < 1:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    # Access rights from <linux/landlock.h>: WRITE_FILE, REMOVE_DIR, REMOVE_FILE,
    # MAKE_CHAR ... MAKE_SYM, then REFER (ABI 2) and TRUNCATE (ABI 3).
    write_file, truncate = 1 << 1, 1 << 14
    write_rights = write_file | (1 << 4) | (1 << 5) | sum(1 << bit for bit in range(6, 13))
    if abi >= 2:
        write_rights |= 1 << 13
    if abi >= 3:
        write_rights |= truncate
    file_rights = write_file | (truncate if abi >= 3 else 0)
    # struct landlock_ruleset_attr: handled_access_fs, handled_access_net (ABI 4:
    # BIND_TCP, CONNECT_TCP), scoped (ABI 6: ABSTRACT_UNIX_SOCKET, SIGNAL).
    fields = [write_rights]
    if abi >= 4:
        fields.append(0b11)
    if abi >= 6:
        fields.append(0b11)
    attribute = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields), 8 * len(fields))

    def check(result: int, call: str) -> int:
        if result < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"{call} failed: {os.strerror(error)}")
        return result

    ruleset = check(libc.syscall(444, attribute, ctypes.c_size_t(8 * len(fields)), ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path, rights in ((scratch, write_rights), (os.devnull, file_rights)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                # struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
                rule_path_beneath = 1
                check(libc.syscall(445, ctypes.c_int(ruleset), ctypes.c_int(rule_path_beneath), rule, ctypes.c_uint32(0)), "landlock_add_rule")
            finally:
                os.close(fd)
        pr_set_no_new_privs = 38
        check(libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        check(libc.syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process, returning False where unsupported.

    PR_SET_CHILD_SUBREAPER exists on Linux 3.4 and later.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_child_subreaper = 36  # from <linux/prctl.h>
        return libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill_process_group(pid: int) -> None:
    import os
    import signal

    for send in (os.killpg, os.kill):
        try:
            send(pid, signal.SIGKILL)
        except OSError:
            pass


def _child_pids() -> list[int]:
    """Return the pids whose parent is this process, read from /proc (Linux)."""
    import os

    parent = str(os.getpid())
    children = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return children
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # Fields after the command name: state, ppid, pgrp, ...
        if len(fields) > 1 and fields[1].decode() == parent:
            children.append(int(name))
    return children


def _reap_children(limit_s: float) -> int:
    """Kill and reap every child of this process.

    Returns:
        0 when all children were reaped, else the number still alive after limit_s.
    """
    import os
    import time

    give_up_at = time.monotonic() + limit_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid:
            continue
        live = _child_pids()
        if time.monotonic() > give_up_at:
            return max(len(live), 1)
        for child in live:
            _kill_process_group(child)
        time.sleep(0.001)


def _run_candidate(request: dict) -> tuple[str, Any]:
    """Import the program and call its entry function.

    Returns:
        ("ok", return value) or ("error", reason).
    """
    import sys

    source = request["source"]
    entry = request["entry"]
    kwargs = request["kwargs"]

    def print_traceback(error: BaseException, traceback_start: Any) -> None:
        import linecache
        import traceback

        lines = source.splitlines(keepends=True)
        linecache.cache["<candidate>"] = (len(source), None, lines, "<candidate>")
        try:
            traceback.print_exception(type(error), error, traceback_start)
        except Exception:
            pass

    def describe(error: BaseException) -> str:
        try:
            message = str(error)
        except Exception:
            message = "<message could not be converted to str>"
        if len(message) > 500:
            message = message[:500] + "..."
        return f"{type(error).__name__}: {message}" if message else type(error).__name__

    try:
        code = compile(source, "<candidate>", "exec")
    except SyntaxError as error:
        print_traceback(error, None)
        return "error", f"syntax error at line {error.lineno}: {error.msg}"
    except ValueError as error:
        return "error", f"invalid source: {describe(error)}"

    module = type(sys)("candidate")
    sys.modules["candidate"] = module
    try:
        exec(code, module.__dict__)
        function = module.__dict__.get(entry)
        if function is None:
            import difflib

            names = [name for name in module.__dict__ if not name.startswith("__")]
            close = difflib.get_close_matches(entry, names, n=1)
            hint = f". Did you mean {close[0]!r}?" if close else ""
            return "error", f"entry function {entry!r} not found in the source{hint}"
        if not callable(function):
            return "error", f"entry {entry!r} is a {type(function).__name__}, not a function"
        return "ok", function(**kwargs)
    except MemoryError as error:
        print_traceback(error, error.__traceback__.tb_next)
        return "error", f"memory limit exceeded ({describe(error)})"
    except SystemExit as error:
        return "error", f"called sys.exit({error.code!r}) before returning"
    except BaseException as error:
        # Skip this function's own frame so the traceback starts in the program.
        print_traceback(error, error.__traceback__.tb_next)
        return "error", f"raised {describe(error)}"


def _worker_main(result_fd: int, argv: list[str]) -> None:
    """Set the limits, run the program and write the result frame, then exit."""
    import os
    import resource
    import sys

    import faulthandler

    # A crash in C code (SIGSEGV, SIGABRT) then leaves a Python traceback on stderr.
    faulthandler.enable()

    memory_bytes, cpu_s, file_bytes, landlock = (int(value) for value in argv[:4])
    for path in argv[4:]:
        if path not in sys.path:
            sys.path.append(path)

    # (resource, soft limit, hard limit). The hard CPU limit one second after the
    # soft one turns an ignored SIGXCPU into SIGKILL.
    limits = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_FSIZE, file_bytes, file_bytes),
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
        (resource.RLIMIT_AS, memory_bytes, memory_bytes),
    ]
    for kind, soft, hard in limits:
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:
            soft = min(soft, current_hard)
            hard = min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))

    confinement_error = ""
    if landlock:
        try:
            _apply_landlock(os.getcwd())
        except OSError as error:
            confinement_error = f"Landlock confinement failed: {error}"

    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    if confinement_error:
        status, payload = "error", confinement_error
    else:
        status, payload = _run_candidate(_unpack(b"".join(chunks)))
    del chunks
    try:
        body = _pack([status, payload])
    except MemoryError:
        body = _pack(["error", "memory limit exceeded while serializing the result"])
    except Exception as error:
        # Converting a subclass of a built-in type runs the program's own methods,
        # which can raise anything, including an exception whose str() raises.
        try:
            message = f"result is not serializable: {error}"
        except Exception:
            message = f"result is not serializable: {type(error).__name__}"
        body = _pack(["error", message])

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    frame = memoryview(len(body).to_bytes(_FRAME_HEADER_BYTES, "big") + body)
    try:
        while frame:
            frame = frame[os.write(result_fd, frame) :]
    except OSError:
        os._exit(1)
    # os._exit skips atexit handlers and does not wait for threads the program started.
    os._exit(0)


def _runner_main(argv: list[str]) -> None:
    """Fork the worker, wait for it, kill and reap everything it left, then exit."""
    import os
    import signal

    status_fd, result_fd = int(argv[0]), int(argv[1])
    _become_subreaper()

    state = {"worker": None, "stop": False}

    def stop_worker(signum: int, frame: Any) -> None:
        state["stop"] = True
        if state["worker"] is not None:
            _kill_process_group(state["worker"])

    signal.signal(signal.SIGTERM, stop_worker)
    worker = os.fork()
    if worker == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(status_fd)
        os.setpgid(0, 0)
        _worker_main(result_fd, argv[2:])

    os.close(result_fd)
    state["worker"] = worker
    try:
        # Both sides set the group, so it exists whichever runs first.
        os.setpgid(worker, worker)
    except OSError:
        pass
    if state["stop"]:
        _kill_process_group(worker)
    os.write(status_fd, f"worker {worker}\n".encode())

    # Wait without reaping, so the worker's pid, which is also its process group
    # id, cannot be reused before the group is killed.
    os.waitid(os.P_PID, worker, os.WEXITED | os.WNOWAIT)
    _kill_process_group(worker)
    _, wait_status = os.waitpid(worker, 0)
    stray = _reap_children(limit_s=1.0)
    exit_code = os.waitstatus_to_exitcode(wait_status)
    os.write(status_fd, f"exit {exit_code}\nstray {stray}\n".encode())
    os._exit(0)


_CHILD_FUNCTIONS = (
    _landlock_abi,
    _apply_landlock,
    _pack,
    _pack_extension,
    _unpack,
    _unpack_extension,
    _become_subreaper,
    _kill_process_group,
    _child_pids,
    _reap_children,
    _run_candidate,
    _worker_main,
    _runner_main,
)


def script(main: str, functions: Sequence[Callable] = (), constants: Mapping[str, Any] | None = None) -> str:
    """Return a program for ``python -c``: the child functions, then ``functions``, then ``main``.

    Args:
        main: the statement that starts the program, e.g. ``_runner_main(sys.argv[1:])``.
        functions: more functions to define after `_CHILD_FUNCTIONS`.
        constants: more module constants, written with ``repr``.
    """
    values = {
        "_EXT_NDARRAY": _EXT_NDARRAY,
        "_EXT_NUMPY_SCALAR": _EXT_NUMPY_SCALAR,
        "_EXT_TUPLE": _EXT_TUPLE,
        "_EXT_COMPLEX": _EXT_COMPLEX,
        "_FRAME_HEADER_BYTES": _FRAME_HEADER_BYTES,
        "_MAX_EXTENSION_DEPTH": _MAX_EXTENSION_DEPTH,
        **(constants or {}),
    }
    parts = ["from __future__ import annotations", "import sys", "from typing import Any"]
    parts += [f"{name} = {value!r}" for name, value in values.items()]
    parts += [inspect.getsource(function) for function in (*_CHILD_FUNCTIONS, *functions)]
    parts.append(main)
    return "\n\n".join(parts) + "\n"
