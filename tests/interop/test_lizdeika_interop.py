"""Interop: the real JavaScript ``socket.io-client`` 4 plays production's dashboard and widget.

``lizdeika_flows.js`` drives ``python -m mock_server --profile lizdeika`` (started as a user
would) through the flows of PRODUCTION.md: login, a dashboard join that is never
acknowledged, heartbeat, a widget's ``session-…`` conversation, hitl / autopilot / off,
typing both ways, respond and ``agent-sent-message``, current-state, the 429 rate limit and
JWT-only endpoints refused without a token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tests.interop.harness import MARKS, passed_checks, run_flows, server

pytestmark = MARKS

EMAIL: Final = "bot@example.com"
PASSWORD: Final = "secret"


async def test_js_client_plays_production(tmp_path: Path) -> None:
    args = ("--profile", "lizdeika", "--agent-user", f"{EMAIL}:{PASSWORD}:Bot")
    async with server(tmp_path / "server.log", *args) as url:
        records = await run_flows(
            "lizdeika_flows.js", url, "--email", EMAIL, "--password", PASSWORD
        )
    passed = passed_checks(records)
    assert len(passed) == 13, sorted(passed)
