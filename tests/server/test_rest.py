"""Every REST endpoint of CONTRACT.md §6 and the events it emits, in auth mode ``none``."""

from __future__ import annotations

import aiohttp
import pytest

from mock_server import RunningServer
from tests.server.helpers import Api, agent, recorder


async def test_health(server: RunningServer) -> None:
    async with Api(server.url) as api:
        reply = await api.get("/health")
        assert reply.status == 200
        assert reply.body["status"] == "ok"


async def test_create_conversation_emits_new_conversation(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        reply = await api.post("/api/conversations", {"visitorId": "v1", "metadata": {"page": "/"}})
        assert reply.status == 201
        assert isinstance(reply.body["token"], str)
        conversation = reply.body["conversation"]
        assert conversation["visitorId"] == "v1"
        assert conversation["status"] == "active"
        assert conversation["metadata"] == {"page": "/"}
        assert conversation["startedAt"].endswith("Z")
        event = await a1.wait_for("new-conversation")
        assert event["conversationId"] == reply.body["conversationId"]
        assert event["conversation"] == conversation


async def test_first_message_creates_and_assigns(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1, agent(server.url, "a2"):
        await api.post("/api/conversations/none/assign", {"agentId": "a1"})  # 404, no effect
        busy = (await api.new_conversation())[0]
        await api.post(f"/api/conversations/{busy}/assign", {"agentId": "a1"})
        reply = await api.post("/api/messages", {"conversationId": "c-new", "message": "hi"})
        assert reply.status == 200
        assert reply.body["conversationId"] == "c-new"
        assert reply.body["userMessage"]["sender"] == "visitor"
        assert reply.body["userMessage"]["seq"] >= 1
        assert reply.body["aiMessage"] is None
        assert "token" in reply.body
        created = await a1.wait_for("new-conversation", lambda d: d["conversationId"] == "c-new")
        # least loaded online agent: a2 (a1 already has one)
        assert created["conversation"]["assignedAgent"] == "a2"
        message = await a1.wait_for("new-message", lambda d: d["conversationId"] == "c-new")
        assert message["message"] == reply.body["userMessage"]
        assert message["aiSuggestion"] is None
        again = await api.post("/api/messages", {"conversationId": "c-new", "message": "2"})
        assert "token" not in again.body


async def test_hitl_assigns_unassigned_conversation_on_message(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        async with agent(server.url, "a1"):
            listing = await api.get("/api/admin/conversations")
            assert any(c["assignedAgent"] == "a1" for c in listing.body["conversations"])
            fresh, _ = await api.new_conversation()
            await api.post("/api/messages", {"conversationId": fresh, "message": "hi"})
            listing = await api.get("/api/admin/conversations")
            by_id = {c["id"]: c for c in listing.body["conversations"]}
            assert by_id[fresh]["assignedAgent"] == "a1"
            assert by_id[conversation_id]["assignedAgent"] == "a1"


async def test_autopilot_replies(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        reply = await api.post("/api/system/mode", {"mode": "autopilot"})
        assert reply.body == {"success": True, "mode": "autopilot"}
        assert (await a1.wait_for("system-mode-update", count=2)) == {"mode": "autopilot"}
        conversation_id, _ = await api.new_conversation()
        async with recorder(server.url) as customer:
            await customer.call("join-conversation", conversation_id)
            reply = await api.post(
                "/api/messages", {"conversationId": conversation_id, "message": "help"}
            )
            ai = reply.body["aiMessage"]
            assert ai["sender"] == "agent"
            assert ai["agentId"] == "autopilot"
            assert ai["seq"] == reply.body["userMessage"]["seq"] + 1
            event = await customer.wait_for("agent-message")
            assert event["message"] == ai
            await a1.wait_for("new-message", lambda d: d["message"]["id"] == ai["id"])


async def test_off_mode_sends_one_offline_notice(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        await api.post("/api/system/mode", {"mode": "off"})
        conversation_id, _ = await api.new_conversation()
        body = {"conversationId": conversation_id, "message": "anyone?"}
        first = await api.post("/api/messages", body)
        notice = first.body["aiMessage"]
        assert notice["sender"] == "system"
        await a1.wait_for("new-message", lambda d: d["message"]["id"] == notice["id"])
        second = await api.post("/api/messages", body)
        assert second.body["aiMessage"] is None


async def test_conversation_messages_paging(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        other, _ = await api.new_conversation()
        seqs = []
        for text in ("1", "2", "3"):
            reply = await api.post(
                "/api/messages", {"conversationId": conversation_id, "message": text}
            )
            seqs.append(reply.body["userMessage"]["seq"])
            await api.post("/api/messages", {"conversationId": other, "message": text})
        page = await api.get(f"/api/conversations/{conversation_id}/messages")
        assert page.body["conversationId"] == conversation_id
        assert [m["seq"] for m in page.body["messages"]] == seqs
        page = await api.get(
            f"/api/conversations/{conversation_id}/messages?after={seqs[0]}&limit=1"
        )
        assert [m["content"] for m in page.body["messages"]] == ["2"]
        assert (await api.get("/api/conversations/nope/messages")).status == 404
        bad = await api.get(f"/api/conversations/{conversation_id}/messages?limit=abc")
        assert bad.status == 400
        assert bad.body["code"] == "invalid_payload"


async def test_all_messages_and_last_seq(server: RunningServer) -> None:
    async with Api(server.url) as api:
        empty = await api.get("/api/messages")
        assert empty.body == {"messages": [], "lastSeq": 0}
        for n in range(3):
            await api.post("/api/messages", {"conversationId": f"c{n}", "message": "x"})
        page = await api.get("/api/messages?after=1&limit=1")
        assert [m["seq"] for m in page.body["messages"]] == [2]
        assert page.body["lastSeq"] == 3
        head = await api.get("/api/messages?limit=0")
        assert head.body == {"messages": [], "lastSeq": 3}
        assert (await api.get("/api/messages?limit=1001")).status == 400
        assert (await api.get("/api/messages?after=-1")).status == 400


async def test_admin_conversations_filter(server: RunningServer) -> None:
    async with Api(server.url) as api:
        first, _ = await api.new_conversation()
        second, _ = await api.new_conversation()
        assert (await api.post(f"/api/conversations/{first}/end", {})).body == {"success": True}
        ended = await api.get("/api/admin/conversations?status=ended")
        assert [c["id"] for c in ended.body["conversations"]] == [first]
        every = await api.get("/api/admin/conversations")
        assert {c["id"] for c in every.body["conversations"]} == {first, second}
        assert (await api.get("/api/admin/conversations?status=gone")).status == 400


async def test_agent_respond(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        conversation_id, _ = await api.new_conversation()
        async with recorder(server.url) as customer:
            await customer.call("join-conversation", conversation_id)
            body = {"conversationId": conversation_id, "message": "on it", "agentId": "a2"}
            reply = await api.post("/api/agent/respond", body)
            assert reply.status == 200
            assert reply.body["success"] is True
            message = reply.body["message"]
            assert message["sender"] == "agent"
            assert message["agentId"] == "a2"
            assert (await customer.wait_for("agent-message"))["message"] == message
            event = await a1.wait_for("new-message", lambda d: d["message"]["id"] == message["id"])
            assert event["conversationId"] == conversation_id
        listing = await api.get("/api/admin/conversations")
        assert listing.body["conversations"][0]["assignedAgent"] == "a2"
        missing = {"conversationId": "nope", "message": "x", "agentId": "a2"}
        assert (await api.post("/api/agent/respond", missing)).status == 404


async def test_ended_conversation_refuses_messages(server: RunningServer) -> None:
    async with Api(server.url) as api:
        conversation_id, _ = await api.new_conversation()
        await api.post(f"/api/conversations/{conversation_id}/end", {"agentId": "a1"})
        reply = await api.post("/api/messages", {"conversationId": conversation_id, "message": "x"})
        assert reply.status == 409
        assert reply.body["code"] == "conflict"
        respond = {"conversationId": conversation_id, "message": "x", "agentId": "a1"}
        assert (await api.post("/api/agent/respond", respond)).status == 409
        assert (await api.post("/api/conversations/nope/end", {})).status == 404


async def test_personal_status_afk_and_back(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        ids = [(await api.new_conversation())[0] for _ in range(2)]
        for conversation_id in ids:
            await api.post("/api/messages", {"conversationId": conversation_id, "message": "x"})
        async with agent(server.url, "a2"):
            reply = await api.post(
                "/api/agent/personal-status", {"agentId": "a1", "personalStatus": "afk"}
            )
            assert reply.status == 200
            assert reply.body["agent"]["personalStatus"] == "afk"
            assert reply.body["agent"]["status"] == "busy"
            assert reply.body["agent"]["activeChats"] == 0
            moved = [{"conversationId": c, "fromAgentId": "a1", "toAgentId": "a2"} for c in ids]
            assert reply.body["reassignments"] == moved
            event = await a1.wait_for("tickets-reassigned", lambda d: d["reason"] == "agent_afk")
            assert event["reassignments"] == moved
            update = await a1.wait_for(
                "connected-agents-update",
                lambda d: any(a["personalStatus"] == "afk" for a in d["agents"]),
            )
            assert {a["id"]: a["activeChats"] for a in update["agents"]} == {"a1": 0, "a2": 2}
        # a2 left: a1 back online picks up orphans after going afk again alone
        await api.post("/api/agent/personal-status", {"agentId": "a1", "personalStatus": "online"})
        orphan, _ = await api.new_conversation()
        await api.post("/api/agent/personal-status", {"agentId": "a1", "personalStatus": "afk"})
        back = await api.post(
            "/api/agent/personal-status", {"agentId": "a1", "personalStatus": "online"}
        )
        assert {"conversationId": orphan, "fromAgentId": None, "toAgentId": "a1"} in back.body[
            "reassignments"
        ]
        await a1.wait_for("tickets-reassigned", lambda d: d["reason"] == "agent_online")


async def test_personal_status_rejects_offline(server: RunningServer) -> None:
    async with Api(server.url) as api:
        body = {"agentId": "a1", "personalStatus": "offline"}
        reply = await api.post("/api/agent/personal-status", body)
        assert reply.status == 422
        assert reply.body["code"] == "invalid_payload"


async def test_system_mode(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        assert (await api.get("/api/system/mode")).body == {"mode": "hitl"}
        await api.post("/api/system/mode", {"mode": "off"})
        assert (await a1.wait_for("system-mode-update", count=2)) == {"mode": "off"}
        assert (await api.get("/api/system/mode")).body == {"mode": "off"}
        bad = await api.post("/api/system/mode", {"mode": "turbo"})
        assert bad.status == 422
        assert bad.body["details"]


async def test_connected_agents(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1"):
        reply = await api.get("/api/agents/connected")
        assert reply.body["systemMode"] == "hitl"
        assert [a["id"] for a in reply.body["agents"]] == ["a1"]


async def test_assign_and_bulk_assign(server: RunningServer) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        first, _ = await api.new_conversation()
        second, _ = await api.new_conversation()
        reply = await api.post(f"/api/conversations/{first}/assign", {"agentId": "a9"})
        assert reply.body["success"] is True
        assert reply.body["conversation"]["assignedAgent"] == "a9"
        event = await a1.wait_for("tickets-reassigned", lambda d: d["reason"] == "manual_assign")
        assert event["reassignments"] == [
            {"conversationId": first, "fromAgentId": None, "toAgentId": "a9"}
        ]
        assert (await api.post("/api/conversations/nope/assign", {"agentId": "a9"})).status == 404
        body = {"conversationIds": [first, second], "agentId": "a7"}
        bulk = await api.post("/api/admin/conversations/bulk-assign", body)
        assert bulk.body["success"] is True
        assert [r["toAgentId"] for r in bulk.body["reassigned"]] == ["a7", "a7"]
        event = await a1.wait_for("tickets-reassigned", lambda d: d["reason"] == "bulk_assign")
        assert event["reassignments"] == bulk.body["reassigned"]
        body = {"conversationIds": [first, "nope"], "agentId": "a1"}
        missing = await api.post("/api/admin/conversations/bulk-assign", body)
        assert missing.status == 404
        assert missing.body["details"] == {"conversationIds": ["nope"]}
        listing = await api.get("/api/admin/conversations")
        assert {c["assignedAgent"] for c in listing.body["conversations"]} == {"a7"}


async def test_agent_token_in_none_mode(server: RunningServer) -> None:
    async with Api(server.url) as api:
        reply = await api.post("/api/auth/agent-token", {"agentId": "a1", "agentKey": "any"})
        assert reply.status == 200
        assert reply.body["agentId"] == "a1"
        assert reply.body["expiresAt"].endswith("Z")


@pytest.mark.parametrize("path", ["/api/messages", "/api/agent/respond"])
async def test_idempotency_key(server: RunningServer, path: str) -> None:
    async with Api(server.url) as api, agent(server.url, "a1") as a1:
        conversation_id, _ = await api.new_conversation()
        body = {"conversationId": conversation_id, "message": "once", "agentId": "a1"}
        headers = {"Idempotency-Key": "k" * 255}
        first = await api.post(path, body, headers=headers)
        second = await api.post(path, body, headers=headers)
        assert first.status == second.status == 200
        assert second.body == first.body
        marker = await api.post(path, {**body, "message": "marker"})
        messages = await api.get(f"/api/conversations/{conversation_id}/messages")
        assert [m["content"] for m in messages.body["messages"]] == ["once", "marker"]
        await a1.wait_for("new-message", lambda d: d["message"]["content"] == "marker")
        assert len(a1.received("new-message")) == 2
        assert marker.status == 200
        too_long = await api.post(path, body, headers={"Idempotency-Key": "k" * 256})
        assert too_long.status == 400


async def test_bad_requests(server: RunningServer) -> None:
    async with Api(server.url) as api:
        unknown = await api.get("/api/nothing")
        assert unknown.status == 404
        assert unknown.body["code"] == "not_found"
        bad_json = await api.request("POST", "/api/messages", data=b"{nope")
        assert bad_json.status == 400
        assert bad_json.body["code"] == "invalid_payload"
        wrong = await api.post("/api/messages", {"conversationId": 5})
        assert wrong.status == 422
        fields = {d["field"] for d in wrong.body["details"]}
        assert fields == {"conversationId", "message"}
        not_object = await api.post("/api/messages", [1, 2])
        assert not_object.status == 422
        huge = await api.post("/api/messages", {"conversationId": "c", "message": "x" * 300_000})
        assert huge.status == 413
        assert huge.body["code"] == "payload_too_large"
        too_long = await api.post("/api/messages", {"conversationId": "c", "message": "x" * 10_001})
        assert too_long.status == 422
        method = await api.request("DELETE", "/api/messages")
        assert method.status == 405
        assert (await api.get("/health")).status == 200


async def test_fault_fail_requests(server: RunningServer) -> None:
    async with Api(server.url) as api:
        server.faults.fail_requests = 2
        for _ in range(2):
            reply = await api.post("/api/conversations", {})
            assert reply.status == 503
            assert reply.headers["Retry-After"] == "0"
        assert server.store.conversations.all() == []
        assert (await api.post("/api/conversations", {})).status == 201


async def test_fault_drop_responses(server: RunningServer) -> None:
    async with Api(server.url) as api:
        server.faults.drop_responses = 1
        with pytest.raises(aiohttp.ClientError):
            await api.post("/api/messages", {"conversationId": "c1", "message": "lost answer"})
        stored = await server.store.messages.after(0, 10)
        assert [m.content for m in stored] == ["lost answer"]
        assert (
            await api.post("/api/messages", {"conversationId": "c1", "message": "ok"})
        ).status == 200
