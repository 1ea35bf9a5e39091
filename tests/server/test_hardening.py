"""#11's server points 2, 3 and 5: each test failed before its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from mock_server import RateLimit, RunningServer, ServerConfig, serve
from tests.server.helpers import Api, Recorder, recorder


async def test_non_ascii_bearer_token_is_401_on_rest(token_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": "Bearer t\u00f6ken.\u00e9"}
        async with http.get(f"{token_server.url}/api/agents/connected", headers=headers) as reply:
            assert reply.status == 401
            assert (await reply.json())["code"] == "unauthorized"


async def test_non_ascii_socket_token_is_refused_cleanly(token_server: RunningServer) -> None:
    rec = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await rec.connect(token_server.url, "t\u00f6ken.\u00e9")
    assert rec.connect_errors[0]["data"]["code"] == "unauthorized"
    async with Api(token_server.url) as api:  # the server is fine
        assert (await api.get("/health")).status == 200


async def test_agent_token_endpoint_is_rate_limited(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        statuses = []
        for _ in range(12):
            reply = await api.post("/api/auth/agent-token", {"agentId": "a", "agentKey": "wrong"})
            statuses.append(reply.status)
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        assert int(reply.headers["Retry-After"]) > 0
        assert reply.body["code"] == "rate_limited"
        # while limited, even the right key gets 429 (no oracle for a guesser)
        right = await api.post("/api/auth/agent-token", {"agentId": "a", "agentKey": "test-key"})
        assert right.status == 429


async def test_unknown_socket_event_gets_error_event(server: RunningServer) -> None:
    async with recorder(server.url) as rec:
        ack = await rec.call("no-such-event", {"x": 1})
        assert ack["ok"] is False
        assert ack["error"]["code"] == "invalid_payload"
        error = await rec.wait_for("error-event")
        assert error["event"] == "no-such-event"
        assert error["code"] == "invalid_payload"


async def test_idempotency_answers_are_per_caller(token_server: RunningServer) -> None:
    """Point 2: a key reused by another caller never returns the first caller's answer."""
    async with Api(token_server.url) as api:
        key = {"Idempotency-Key": "same-key"}
        first = await api.post(
            "/api/messages", {"conversationId": "c-one", "message": "hi"}, headers=key
        )
        assert first.status == 200
        # another anonymous caller, another body: 422, not the first answer (and its token)
        other = await api.post(
            "/api/messages", {"conversationId": "c-two", "message": "hi"}, headers=key
        )
        assert other.status == 422
        assert "token" not in other.body
        assert other.body["code"] == "invalid_payload"
        # the same request again: the same answer
        again = await api.post(
            "/api/messages", {"conversationId": "c-one", "message": "hi"}, headers=key
        )
        assert again.body == first.body
        # a customer of another conversation reusing the key: authorised first (403)
        _, token_two = await api.new_conversation()
        denied = await api.post(
            "/api/messages",
            {"conversationId": "c-one", "message": "hi"},
            token=token_two,
            headers=key,
        )
        assert denied.status == 403
        # two agents may use the same key for their own replies
        answers = []
        for agent_id in ("a1", "a2"):
            agent_token = await api.agent_token(agent_id)
            reply = await api.post(
                "/api/agent/respond",
                {"conversationId": "c-one", "message": f"from {agent_id}", "agentId": agent_id},
                token=agent_token,
                headers=key,
            )
            assert reply.status == 200
            answers.append(reply.body["message"]["content"])
        assert answers == ["from a1", "from a2"]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_deep_metadata_is_refused_and_nothing_breaks(tmp_path: Path) -> None:
    """Point 3: what cannot be served back is refused at validation and never stored."""
    config = ServerConfig(port=0, db=str(tmp_path / "v.db"), auth="none")
    server = RunningServer(config)
    await server.start()
    try:
        async with Api(server.url) as api:
            for metadata in (_nested(300), {"big": "x" * 70_000}):
                reply = await api.post("/api/conversations", {"metadata": metadata})
                assert reply.status in (413, 422), reply.status
                assert reply.body["code"] in ("invalid_payload", "payload_too_large")
            ok = await api.post("/api/conversations", {"metadata": _nested(10)})
            assert ok.status == 201
            listing = await api.get("/api/admin/conversations")
            assert listing.status == 200
            assert len(listing.body["conversations"]) == 1
        await server.close()
        server = RunningServer(config)
        await server.start()
        async with Api(server.url) as api:
            assert (await api.get("/api/admin/conversations")).status == 200
    finally:
        await server.close()


async def test_oversize_event_gets_error_event_and_the_connection_stays(
    server: RunningServer,
) -> None:
    """Point 5: an event over 64 KiB is refused with payload_too_large, not a silent close."""
    async with recorder(server.url) as rec:
        big = {"conversationId": "c", "isTyping": True, "pad": "x" * 100_000}
        ack = await rec.call("customer-typing", big)
        assert ack["ok"] is False
        assert ack["error"]["code"] == "payload_too_large"
        error = await rec.wait_for("error-event")
        assert error["code"] == "payload_too_large"
        assert error["event"] == "customer-typing"
        assert rec.client.connected
        assert (await rec.call("request-current-state", "system-mode")) == {"ok": True}


async def test_connected_agents_list_drops_agents_long_gone(server: RunningServer) -> None:
    """Point 5: the list does not keep every agent ever seen."""
    from datetime import timedelta

    from mock_server.store import AgentRecord
    from vilnius_client.events import utcnow

    async with server.store.transaction():
        for index in range(50):
            server.store.agents.save(
                AgentRecord(id=f"gone-{index}", name="gone", last_seen=utcnow() - timedelta(days=1))
            )
    async with recorder(server.url) as rec:
        assert await rec.call("join-agent-dashboard", "present") == {"ok": True}
        update = await rec.wait_for("connected-agents-update")
        assert [agent["id"] for agent in update["agents"]] == ["present"]
    async with Api(server.url) as api:
        agents = (await api.get("/api/agents/connected")).body["agents"]
        assert [agent["id"] for agent in agents] == ["present"]  # just left: still listed


async def test_message_rate_limit_applies_to_the_vilnius_profile_too() -> None:
    config = ServerConfig(port=0, db=":memory:", auth="none", message_rate_limit=RateLimit(2, 60.0))
    async with serve(config=config) as server, Api(server.url) as api:
        body = {"conversationId": "conv-limited", "message": "m"}
        for _ in range(2):
            assert (await api.post("/api/messages", body)).status == 200
        limited = await api.post("/api/messages", body)
        assert limited.status == 429
        assert limited.body["code"] == "rate_limited"
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert len(await server.store.messages.history("conv-limited")) == 2  # nothing stored


async def test_vilnius_profile_has_no_message_rate_limit_by_default(server: RunningServer) -> None:
    async with Api(server.url) as api:
        body = {"conversationId": "conv-unlimited", "message": "m"}
        statuses = [(await api.post("/api/messages", body)).status for _ in range(15)]
    assert statuses == [200] * 15
