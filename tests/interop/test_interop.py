"""Interop: the real JavaScript ``socket.io-client`` 4 against the reference server.

``flows.js`` drives the server as the production agent dashboard and customer widget do,
through every flow of CONTRACT.md (and each §8 denial in token mode). The server runs as a
subprocess started exactly as a user would start it (``python -m mock_server``), once per
auth mode. The test skips only when ``node`` or ``tests/interop/node_modules`` is missing;
``./dev test`` installs the latter with ``npm install``.
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

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
SCRIPT: Final = HERE / "flows.js"
AGENT_KEY: Final = "interop-agent-key"

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(int(120 * TIMEOUT_SCALE)),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "socket.io-client").is_dir(),
        reason="socket.io-client is not installed: run `npm install` in tests/interop "
        "(./dev test does it)",
    ),
]


LISTENING: Final = re.compile(r"listening on (http://\S+)")


@contextlib.asynccontextmanager
async def _server(log: Path, *auth_args: str) -> AsyncIterator[str]:
    """Run ``python -m mock_server`` on a free port; yield its URL once it listens."""
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
            *auth_args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        url = await asyncio.wait_for(_listening_url(process.stdout), 20 * TIMEOUT_SCALE)
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


async def _listening_url(stdout: asyncio.StreamReader) -> str | None:
    """The URL of the startup banner's ``listening on <url>`` line (None at end of output)."""
    while line := await stdout.readline():
        if match := LISTENING.search(line.decode(errors="replace")):
            return match.group(1)
    return None


async def _run_flows(url: str, *extra: str) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
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
        f"flows.js exited {process.returncode}:\n{report}\n{stderr.decode()[-2000:]}"
    )
    assert records, "flows.js printed nothing"
    assert records[-1].get("summary") is True
    assert records[-1]["ok"] is True
    return records


def _checks(records: list[dict[str, Any]]) -> set[str]:
    return {record["check"] for record in records if "check" in record and record["ok"]}


async def test_js_client_against_auth_none(tmp_path: Path) -> None:
    """Every flow of the seed with socket.io-client 4, server started with ``--auth none``."""
    async with _server(tmp_path / "server.log", "--auth", "none") as url:
        records = await _run_flows(url)
    passed = _checks(records)
    assert "customer message via POST /api/messages -> new-message" in passed
    assert len(passed) >= 20, sorted(passed)


async def test_js_client_against_auth_token(tmp_path: Path) -> None:
    """The same flows plus every §8 denial, server started with ``--auth token --agent-key``."""
    async with _server(tmp_path / "server.log", "--auth", "token", "--agent-key", AGENT_KEY) as url:
        records = await _run_flows(url, "--agent-key", AGENT_KEY)
    passed = _checks(records)
    denials = {check for check in passed if check.startswith("§8")}
    assert len(denials) == 8, sorted(denials)
