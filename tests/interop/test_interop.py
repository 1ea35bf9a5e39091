"""Interop: the real JavaScript ``socket.io-client`` 4 against the reference server.

``flows.js`` drives the server as the production agent dashboard and customer widget do,
through every flow of CONTRACT.md (and each §8 denial in token mode). The server runs as a
subprocess started exactly as a user would start it (``python -m mock_server``), once per
auth mode (tests/interop/harness.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tests.interop.harness import MARKS, passed_checks, run_flows, server

AGENT_KEY: Final = "interop-agent-key"

pytestmark = MARKS


async def test_js_client_against_auth_none(tmp_path: Path) -> None:
    """Every flow of the seed with socket.io-client 4, server started with ``--auth none``."""
    async with server(tmp_path / "server.log", "--auth", "none") as url:
        records = await run_flows("flows.js", url)
    passed = passed_checks(records)
    assert "customer message via POST /api/messages -> new-message" in passed
    assert len(passed) >= 20, sorted(passed)


async def test_js_client_against_auth_token(tmp_path: Path) -> None:
    """The same flows plus every §8 denial, server started with ``--auth token --agent-key``."""
    async with server(tmp_path / "server.log", "--auth", "token", "--agent-key", AGENT_KEY) as url:
        records = await run_flows("flows.js", url, "--agent-key", AGENT_KEY)
    passed = passed_checks(records)
    denials = {check for check in passed if check.startswith("§8")}
    assert len(denials) == 8, sorted(denials)
