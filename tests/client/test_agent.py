"""AgentClient against the reference server: every agent-side event typed, REST, tokens."""

from __future__ import annotations

import asyncio

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.deployments import Lost
from vilnius_client.agent import AgentClient
from vilnius_client.customer import CustomerClient
from vilnius_client.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ServerError,
    StateError,
)
from vilnius_client.events import (
    AgentData,
    ConnectedAgentsUpdateEvent,
    ConversationStatus,
    CurrentStateEvent,
    CustomerTypingStatusEvent,
    ErrorEvent,
    Event,
    HeartbeatAckEvent,
    NewConversationEvent,
    NewMessageEvent,
    PersonalStatus,
    ReassignReason,
    Sender,
    StateType,
    SystemMode,
    SystemModeUpdateEvent,
    TicketsReassignedEvent,
)
from vilnius_client.rest import RestClient

from .conftest import FAST, next_event


async def test_new_conversation_and_new_message(agent: AgentClient, rest: RestClient) -> None:
    async with (
        agent.stream(Event.NEW_CONVERSATION) as conversations,
        agent.stream("new-message") as messages,
    ):
        created = await rest.create_conversation(visitor_id="v-1")
        sent = await rest.post_message(created.conversation_id, "Where is my order?")
        conversation = await next_event(conversations)
        message = await next_event(messages)
    assert isinstance(conversation, NewConversationEvent)
    assert conversation.conversation_id == created.conversation_id
    assert conversation.conversation.visitor_id == "v-1"
    assert isinstance(message, NewMessageEvent)
    assert message.message.id == sent.user_message.id
    assert message.message.sender is Sender.VISITOR
    assert message.message.content == "Where is my order?"
    assert not message.replayed
    assert agent.last_seq == sent.user_message.seq


async def test_system_mode_update_on_join_and_on_change(server: RunningServer) -> None:
    client = AgentClient(server.url, agent_id="a1", **FAST)
    joined: list[SystemModeUpdateEvent] = []
    client.on("system-mode-update", joined.append)  # registered before connecting
    async with client:
        async with client.stream(Event.SYSTEM_MODE_UPDATE) as updates:
            assert await client.set_system_mode("autopilot") is SystemMode.AUTOPILOT
            changed = await next_event(updates)
        assert await client.get_system_mode() is SystemMode.AUTOPILOT
    assert isinstance(joined[0], SystemModeUpdateEvent)
    assert joined[0].mode is SystemMode.HITL
    assert changed.mode is SystemMode.AUTOPILOT


async def test_connected_agents_update(agent: AgentClient, server: RunningServer) -> None:
    async with (
        agent.stream("connected-agents-update") as updates,
        AgentClient(server.url, agent_id="a2", **FAST),
    ):
        update = await next_event(updates, 5)
        while "a2" not in {a.id for a in update.agents}:
            update = await next_event(updates, 5)
    assert isinstance(update, ConnectedAgentsUpdateEvent)
    assert all(isinstance(a, AgentData) for a in update.agents)


async def test_tickets_reassigned(agent: AgentClient, rest: RestClient) -> None:
    cid = (await rest.create_conversation()).conversation_id
    async with agent.stream("tickets-reassigned") as moves:
        conversation = await agent.assign(cid)
        event = await next_event(moves)
        while event.reason is not ReassignReason.MANUAL_ASSIGN:
            event = await next_event(moves)
    assert conversation.assigned_agent == "a1"
    assert isinstance(event, TicketsReassignedEvent)
    assert [(r.conversation_id, r.to_agent_id) for r in event.reassignments] == [(cid, "a1")]


async def test_customer_typing_status(agent: AgentClient, server: RunningServer) -> None:
    async with CustomerClient(server.url, **FAST) as customer:
        await customer.start_conversation()
        async with agent.stream("customer-typing-status") as typing:
            await customer.typing(True)
            event = await next_event(typing)
    assert isinstance(event, CustomerTypingStatusEvent)
    assert event.conversation_id == customer.conversation_id
    assert event.is_typing is True


async def test_heartbeat_ack_and_latency(server: RunningServer) -> None:
    async with AgentClient(server.url, agent_id="a1", heartbeat_interval=0.05, **FAST) as client:
        acks = [await client.wait_for("heartbeat-ack", timeout=scaled(5)) for _ in range(2)]
        assert client.latency is not None
        assert client.get_connection_status().connected
    assert all(isinstance(ack, HeartbeatAckEvent) for ack in acks)
    assert acks[0].agent_id == "a1"


async def test_request_current_state(agent: AgentClient) -> None:
    seen: list[CurrentStateEvent] = []
    agent.on(Event.CURRENT_STATE, seen.append)
    mode = await agent.request_current_state("system-mode", timeout=scaled(5))
    agents = await agent.request_current_state(StateType.CONNECTED_AGENTS, timeout=scaled(5))
    assert mode is SystemMode.HITL
    assert [a.id for a in agents] == ["a1"]
    assert all(isinstance(a, AgentData) for a in agents)
    with pytest.raises(ValueError, match="sideways"):
        await agent.request_current_state("sideways")  # type: ignore[call-overload]
    # Handlers run in registration order: ``seen`` got each answer before the call returned.
    assert {event.type for event in seen} == {StateType.SYSTEM_MODE, StateType.CONNECTED_AGENTS}


