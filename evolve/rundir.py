"""The run directory: leaderboard, stats, checkpoint and program files, written atomically.

Layout:
    leaderboard.csv      one row per program, best first
    stats.json           counters: candidates, evaluations, cache hits, best score, time
    checkpoint.msgpack   everything ``--resume`` needs (msgpack: loading runs no code)
    run.json             problem, settings and search settings, for people and tools
    programs/            full text of the leaderboard's programs

Every file is written to a temporary file in the same folder and renamed over
the old one, so a crash leaves either the old or the new file, never a torn one.
"""

import csv
import datetime
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack

from evolve.errors import UserInputError

CHECKPOINT = "checkpoint.msgpack"
LEADERBOARD = "leaderboard.csv"
STATS = "stats.json"
RUN_INFO = "run.json"
PROGRAMS = "programs"
CHECKPOINT_FORMAT = "evolve-checkpoint"
CHECKPOINT_VERSION = 1


def default_run_dir(problem: str, now: datetime.datetime | None = None) -> Path:
    """Return ``runs/<problem>-<UTC timestamp>``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return Path("runs") / f"{problem}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def _json_safe(value: Any) -> Any:
    # JSON has no inf or nan; write them as strings that Python's float() reads back.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_value(row.get(c, "")) for c in columns})
    write_atomic(path, buffer.getvalue())


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return value


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_checkpoint(run_dir: Path, state: Mapping[str, Any]) -> None:
    """Write ``checkpoint.msgpack`` from msgpack-friendly data."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    write_atomic(Path(run_dir) / CHECKPOINT, msgpack.packb(payload, use_bin_type=True))


def read_checkpoint(run_dir: Path) -> dict:
    """Read and check ``checkpoint.msgpack``.

    Raises:
        UserInputError: if the folder is not a run directory or the checkpoint is
            corrupt, of another format or of an unknown version.
    """
    path = Path(run_dir) / CHECKPOINT
    require_run_dir(run_dir)
    try:
        data = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    except (OSError, ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise UserInputError(
            f"checkpoint {str(path)!r} is corrupt ({error}); start a new run with another --out."
        ) from error
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise UserInputError(
            f"{str(path)!r} is not an evolve checkpoint; it may come from another tool. "
            "Start a new run with another --out."
        )
    if data.get("version") != CHECKPOINT_VERSION:
        raise UserInputError(
            f"checkpoint {str(path)!r} has version {data.get('version')!r}, but this evolve "
            f"reads version {CHECKPOINT_VERSION}; resume it with the evolve that wrote it."
        )
    return data


def require_run_dir(run_dir: Path) -> Path:
    """Return ``run_dir`` if it holds a run, else raise UserInputError saying what it lacks."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise UserInputError(f"{str(run_dir)!r} is a file, not a run directory; pass the --out folder of a run.")
    if not run_dir.is_dir():
        raise UserInputError(f"run directory {str(run_dir)!r} not found; pass the --out folder of a run.")
    if not (run_dir / CHECKPOINT).is_file():
        raise UserInputError(
            f"{str(run_dir)!r} is not a run directory: it has no {CHECKPOINT}. "
            "Pass the --out folder of an `evolve run`."
        )
    return run_dir


def has_run(run_dir: Path) -> bool:
    """Return whether ``run_dir`` already holds files of a run."""
    run_dir = Path(run_dir)
    return any((run_dir / name).exists() for name in (CHECKPOINT, LEADERBOARD, STATS))
