"""The persistent JAX compilation cache: where it lives and that it is used."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evolve import jax_setup

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", ["off", "OFF", "0", "none", "false"])
def test_cache_dir_turned_off(monkeypatch, value):
    monkeypatch.setenv(jax_setup.CACHE_ENVIRONMENT_VARIABLE, value)

    assert jax_setup.default_cache_dir() is None


def test_cache_dir_from_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(jax_setup.CACHE_ENVIRONMENT_VARIABLE, str(tmp_path / "jax"))

    assert jax_setup.default_cache_dir() == tmp_path / "jax"


def test_cache_dir_under_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv(jax_setup.CACHE_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    assert jax_setup.default_cache_dir() == tmp_path / "evolve" / "jax"


FIT_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from evolve.program import Instruction, Program
    from problems.symbolic_regression.fitting import fit_constants

    inputs = np.linspace(1.0, 3.0, 23)[:, None]
    program = Program(1, (Instruction("const", (), 1.0), Instruction("mul", (0, 1))))
    fitted, losses = fit_constants([program], inputs, 2.0 * inputs[:, 0], iterations=3)
    print(repr(float(fitted[0].constants()[0])))
    """
)


def run_fit(cache_dir: Path) -> str:
    environment = {**os.environ, jax_setup.CACHE_ENVIRONMENT_VARIABLE: str(cache_dir), "PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT], capture_output=True, text=True, env=environment, timeout=300, check=True
    )
    return result.stdout.strip()


def test_fresh_process_fills_and_reuses_cache(tmp_path):
    cache_dir = tmp_path / "jax"

    first = run_fit(cache_dir)
    entries = sorted(path.name for path in cache_dir.iterdir())
    second = run_fit(cache_dir)

    assert any(name.startswith("jit__fit_") for name in entries)
    assert sorted(path.name for path in cache_dir.iterdir()) == entries
    assert first == second
    assert abs(float(first) - 2.0) < 1e-9
