"""``./dev`` on first use: it says what it sets up instead of a silent minute (issue 20).

A fake interpreter stands in for the virtual environment (``VILNIUS_VENV``), so that the
test sees what ``./dev`` says and runs without installing anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import scaled
from tests.examples.helpers import ROOT

FIRST_RUN = (
    "dev: setting up {venv} (first run, about a minute): the package with every extra"
    " (server, sim, testing) and the test, lint and docs tools: pip install -e '.[dev,docs]'"
)


def _fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A ``VILNIUS_VENV`` whose ``bin/python`` only logs how it was called."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "python $*" >> "{log}"\n')
    python.chmod(0o755)
    return venv, log


def _dev(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VILNIUS_VENV": str(venv)}
    return subprocess.run(
        [str(ROOT / "dev"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


@pytest.mark.parametrize(("command", "runs"), [("demo", "examples/demo.py"), ("test", "-m pytest")])
def test_the_first_run_says_what_it_installs(tmp_path: Path, command: str, runs: str) -> None:
    venv, log = _fake_venv(tmp_path)
    first = _dev(venv, command, "--version")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [FIRST_RUN.format(venv=venv), f"dev: {venv} is ready"]
    calls = log.read_text().splitlines()
    assert calls[1] == "python -m pip install -q -e .[dev,docs]"
    assert calls[-1].startswith(f"python {runs}")

    again = _dev(venv, command, "--version")  # set up: nothing to say
    assert (again.returncode, again.stderr) == (0, "")


def test_a_changed_pyproject_says_it_updates(tmp_path: Path) -> None:
    venv, _ = _fake_venv(tmp_path)
    assert _dev(venv, "demo", "--version").returncode == 0
    stamp = venv / ".installed"
    past = (ROOT / "pyproject.toml").stat().st_mtime - 60
    os.utime(stamp, (past, past))  # as if pyproject.toml were edited since
    again = _dev(venv, "demo", "--version")
    assert again.stderr.splitlines() == [
        f"dev: pyproject.toml changed: updating {venv} (pip install -e '.[dev,docs]')",
        f"dev: {venv} is ready",
    ]
