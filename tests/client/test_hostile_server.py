"""The SDK against a deliberately hostile server (issue 11, points 6-9; issue 14, item 1).

Each test runs twice: with the transport's fast paths and with python-socketio's stock
paths (``VILNIUS_FAST_PATHS=0``), through the ``fast_paths`` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.client._core_support import Transitions
from tests.client.hostile_server import HostileServer, hostile_server, message, new_message
from tests.conftest import scaled
from tests.faults.timing import wait_until
from vilnius_client import (
    AgentClient,
    AgentMessageEvent,
    AuthError,
    ConnectionState,
    CustomerClient,
    Event,
    FrameTooLargeError,
    InvalidEventError,
    ModernWebSocketManager,
    NewMessageEvent,
    ProtocolError,
    QueueOverflowError,
    ReplyTimeoutError,
    SeqJumpError,
    TransportError,
)

pytestmark = pytest.mark.usefixtures("fast_paths")

S = ConnectionState
FAST: dict[str, Any] = {
    "reconnection_delay": 0.05,
    "max_reconnection_delay": 0.3,
    "ack_timeout": scaled(5),
}
CLIENT: dict[str, Any] = {**FAST, "fallback_after": None}
ABSURD = 10**15


@pytest.fixture
async def server() -> AsyncIterator[HostileServer]:
    async with hostile_server() as running:
        yield running


class Collector:
    """Collects items and lets a test wait (bounded) until a condition on them holds."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def until(self, condition: Callable[[list[Any]], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(scaled(within)):
            while not condition(self.items):
                self._changed.clear()
                await self._changed.wait()

    def of(self, cls: type[Any]) -> list[Any]:
        return [item for item in self.items if isinstance(item, cls)]


def seqs(events: list[Any]) -> list[int]:
    return [event.message.seq for event in events]


# -- 11.6: an absurd seq is a gap to recover, not a new floor -------------------------


async def test_an_absurd_seq_is_reported_and_later_messages_still_reach_handlers(
    server: HostileServer,
) -> None:
    server.history.append(message(1))
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    received, errors = Collector(), Collector()
    agent.on(Event.NEW_MESSAGE, received)
    agent.on_error(errors)
    async with agent:
        await server.publish(message(2))
        bogus = new_message(message(ABSURD, message_id="bogus"))
        await server.emit("new-message", bogus, to="agents")
        for seq in (3, 4, 5):
            await server.publish(message(seq))
        await received.until(lambda got: 5 in seqs(got))
        await errors.until(lambda got: any(isinstance(e, SeqJumpError) for e in got))
        assert agent.last_seq == 5
    # Each once, in order (the catch-up may have delivered some before their live copy).
    assert seqs(received.items) == [2, 3, 4, 5]
    (jump,) = errors.of(SeqJumpError)
    assert jump.event == "new-message"
    assert isinstance(jump.payload, NewMessageEvent)
    assert jump.payload.message.id == "bogus"
    assert jump.payload.message.seq == ABSURD


async def test_a_real_jump_is_confirmed_by_a_catch_up_and_delivered(
    server: HostileServer,
) -> None:
    server.history.append(message(1))
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    received, errors = Collector(), Collector()
    agent.on(Event.NEW_MESSAGE, received)
    agent.on_error(errors)
    far = 1 + 50_000  # beyond the tracker's window: a gap to recover
    async with agent:
        server.history.append(message(far - 1))  # stored, but its live event was lost
        await server.publish(message(far))
        await server.publish(message(far + 1))
        await received.until(lambda got: far + 1 in seqs(got))
    assert sorted(seqs(received.items)) == [far - 1, far, far + 1]
    assert received.items[0].message.seq == far - 1
    assert received.items[0].replayed
    assert not errors.of(SeqJumpError)


async def test_a_customer_reports_an_absurd_seq_and_keeps_receiving_replies(
    server: HostileServer,
) -> None:
    server.history.append(message(1, sender="visitor"))
    customer = CustomerClient(server.url, conversation_id="c1", token="t", **CLIENT)
    received, errors = Collector(), Collector()
    customer.on(Event.AGENT_MESSAGE, received)
    customer.on_error(errors)
    async with customer:
        await server.wait_joined(scaled(5))
        await server.publish(message(2, sender="agent"))
        bogus = message(ABSURD, sender="agent", message_id="bogus")
        await server.emit("agent-message", {"message": bogus, "timestamp": bogus["timestamp"]})
        for seq in (3, 4):
            await server.publish(message(seq, sender="agent"))
        await received.until(lambda got: 4 in seqs(got))
        await errors.until(lambda got: any(isinstance(e, SeqJumpError) for e in got))
    assert seqs(received.items) == [2, 3, 4]
    (jump,) = errors.of(SeqJumpError)
    assert isinstance(jump.payload, AgentMessageEvent)
    assert jump.payload.message.seq == ABSURD


# -- 11.7: a hanging handler cannot queue its conversation's events without bound ---------


