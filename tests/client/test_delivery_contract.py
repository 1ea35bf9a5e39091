"""The delivery contract through the public API, on the paths users take (issue 19's
reproductions): handlers registered after connecting, a restart from the saved position,
a customer whose reply was stored while its socket was down, a first send retried.

A message is handled once user code took it; the resume position never passes one
received and not handled; events that come before any consumer wait for the first one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.deployments import FAST, Deployment, Inbox, Lost
from vilnius_client import AgentClient, CustomerClient, Event, NewMessageEvent, Sender
from vilnius_client.errors import VilniusError
from vilnius_client.events import AgentMessageEvent
from vilnius_client.rest import RestClient


async def _position(bot: AgentClient) -> dict[str, Any]:
    """What a bot author stores to resume: ``last_seq``, or ``last_message_at`` on production."""
    if bot.last_seq is not None:
        return {"last_seq": bot.last_seq}
    at: datetime | None = bot.last_message_at
    assert at is not None
    return {"last_message_at": at}


@pytest.mark.parametrize("register", ["inside async with", "before connecting"])
async def test_a_bot_restarted_from_its_position_gets_what_came_while_it_was_down(
    deployment: Deployment, register: str
) -> None:
    """Issue 19: a bot written as the README writes it (handler registered inside ``async
    with``) got 0 of the 20 messages sent while it was down, and its position jumped."""
    first = Inbox()
    async with deployment.customer() as customer:
        bot = deployment.agent("bot")
        if register == "before connecting":
            bot.on(Event.NEW_MESSAGE, first)
        async with bot:
            if register == "inside async with":
                bot.on(Event.NEW_MESSAGE, first)
            await customer.send_message("before")
            await first.until(1)
        saved = await _position(bot)

        sent = [await customer.send_message(f"while down {n}") for n in range(20)]

        second = Inbox()
        again = deployment.agent("bot", **saved)
        if register == "before connecting":
            again.on(Event.NEW_MESSAGE, second)
        async with again:
            if register == "inside async with":
                again.on(Event.NEW_MESSAGE, second)
            events: list[NewMessageEvent] = await second.until(20)
            await asyncio.sleep(0)  # nothing more is on its way
            assert [e.message.id for e in events] == [m.id for m in sent]
            assert all(e.replayed for e in events)
            if again.last_seq is not None:
                assert again.last_seq == sent[-1].seq
            else:
                assert again.last_message_at == sent[-1].timestamp


async def test_messages_that_came_before_the_handler_are_not_covered_by_the_position(
    deployment: Deployment,
) -> None:
    """Until a handler took them, the held messages do not move the position."""
    async with deployment.customer() as customer, deployment.agent("bot") as bot:
        sent = await customer.send_message("nobody handles me yet")
        await asyncio.sleep(0.2)  # the message has arrived and waits (no handler to await)
        if bot.last_seq is not None:
            assert sent.seq is not None
            assert bot.last_seq < sent.seq
        else:
            assert bot.last_message_at is not None
            assert bot.last_message_at < sent.timestamp
        inbox = Inbox()
        bot.on(Event.NEW_MESSAGE, inbox)
        (event,) = await inbox.until(1)
        assert event.message.id == sent.id
        if bot.last_seq is not None:
            assert bot.last_seq == sent.seq


async def test_a_reply_stored_while_the_customers_socket_was_down_arrives_once(
    server: RunningServer, rest: RestClient
) -> None:
    """Issue 19's minimal case: the socket is down, an agent replies (seq k), 100 other
    messages are stored elsewhere, the customer posts over REST, the socket comes back."""
    cid = (await rest.create_conversation()).conversation_id
    replies = Inbox()
    async with CustomerClient(
        server.url, conversation_id=cid, last_seq=0, fallback_after=None, **FAST
    ) as customer:
        customer.on(Event.AGENT_MESSAGE, replies)
        lost = Lost(customer)
        server.faults.block_sockets = True  # the socket cannot come back; REST answers
        await server.stop()
        await server.start()
        await lost.wait_lost()
        reply = (await rest.agent_respond(cid, "stored while you were away", "a1")).message
        other = (await rest.create_conversation()).conversation_id
        for n in range(100):
            await rest.post_message(other, f"elsewhere {n}")
        mine = await customer.send_message("anyone?")
        assert reply.seq is not None
        assert mine.seq is not None
        assert mine.seq > reply.seq + 100
        server.faults.block_sockets = False
        await lost.wait_back()
        events: list[AgentMessageEvent] = await replies.until(1)
        later = (await rest.agent_respond(cid, "and live again", "a1")).message
        events = await replies.until(2)
    assert [e.message.id for e in events] == [reply.id, later.id]
    assert [e.replayed for e in events] == [True, False]


async def test_a_failed_first_send_retried_with_its_key_is_stored_once_and_adopted(
    server: RunningServer,
) -> None:
    """The first send creates the conversation; it fails after the server stored it (every
    answer lost); the retry with the same key, as the docs advise, must go to the same
    conversation (it got 422 there before: a new ``session-…`` id)."""
    server.faults.drop_responses = 5  # every attempt of the SDK's own retries
    async with CustomerClient(server.url, retry_attempts=5, **FAST) as customer:
        with pytest.raises(VilniusError) as failed:
            await customer.send_message("hello?", idempotency_key="k-1")
        assert failed.value.may_have_acted
        assert customer.conversation_id is None
        assert [m.content for m in await customer.history()] == ["hello?"]
        sent = await customer.send_message("hello?", idempotency_key="k-1")
        assert customer.conversation_id == sent.conversation_id
        stored = await customer.history()
    assert [(m.content, m.sender) for m in stored] == [("hello?", Sender.VISITOR)]
    assert stored[0].id == sent.id


async def test_the_failed_first_send_of_a_server_without_idempotency_is_not_lost(
    deployment: Deployment,
) -> None:
    """Production de-duplicates nothing: the client keeps the conversation the failed send
    was for, so that a script can look (``history()``) before sending again."""
    if deployment.profile != "lizdeika":
        pytest.skip("the contract's server de-duplicates (above)")
    deployment.server.faults.drop_responses = 1
    async with deployment.customer() as customer:
        with pytest.raises(VilniusError) as failed:
            await customer.send_message("are you there?")
        assert failed.value.may_have_acted
        history = [m for m in await customer.history() if m.sender is Sender.VISITOR]
        assert [m.content for m in history] == ["are you there?"]
        await customer.send_message("second")
        mine = [m for m in await customer.history() if m.sender is Sender.VISITOR]
        assert [m.content for m in mine] == ["are you there?", "second"]
        assert customer.conversation_id == history[0].conversation_id


async def test_a_stream_opened_late_gets_the_held_messages_and_they_count_when_read(
    deployment: Deployment,
) -> None:
    async with deployment.customer() as customer, deployment.agent("bot") as bot:
        sent = [await customer.send_message(f"m{n}") for n in range(3)]
        await asyncio.sleep(0.2)
        async with bot.stream(Event.NEW_MESSAGE) as messages:
            got = [await asyncio.wait_for(anext(messages), scaled(5)) for _ in sent]
            assert [e.message.id for e in got] == [m.id for m in sent]
        if bot.last_seq is not None:
            assert bot.last_seq == sent[-1].seq


async def test_a_first_send_that_succeeds_never_fails_because_the_socket_cannot_connect_yet(
    server: RunningServer, rest: RestClient
) -> None:
    """The first send creates the conversation, then the socket connects. If only that
    fails (the server went down just then), the send still succeeded: raising would make
    a caller send it again, and store it twice (seen in tests/faults/test_fault_storm.py).
    The socket follows in the background; a reply stored meanwhile comes by the catch-up."""
    server.faults.block_sockets = True  # REST answers, the socket is refused
    replies = Inbox()
    errors: list[BaseException] = []
    async with CustomerClient(server.url, connect_timeout=0.5, **FAST) as customer:
        customer.on(Event.AGENT_MESSAGE, replies)
        customer.on_error(errors.append)
        sent = await customer.send_message("hello?")
        assert customer.conversation_id == sent.conversation_id
        assert errors, "the failed connect is reported"
        reply = (await rest.agent_respond(sent.conversation_id, "hi!", "a1")).message
        server.faults.block_sockets = False
        (event,) = await replies.until(1)
        assert event.message.id == reply.id
        mine = [m for m in await customer.history() if m.sender is Sender.VISITOR]
        assert [m.content for m in mine] == ["hello?"]
