"""Interop: the calls of production's own web clients, replayed with the JS socket.io-client.

``production_web_flows.js`` plays ``login.html``, ``setup-2fa.html``, the dashboard
(``agent-dashboard.html`` and ``js/agent-dashboard/**``) and ``widget.js`` of Lizdeika at
0dec8e5, call by call and event by event as their code makes them (each check names the file
and line), against ``python -m mock_server --profile lizdeika`` started as a user would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tests.interop.harness import MARKS, passed_checks, run_flows, server

pytestmark = MARKS

AGENT: Final = ("agent@example.com", "agent-pass")
SECOND: Final = ("second@example.com", "second-pass")


async def test_production_web_clients_flow(tmp_path: Path) -> None:
    args = ("--profile", "lizdeika")
    users = (
        "--agent-user",
        f"{AGENT[0]}:{AGENT[1]}:Agent",
        "--agent-user",
        f"{SECOND[0]}:{SECOND[1]}",
    )
    async with server(tmp_path / "server.log", *args, *users) as url:
        records = await run_flows(
            "production_web_flows.js",
            url,
            *("--email", AGENT[0], "--password", AGENT[1]),
            *("--email2", SECOND[0], "--password2", SECOND[1]),
        )
    passed = passed_checks(records)
    assert len(passed) == 19, sorted(passed)
