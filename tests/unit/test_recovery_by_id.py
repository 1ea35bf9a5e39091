"""MessageLedger and the seq-less replays, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vilnius_client._recovery_by_id import (
    MessageLedger,
    epoch_ms,
    replay_conversation_by_id,
    replay_listing,
)
from vilnius_client.events import Conversation, Message, Sender

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def msg(mid: str, seconds: float, cid: str = "c1", sender: Sender = Sender.VISITOR) -> Message:
    return Message(
        id=mid,
        conversation_id=cid,
        content=mid,
        sender=sender,
        timestamp=T0 + timedelta(seconds=seconds),
    )


def listed(cid: str, last: Message | None) -> Conversation:
    preview = (
        None
        if last is None
        else {
            "id": last.id,
            "content": last.content,
            "sender": last.sender,
            "timestamp": last.timestamp,
        }
    )
    return Conversation.model_validate(
        {"id": cid, "visitorId": "v", "startedAt": T0, "lastMessage": preview}
    )


def test_older_than_the_newest_handed_over_is_not_new() -> None:
    """One side of a conversation writes in order: older and unseen means never meant."""
    ledger = MessageLedger()
    assert ledger.accept(msg("a", 0))
    assert ledger.accept(msg("b", 0)), "the same millisecond, another id"
    assert not ledger.accept(msg("a", 0))
    assert not ledger.accept(msg("older", -0.5))
    assert ledger.accept(msg("c", 1))
    assert set(ledger._conversations["c1"].recent) == {"c"}


def test_a_wider_overlap_accepts_late_messages_and_keeps_memory_bounded() -> None:
    ledger = MessageLedger(overlap_ms=60_000)
    assert ledger.accept(msg("a", 0))
    assert not ledger.accept(msg("a", 0))
    assert ledger.accept(msg("b", 0)), "same millisecond, another id"
    assert ledger.accept(msg("late", -10)), "stored out of order, within the overlap"
    assert ledger.accept(msg("c", 120))
    assert not ledger.is_new(msg("old", 30)), "below the floor: taken as handed over"
    assert ledger.is_new(msg("d", 90))
    assert ledger.newest("c1") == epoch_ms(T0 + timedelta(seconds=120))
    conversation = ledger._conversations["c1"]
    assert set(conversation.recent) == {"c"}, "ids below the floor are forgotten"


def test_start_at_makes_history_of_what_came_before() -> None:
    ledger = MessageLedger()
    ledger.start_at("c1", epoch_ms(T0))
    assert not ledger.accept(msg("history", 0))
    assert ledger.accept(msg("new", 1))
    ledger.start_at("c1", epoch_ms(T0 + timedelta(hours=1)))  # known: keeps its floor
    assert ledger.accept(msg("next", 2))
    resumed = MessageLedger(floor=epoch_ms(T0 + timedelta(seconds=5)))
    assert not resumed.accept(msg("before", 5, cid="c9"))
    assert resumed.accept(msg("after", 6, cid="c9"))


async def test_listing_replay_reads_only_changed_conversations() -> None:
    store: dict[str, list[Message]] = {
        "c1": [msg("a1", 0, "c1"), msg("a2", 1, "c1", Sender.AGENT)],
        "c2": [msg("b1", 0, "c2")],
    }
    reads: list[str] = []

    async def listing() -> list[Conversation]:
        return [listed(cid, messages[-1] if messages else None) for cid, messages in store.items()]

    async def fetch(cid: str) -> list[Message]:
        reads.append(cid)
        return list(reversed(store[cid]))  # any order: replayed in time order

    ledger = MessageLedger()
    start = [m async for m in replay_listing(ledger, listing, fetch, starting=True)]
    assert start == []
    assert reads == [], "the listing's lastMessage is enough to start"

    store["c1"] += [msg("a3", 5, "c1"), msg("a4", 6, "c1"), msg("sys", 7, "c1", Sender.SYSTEM)]
    store["c3"] = [msg("n1", 3, "c3")]
    got = [m.id async for m in replay_listing(ledger, listing, fetch, starting=False)]
    assert got == ["a3", "a4", "n1"], "visitor messages only, each once, in time order"
    assert reads.count("c1") == 1
    assert sorted(reads) == ["c1", "c3"]

    reads.clear()
    again = [m.id async for m in replay_listing(ledger, listing, fetch, starting=False)]
    assert again == []
    assert reads == [], "every conversation's last message was seen: nothing is read"


async def test_listing_without_last_message_reads_every_conversation() -> None:
    """A contract server's listing says nothing of the last message: read them all."""
    store = {"c1": [msg("a1", 0)]}

    async def listing() -> list[Conversation]:
        return [Conversation(id="c1", visitor_id="v", started_at=T0)]

    async def fetch(cid: str) -> list[Message]:
        return store[cid]

    ledger = MessageLedger()
    assert [m async for m in replay_listing(ledger, listing, fetch, starting=True)] == []
    store["c1"].append(msg("a2", 1))
    got = [m.id async for m in replay_listing(ledger, listing, fetch, starting=False)]
    assert got == ["a2"]


async def test_conversation_replay_yields_agent_replies_once() -> None:
    history: list[Message] = [msg("hello", 0)]

    async def fetch(cid: str) -> list[Message]:
        return list(history)

    ledger = MessageLedger()
    got: list[Any] = [
        m async for m in replay_conversation_by_id(ledger, "c1", fetch, starting=True)
    ]
    assert got == []
    history += [
        msg("r1", 1, sender=Sender.AGENT),
        msg("mine", 2),
        msg("r2", 3, sender=Sender.AGENT),
    ]
    got = [m.id async for m in replay_conversation_by_id(ledger, "c1", fetch, starting=False)]
    assert got == ["r1", "r2"]
    got = [m.id async for m in replay_conversation_by_id(ledger, "c1", fetch, starting=False)]
    assert got == []


async def test_visitor_messages_the_autopilot_answered_are_not_replayed() -> None:
    """Production announces visitor messages in hitl only; an autopilot reply gives it away."""
    reply = msg("auto", 2, sender=Sender.AGENT).model_copy(
        update={"metadata": {"isAutopilotResponse": True}}
    )
    history = [msg("v1", 0)]

    async def listing() -> list[Conversation]:
        return [listed("c1", history[-1])]

    async def fetch(cid: str) -> list[Message]:
        return list(history)

    ledger = MessageLedger()
    assert [m async for m in replay_listing(ledger, listing, fetch, starting=True)] == []
    history += [msg("in autopilot", 1), reply, msg("in hitl again", 3)]
    got = [m.id async for m in replay_listing(ledger, listing, fetch, starting=False)]
    assert got == ["in hitl again"]
