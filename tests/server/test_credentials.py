"""Credentials an attacker would try: a rotated agent key, and the login lock (issue 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import socketio

from mock_server import AgentUser, ServerConfig, serve
from mock_server.rest.production_auth import LOGIN_FAILURES
from tests.server.helpers import Api, Recorder

# -- rotating the agent key -----------------------------------------------------------


async def test_a_new_agent_key_revokes_the_agent_tokens_of_the_old_one(tmp_path: Path) -> None:
    db = str(tmp_path / "rotate.db")

    def started(key: str) -> Any:
        return serve(port=0, db=db, auth="token", agent_key=key)

    async with started("key-one") as server, Api(server.url) as api:
        old = await api.agent_token("ada", "key-one")
        conversation, customer = await api.new_conversation()
        assert (await api.get("/api/messages", token=old)).status == 200

    async with started("key-one") as server, Api(server.url) as api:
        # a restart with the same key keeps them
        assert (await api.get("/api/messages", token=old)).status == 200

    async with started("key-two") as server, Api(server.url) as api:
        refused = await api.get("/api/messages", token=old)
        assert (refused.status, refused.body["code"]) == (401, "unauthorized")
        rec = Recorder()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await rec.connect(server.url, old)
        assert rec.connect_errors[0]["data"]["code"] == "unauthorized"
        wrong = await api.post("/api/auth/agent-token", {"agentId": "ada", "agentKey": "key-one"})
        assert wrong.status == 401
        new = await api.agent_token("ada", "key-two")
        assert (await api.get("/api/messages", token=new)).status == 200
        # customers do not hold the agent key: their tokens stay valid
        path = f"/api/conversations/{conversation}/messages"
        assert (await api.get(path, token=customer)).status == 200


# -- the login lock (profile lizdeika) ------------------------------------------------

USER = AgentUser("ada@example.com", "right-password", "Ada")


def _variants() -> list[str]:
    """The same account's e-mail as a client may write it."""
    return [
        "ada@example.com",
        "ADA@example.com",
        "Ada@Example.com",
        "ada@EXAMPLE.COM",
        "aDa@example.Com",
        "ADA@EXAMPLE.COM",
        "adA@example.com",
        "ada@example.coM",
    ]


async def test_case_variants_of_an_email_share_one_failure_budget() -> None:
    config = ServerConfig(port=0, db=":memory:", profile="lizdeika", agent_users=(USER,))
    async with serve(config=config) as server, Api(server.url) as api:
        statuses = []
        for email in _variants():
            reply = await api.post("/api/auth/login", {"email": email, "password": "wrong"})
            statuses.append(reply.status)
        budget = LOGIN_FAILURES.limit
        assert statuses == [401] * budget + [429] * (len(_variants()) - budget)
        # locked: the right password through any variant is refused too
        for email in ("ada@example.com", "ADA@example.com", "Ada@Example.Com"):
            right = await api.post("/api/auth/login", {"email": email, "password": USER.password})
            assert right.status == 429, (email, right.body)
            assert right.body["code"] == "RATE_LIMITED"


@pytest.mark.parametrize(
    "email", [" ada@example.com", "ada@example.com ", "\tada@example.com", "ada@example.com\n"]
)
async def test_an_email_with_spaces_is_invalid_as_in_production(email: str) -> None:
    """Production validates the address as sent (zod's ``email()``) before trimming it."""
    config = ServerConfig(port=0, db=":memory:", profile="lizdeika", agent_users=(USER,))
    async with serve(config=config) as server, Api(server.url) as api:
        reply = await api.post("/api/auth/login", {"email": email, "password": USER.password})
        assert reply.status == 400, reply.body
        assert reply.body["details"] == [{"field": "email", "message": "Invalid email format"}]


async def test_a_case_variant_with_the_right_password_logs_in() -> None:
    config = ServerConfig(port=0, db=":memory:", profile="lizdeika", agent_users=(USER,))
    async with serve(config=config) as server, Api(server.url) as api:
        reply = await api.post(
            "/api/auth/login", {"email": "ADA@Example.com", "password": USER.password}
        )
        assert reply.status == 200, reply.body
        assert reply.body["data"]["user"]["email"] == "ada@example.com"
