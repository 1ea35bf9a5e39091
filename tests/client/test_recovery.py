"""Recovery: what was sent while a client was away arrives once, replayed, in seq order.

A *gated* token (a callable that, once armed, answers only when the test opens
the gate) holds a client away from the server for
exactly as long as the test needs, without sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mock_server import RunningServer
from tests.conftest import scaled
from tests.deployments import Inbox
from vilnius_client import ConnectionState
from vilnius_client.agent import AgentClient
from vilnius_client.customer import CustomerClient
from vilnius_client.events import (
    AgentMessageEvent,
    AllMessagesResponse,
    NewMessageEvent,
    Sender,
)
from vilnius_client.rest import RestClient

FAST: dict[str, Any] = {"reconnection_delay": 0.05, "max_reconnection_delay": 0.2}


class Gate:
    """A token source that, once armed, holds every call until :meth:`open`."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self._armed = False
        self._open = asyncio.Event()

    async def __call__(self) -> str:
        if self._armed:
            self.waiting.set()
            await self._open.wait()
        return "unused-in-auth-none"

    def arm(self) -> None:
        self._armed = True

    def open(self) -> None:
        self._open.set()


async def lose_server(server: RunningServer, gate: Gate) -> None:
    """Stop and restart the server; return once the client waits at the gate."""
    gate.arm()
    await server.stop()
    await server.start()
    await asyncio.wait_for(gate.waiting.wait(), scaled(10))


async def test_agent_catches_up_after_server_restart(
    server: RunningServer, rest: RestClient
) -> None:
    gate = Gate()
    inbox = Inbox()
    states: list[ConnectionState] = []
    async with AgentClient(server.url, agent_id="a1", token=gate, **FAST) as agent:
        agent.on("new-message", inbox)
        agent.on_connection_change(lambda change: states.append(change.new))
        cid = (await rest.create_conversation()).conversation_id
        live = await rest.post_message(cid, "before")
        await inbox.until(1)

        await lose_server(server, gate)
        missed = [(await rest.post_message(cid, f"missed {n}")).user_message for n in range(5)]
        assert len(inbox.items) == 1, "nothing arrives while the client is away"
        gate.open()
        await inbox.until(6)
        after = await rest.post_message(cid, "after")
        events: list[NewMessageEvent] = await inbox.until(7)

    assert [e.message.id for e in events] == [
        live.user_message.id,
        *(m.id for m in missed),
        after.user_message.id,
    ]
    assert [e.replayed for e in events] == [False, *[True] * 5, False]
    assert [e.message.seq for e in events] == sorted(e.message.seq for e in events)
    assert agent.last_seq == after.user_message.seq
    assert ConnectionState.RECONNECTING in states


