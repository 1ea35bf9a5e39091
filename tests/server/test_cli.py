"""The ``vilnius-mock-server`` command line, run as a subprocess."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import scaled
from tests.server.helpers import Api

STARTUP = scaled(30.0)


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_server",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Press Ctrl+C"):
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP)
        if not line:
            break
        lines.append(line.decode().strip())
    return process, lines


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), STARTUP)


def _url(lines: list[str]) -> str:
    match = re.search(r"listening on (http://\S+)", lines[0])
    assert match, lines
    return match.group(1)


async def test_token_mode_prints_generated_key(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    process, lines = await _start("--db", str(db), "--log-level", "warning")
    try:
        url = _url(lines)
        key_file = Path(f"{db}.agent-key")
        key = key_file.read_text().strip()  # noqa: ASYNC240 - a tiny local file
        assert key_file.stat().st_mode & 0o777 == 0o600  # noqa: ASYNC240
        assert not any(key in line for line in lines)  # #11: the banner never shows the key
        assert any(str(key_file) in line for line in lines)
        async with Api(url) as api:
            assert (await api.get("/health")).body["status"] == "ok"
            token = await api.agent_token("a1", key)
            reply = await api.post("/api/messages", {"conversationId": "c1", "message": "hi"})
            assert reply.status == 200
            assert (await api.get("/api/messages", token=token)).body["lastSeq"] == 1
    finally:
        code = await _stop(process)
    assert code == 0
    assert db.exists()


@pytest.mark.parametrize(
    ("args", "expect_key"),
    [(["--auth", "none"], False), (["--auth", "token", "--agent-key", "secret-k"], True)],
)
async def test_given_key_or_no_auth(args: list[str], expect_key: bool) -> None:
    process, lines = await _start("--db", ":memory:", *args)
    try:
        assert not any(line.startswith("Generated agent key") for line in lines)
        assert not any("secret-k" in line for line in lines)
        async with Api(_url(lines)) as api:
            status = (await api.get("/api/messages")).status
            assert status == (401 if expect_key else 200)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl+C stops as cleanly as SIGTERM
        assert await asyncio.wait_for(process.wait(), STARTUP) == 0
