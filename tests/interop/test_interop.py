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
import shutil
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
SCRIPT: Final = HERE / "flows.js"
TIMEOUT_SCALE: Final = float(os.environ.get("VILNIUS_TEST_TIMEOUT_SCALE", "1"))
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    """Poll ``/health`` until the server answers (the subprocess is given its port)."""
    deadline = asyncio.get_running_loop().time() + 15 * TIMEOUT_SCALE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"the server exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the server did not become healthy")
            # Polling a child process for readiness: there is no event to await.
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _server(*auth_args: str) -> AsyncIterator[str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        ":memory:",
        *auth_args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            await _wait_healthy(url, process)
        except AssertionError:
            process.kill()
            assert process.stderr is not None
            error = (await process.stderr.read()).decode(errors="replace")
            await process.wait()
            raise AssertionError(f"server did not start:\n{error[-3000:]}") from None
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10 * TIMEOUT_SCALE)
            except TimeoutError:
                process.kill()
                await process.wait()
        if process.stderr is not None:
            await process.stderr.read()


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


async def test_js_client_against_auth_none() -> None:
    """Every flow of the seed with socket.io-client 4, server started with ``--auth none``."""
    async with _server("--auth", "none") as url:
        records = await _run_flows(url)
    passed = _checks(records)
    assert "customer message via POST /api/messages -> new-message" in passed
    assert len(passed) >= 20, sorted(passed)


async def test_js_client_against_auth_token() -> None:
    """The same flows plus every §8 denial, server started with ``--auth token --agent-key``."""
    async with _server("--auth", "token", "--agent-key", AGENT_KEY) as url:
        records = await _run_flows(url, "--agent-key", AGENT_KEY)
    passed = _checks(records)
    denials = {check for check in passed if check.startswith("§8")}
    assert len(denials) == 8, sorted(denials)
