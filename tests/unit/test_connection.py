"""The connection through the in-memory transport: every edge of its state machine, without
sockets and, where the edge is about retrying, without waiting (the sleep is replaced).

Attempt order (joins, then catch-up, then ``connected``), a zombie link, a refused join, a
link dropped during catch-up, a queue overflowing during catch-up, credentials refreshed
across a reconnect, a first connect bounded in time, what no retry mends, the circuit
breaker, and a stop that lands while an attempt swallows its cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.faults.timing import wait_until
from tests.unit.fake_transport import FakeLink, FakeTransport
from tests.unit.history import History, live, message_recovery
from vilnius_client._capabilities import ServerCapabilities
from vilnius_client._connection import Attempt, Connection, Timings
from vilnius_client._dispatch import Dispatcher
from vilnius_client._recovery import Path, Recovery, replay_all
from vilnius_client._state import ConnectionChange, ConnectionState
from vilnius_client._trackers import SeqTracker
from vilnius_client.errors import (
    AuthError,
    NotFoundError,
    QueueOverflowError,
    StateError,
    TransportError,
)
from vilnius_client.events import Event, NewMessageEvent

S = ConnectionState
LOG = logging.getLogger("test.connection")
CONTRACT = ServerCapabilities.contract()
FAST = Timings(
    reconnection_delay=0.001,
    max_reconnection_delay=0.01,
    heartbeat_interval=60.0,
    connect_timeout=5.0,
    ack_timeout=1.0,
)


class Session:
    """A session a test scripts: tokens, an agent id, and what ``resume`` does."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        agent_id: str | None = "a1",
        tokens: Callable[[int], str] = lambda n: f"token-{n}",
        fresh: bool = True,
        capabilities: ServerCapabilities = CONTRACT,
    ) -> None:
        self.dispatcher = dispatcher
        self.agent_id = agent_id
        self.tokens = tokens
        self.fresh = fresh
        self.capabilities = capabilities
        self.prepared = 0
        self.on_resume: Callable[[], Awaitable[None]] | None = None
        self.recovery: Recovery[NewMessageEvent] | None = None
        self.changes: list[ConnectionChange] = []

    async def prepare(self) -> Attempt:
        self.prepared += 1
        return Attempt(self.tokens(self.prepared), self.agent_id, self.capabilities, self.fresh)

    async def resume(self) -> None:
        if self.on_resume is not None:
            await self.on_resume()
        if self.recovery is not None:
            await self.recovery.resume()

    def deliver(self, event: Event | str, model: Any) -> None:
        if self.recovery is not None:
            self.recovery.deliver(event, model)
        else:
            self.dispatcher.submit(event, model)

    def changed(self, change: ConnectionChange) -> None:
        self.changes.append(change)


class Rig:
    def __init__(self, timings: Timings = FAST, **session: Any) -> None:
        self.errors: list[BaseException] = []
        self.transport = FakeTransport()
        self.dispatcher = Dispatcher(self.errors.append, LOG)
        self.session = Session(self.dispatcher, **session)
        self.sleeps: list[float] = []
        self.connection = Connection(
            "http://fake",
            transport=self.transport,
            session=self.session,
            dispatcher=self.dispatcher,
            timings=timings,
            logger=LOG,
            sleep=self._sleep,
        )
        self.connection.errors.add(self.errors.append)

    async def _sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        await asyncio.sleep(0)

    @property
    def states(self) -> list[ConnectionState]:
        return [change.new for change in self.session.changes]

    async def until(self, done: Callable[[], bool], within: float = 5.0) -> None:
        await wait_until(done, within)

    def recover(self, history: History, **dispatcher: Any) -> SeqTracker:
        """Give the session a real Recovery of new-message over ``history``."""
        if dispatcher:
            self.dispatcher = Dispatcher(self.errors.append, LOG, **dispatcher)
            self.session.dispatcher = self.dispatcher
            self.connection._dispatcher = self.dispatcher
        tracker = SeqTracker(0)
        self.session.recovery = message_recovery(
            self.dispatcher, history, tracker, self.errors.append
        )
        return tracker


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    made = Rig()
    yield made
    await made.connection.stop()
    if made.session.recovery is not None:
        await made.session.recovery.aclose()
    await made.dispatcher.aclose()