async def test_overlap_between_catch_up_and_live_events_is_dropped(
    server: RunningServer, rest: RestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate()
    inbox = Inbox()
    async with AgentClient(server.url, agent_id="a1", token=gate, **FAST) as agent:
        agent.on("new-message", inbox)
        cid = (await rest.create_conversation()).conversation_id
        await lose_server(server, gate)
        missed = [(await rest.post_message(cid, f"missed {n}")).user_message for n in range(3)]

        real_page = agent.rest.all_messages
        overlap: list[str] = []

        async def page_with_overlap(*, after: int = 0, limit: int | None = None) -> Any:
            if not overlap:
                # Stored after the socket joined the dashboard and before the catch-up
                # reads: it arrives live (held back) and in the catch-up page.
                sent = await rest.post_message(cid, "during catch-up")
                overlap.append(sent.user_message.id)
            answer: AllMessagesResponse = await real_page(after=after, limit=limit)
            return answer

        monkeypatch.setattr(agent.rest, "all_messages", page_with_overlap)
        gate.open()
        await inbox.until(4)
        after = await rest.post_message(cid, "after")
        events: list[NewMessageEvent] = await inbox.until(5)

    ids = [e.message.id for e in events]
    assert ids == [*(m.id for m in missed), overlap[0], after.user_message.id]
    # The overlapping message came live too: the live event (waiting while the catch-up
    # ran) is handed over in its place, once.
    assert [e.replayed for e in events] == [True, True, True, False, False]


async def test_restarted_bot_resumes_from_last_seq(server: RunningServer, rest: RestClient) -> None:
    cid = (await rest.create_conversation()).conversation_id
    await rest.post_message(cid, "history")  # before the first bot: never replayed
    first_inbox = Inbox()
    async with AgentClient(server.url, agent_id="bot", **FAST) as bot:
        bot.on("new-message", first_inbox)
        handled = await rest.post_message(cid, "handled by the first run")
        await first_inbox.until(1)
        saved = bot.last_seq
    assert saved == handled.user_message.seq
    assert [e.message.content for e in first_inbox.items] == ["handled by the first run"]

    offline = [(await rest.post_message(cid, f"while down {n}")).user_message for n in range(3)]

    inbox = Inbox()
    bot = AgentClient(server.url, agent_id="bot", last_seq=saved, **FAST)
    bot.on("new-message", inbox)
    async with bot:
        events = await inbox.until(3)
    assert [e.message.id for e in events] == [m.id for m in offline]
    assert all(e.replayed for e in events)


async def test_catch_up_pages_through_a_backlog(server: RunningServer, rest: RestClient) -> None:
    cid = (await rest.create_conversation()).conversation_id
    first = await rest.post_message(cid, "start")
    backlog = [(await rest.post_message(cid, f"m{n}")).user_message.seq for n in range(12)]
    inbox = Inbox()
    bot = AgentClient(
        server.url, agent_id="bot", last_seq=first.user_message.seq, page_size=5, **FAST
    )
    bot.on("new-message", inbox)
    async with bot:
        events = await inbox.until(12)
    assert [e.message.seq for e in events] == backlog


async def test_customer_catches_up_after_server_restart(
    server: RunningServer, rest: RestClient
) -> None:
    gate = Gate()
    inbox = Inbox()
    cid = (await rest.create_conversation()).conversation_id
    customer = CustomerClient(server.url, conversation_id=cid, token=gate, **FAST)
    customer.on("agent-message", inbox)
    async with customer:
        await rest.agent_respond(cid, "live", "a1")
        await inbox.until(1)

        await lose_server(server, gate)
        await rest.post_message(cid, "are you there?")  # the customer's own: not delivered
        missed = [(await rest.agent_respond(cid, f"missed {n}", "a1")).message for n in range(3)]
        gate.open()
        events: list[AgentMessageEvent] = await inbox.until(4)
        assert customer.last_seq == missed[-1].seq

    assert [e.message.content for e in events] == ["live", "missed 0", "missed 1", "missed 2"]
    assert [e.replayed for e in events] == [False, True, True, True]
    assert all(e.message.sender is Sender.AGENT for e in events)


async def test_catch_up_survives_unavailable_answers(
    server: RunningServer, rest: RestClient
) -> None:
    gate = Gate()
    inbox = Inbox()
    async with AgentClient(
        server.url, agent_id="a1", token=gate, retry_attempts=1, **FAST
    ) as agent:
        agent.on("new-message", inbox)
        cid = (await rest.create_conversation()).conversation_id
        await lose_server(server, gate)
        missed = [(await rest.post_message(cid, f"missed {n}")).user_message for n in range(2)]
        # The catch-up's first reads fail (503): the attempt is retried, nothing skipped.
        server.faults.fail_requests = 2
        gate.open()
        events = await inbox.until(2)
    assert [e.message.id for e in events] == [m.id for m in missed]


async def test_last_seq_never_covers_messages_queued_for_handlers(
    server: RunningServer, rest: RestClient
) -> None:
    release = asyncio.Event()
    started = Inbox()

    async def slow(event: NewMessageEvent) -> None:
        started(event)
        await release.wait()

    cid = (await rest.create_conversation()).conversation_id
    async with AgentClient(server.url, agent_id="bot", **FAST) as bot:
        bot.on("new-message", slow)
        async with bot.stream("new-message") as received:
            sent = [(await rest.post_message(cid, f"m{n}")).user_message for n in range(3)]
            for _ in sent:
                await asyncio.wait_for(anext(received), scaled(5))
        await started.until(1)
        assert bot.received_seq == sent[-1].seq
        # The stream took all three, but the first handler still runs: none is handled.
        assert bot.last_seq == sent[0].seq - 1
        release.set()
        await started.until(3)
    assert bot.last_seq == sent[-1].seq


async def test_agent_falls_back_to_polling_while_the_socket_is_refused(
    server: RunningServer, rest: RestClient
) -> None:
    inbox = Inbox()
    modes: list[str] = []
    async with AgentClient(
        server.url, agent_id="a1", fallback_after=0.2, poll_interval=0.05, **FAST
    ) as agent:
        agent.on("new-message", inbox)
        agent.on_connection_change(lambda _: modes.append(agent.get_connection_status().mode))
        cid = (await rest.create_conversation()).conversation_id
        await rest.post_message(cid, "live")
        await inbox.until(1)

        server.faults.block_sockets = True  # REST still answers; sockets are refused
        await server.stop()
        await server.start()
        polled = [(await rest.post_message(cid, f"polled {n}")).user_message for n in range(3)]
        await inbox.until(4)
        assert agent.get_connection_status().mode == "polling"
        assert not agent.get_connection_status().connected

        back = asyncio.Event()
        agent.on_connection_change(lambda c: c.new is ConnectionState.CONNECTED and back.set())
        server.faults.block_sockets = False
        await asyncio.wait_for(back.wait(), scaled(10))
        after = await rest.post_message(cid, "after")
        events: list[NewMessageEvent] = await inbox.until(5)
        assert agent.get_connection_status().mode == "socket"

    assert [e.message.content for e in events] == [
        "live",
        "polled 0",
        "polled 1",
        "polled 2",
        "after",
    ]
    assert [e.message.id for e in events[1:4]] == [m.id for m in polled]
    assert [e.replayed for e in events] == [False, True, True, True, False]
    assert agent.last_seq == after.user_message.seq


async def test_no_polling_when_the_fallback_is_disabled(
    server: RunningServer, rest: RestClient
) -> None:
    inbox = Inbox()
    async with AgentClient(server.url, agent_id="a1", fallback_after=None, **FAST) as agent:
        agent.on("new-message", inbox)
        cid = (await rest.create_conversation()).conversation_id
        server.faults.block_sockets = True
        await server.stop()
        await server.start()
        await rest.post_message(cid, "waits for the socket")
        with pytest.raises(TimeoutError):
            await inbox.until(1, seconds=0.5)
        assert agent.get_connection_status().mode == "socket"
        server.faults.block_sockets = False
        events = await inbox.until(1)
    assert events[0].replayed


async def test_customer_falls_back_to_polling_while_the_socket_is_refused(
    server: RunningServer, rest: RestClient
) -> None:
    inbox = Inbox()
    async with CustomerClient(server.url, fallback_after=0.2, poll_interval=0.05, **FAST) as me:
        me.on("agent-message", inbox)
        cid = (await me.start_conversation()).id
        await rest.agent_respond(cid, "live", "a1")
        await inbox.until(1)

        server.faults.block_sockets = True
        await server.stop()
        await server.start()
        await rest.agent_respond(cid, "polled", "a1")
        await inbox.until(2)
        assert me.get_connection_status().mode == "polling"

        server.faults.block_sockets = False
        await rest.agent_respond(cid, "after", "a1")
        events: list[AgentMessageEvent] = await inbox.until(3)
    assert [e.message.content for e in events] == ["live", "polled", "after"]
    assert events[1].replayed
