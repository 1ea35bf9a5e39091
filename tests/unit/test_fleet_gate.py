"""The fleet's ownership gate against a fake coordination (leases in a dict, no Redis).

What a replica's handlers see of each conversation: its own pass in order, another
replica's are dropped and watched, a conversation taken over is caught up first (what the
last owner never handled, then what waited), and nothing is handed over twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vilnius_client._dispatch import Settle
from vilnius_client.errors import QueueOverflowError
from vilnius_client.events import (
    CustomerTypingStatusEvent,
    Event,
    Message,
    NewMessageEvent,
    Sender,
    TicketsReassignedEvent,
)
from vilnius_client.fleet._book import Position
from vilnius_client.fleet._gate import Claim, Gate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TTL = 0.3
NEW = Event.NEW_MESSAGE.value


def msg(seq: int, conversation: str = "c1") -> Message:
    return Message(
        id=f"{conversation}-m{seq}",
        conversation_id=conversation,
        content=f"text {seq}",
        sender=Sender.VISITOR,
        timestamp=T0 + timedelta(seconds=seq),
        seq=seq,
    )


def event(message: Message, *, replayed: bool = False) -> NewMessageEvent:
    return NewMessageEvent(
        conversation_id=message.conversation_id, message=message, replayed=replayed
    )


class FakeFleet:
    """Leases and positions in dicts; a conversation's history for the catch-up."""

    lease_ttl = TTL
    margin = 0.0
    retry_interval = 0.01

    def __init__(self, me: str = "here") -> None:
        self.me = me
        self.leases: dict[str, tuple[str, float]] = {}
        self.positions: dict[str, Position] = {}
        self.history: dict[str, list[Message]] = {}
        self.reports: list[BaseException] = []
        self.claims: list[str] = []

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def hold(self, conversation: str, owner: str, seconds: float = TTL) -> None:
        self.leases[conversation] = (owner, self.now() + seconds)

    async def ready(self) -> None:
        return None

    async def claim(self, conversation_id: str) -> Claim:
        self.claims.append(conversation_id)
        position = self.positions.get(conversation_id)
        owner, until = self.leases.get(conversation_id, ("", 0.0))
        if owner and owner != self.me and until > self.now():
            return Claim("elsewhere", position, until - self.now())
        kind = "ours" if owner == self.me and until > self.now() else "taken"
        self.hold(conversation_id, self.me)
        return Claim(kind, position)

    def failed(self, error: Exception) -> None:
        self.reports.append(error)

    def mark(self, conversation_id: str, position: Position) -> None:
        self.positions[conversation_id] = position.merge(self.positions.get(conversation_id))

    async def missed(self, conversation_id: str, after: Position) -> list[Message]:
        return [m for m in self.history.get(conversation_id, []) if not after.covers(m)]

    def replayed(self, message: Message) -> NewMessageEvent:
        return event(message, replayed=True)

    def report(self, error: BaseException) -> None:
        self.reports.append(error)


