"""Profile ``lizdeika``: every production flow a bot or a widget meets (PRODUCTION.md).

The real server runs in-process on loopback with ``profile="lizdeika"``; the clients are
raw python-socketio sockets and aiohttp, as a production dashboard or widget would be.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
import socketio

from mock_server import PROFILES, AgentUser, RateLimit, RunningServer, ServerConfig, serve
from tests.server.helpers import Api, Recorder, recorder
from vilnius_client.events import (
    AgentMessageEvent,
    AgentSentMessageEvent,
    ConnectedAgentsUpdateEvent,
    ConversationMessagesResponse,
    HealthResponse,
    HeartbeatAckEvent,
    LoginResponse,
    NewConversationEvent,
    NewMessageEvent,
    PostMessageResponse,
    RefreshResponse,
)

BOT = AgentUser("bot@example.com", "secret", "Bot")
TOTP_SECRET = pyotp.random_base32()
GUARDED = AgentUser("guarded@example.com", "s3cret", totp_secret=TOTP_SECRET)
NO_ACK = 0.3
"""How long a test waits for an acknowledgement that must never come."""


@pytest.fixture
async def prod() -> AsyncIterator[RunningServer]:
    async with serve(profile="lizdeika", agent_users=[BOT, GUARDED]) as running:
        yield running


async def _login(api: Api, user: AgentUser = BOT) -> dict[str, Any]:
    reply = await api.post("/api/auth/login", {"email": user.email, "password": user.password})
    assert reply.status == 200, reply.body
    data = LoginResponse.model_validate(reply.body).login_data()
    assert data is not None
    return {"id": data.user["id"], "access": data.tokens.access_token, **reply.body["data"]}


async def _dashboard(url: str, agent_id: str) -> Recorder:
    rec = Recorder()
    await rec.connect(url)
    await rec.client.emit("join-agent-dashboard", agent_id)
    await rec.wait_for("system-mode-update")
    await rec.wait_for("connected-agents-update")
    return rec


def _session() -> str:
    return "session-" + uuid.uuid4().hex[:9]


async def test_health_has_no_contract_and_vilnius_has_one(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        reply = await api.get("/health")
        assert reply.status == 200
        assert HealthResponse.model_validate(reply.body).contract is None
        assert {"status", "timestamp", "uptime", "connections", "aiProvider"} <= set(reply.body)
    async with serve(auth="none") as contract, Api(contract.url) as api:
        health = HealthResponse.model_validate((await api.get("/health")).body)
        assert health.contract is not None
        assert health.contract.name == "vilnius"
        assert "acks" in health.contract.features


async def test_login_refresh_and_jwt_only_endpoints(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        me = await _login(api)
        assert uuid.UUID(me["id"])
        assert me["tokens"]["expiresIn"] == 900
        assert me["tokens"]["tokenType"] == "Bearer"
        wrong = await api.post("/api/auth/login", {"email": BOT.email, "password": "nope"})
        assert wrong.status == 401
        assert wrong.body == {
            "success": False,
            "error": "Invalid email or password",
            "code": "LOGIN_FAILED",
        }
        invalid = await api.post("/api/auth/login", {"email": "not-an-email"})
        assert invalid.status == 400
        assert invalid.body["error"] == "Validation failed"
        assert {d["field"] for d in invalid.body["details"]} == {"email", "password"}
        # refresh: a new pair; the refresh token used is spent
        refreshed = await api.post(
            "/api/auth/refresh", {"refreshToken": me["tokens"]["refreshToken"]}
        )
        assert refreshed.status == 200, refreshed.body
        data = RefreshResponse.model_validate(refreshed.body).data
        again = await api.post("/api/auth/refresh", {"refreshToken": me["tokens"]["refreshToken"]})
        assert again.status == 401
        assert again.body["code"] == "TOKEN_REFRESH_FAILED"
        # JWT-only endpoints
        conversation = _session()
        await api.post("/api/messages", {"conversationId": conversation, "message": "hi"})
        for path, body in [
            (f"/api/conversations/{conversation}/assign", {"agentId": me["id"]}),
            (f"/api/conversations/{conversation}/end", {"agentId": me["id"]}),
            (f"/api/conversations/{conversation}/mark-seen", {"agentId": me["id"]}),
            ("/api/admin/conversations/bulk-assign", {"conversationIds": [conversation]}),
        ]:
            refused = await api.post(path, body)
            assert refused.status == 401, path
            assert refused.body["code"] == "TOKEN_MISSING"
            forged = await api.post(path, body, token="x.y.z")
            assert forged.status == 401
            assert forged.body["code"] == "TOKEN_INVALID"
        assigned = await api.post(
            f"/api/conversations/{conversation}/assign",
            {"agentId": me["id"]},
            token=data.access_token,
        )
        assert assigned.status == 200, assigned.body
        assert assigned.body["conversation"]["assignedAgent"] == me["id"]
        ended = await api.post(
            f"/api/conversations/{conversation}/end", {"agentId": "someone"}, token=me["access"]
        )
        assert ended.status == 403
        assert ended.body == {"error": "Not authorized"}


async def test_login_failures_are_rate_limited(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        for _ in range(5):
            reply = await api.post("/api/auth/login", {"email": BOT.email, "password": "bad"})
            assert reply.status == 401
        blocked = await api.post("/api/auth/login", {"email": BOT.email, "password": "secret"})
        assert blocked.status == 429
        assert blocked.body["code"] == "RATE_LIMITED"
        assert blocked.body["retryAfter"] == 15 * 60


async def test_totp_login(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        body = {"email": GUARDED.email, "password": GUARDED.password}
        challenge = await api.post("/api/auth/login", body)
        assert challenge.status == 200
        assert challenge.body["requiresTotp"] is True
        assert LoginResponse.model_validate(challenge.body).login_data() is None
        code = pyotp.TOTP(TOTP_SECRET).now()
        wrong = "000000" if code != "000000" else "111111"
        bad = await api.post("/api/auth/login", {**body, "totpCode": wrong})
        assert bad.status == 400
        assert bad.body["code"] == "TOTP_INVALID"
        good = await api.post("/api/auth/login", {**body, "totpCode": code})
        assert good.status == 200
        assert good.body["data"]["user"]["totp_enabled"] is True


def test_a_seeded_user_shows_no_secret() -> None:
    shown = repr(GUARDED)
    assert GUARDED.email in shown
    assert GUARDED.password not in shown
    assert TOTP_SECRET not in shown


async def test_short_access_tokens_expire() -> None:
    config = ServerConfig(port=0, db=":memory:", profile="lizdeika", agent_users=(BOT,))
    config = ServerConfig(**{**config.__dict__, "access_token_ttl": 1})
    async with serve(config=config) as server, Api(server.url) as api:
        me = await _login(api)
        assert me["tokens"]["expiresIn"] == 1
        await asyncio.sleep(2.1)  # the token's lifetime itself is what is tested
        reply = await api.post(
            "/api/admin/conversations/bulk-assign",
            {"conversationIds": ["x"], "agentId": me["id"]},
            token=me["access"],
        )
        assert reply.status == 401
        assert reply.body["error"] == "Access token expired"


async def test_dashboard_join_heartbeat_and_no_acks(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        me = await _login(api)
    dashboard = Recorder()
    await dashboard.connect(prod.url)
    try:
        with pytest.raises(socketio.exceptions.TimeoutError):
            await dashboard.client.call("join-agent-dashboard", me["id"], timeout=NO_ACK)
        assert (await dashboard.wait_for("system-mode-update")) == {"mode": "hitl"}
        update = ConnectedAgentsUpdateEvent.model_validate(
            await dashboard.wait_for("connected-agents-update")
        )
        assert [agent.id for agent in update.agents] == [me["id"]]
        assert update.agents[0].user_id == me["id"]
        assert update.agents[0].active_chats is None
        await dashboard.client.emit("heartbeat", {"timestamp": 1, "source": "dashboard"})
        ack = HeartbeatAckEvent.model_validate(await dashboard.wait_for("heartbeat-ack"))
        assert ack.agent_id == me["id"]
        assert ack.timestamp.year > 2000  # the server's clock, not the 1 ms the client sent
        await dashboard.client.emit("request-current-state", "connected-agents")
        state = await dashboard.wait_for("current-state")
        assert state["type"] == "connected-agents"
        assert state["data"][0]["id"] == me["id"]
        # a socket that did not join gets no heartbeat-ack and no error-event
        async with recorder(prod.url) as stranger:
            await stranger.client.emit("heartbeat", {"timestamp": 1})
            await stranger.client.emit("request-current-state", "system-mode")
            await stranger.wait_for("current-state")
            assert not stranger.received("heartbeat-ack")
            assert not stranger.received("error-event")
    finally:
        await dashboard.close()


async def test_agents_hear_who_is_online_every_period(monkeypatch: pytest.MonkeyPatch) -> None:
    # production sends connected-agents-update every 30 s; here every 0.1 s
    quick = dataclasses.replace(PROFILES["lizdeika"], agents_broadcast_every=0.1)
    monkeypatch.setitem(PROFILES, "lizdeika", quick)
    async with serve(profile="lizdeika", agent_users=[BOT]) as running, Api(running.url) as api:
        me = await _login(api)
        dashboard = await _dashboard(running.url, me["id"])  # the join's own update
        try:
            async with asyncio.timeout(10):
                update = await dashboard.wait_for("connected-agents-update", count=3)
            assert [agent["id"] for agent in update["agents"]] == [me["id"]]
        finally:
            await dashboard.close()


async def test_unknown_agent_ids_are_never_online(prod: RunningServer) -> None:
    dashboard = await _dashboard(prod.url, "nobody")
    try:
        update = await dashboard.wait_for("connected-agents-update")
        assert update == {"agents": []}
        await dashboard.client.emit("heartbeat", {"timestamp": 1})
        ack = await dashboard.wait_for("heartbeat-ack")
        assert ack["agentId"] == "nobody"
        async with Api(prod.url) as api:
            conversation = _session()
            await api.post("/api/messages", {"conversationId": conversation, "message": "hi"})
            reply = await api.post(
                "/api/agent/respond",
                {"conversationId": conversation, "message": "hello", "agentId": "nobody"},
            )
            assert reply.status == 500
            assert reply.body == {"error": "Failed to send response"}
    finally:
        await dashboard.close()


async def test_widget_conversation_in_hitl(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        me = await _login(api)
        dashboard = await _dashboard(prod.url, me["id"])
        widget = Recorder()
        await widget.connect(prod.url)
        try:
            conversation = _session()
            await widget.client.emit("join-conversation", conversation)
            reply = await api.post(
                "/api/messages",
                {"conversationId": conversation, "message": "  I need help  ", "visitorId": "v1"},
            )
            assert reply.status == 200, reply.body
            assert set(reply.body) == {"userMessage", "aiMessage", "conversationId"}
            answer = PostMessageResponse.model_validate(reply.body)
            assert answer.user_message.content == "I need help"
            assert answer.user_message.seq is None
            assert "seq" not in reply.body["userMessage"]
            assert answer.ai_message is not None
            assert answer.ai_message.sender == "system"
            assert answer.ai_message.metadata is not None
            assert answer.ai_message.metadata["pendingAgent"] is True
            created = NewConversationEvent.model_validate(
                await dashboard.wait_for("new-conversation")
            )
            assert created.conversation.assigned_agent == me["id"]
            assert created.conversation.status is None
            raw = await dashboard.wait_for("new-message")
            assert raw["type"] == "new-message"
            assert set(raw["message"]) == {"id", "content", "sender", "timestamp"}
            event = NewMessageEvent.model_validate(raw)
            assert event.message.conversation_id == conversation
            assert event.conversation is not None
            assert event.conversation.unseen_by_agent is True
            # typing both ways
            await widget.client.emit(
                "customer-typing", {"conversationId": conversation, "isTyping": True}
            )
            typing = await dashboard.wait_for("customer-typing-status")
            assert typing["conversationId"] == conversation
            await dashboard.client.emit(
                "agent-typing", {"conversationId": conversation, "isTyping": True}
            )
            status = await widget.wait_for("agent-typing-status")
            assert set(status) == {"isTyping", "timestamp"}
            # payload-less typing crashes production; here it is ignored, the server stays up
            await widget.client.emit("customer-typing")
            await dashboard.client.emit("agent-typing")
            # the agent answers
            reply = await api.post(
                "/api/agent/respond",
                {"conversationId": conversation, "message": "Hello!", "agentId": me["id"]},
            )
            assert reply.status == 200, reply.body
            message = AgentMessageEvent.model_validate(await widget.wait_for("agent-message"))
            assert message.message.content == "Hello!"
            assert message.message.agent_id == me["id"]
            assert message.message.metadata is not None
            assert message.message.metadata["responseAttribution"]["responseType"] == "custom"
            sent = AgentSentMessageEvent.model_validate(
                await dashboard.wait_for("agent-sent-message")
            )
            assert sent.conversation_id == conversation
            # only visitor messages were announced as new-message
            assert len(dashboard.received("new-message")) == 1
            history = ConversationMessagesResponse.model_validate(
                (await api.get(f"/api/conversations/{conversation}/messages")).body
            )
            senders = [m.sender.value for m in history.messages]
            assert senders == ["visitor", "agent"]  # the pending suggestion was superseded
            assert history.messages[0].metadata is None
            listing = (await api.get("/api/admin/conversations")).body
            assert listing["total"] == 1
            assert listing["conversations"][0]["messageCount"] == 2
        finally:
            await widget.close()
            await dashboard.close()


async def test_autopilot_and_off(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        me = await _login(api)
        dashboard = await _dashboard(prod.url, me["id"])
        try:
            switched = await api.post("/api/system/mode", {"mode": "autopilot"})
            assert switched.body == {"success": True, "mode": "autopilot"}
            assert (await dashboard.wait_for("system-mode-update", count=2)) == {
                "mode": "autopilot"
            }
            conversation = _session()
            reply = await api.post(
                "/api/messages", {"conversationId": conversation, "message": "hi"}
            )
            ai = reply.body["aiMessage"]
            assert ai["sender"] == "agent"
            assert ai["metadata"]["isAutopilotResponse"] is True
            await api.post("/api/system/mode", {"mode": "off"})
            await dashboard.wait_for("system-mode-update", count=3)
            offline = _session()
            first = await api.post("/api/messages", {"conversationId": offline, "message": "a"})
            notice = first.body["aiMessage"]
            assert notice["metadata"]["messageType"] == "offline_notification"
            second = await api.post("/api/messages", {"conversationId": offline, "message": "b"})
            assert second.body["aiMessage"]["content"] == notice["content"]
            history = (await api.get(f"/api/conversations/{offline}/messages")).body["messages"]
            # production overwrites the first customer message with the notice
            assert [(m["sender"], m["content"]) for m in history] == [
                ("system", notice["content"]),
                ("visitor", "b"),
            ]
            # no new-message outside hitl
            assert not dashboard.received("new-message")
            bad = await api.post("/api/system/mode", {"mode": "turbo"})
            assert bad.status == 400
            assert bad.body["success"] is False
        finally:
            await dashboard.close()


async def test_message_validation(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"message": "hi"}, "conversationId"),
            ({"conversationId": "agents", "message": "hi"}, "conversationId"),
            ({"conversationId": _session(), "message": "   "}, "message"),
            ({"conversationId": _session(), "message": "x" * 5001}, "message"),
            ({"conversationId": _session(), "message": 5}, "message"),
        ]
        for body, field in cases:
            reply = await api.post("/api/messages", body)
            assert reply.status == 400, body
            assert reply.body["field"] == field
            assert set(reply.body) == {"error", "field"}
        ok = await api.post(
            "/api/messages", {"conversationId": str(uuid.uuid4()), "message": "x" * 5000}
        )
        assert ok.status == 200


async def test_message_rate_limit_answers_429_with_retry_after() -> None:
    config = ServerConfig(
        port=0, db=":memory:", profile="lizdeika", message_rate_limit=RateLimit(3, 60.0)
    )
    async with serve(config=config) as server, Api(server.url) as api:
        conversation = _session()
        for _ in range(3):
            ok = await api.post("/api/messages", {"conversationId": conversation, "message": "m"})
            assert ok.status == 200
            assert ok.headers["RateLimit-Limit"] == "3"
        limited = await api.post("/api/messages", {"conversationId": conversation, "message": "m"})
        assert limited.status == 429
        assert limited.body == {
            "success": False,
            "error": "Too many messages. Please wait before sending more.",
            "code": "RATE_LIMIT_EXCEEDED",
        }
        assert 0 < int(limited.headers["Retry-After"]) <= 60


async def test_production_default_rate_limit_is_ten_per_minute(prod: RunningServer) -> None:
    async with Api(prod.url) as api:
        statuses = [
            (await api.post("/api/messages", {"conversationId": _session(), "message": "m"})).status
            for _ in range(11)
        ]
        assert statuses == [200] * 10 + [429]


async def test_disconnect_keeps_the_agent_listed_and_users_survive_restart(tmp_path: Any) -> None:
    config = ServerConfig(
        port=0, db=str(tmp_path / "prod.db"), profile="lizdeika", agent_users=(BOT,)
    )
    server = RunningServer(config)
    await server.start()
    try:
        async with Api(server.url) as api:
            me = await _login(api)
            dashboard = await _dashboard(server.url, BOT.email)  # production matches e-mails too
            await dashboard.close()
            agents = (await api.get("/api/agents/connected")).body["agents"]
            assert [agent["id"] for agent in agents] == [me["id"]]
        await server.close()
        server = RunningServer(config)
        await server.start()
        async with Api(server.url) as api:
            assert (await _login(api))["id"] == me["id"]
    finally:
        await server.close()


async def test_join_room_settings(prod: RunningServer) -> None:
    async with recorder(prod.url) as settings_page:
        await settings_page.client.emit("join-room", "settings")
        await settings_page.client.emit("request-current-state", "system-mode")
        assert (await settings_page.wait_for("current-state"))["data"] == "hitl"
        sio: Any = getattr(prod.hub.transport, "sio")  # noqa: B009 - the live server
        assert "settings" in sio.manager.get_rooms(settings_page.client.get_sid(), "/")
