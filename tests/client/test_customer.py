"""CustomerClient against the reference server: conversation, replies, typing, tokens."""

from __future__ import annotations

import asyncio

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from vilnius_client.agent import AgentClient
from vilnius_client.customer import CustomerClient
from vilnius_client.errors import ForbiddenError, NotFoundError, StateError
from vilnius_client.events import (
    AgentMessageEvent,
    AgentTypingStatusEvent,
    Event,
    Sender,
    SystemMode,
)
from vilnius_client.rest import RestClient

from .conftest import FAST, next_event


async def test_start_conversation_then_agent_reply_and_typing(
    server: RunningServer, agent: AgentClient
) -> None:
    async with CustomerClient(server.url, visitor_id="v-1", **FAST) as customer:
        assert not customer.get_connection_status().connected, "no socket before a conversation"
        conversation = await customer.start_conversation(metadata={"page": "/help"})
        assert customer.conversation_id == conversation.id
        assert conversation.visitor_id == "v-1"
        assert customer.get_connection_status().connected

        async with (
            customer.stream(Event.AGENT_MESSAGE) as replies,
            customer.stream("agent-typing-status") as typing,
        ):
            await agent.join_conversation(conversation.id)
            await agent.typing(conversation.id, True)
            typed = await next_event(typing)
            stored = await agent.respond(conversation.id, "Hello from support")
            reply = await next_event(replies)
    assert isinstance(typed, AgentTypingStatusEvent)
    assert typed.is_typing is True
    assert isinstance(reply, AgentMessageEvent)
    assert reply.message.id == stored.id
    assert reply.message.sender is Sender.AGENT
    assert not reply.replayed


async def test_first_message_creates_the_conversation(
    server: RunningServer, agent: AgentClient
) -> None:
    async with (
        agent.stream("new-conversation") as created,
        CustomerClient(server.url, **FAST) as customer,
    ):
        sent = await customer.send_message("Hi, is anyone there?")
        event = await next_event(created)
        assert customer.conversation_id == sent.conversation_id == event.conversation_id
        assert customer.visitor_id == event.conversation.visitor_id
        assert customer.get_connection_status().connected
        second = await customer.send_message("Hello?", idempotency_key="k-2")
        # Its own messages never move the position by themselves (a reply may be stored
        # below one, not received yet): only the catch-up at connect paged past the first.
        assert customer.last_seq == sent.seq
        assert second.seq is not None
        assert sent.seq is not None
        assert second.seq > sent.seq
        history = await customer.history()
        assert [m.content for m in history] == ["Hi, is anyone there?", "Hello?"]
        assert [m.content for m in await customer.history(after=sent.seq)] == ["Hello?"]


async def test_autopilot_reply_is_delivered_once(server: RunningServer) -> None:
    async with RestClient(server.url) as rest:
        await rest.set_system_mode(SystemMode.AUTOPILOT)
    replies: list[AgentMessageEvent] = []
    arrived = asyncio.Event()

    def record(event: AgentMessageEvent) -> None:
        replies.append(event)
        arrived.set()

    async with CustomerClient(server.url, **FAST) as customer:
        customer.on("agent-message", record)
        # The first reply may be stored before the room is joined: then it is replayed.
        for text in ("first", "second", "third"):
            await customer.send_message(text)
        stored = await customer.history()
        expected = [m.id for m in stored if m.sender is Sender.AGENT]
        assert len(expected) == 3
        # Replies of one conversation reach handlers in order: once the last one is
        # handled, a duplicate of an earlier one would have been handled too.
        async with asyncio.timeout(scaled(5)):
            while expected[-1] not in {event.message.id for event in replies}:
                arrived.clear()
                await arrived.wait()
    assert [event.message.id for event in replies] == expected


async def test_one_conversation_per_client(server: RunningServer) -> None:
    async with CustomerClient(server.url, **FAST) as customer:
        with pytest.raises(StateError):
            await customer.typing(True)
        with pytest.raises(StateError):
            await customer.history()
        await customer.start_conversation()
        with pytest.raises(StateError, match="one conversation"):
            await customer.start_conversation()
        await customer.typing(False)


async def test_client_must_be_started(server: RunningServer) -> None:
    customer = CustomerClient(server.url, **FAST)
    with pytest.raises(StateError, match="async with"):
        await customer.start_conversation()
    await customer.disconnect()


async def test_continue_an_existing_conversation(server: RunningServer) -> None:
    async with RestClient(server.url) as rest:
        cid = (await rest.create_conversation()).conversation_id
        await rest.agent_respond(cid, "old news", "a1")
        async with CustomerClient(server.url, conversation_id=cid, **FAST) as customer:
            assert customer.get_connection_status().connected
            assert customer.last_seq is not None, "starts at the end of the conversation"
            async with customer.stream("agent-message") as replies:
                await rest.agent_respond(cid, "fresh", "a1")
                reply = await next_event(replies)
    assert reply.message.content == "fresh"


async def test_unknown_conversation_is_refused(server: RunningServer) -> None:
    customer = CustomerClient(server.url, conversation_id="no-such-conversation", **FAST)
    with pytest.raises(NotFoundError):
        await asyncio.wait_for(customer.__aenter__(), scaled(10))


# ---------------------------------------------------------------- token mode


async def test_customer_token_is_kept_and_scoped(
    token_server: RunningServer,
) -> None:
    async with (
        AgentClient(token_server.url, agent_id="a1", agent_key="test-key", **FAST) as agent,
        CustomerClient(token_server.url, **FAST) as customer,
    ):
        conversation = await customer.start_conversation()
        assert customer.token
        assert customer.get_connection_status().connected
        async with customer.stream("agent-message") as replies:
            await agent.respond(conversation.id, "token mode works")
            reply = await next_event(replies)
        assert reply.message.content == "token mode works"
        await customer.send_message("thanks")

        other = (await customer.rest.create_conversation()).conversation_id
        with pytest.raises(ForbiddenError):
            await customer.rest.conversation_messages(other)
        with pytest.raises(ForbiddenError):
            await customer.rest.agent_respond(conversation.id, "I am an agent", "a1")

        intruder = CustomerClient(
            token_server.url, conversation_id=other, token=customer.token, **FAST
        )
        with pytest.raises(ForbiddenError):
            await asyncio.wait_for(intruder.__aenter__(), scaled(10))


async def test_first_message_keeps_the_token(token_server: RunningServer) -> None:
    async with CustomerClient(token_server.url, visitor_id="v-7", **FAST) as customer:
        sent = await customer.send_message("hello")
        assert customer.token  # the token the first message's answer brought
        assert customer.conversation_id == sent.conversation_id
        assert [m.content for m in await customer.history()] == ["hello"]


async def test_dropped_answer_stores_one_message(server: RunningServer) -> None:
    async with CustomerClient(server.url, retry_attempts=3, **FAST) as customer:
        await customer.start_conversation()
        server.faults.drop_responses = 1
        sent = await customer.send_message("exactly once")
        assert server.faults.drop_responses == 0
        server.faults.fail_requests = 2
        await customer.send_message("after two 503s")
        assert server.faults.fail_requests == 0
        history = await customer.history()
    assert [m.content for m in history] == ["exactly once", "after two 503s"]
    assert history[0].id == sent.id
