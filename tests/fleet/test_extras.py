"""The fleet and the metrics are extras: without them nothing changes, and a missing one is
one line that names it (checked in fresh interpreters where the module cannot be imported)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import scaled


def python(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )


def test_a_bot_without_a_fleet_loads_none_of_it() -> None:
    # Only vilnius_client.fleet._store imports redis-py. (python-socketio imports redis-py
    # by itself when it is installed, for its own Redis manager: not ours to stop.)
    result = python(
        "import sys\n"
        "from vilnius_client import AgentClient\n"
        "AgentClient('http://127.0.0.1:9', agent_id='bot')\n"
        "loaded = [m for m in sys.modules if m in ('vilnius_client.fleet._store',"
        " 'vilnius_client.metrics')]\n"
        "print(loaded)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("blocked", "program", "extra"),
    [
        ("redis", "from vilnius_client.fleet import RedisFleet; RedisFleet()", "fleet"),
        ("opentelemetry", "import vilnius_client.metrics", "otel"),
    ],
)
def test_a_missing_extra_is_one_line_that_names_it(blocked: str, program: str, extra: str) -> None:
    result = python(
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"try:\n    {program}\n"
        "except ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        f"install it with: pip install 'vilnius-client[{extra}]'"
        f" (from a clone of the repository: pip install '.[{extra}]')"
    )