async def test_an_attempt_joins_then_catches_up_then_connects(rig: Rig) -> None:
    seen: list[tuple[list[str], ConnectionState]] = []

    async def resumed() -> None:
        joins = [event for event in rig.transport.link.events if event != "heartbeat"]
        seen.append((joins, rig.connection.state))

    rig.session.on_resume = resumed
    await rig.connection.join("c1")  # remembered before connecting
    await rig.connection.start()
    assert seen == [(["join-agent-dashboard", "join-conversation"], S.CONNECTING)]
    assert rig.states == [S.CONNECTING, S.CONNECTED]
    assert rig.transport.link.auth == {"token": "token-1"}
    assert rig.connection.rooms == ("c1",)


async def test_a_zombie_link_is_dropped_by_the_watchdog_and_replaced(rig: Rig) -> None:
    rig.connection.timings = Timings(
        reconnection_delay=0.001, heartbeat_interval=0.01, heartbeat_timeout=0.05
    )
    await rig.connection.start()
    first = rig.transport.link
    await rig.until(lambda: rig.connection.latency is not None)
    first.silent = True  # half-open: nothing arrives any more, nothing errors either
    await rig.until(lambda: len(rig.transport.opened) == 2 and rig.states[-1] is S.CONNECTED)
    assert not first.connected
    assert "no heartbeat-ack" in first.close_reason
    assert any("no heartbeat-ack" in str(e) for e in rig.errors)
    assert rig.states == [S.CONNECTING, S.CONNECTED, S.RECONNECTING, S.CONNECTED]


async def test_a_refused_join_forgets_the_room_and_keeps_the_connection(rig: Rig) -> None:
    rig.transport.answers["join-conversation"] = lambda link, data: (
        {"ok": False, "error": {"code": "not_found", "message": f"no {data}"}}
        if data == "gone"
        else {"ok": True}
    )
    await rig.connection.join("c1")
    await rig.connection.join("gone")
    await rig.connection.start()
    assert rig.connection.rooms == ("c1",)
    assert [type(e) for e in rig.errors] == [NotFoundError]
    assert rig.connection.state is S.CONNECTED
    with pytest.raises(NotFoundError):  # joined later, the refusal is raised
        await rig.connection.join("gone")


async def test_a_drop_during_the_catch_up_loses_and_doubles_nothing(rig: Rig) -> None:
    history = History([1, 2, 3])
    tracker = rig.recover(history)
    got: list[int] = []
    rig.dispatcher.add(Event.NEW_MESSAGE, lambda e: got.append(e.message.seq))
    real = history.__call__
    dropped = False

    async def dropping(after: int, limit: int) -> Any:
        nonlocal dropped
        if not dropped:
            dropped = True
            rig.transport.link.drop("network")  # mid-catch-up
            history.store(4)  # stored while no link: never live
        return await real(after, limit)

    assert rig.session.recovery is not None
    rig.session.recovery.path = Path(tracker, lambda starting: replay_all(tracker, dropping))
    await rig.connection.start()
    assert len(rig.transport.opened) == 2, "the attempt failed and was made again"
    assert any("while catching up" in str(e) for e in rig.errors)
    rig.transport.link.push("new-message", live(5).to_wire())
    await rig.until(lambda: len(got) == 5)
    assert got == [1, 2, 3, 4, 5]
    assert tracker.position == 5


async def test_an_overflow_during_the_catch_up_is_found_again_once(rig: Rig) -> None:
    history = History(list(range(1, 11)))
    tracker = rig.recover(history, maxsize=2)
    release = asyncio.Event()
    got: list[int] = []

    async def slow(event: NewMessageEvent) -> None:
        await release.wait()
        got.append(event.message.seq or 0)

    rig.dispatcher.add(Event.NEW_MESSAGE, slow)
    await rig.connection.start()  # the catch-up never waits for a handler
    assert rig.connection.state is S.CONNECTED
    assert any(isinstance(e, QueueOverflowError) for e in rig.errors)
    assert tracker.position == 0
    release.set()
    await rig.until(lambda: len(got) == 10)
    assert sorted(got) == list(range(1, 11))
    await rig.until(lambda: tracker.position == 10)


