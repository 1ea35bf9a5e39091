"""Auth mode ``token`` (CONTRACT.md §8): tokens, and every denial."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from mock_server import RunningServer
from tests.server.helpers import Api, Recorder, agent, recorder


async def test_agent_token(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        reply = await api.post("/api/auth/agent-token", {"agentId": "a1", "agentKey": "test-key"})
        assert reply.status == 200
        assert reply.body["agentId"] == "a1"
        assert reply.body["expiresAt"].endswith("Z")
        wrong = await api.post("/api/auth/agent-token", {"agentId": "a1", "agentKey": "nope"})
        assert wrong.status == 401
        assert wrong.body["code"] == "unauthorized"
        bad = await api.post("/api/auth/agent-token", {"agentId": "a1"})
        assert bad.status == 422


@pytest.mark.parametrize(
    "token", [None, "garbage", "a.b", "x" * 5000], ids=["none", "garbage", "dotted", "huge"]
)
async def test_socket_refused_without_valid_token(
    token_server: RunningServer, token: str | None
) -> None:
    rec = Recorder()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await rec.connect(token_server.url, token)
    assert rec.connect_errors
    assert rec.connect_errors[0]["data"]["code"] == "unauthorized"
    assert rec.connect_errors[0]["message"]
    assert not rec.client.connected


async def test_forged_and_customer_tokens_cannot_join_as_agent(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        good = await api.agent_token("a1")
        body, signature = good.split(".")
        rec = Recorder()
        # the first character carries six bits of the signature (the last only some)
        forged = ("B" if signature[0] == "A" else "A") + signature[1:]
        with pytest.raises(socketio.exceptions.ConnectionError):
            await rec.connect(token_server.url, f"{body}.{forged}")
        _, customer_token = await api.new_conversation()
        async with recorder(token_server.url, customer_token) as customer:
            ack = await customer.call("join-agent-dashboard", "a1")
            assert ack["error"]["code"] == "forbidden"
            assert (await customer.wait_for("error-event"))["code"] == "forbidden"


async def test_agent_joins_only_as_itself(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        token = await api.agent_token("a1")
        async with recorder(token_server.url, token) as socket:
            ack = await socket.call("join-agent-dashboard", "a2")
            assert ack["error"]["code"] == "forbidden"
            error = await socket.wait_for("error-event")
            assert error["event"] == "join-agent-dashboard"
            assert await socket.call("join-agent-dashboard", "a1") == {"ok": True}
            await socket.wait_for("connected-agents-update")
            assert await socket.call("heartbeat", {"timestamp": 1}) == {"ok": True}


async def test_customer_socket_denials(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        mine, token = await api.new_conversation()
        other, _ = await api.new_conversation()
        async with recorder(token_server.url, token) as customer:
            denied: list[tuple[str, Any]] = [
                ("join-conversation", other),
                ("customer-typing", {"conversationId": other, "isTyping": True}),
                ("agent-typing", {"conversationId": mine, "isTyping": True}),
                ("request-current-state", "connected-agents"),
            ]
            for event, payload in denied:
                ack = await customer.call(event, payload)
                assert ack["error"]["code"] == "forbidden", event
            errors = await customer.wait_for("error-event", count=len(denied))
            assert errors["code"] == "forbidden"
            assert await customer.call("join-conversation", mine) == {"ok": True}
            typing = {"conversationId": mine, "isTyping": True}
            assert await customer.call("customer-typing", typing) == {"ok": True}
            assert await customer.call("request-current-state", "system-mode") == {"ok": True}


async def test_customer_flow_with_tokens(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        agent_token = await api.agent_token("a1")
        reply = await api.post("/api/messages", {"conversationId": "c1", "message": "hi"})
        assert reply.status == 200
        customer_token = reply.body["token"]
        async with (
            agent(token_server.url, "a1", agent_token),
            recorder(token_server.url, customer_token) as customer,
        ):
            await customer.call("join-conversation", "c1")
            body = {"conversationId": "c1", "message": "hello", "agentId": "a1"}
            answer = await api.post("/api/agent/respond", body, token=agent_token)
            assert answer.status == 200
            await customer.wait_for("agent-message")
        follow_up = {"conversationId": "c1", "message": "thanks"}
        assert (await api.post("/api/messages", follow_up, token=customer_token)).status == 200
        assert (await api.post("/api/messages", follow_up)).status == 401
        history = await api.get("/api/conversations/c1/messages", token=customer_token)
        assert [m["content"] for m in history.body["messages"]] == ["hi", "hello", "thanks"]


AGENT_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/admin/conversations", None),
    ("GET", "/api/messages", None),
    ("GET", "/api/agents/connected", None),
    ("POST", "/api/system/mode", {"mode": "off"}),
    ("POST", "/api/agent/respond", {"conversationId": "{cid}", "message": "x", "agentId": "a1"}),
    ("POST", "/api/agent/personal-status", {"agentId": "a1", "personalStatus": "afk"}),
    ("POST", "/api/conversations/{cid}/assign", {"agentId": "a1"}),
    (
        "POST",
        "/api/admin/conversations/bulk-assign",
        {"conversationIds": ["{cid}"], "agentId": "a1"},
    ),
]


def _fill(value: Any, cid: str) -> Any:
    if isinstance(value, str):
        return value.replace("{cid}", cid)
    if isinstance(value, list):
        return [_fill(v, cid) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, cid) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ENDPOINTS)
async def test_agent_endpoints_deny_customers_and_strangers(
    token_server: RunningServer, method: str, path: str, body: Any
) -> None:
    async with Api(token_server.url) as api:
        cid, customer_token = await api.new_conversation()
        path, body = _fill(path, cid), _fill(body, cid)
        anonymous = await api.request(method, path, json=body)
        assert anonymous.status == 401
        assert anonymous.body["code"] == "unauthorized"
        forged = await api.request(method, path, json=body, token="bad.token")
        assert forged.status == 401
        customer = await api.request(method, path, json=body, token=customer_token)
        assert customer.status == 403
        assert customer.body["code"] == "forbidden"
        agent_token = await api.agent_token("a1")
        allowed = await api.request(method, path, json=body, token=agent_token)
        assert allowed.status == 200, allowed.body


async def test_agent_acts_only_as_itself(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        cid, _ = await api.new_conversation()
        token = await api.agent_token("a2")
        respond = {"conversationId": cid, "message": "x", "agentId": "a1"}
        assert (await api.post("/api/agent/respond", respond, token=token)).status == 403
        status = {"agentId": "a1", "personalStatus": "afk"}
        assert (await api.post("/api/agent/personal-status", status, token=token)).status == 403


async def test_customer_reads_only_its_conversation(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        mine, token = await api.new_conversation()
        other, _ = await api.new_conversation()
        own = await api.get(f"/api/conversations/{mine}/messages", token=token)
        assert own.status == 200
        foreign = await api.get(f"/api/conversations/{other}/messages", token=token)
        assert foreign.status == 403
        post = await api.post(
            "/api/messages", {"conversationId": other, "message": "x"}, token=token
        )
        assert post.status == 403
        unknown = await api.post(
            "/api/messages", {"conversationId": "new", "message": "x"}, token=token
        )
        assert unknown.status == 403
        end_other = await api.post(f"/api/conversations/{other}/end", {}, token=token)
        assert end_other.status == 403
        assert (await api.post(f"/api/conversations/{mine}/end", {}, token=token)).status == 200
        assert (await api.get(f"/api/conversations/{mine}/messages")).status == 401
        assert (await api.get("/api/system/mode", token=token)).body == {"mode": "hitl"}


async def test_malformed_authorization_header(token_server: RunningServer) -> None:
    async with Api(token_server.url) as api:
        reply = await api.get("/api/messages", headers={"Authorization": "Basic abc"})
        assert reply.status == 401
        assert (await api.get("/health")).status == 200


async def test_generated_agent_key() -> None:
    from mock_server import serve

    async with serve(auth="token") as running, Api(running.url) as api:
        assert running.agent_key
        token = await api.agent_token("a1", running.agent_key)
        assert (await api.get("/api/messages", token=token)).status == 200