class Handlers:
    """The dispatcher's place: records what it is handed; settles it when told."""

    def __init__(self, *, settle_at_once: bool = True) -> None:
        self.got: list[tuple[str, Any]] = []
        self.settles: list[Settle] = []
        self._at_once = settle_at_once
        self.changed = asyncio.Event()

    def submit(self, event: str, model: Any, settle: Settle | None = None) -> None:
        self.got.append((event, model))
        if settle is not None:
            if self._at_once:
                settle(True)
            else:
                self.settles.append(settle)
        self.changed.set()

    def texts(self) -> list[str]:
        return [m.message.content for e, m in self.got if e == NEW]

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class Settled:
    """A live event's settle: remembers how it was settled."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, handled: bool) -> None:
        self.calls.append(handled)


@pytest.fixture
def fleet() -> FakeFleet:
    return FakeFleet()


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
def gate(fleet: FakeFleet, handlers: Handlers) -> Gate:
    return Gate(handlers, fleet, event=NEW, waiting_limit=5, logger=logging.getLogger("test"))


async def settled_tasks() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_events_that_name_no_conversation_pass_as_they_are(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    model = TicketsReassignedEvent(reassignments=[], reason="agent_joined")
    gate.submit(Event.TICKETS_REASSIGNED.value, model)
    assert handlers.got == [(Event.TICKETS_REASSIGNED.value, model)]
    assert fleet.claims == []


async def test_an_unowned_conversation_is_claimed_and_its_events_pass_in_order(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    settles = [Settled() for _ in range(3)]
    for number, settle in enumerate(settles, start=1):
        gate.submit(NEW, event(msg(number)), settle)
    assert handlers.got == []  # waiting for the claim
    await handlers.until(lambda: len(handlers.got) == 3)
    assert handlers.texts() == ["text 1", "text 2", "text 3"]
    assert [s.calls for s in settles] == [[True]] * 3
    assert fleet.claims == ["c1"]
    assert fleet.positions["c1"] == Position(3, frozenset({"c1-m3"}))
    gate.submit(NEW, event(msg(4)), Settled())  # owned now: passes at once
    assert handlers.texts()[-1] == "text 4"
    assert gate.state_of("c1") == "owned"


async def test_another_replicas_conversation_is_dropped_and_settled_as_not_ours(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.hold("c1", "there", seconds=60)
    first = Settled()
    gate.submit(NEW, event(msg(1)), first)
    await settled_tasks()
    typing = TypingOf("c1")
    gate.submit(Event.CUSTOMER_TYPING_STATUS.value, typing)
    second = Settled()
    gate.submit(NEW, event(msg(2)), second)
    assert handlers.got == []
    assert first.calls == [True]  # for this replica's resume position: not ours
    assert second.calls == [True]
    assert gate.state_of("c1") == "elsewhere"
    assert gate.counts.passed_by == 2
    assert fleet.claims == ["c1"]  # known for as long as the holder's lease runs


async def test_a_dead_owners_conversation_is_taken_over_from_its_stored_position(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.hold("c1", "there", seconds=0.1)  # it renews no more: it died
    fleet.positions["c1"] = Position(2, frozenset({"c1-m2"}))
    fleet.history["c1"] = [msg(n) for n in range(1, 6)]
    for number in (4, 5):
        gate.submit(NEW, event(msg(number)), Settled())
    await settled_tasks()
    assert handlers.got == []
    # watched: when its lease would have ended, the gate looks again and takes it over
    await handlers.until(lambda: len(handlers.got) == 3)
    assert handlers.texts() == ["text 3", "text 4", "text 5"]
    assert [m.replayed for _, m in handlers.got] == [True, True, True]
    assert gate.counts.taken_over == 1
    assert fleet.positions["c1"] == Position(5, frozenset({"c1-m5"}))


async def test_a_taken_over_conversation_is_caught_up_before_what_waited(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.positions["c1"] = Position(1, frozenset({"c1-m1"}))
    fleet.history["c1"] = [msg(n) for n in range(1, 5)]
    live = {n: Settled() for n in (3, 4)}
    for number, settle in live.items():
        gate.submit(NEW, event(msg(number)), settle)
    await handlers.until(lambda: len(handlers.got) == 3)
    assert handlers.texts() == ["text 2", "text 3", "text 4"]
    # the live events took the place of their replayed twins
    assert [m.replayed for _, m in handlers.got] == [True, False, False]
    assert [s.calls for s in live.values()] == [[True], [True]]
    gate.submit(NEW, event(msg(2)), again := Settled())  # met live after the catch-up
    assert again.calls == [True]
    assert len(handlers.got) == 3


async def test_a_message_dropped_untaken_passes_again_and_holds_the_position(
    fleet: FakeFleet,
) -> None:
    handlers = Handlers(settle_at_once=False)
    gate = Gate(handlers, fleet, event=NEW, waiting_limit=5, logger=logging.getLogger("t"))
    gate.submit(NEW, event(msg(1)), first := Settled())
    await handlers.until(lambda: len(handlers.settles) == 1)
    gate.submit(NEW, event(msg(2)), Settled())
    handlers.settles[0](False)  # a full queue dropped it
    handlers.settles[1](True)
    assert first.calls == [False]
    assert not fleet.positions["c1"].covers(msg(1))  # nothing stored past the dropped one
    gate.submit(NEW, event(msg(1)), Settled())  # the client's recovery found it again
    assert handlers.texts() == ["text 1", "text 2", "text 1"]
    handlers.settles[2](True)
    assert fleet.positions["c1"] == Position(2, frozenset({"c1-m2"}))


async def test_a_replayed_message_dropped_untaken_is_fetched_again(fleet: FakeFleet) -> None:
    handlers = Handlers(settle_at_once=False)
    gate = Gate(handlers, fleet, event=NEW, waiting_limit=5, logger=logging.getLogger("t"))
    fleet.positions["c1"] = Position(1, frozenset({"c1-m1"}))
    fleet.history["c1"] = [msg(1), msg(2)]
    gate.submit(Event.CUSTOMER_TYPING_STATUS.value, TypingOf("c1"))
    await handlers.until(lambda: len(handlers.settles) == 1)
    handlers.settles[0](False)  # the replayed m2, dropped: nobody else would find it
    await handlers.until(lambda: len(handlers.settles) == 2)
    assert handlers.texts() == ["text 2", "text 2"]


def TypingOf(conversation: str) -> CustomerTypingStatusEvent:
    return CustomerTypingStatusEvent(conversation_id=conversation, is_typing=True, timestamp=T0)


async def test_a_conversation_given_away_is_claimed_at_once_when_watched(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.hold("c1", "there", seconds=60)
    fleet.history["c1"] = [msg(1)]
    gate.submit(NEW, event(msg(1)), Settled())
    await settled_tasks()
    assert handlers.got == []
    del fleet.leases["c1"]  # the owner stopped (SIGTERM) and released it
    gate.freed(["c1"])
    await handlers.until(lambda: len(handlers.got) == 1)
    assert handlers.texts() == ["text 1"]  # no stored position: from the first passed by


async def test_a_lease_lost_to_another_replica_stops_the_events(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    gate.submit(NEW, event(msg(1)), Settled())
    await handlers.until(lambda: len(handlers.got) == 1)
    assert gate.held() == ["c1"]
    fleet.hold("c1", "there", seconds=60)
    gate.renewed({"c1": 0}, asyncio.get_running_loop().time())
    assert gate.counts.lost == 1
    gate.submit(NEW, event(msg(2)), Settled())
    assert len(handlers.got) == 1
    assert gate.state_of("c1") == "elsewhere"


async def test_events_beyond_the_waiting_limit_are_found_again_after_the_claim(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.history["c1"] = [msg(n) for n in range(1, 8)]
    settles = [Settled() for _ in range(7)]
    for number, settle in enumerate(settles, start=1):
        gate.submit(NEW, event(msg(number)), settle)
    assert [type(e) for e in fleet.reports] == [QueueOverflowError, QueueOverflowError]
    await handlers.until(lambda: len(handlers.got) == 7)
    assert handlers.texts() == [f"text {n}" for n in range(1, 8)]
    assert settles[0].calls == [True]  # the fleet took it over (fetched again)


async def test_a_stopped_gate_takes_nothing_and_drops_what_waited_untaken(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    fleet.hold("c1", "there", seconds=60)
    gate.submit(NEW, event(msg(1)), Settled())
    await settled_tasks()
    fleet.hold("c2", "there", seconds=0.05)
    waiting = Settled()
    gate.submit(NEW, event(msg(1, "c2")), waiting)
    await settled_tasks()
    gate.stop()
    await gate.wait_stopped()
    late = Settled()
    gate.submit(NEW, event(msg(2, "c3")), late)
    assert late.calls == [False]
    assert handlers.got == []


async def test_the_listing_is_read_by_the_owner_and_for_unowned_conversations_by_the_leader(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    gate.submit(NEW, event(msg(1, "mine")), Settled())
    fleet.hold("theirs", "there", seconds=60)
    gate.submit(NEW, event(msg(1, "theirs")), Settled())
    await handlers.until(lambda: len(handlers.got) == 1)
    assert gate.reads("mine", leading=False)
    assert not gate.reads("theirs", leading=True)
    assert not gate.reads("nobodys", leading=False)
    assert gate.reads("nobodys", leading=True)


async def test_idle_conversations_are_given_away_and_claimed_again_on_the_next_event(
    gate: Gate, handlers: Handlers, fleet: FakeFleet
) -> None:
    gate.submit(NEW, event(msg(1)), Settled())
    await handlers.until(lambda: len(handlers.got) == 1)
    now = asyncio.get_running_loop().time()
    assert gate.idle(now + 1) == ["c1"]
    gate.submit(NEW, event(msg(2)), Settled())  # waits while the lease is given away
    assert len(handlers.got) == 1
    del fleet.leases["c1"]
    gate.released(["c1"])
    await handlers.until(lambda: len(handlers.got) == 2)
    assert handlers.texts() == ["text 1", "text 2"]
    assert fleet.claims == ["c1", "c1"]
