"""#11's server points 2, 3 and 5: each test failed before its fix."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from mock_server import RunningServer
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
