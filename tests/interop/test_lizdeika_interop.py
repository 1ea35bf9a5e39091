"""Interop: the real JavaScript ``socket.io-client`` 4 plays production's dashboard and widget.

``lizdeika_flows.js`` drives ``python -m mock_server --profile lizdeika`` (started as a user
would) through the flows of PRODUCTION.md: login, a dashboard join that is never
acknowledged, heartbeat, a widget's ``session-…`` conversation, hitl / autopilot / off,
typing both ways, respond and ``agent-sent-message``, current-state, the 429 rate limit and
JWT-only endpoints refused without a token.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import TIMEOUT_SCALE
from tests.interop.test_interop import HERE, _server

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(int(120 * TIMEOUT_SCALE)),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "socket.io-client").is_dir(),
        reason="socket.io-client is not installed: ./dev test installs it",
    ),
]

SCRIPT: Final = HERE / "lizdeika_flows.js"
EMAIL: Final = "bot@example.com"
PASSWORD: Final = "secret"


async def test_js_client_plays_production(tmp_path: Path) -> None:
    args = ("--profile", "lizdeika", "--agent-user", f"{EMAIL}:{PASSWORD}:Bot")
    async with _server(tmp_path / "server.log", *args) as url:
        node = shutil.which("node")
        assert node is not None
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            url,
            "--email",
            EMAIL,
            "--password",
            PASSWORD,
            cwd=HERE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "VILNIUS_TEST_TIMEOUT_SCALE": str(TIMEOUT_SCALE)},
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 100 * TIMEOUT_SCALE)
    records = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    failed = [record for record in records if record.get("ok") is False]
    assert process.returncode == 0, (
        f"lizdeika_flows.js exited {process.returncode}:\n"
        + "\n".join(json.dumps(record) for record in failed)
        + f"\n{stderr.decode()[-2000:]}"
    )
    passed = {record["check"] for record in records if "check" in record and record["ok"]}
    assert len(passed) == 13, sorted(passed)
    assert records[-1]["summary"] is True