async def test_error_event(agent: AgentClient) -> None:
    errors: list[BaseException] = []
    agent.on_error(errors.append)
    async with agent.stream("error-event") as rejected:
        await agent.typing("no-such-conversation", True)
        event = await next_event(rejected)
    assert isinstance(event, ErrorEvent)
    assert event.code == "not_found"
    assert event.event == "agent-typing"
    assert any(isinstance(exc, NotFoundError) for exc in errors)


async def test_join_conversation_receives_agent_messages(
    agent: AgentClient, rest: RestClient
) -> None:
    cid = (await rest.create_conversation()).conversation_id
    await agent.join_conversation(cid)
    with pytest.raises(NotFoundError):
        await agent.join_conversation("no-such-conversation")
    async with agent.stream("agent-message") as replies:
        stored = await agent.respond(cid, "On its way!")
        reply = await next_event(replies)
    assert reply.message.id == stored.id
    assert reply.conversation_id == cid


async def test_rest_helpers(agent: AgentClient, rest: RestClient) -> None:
    first = (await rest.create_conversation()).conversation_id
    second = (await rest.create_conversation()).conversation_id
    await rest.post_message(first, "hello")

    status = await agent.set_personal_status(PersonalStatus.AFK)
    assert status.agent.personal_status is PersonalStatus.AFK
    await agent.set_personal_status("online")
    assert "a1" in {a.id for a in await agent.connected_agents()}

    reply = await agent.respond(first, "hi there", idempotency_key="reply-1")
    assert reply.sender is Sender.AGENT
    assert [m.content for m in await agent.history(first)] == ["hello", "hi there"]
    assert [m.content for m in await agent.history(first, after=reply.seq - 1)] == ["hi there"]

    moves = await agent.bulk_assign([first, second], "a2")
    assert {m.to_agent_id for m in moves} == {"a2"}
    assert (await agent.assign(second)).assigned_agent == "a1"
    await agent.end_conversation(second)
    assert [c.id for c in await agent.conversations(ConversationStatus.ENDED)] == [second]
    assert {c.id for c in await agent.conversations()} == {first, second}


# ---------------------------------------------------------------- token mode


async def test_agent_key_fetches_the_token(token_server: RunningServer) -> None:
    async with AgentClient(token_server.url, agent_id="a1", agent_key="test-key", **FAST) as client:
        assert client.get_connection_status().connected
        assert await client.get_system_mode() is SystemMode.HITL
        agents = await client.request_current_state("connected-agents", timeout=scaled(5))
        assert [a.id for a in agents] == ["a1"]
        with pytest.raises(ForbiddenError):
            await client.rest.set_personal_status("someone-else", "afk")


async def test_wrong_agent_key_is_refused(token_server: RunningServer) -> None:
    client = AgentClient(token_server.url, agent_id="a1", agent_key="wrong", **FAST)
    with pytest.raises(AuthError):
        await asyncio.wait_for(client.connect(), scaled(10))
    await client.disconnect()


async def test_token_of_another_agent_is_forbidden(token_server: RunningServer) -> None:
    async with RestClient(token_server.url) as rest:
        token = (await rest.agent_token("a1", "test-key")).token
    client = AgentClient(token_server.url, agent_id="a2", token=token, **FAST)
    with pytest.raises(ServerError) as caught:
        await asyncio.wait_for(client.connect(), scaled(10))
    assert isinstance(caught.value, ForbiddenError | AuthError)
    await client.disconnect()


async def test_customer_token_cannot_join_the_dashboard(token_server: RunningServer) -> None:
    async with RestClient(token_server.url) as rest:
        token = (await rest.create_conversation()).token
    client = AgentClient(token_server.url, agent_id="a1", token=token, **FAST)
    with pytest.raises(ForbiddenError):
        await asyncio.wait_for(client.connect(), scaled(10))
    await client.disconnect()


async def test_both_credentials_are_refused(server: RunningServer) -> None:
    with pytest.raises(ValueError, match="not both"):
        AgentClient(server.url, agent_id="a1", agent_key="k", token="t")


async def test_closed_client_cannot_reconnect(server: RunningServer) -> None:
    client = AgentClient(server.url, agent_id="a1", **FAST)
    async with client:
        pass
    await client.disconnect()  # idempotent
    with pytest.raises(StateError):
        await client.connect()


async def test_token_mode_reconnects_after_server_restart(token_server: RunningServer) -> None:
    async with AgentClient(token_server.url, agent_id="a1", agent_key="test-key", **FAST) as client:
        away = Lost(client)
        await token_server.stop()
        await token_server.start()
        await away.wait_back()
        mode = await client.request_current_state("system-mode", timeout=scaled(5))
        assert mode is SystemMode.HITL
        assert await client.get_system_mode() is SystemMode.HITL
