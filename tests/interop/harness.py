"""The Python side of the interop tests: the server as a user starts it, and a flow script.

``server`` runs ``python -m mock_server`` as a subprocess on a free loopback port;
``run_flows`` drives it with one of the node scripts of this directory (``flows.js``,
``lizdeika_flows.js``) and checks its JSON-lines report (harness.js). The tests skip only when
``node`` or ``tests/interop/node_modules`` is missing; ``./dev test`` installs the latter with
``npm install``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.conftest import TIMEOUT_SCALE

__all__ = ["MARKS", "listening_url", "passed_checks", "run_flows", "server"]

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
LISTENING: Final = re.compile(r"listening on (http://\S+)")

MARKS: Final = [
    pytest.mark.interop,
    pytest.mark.timeout(int(120 * TIMEOUT_SCALE)),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "socket.io-client").is_dir(),
        reason="socket.io-client is not installed: run `npm install` in tests/interop "
        "(./dev test does it)",
    ),
]
"""The ``pytestmark`` of an interop test module."""


@contextlib.asynccontextmanager
async def server(log: Path, *args: str) -> AsyncIterator[str]:
    """Run ``python -m mock_server`` on a free port; yield its URL once it listens.

    Args:
        log: Where the server's stderr goes (its tail is shown if it exits early).
        *args: More command-line options (``--auth``, ``--profile``...).
    """
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            ":memory:",
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        url = await asyncio.wait_for(listening_url(process.stdout), 20 * TIMEOUT_SCALE)
        if url is None:
            await process.wait()
            raise AssertionError(
                f"the server exited with {process.returncode} before listening:\n" + _tail(log)
            )
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10 * TIMEOUT_SCALE)
            except TimeoutError:
                process.kill()
                await process.wait()
        assert process.returncode in (0, -signal.SIGTERM), (
            f"the server stopped with {process.returncode}"
        )


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def listening_url(stdout: asyncio.StreamReader) -> str | None:
    """The URL of the startup banner's ``listening on <url>`` line (None at end of output)."""
    while line := await stdout.readline():
        if match := LISTENING.search(line.decode(errors="replace")):
            return match.group(1)
    return None


async def run_flows(script: str, url: str, *extra: str) -> list[dict[str, Any]]:
    """Run ``node <script> <url> <extra>`` and return its records, all checks passed.

    Args:
        script: The file name of the flow script in tests/interop.
        url: The server's URL.
        *extra: More command-line options of the script.

    Returns:
        Every JSON line it printed, the summary last.
    """
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(HERE / script),
        url,
        *extra,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "VILNIUS_TEST_TIMEOUT_SCALE": str(TIMEOUT_SCALE)},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 100 * TIMEOUT_SCALE)
    records = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    failed = [record for record in records if record.get("ok") is False]
    report = "\n".join(json.dumps(record) for record in failed) or stdout.decode()[-3000:]
    assert process.returncode == 0, (
        f"{script} exited {process.returncode}:\n{report}\n{stderr.decode()[-2000:]}"
    )
    assert records, f"{script} printed nothing"
    assert records[-1].get("summary") is True
    assert records[-1]["ok"] is True
    return records


def passed_checks(records: list[dict[str, Any]]) -> set[str]:
    """The names of the checks that passed."""
    return {record["check"] for record in records if "check" in record and record["ok"]}
