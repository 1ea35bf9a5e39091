"""The console scripts name the extra to install when an optional dependency is missing."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import scaled
from vilnius_client._scripts import EXTRAS, MISSING_EXTRA

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "blocked", "extra"),
    [
        ("mock_server", "aiosqlite", "server"),
        ("mock_server", "jwt", "server"),
        ("sim", "hdrh", "sim"),
    ],
)
def test_a_missing_extra_is_one_line(script: str, blocked: str, extra: str) -> None:
    # A fresh interpreter in which `blocked` cannot be imported, as after `pip install
    # vilnius-client` without the extra (the install check in .ci/ does it for real).
    program = (
        f"import sys; sys.modules[{blocked!r}] = None; "
        f"from vilnius_client._scripts import {script}; sys.exit({script}())"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert result.returncode == MISSING_EXTRA
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(
        f"install it with: pip install 'vilnius-client[{extra}]'"
        f" (from a clone of the repository: pip install '.[{extra}]')"
    )
    assert f"no module named {blocked!r}" in lines[0]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_each_optional_module_comes_with_its_extra_and_not_with_the_base() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(requirement) for requirement in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    for module, extra in EXTRAS.items():
        names = {name.lower() for name in distributions[module]}
        listed = {_name(requirement) for requirement in project["optional-dependencies"][extra]}
        assert names & listed, (module, extra)
        assert not names & base, module