async def test_a_state_request_the_server_never_answers_times_out(server: HostileServer) -> None:
    """The hostile server answers no ``request-current-state``: the wait is bounded."""
    async with AgentClient(server.url, agent_id="a1", agent_key="k", **CLIENT) as agent:
        with pytest.raises(ReplyTimeoutError, match="no current-state system-mode"):
            await agent.request_current_state("system-mode", timeout=0.2)


@pytest.mark.parametrize("overflow", ["drop-oldest", "drop-newest"])
async def test_a_hanging_handler_queues_a_bounded_number_of_events(
    server: HostileServer, overflow: str
) -> None:
    maxsize, flood = 50, 600
    agent = AgentClient(
        server.url, agent_id="a1", queue_maxsize=maxsize, queue_overflow=overflow, **CLIENT
    )
    release, entered = asyncio.Event(), asyncio.Event()
    stuck, other, errors = Collector(), Collector(), Collector()

    async def on_message(event: NewMessageEvent) -> None:
        if event.conversation_id == "stuck":
            entered.set()
            await release.wait()
            stuck(event)
        else:
            other(event)

    agent.on(Event.NEW_MESSAGE, on_message)
    agent.on_error(errors)
    # Every tenth message belongs to another conversation, which must keep flowing.
    stored = [message(seq, "other" if seq % 10 == 0 else "stuck") for seq in range(1, flood + 1)]
    in_stuck = [m["seq"] for m in stored if m["conversationId"] == "stuck"]
    in_other = [m["seq"] for m in stored if m["conversationId"] == "other"]
    dropped = len(in_stuck) - 1 - maxsize  # the first one is in the hanging handler

    def overflowed(got: list[Any]) -> bool:
        return len([e for e in got if isinstance(e, QueueOverflowError)]) >= dropped

    async with agent:
        await server.publish(stored[0])
        await asyncio.wait_for(entered.wait(), scaled(5))
        server.history.extend(stored[1:])  # stored, as the flood's messages are
        await server.flood("new-message", (new_message(m) for m in stored[1:]), to="agents")
        await other.until(lambda got: len(got) == len(in_other))
        await errors.until(overflowed)
        release.set()
        # Dropped untaken, so not handled: the position stays below them and a round
        # fetches them again (waiting for room, not overflowing), each once.
        await stuck.until(lambda got: len(got) == len(in_stuck))
        await wait_until(lambda: agent.last_seq == flood, 5)
    assert seqs(other.items) == in_other
    overflows = errors.of(QueueOverflowError)
    assert len(overflows) == dropped
    assert all(e.event == "new-message" and e.key == "stuck" for e in overflows)
    assert all(e.maxsize == maxsize for e in overflows)
    lost = [e.payload.message.seq for e in overflows]
    if overflow == "drop-oldest":
        # The newest events were kept; the oldest queued ones were dropped, in order, and
        # come again after the kept ones.
        assert lost == in_stuck[1 : 1 + dropped]
        assert seqs(stuck.items) == [in_stuck[0], *in_stuck[-maxsize:], *lost]
    else:
        assert lost == in_stuck[1 + maxsize :]
        assert seqs(stuck.items) == in_stuck
    assert [e.replayed for e in stuck.items if e.message.seq in lost] == [True] * dropped


# -- 11.8: any received frame proves the link alive; only silence trips the watchdog -----


async def test_a_flood_that_delays_heartbeat_acks_does_not_end_the_link(
    server: HostileServer,
) -> None:
    timeout, pace = scaled(0.5), 0.01
    manager = ModernWebSocketManager(
        server.url, agent_id="a1", heartbeat_interval=0.1, heartbeat_timeout=timeout, **FAST
    )
    changes = Transitions(manager)
    errors = Collector()
    manager.on_error(errors)
    async with manager:
        await manager.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
        server.hold_heartbeat_acks()
        # Events keep coming for four heartbeat timeouts while the ack waits behind them.
        count = int(4 * timeout / pace)
        payloads = ({"mode": "hitl"} for _ in range(count))
        sent = await server.flood("system-mode-update", payloads, to="agents", pace=pace)
        assert sent == count
        late_ack = asyncio.ensure_future(manager.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5)))
        await server.release_heartbeat_acks()
        await late_ack
        assert manager.latency is not None
        assert manager.latency > timeout
        assert changes.states == [S.CONNECTING, S.CONNECTED]
        assert not errors.items


async def test_a_silent_server_still_trips_the_watchdog(server: HostileServer) -> None:
    interval, timeout = 0.1, scaled(0.4)
    manager = ModernWebSocketManager(
        server.url, agent_id="a1", heartbeat_interval=interval, heartbeat_timeout=timeout, **FAST
    )
    changes = Transitions(manager)
    errors = Collector()
    manager.on_error(errors)
    async with manager:
        await manager.wait_for(Event.HEARTBEAT_ACK, timeout=scaled(5))
        server.silent = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        lost = await changes.wait(S.RECONNECTING, within=interval + 2 * timeout + 2)
        detected = loop.time() - started
        server.silent = False
        assert "heartbeat" in changes.changes[lost].reason
        # Silence is declared after heartbeat_timeout, give or take a quarter of it.
        assert detected <= interval + 1.25 * timeout + scaled(0.3)
        await changes.wait(S.CONNECTED, after=lost)
    assert any(isinstance(e, TransportError) and "heartbeat" in str(e) for e in errors.items)