async def test_fresh_credentials_are_asked_for_when_a_reconnect_is_refused(rig: Rig) -> None:
    await rig.connection.start()
    rig.transport.refuse(AuthError("connection refused: token expired"))
    rig.transport.link.drop()
    await rig.until(lambda: len(rig.transport.opened) == 2 and rig.states[-1] is S.CONNECTED)
    assert [link.auth for link in rig.transport.opened] == [
        {"token": "token-1"},
        {"token": "token-3"},  # the refused attempt was made with token-2
    ]
    assert any(isinstance(e, AuthError) for e in rig.errors)


async def test_a_fixed_token_refused_on_a_reconnect_ends_the_connection(rig: Rig) -> None:
    rig.session.fresh = False
    await rig.connection.start()
    rig.transport.refuse(AuthError("connection refused: revoked"))
    rig.transport.link.drop()
    await asyncio.wait_for(rig.connection.ended.wait(), 5)
    assert rig.connection.state is S.DISCONNECTED
    assert isinstance(rig.connection.fatal, AuthError)
    assert [type(e) for e in rig.errors].count(AuthError) == 1


async def test_the_first_connect_is_bounded_by_connect_timeout(rig: Rig) -> None:
    rig.connection.timings = Timings(connect_timeout=0.2)
    for _ in range(100):
        rig.transport.hang_next()
    started = asyncio.get_running_loop().time()
    with pytest.raises(
        TransportError, match=r"no answer within 0\.2 s \(the Socket.IO handshake\)"
    ):
        await rig.connection.start()
    assert asyncio.get_running_loop().time() - started < 2
    assert rig.connection.state is S.DISCONNECTED


async def test_what_no_retry_mends_fails_the_first_connect_at_once(rig: Rig) -> None:
    rig.transport.refuse(TransportError("http://fake: TLS handshake failed", temporary=False))
    with pytest.raises(TransportError, match="TLS"):
        await rig.connection.start()
    assert rig.session.prepared == 1
    assert rig.sleeps == []


async def test_a_refused_first_connect_raises_at_once(rig: Rig) -> None:
    rig.transport.refuse(AuthError("connection refused: bad token"))
    with pytest.raises(AuthError):
        await rig.connection.start()
    assert rig.session.prepared == 1
    assert rig.errors
    assert isinstance(rig.errors[-1], AuthError)


async def test_the_first_connect_retries_until_the_server_is_up(rig: Rig) -> None:
    rig.transport.refuse(*(TransportError("http://fake: connection refused") for _ in range(4)))
    await rig.connection.start()
    assert rig.session.prepared == 5
    assert len(rig.sleeps) == 4
    assert all(0 <= s <= 0.01 for s in rig.sleeps)
    assert rig.connection.state is S.CONNECTED
    assert rig.connection.backoff.failures == 4  # reset only once the link proved stable


async def test_the_circuit_opens_is_reported_and_a_trial_closes_it(rig: Rig) -> None:
    rig.connection.timings = Timings(max_errors=2, reconnection_delay=0.001, circuit_cooldown=0.5)
    rig.connection.breaker.max_errors = 2
    rig.connection.breaker.cooldown = 0.5
    rig.transport.refuse(*(TransportError("http://fake: connection refused") for _ in range(3)))
    await rig.connection.start()
    assert S.CIRCUIT_OPEN in rig.states
    assert 0.5 in rig.sleeps, "the cool-down"
    assert any("circuit open" in str(e) for e in rig.errors)
    assert rig.states[-1] is S.CONNECTED


async def test_stop_ends_an_attempt_that_swallows_its_cancellation(rig: Rig) -> None:
    rig.transport.hang_next(stubborn=True)
    connecting = asyncio.create_task(rig.connection.start())
    await asyncio.wait_for(rig.transport.hanging.wait(), 5)  # the attempt is under way
    await asyncio.wait_for(rig.connection.stop(), 5)
    assert rig.connection.state is S.CLOSED
    with pytest.raises(StateError, match="disconnected while connecting"):
        await connecting
    assert not rig.connection.running


async def test_fake_link_satisfies_the_link_interface() -> None:
    from vilnius_client._transport import Link, Transport

    transport: Transport = FakeTransport()
    link: Link = FakeLink(FakeTransport(), None, lambda n, a: None)
    assert link.transport == "fake"
    assert transport is not None
