"""Verification records: which exact programs passed the exhaustive check, kept in the run directory.

A record is keyed by a fingerprint of the program's exact ops, arguments and
float32 constants, plus the semantics it was checked under, so a record never
vouches for another program, not even one with the same functional hash.
"""

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evolve import rundir
from evolve.program import Program

logger = logging.getLogger(__name__)

RECORDS_FILE = "verification.json"
# Changes whenever the float32 semantics or the checked range change.
SEMANTICS = "binary32-rne-fused-fma-ftz; range [-ln2/2, ln2/2]; v1"


def fingerprint(program: Program) -> str:
    """Return a hex digest of the exact program and the semantics it is checked under."""
    text = json.dumps({"semantics": SEMANTICS, "program": program.to_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Return the records of a run directory, or {} if it has none or the file is unreadable."""
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable verification records %s: %s", path, error)
        return {}
    return data if isinstance(data, dict) else {}


def store(run_dir: Path, program: Program, record: Mapping[str, Any]) -> None:
    """Add or replace the record of ``program`` in the run directory."""
    records = load(run_dir)
    records[fingerprint(program)] = dict(record)
    rundir.write_atomic(Path(run_dir) / RECORDS_FILE, json.dumps(records, indent=2, sort_keys=True) + "\n")


def lookup(run_dir: Path, program: Program) -> dict[str, Any] | None:
    """Return the record of exactly ``program``, or None."""
    return load(run_dir).get(fingerprint(program))