# -- 11.9: big frames arrive; one over the limit is reported, not a silent reconnect ------


async def test_a_message_over_aiohttps_4_mb_default_arrives(server: HostileServer) -> None:
    server.history.append(message(1))
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    changes = Transitions(agent.manager)
    received = Collector()
    agent.on(Event.NEW_MESSAGE, received)
    big = "x" * (5 * 2**20)
    async with agent:
        await server.publish(message(2, content=big))
        await received.until(lambda got: bool(got), within=10)
        assert changes.states == [S.CONNECTING, S.CONNECTED]
    (event,) = received.items
    assert event.message.content == big
    assert not event.replayed


async def test_a_frame_over_the_limit_is_reported_and_its_message_recovered(
    server: HostileServer,
) -> None:
    server.history.append(message(1))
    limit = 2**20
    agent = AgentClient(server.url, agent_id="a1", max_message_size=limit, **CLIENT)
    received, errors = Collector(), Collector()
    agent.on(Event.NEW_MESSAGE, received)
    agent.on_error(errors)
    big = "y" * (2 * limit)
    async with agent:
        await server.publish(message(2, content=big))
        await errors.until(lambda got: any(isinstance(e, FrameTooLargeError) for e in got))
        # The link was closed (a WebSocket cannot skip a frame): the reconnect's catch-up
        # fetches the message over REST, where the frame limit does not apply.
        await received.until(lambda got: bool(got), within=10)
    (too_large,) = errors.of(FrameTooLargeError)
    assert too_large.limit == limit
    (event,) = received.items
    assert event.message.content == big
    assert event.replayed


# -- 14.1: no permessage-deflate unless asked ----------------------------------------


@pytest.mark.parametrize("compression", [False, True])
async def test_compression_is_offered_only_when_asked(
    server: HostileServer, compression: bool
) -> None:
    options: dict[str, Any] = {"compression": True} if compression else {}
    async with ModernWebSocketManager(server.url, **options, **FAST):
        pass
    (handshake,) = server.handshakes
    offered = handshake.get("Sec-WebSocket-Extensions", "")
    assert ("permessage-deflate" in offered) is compression


# -- garbage on the wire ------------------------------------------------------------


async def test_garbage_packets_are_reported_or_ignored_and_the_link_stays(
    server: HostileServer,
) -> None:
    server.history.append(message(1))
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    changes = Transitions(agent.manager)
    received, errors = Collector(), Collector()
    agent.on(Event.NEW_MESSAGE, received)
    agent.on_error(errors)
    async with agent:
        await server.send_raw('2["new-message",{"conversationId":"c1"}]')  # invalid payload
        await server.send_raw('2["new-message",{"broken json')  # undecodable
        await server.send_raw('2["no-such-event",{}]')  # unknown event
        await server.send_raw("2[42]")  # an event without a name
        await server.publish(message(2))
        await received.until(lambda got: bool(got))
        assert changes.states == [S.CONNECTING, S.CONNECTED]
    assert seqs(received.items) == [2]
    assert [type(e).__name__ for e in errors.items] == ["InvalidEventError"]
    invalid = errors.items[0]
    assert isinstance(invalid, ProtocolError)
    assert invalid.payload == {"conversationId": "c1"}, "the raw payload reaches on_error"


async def test_numbers_that_are_not_seqs_are_reported_not_taken_for_duplicates(
    server: HostileServer,
) -> None:
    """``seq: -5``, ``seq: true``, ``seq: "7"`` would be read as numbers (``True`` is 1) and
    dropped as duplicates without a word: they are invalid payloads, reported."""
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    received, errors = Collector(), Collector()
    agent.on(Event.NEW_MESSAGE, received)
    agent.on_error(errors)
    async with agent:
        for bad in (-5, True, "7"):
            await server.emit("new-message", new_message({**message(9), "seq": bad}), to="agents")
        await server.publish(message(1))
        await received.until(lambda got: bool(got))
        await errors.until(lambda got: len(got) == 3)
    assert seqs(received.items) == [1]
    assert all(isinstance(e, InvalidEventError) for e in errors.items)
    assert [e.payload["message"]["seq"] for e in errors.items] == [-5, True, "7"]


async def test_a_connect_error_on_a_live_link_is_reported_and_the_link_replaced(
    server: HostileServer,
) -> None:
    """python-socketio drops the namespace on a CONNECT_ERROR packet without a disconnect
    event: left alone the link would look up and deliver nothing, for ever."""
    agent = AgentClient(server.url, agent_id="a1", **CLIENT)
    changes = Transitions(agent.manager)
    errors = Collector()
    agent.on_error(errors)
    async with agent:
        first = server.sids[-1]
        await server.send_raw('44{"message":"kicked out","data":{"code":"unauthorized"}}')
        await changes.wait(S.CONNECTED, after=2)
        assert server.sids[-1] != first
    refused = [e for e in errors.items if "kicked out" in str(e)]
    assert refused
    assert isinstance(refused[0], AuthError)
