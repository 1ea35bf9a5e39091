"""Every client -> server Socket.IO event of CONTRACT.md §3, in auth mode ``none``."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server import RunningServer
from tests.server.helpers import Api, agent, eventually, recorder


def _agent_entry(update: dict[str, Any], agent_id: str) -> dict[str, Any] | None:
    return next((a for a in update["agents"] if a["id"] == agent_id), None)


async def test_join_dashboard_sends_mode_then_agents(server: RunningServer) -> None:
    async with agent(server.url, "a1") as first, agent(server.url, "a2") as second:
        assert (await second.wait_for("system-mode-update")) == {"mode": "hitl"}
        update = await first.wait_for(
            "connected-agents-update", lambda d: _agent_entry(d, "a2") is not None
        )
        entry = _agent_entry(update, "a2")
        assert entry is not None
        assert entry["status"] == "online"
        assert entry["personalStatus"] == "online"
        assert entry["connected"] is True
        assert entry["activeChats"] == 0
        assert entry["lastSeen"].endswith("Z")
        # system-mode-update goes to the joining socket only
        assert len(first.received("system-mode-update")) == 1
        names = [name for name, _ in second.events]
        assert names.index("system-mode-update") < names.index("connected-agents-update")


async def test_join_assigns_up_to_two_orphans(server: RunningServer) -> None:
    async with Api(server.url) as api:
        ids = [(await api.new_conversation())[0] for _ in range(3)]
        async with agent(server.url, "a1") as a1:
            event = await a1.wait_for("tickets-reassigned")
            assert event["reason"] == "agent_joined"
            assert event["reassignments"] == [
                {"conversationId": ids[0], "fromAgentId": None, "toAgentId": "a1"},
                {"conversationId": ids[1], "fromAgentId": None, "toAgentId": "a1"},
            ]
            update = await a1.wait_for("connected-agents-update")
            entry = _agent_entry(update, "a1")
            assert entry is not None
            assert entry["activeChats"] == 2
            names = [name for name, _ in a1.events]
            assert names.index("tickets-reassigned") < names.index("connected-agents-update")


async def test_disconnect_of_last_socket_marks_agent_offline(server: RunningServer) -> None:
    async with agent(server.url, "watcher") as watcher:
        async with agent(server.url, "a1") as tab1:
            async with agent(server.url, "a1"):
                pass  # the second tab closes: a1 still has tab1

            async def one_socket_left() -> bool:
                record = server.store.agents.get("a1")
                return record is not None and len(record.sockets) == 1

            await eventually(one_socket_left)
            assert not watcher.received(
                "connected-agents-update",
                lambda d: (
                    _agent_entry(d, "a1") == {**(_agent_entry(d, "a1") or {}), "connected": False}
                ),
            )
            await tab1.close()
        update = await watcher.wait_for(
            "connected-agents-update",
            lambda d: (_agent_entry(d, "a1") or {}).get("connected") is False,
        )
        entry = _agent_entry(update, "a1")
        assert entry is not None
        assert entry["status"] == "offline"
        assert entry["personalStatus"] == "offline"
        record = server.store.agents.get("a1")
        assert record is not None
        assert record.sockets == []


async def test_agent_typing_reaches_room_but_not_sender(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        async with agent(server.url, "a1") as a1, recorder(server.url) as customer:
            assert await customer.call("join-conversation", conversation_id) == {"ok": True}
            assert await a1.call("join-conversation", conversation_id) == {"ok": True}
            ack = await a1.call(
                "agent-typing", {"conversationId": conversation_id, "isTyping": True}
            )
            assert ack == {"ok": True}
            event = await customer.wait_for("agent-typing-status")
            assert event["isTyping"] is True
            assert event["timestamp"].endswith("Z")
            # the sender's own events arrive before its ack: none was sent to it
            assert not a1.received("agent-typing-status")


async def test_agent_typing_updates_activity(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        async with agent(server.url, "a1") as a1:
            before = server.store.agents.get("a1")
            assert before is not None
            await a1.call("agent-typing", {"conversationId": conversation_id, "isTyping": False})
            after = server.store.agents.get("a1")
            assert after is not None
            assert before.last_seen is not None
            assert after.last_seen is not None
            assert after.last_seen >= before.last_seen


async def test_heartbeat_needs_join(server: RunningServer) -> None:
    async with recorder(server.url) as socket:
        ack = await socket.call("heartbeat", {"timestamp": 1_700_000_000_000})
        assert ack["ok"] is False
        assert ack["error"]["code"] == "not_joined"
        error = await socket.wait_for("error-event")
        assert error["code"] == "not_joined"
        assert error["event"] == "heartbeat"
        assert not socket.received("heartbeat-ack")


async def test_heartbeat_ack_echoes_timestamp(server: RunningServer) -> None:
    async with agent(server.url, "a1") as a1:
        assert await a1.call("heartbeat", {"timestamp": 1_700_000_000_000}) == {"ok": True}
        ack = await a1.wait_for("heartbeat-ack")
        assert ack == {"timestamp": "2023-11-14T22:13:20.000Z", "agentId": "a1"}


async def test_withheld_heartbeat_acks(server: RunningServer) -> None:
    async with agent(server.url, "a1") as a1:
        server.faults.withhold_heartbeat_acks = True
        assert await a1.call("heartbeat", {"timestamp": 1}) == {"ok": True}
        assert not a1.received("heartbeat-ack")
        server.faults.withhold_heartbeat_acks = False
        await a1.call("heartbeat", {"timestamp": 2})
        await a1.wait_for("heartbeat-ack")


async def test_request_current_state(server: RunningServer) -> None:
    async with agent(server.url, "a1") as a1:
        await a1.call("request-current-state", "connected-agents")
        state = await a1.wait_for("current-state", lambda d: d["type"] == "connected-agents")
        assert [a["id"] for a in state["data"]] == ["a1"]
        await a1.call("request-current-state", "system-mode")
        state = await a1.wait_for("current-state", lambda d: d["type"] == "system-mode")
        assert state["data"] == "hitl"


async def test_request_current_state_rejects_other_values(server: RunningServer) -> None:
    async with recorder(server.url) as socket:
        ack = await socket.call("request-current-state", "everything")
        assert ack["error"]["code"] == "invalid_payload"
        error = await socket.wait_for("error-event")
        assert error["code"] == "invalid_payload"
        assert error["event"] == "request-current-state"
        assert not socket.received("current-state")


async def test_join_conversation_then_receive_agent_message(server: RunningServer) -> None:
    async with Api(server.url) as api, recorder(server.url) as customer:
        conversation_id, _ = await api.new_conversation()
        assert await customer.call("join-conversation", conversation_id) == {"ok": True}
        body = {"conversationId": conversation_id, "message": "hello", "agentId": "a1"}
        assert (await api.post("/api/agent/respond", body)).status == 200
        event = await customer.wait_for("agent-message")
        assert event["message"]["content"] == "hello"


@pytest.mark.parametrize("event", ["join-conversation", "agent-typing", "customer-typing"])
async def test_unknown_conversation_is_not_found(server: RunningServer, event: str) -> None:
    payload: Any = "conv-nope"
    if event != "join-conversation":
        payload = {"conversationId": "conv-nope", "isTyping": True}
    async with recorder(server.url) as socket:
        ack = await socket.call(event, payload)
        assert ack == {
            "ok": False,
            "error": {"code": "not_found", "message": ack["error"]["message"]},
        }
        error = await socket.wait_for("error-event")
        assert error["code"] == "not_found"
        assert error["event"] == event


async def test_customer_typing_reaches_agents(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        async with agent(server.url, "a1") as a1, recorder(server.url) as customer:
            payload = {"conversationId": conversation_id, "isTyping": True}
            assert await customer.call("customer-typing", payload) == {"ok": True}
            event = await a1.wait_for("customer-typing-status")
            assert event["conversationId"] == conversation_id
            assert event["isTyping"] is True
            assert event["timestamp"].endswith("Z")
            assert not customer.received("customer-typing-status")


BAD_PAYLOADS: list[tuple[str, Any]] = [
    ("join-agent-dashboard", 42),
    ("join-agent-dashboard", ""),
    ("agent-typing", {"conversationId": "c", "isTyping": "yes"}),
    ("agent-typing", "c"),
    ("heartbeat", {"timestamp": "not a time"}),
    ("heartbeat", None),
    ("request-current-state", {"type": "system-mode"}),
    ("join-conversation", ["c"]),
    ("customer-typing", {"isTyping": True}),
]


@pytest.mark.parametrize(("event", "payload"), BAD_PAYLOADS)
async def test_invalid_payloads_get_error_event(
    server: RunningServer, event: str, payload: Any
) -> None:
    async with recorder(server.url) as socket:
        ack = await socket.call(event, payload)
        assert ack["ok"] is False
        assert ack["error"]["code"] == "invalid_payload"
        error = await socket.wait_for("error-event")
        assert error["code"] == "invalid_payload"
        assert error["event"] == event
        assert error["details"]
        # the connection stays usable
        assert await socket.call("request-current-state", "system-mode") == {"ok": True}


async def test_missing_payload_is_invalid(server: RunningServer) -> None:
    async with recorder(server.url) as socket:
        ack = await socket.call("join-agent-dashboard")
        assert ack["error"]["code"] == "invalid_payload"


async def test_events_without_ack_still_answer(server: RunningServer) -> None:
    async with agent(server.url, "a1") as a1:
        await a1.client.emit("heartbeat", {"timestamp": 5})
        await a1.wait_for("heartbeat-ack")
        await a1.client.emit("heartbeat", "bad")
        await a1.wait_for("error-event")
