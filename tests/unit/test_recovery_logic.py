"""The pure seq-tracking, de-duplication and catch-up paging logic (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vilnius_client._recovery import InFlight, JumpGuard
from vilnius_client._recovery_by_seq import (
    SeqRecovery,
    SeqTracker,
    replay_all,
    replay_conversation,
    seq_jump_error,
)
from vilnius_client.errors import DroppedEventError, ProtocolError
from vilnius_client.events import AllMessagesResponse, Message, Sender

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(seq: int, *, sender: Sender = Sender.VISITOR, conversation: str = "c1") -> Message:
    return Message(
        id=f"m{seq}",
        conversation_id=conversation,
        content=f"text {seq}",
        sender=sender,
        timestamp=T0,
        seq=seq,
    )


class FakeAllMessages:
    """GET /api/messages over a list, recording the (after, limit) asked for."""

    def __init__(self, seqs: list[int]) -> None:
        self.messages = [msg(seq) for seq in seqs]
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, after: int, limit: int) -> AllMessagesResponse:
        self.calls.append((after, limit))
        page = [m for m in self.messages if m.seq > after][:limit]
        head = max((m.seq for m in self.messages), default=0)
        return AllMessagesResponse(messages=page, last_seq=head)


class FakeConversation:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, after: int, limit: int) -> list[Message]:
        self.calls.append((after, limit))
        return [m for m in self.messages if m.seq > after][:limit]


# ---------------------------------------------------------------- SeqTracker


def test_accept_delivers_each_message_once() -> None:
    tracker = SeqTracker(0)
    assert tracker.accept(msg(1))
    assert not tracker.accept(msg(1))
    assert tracker.accept(msg(2))
    assert tracker.last_seq == 2


def test_position_from_constructor_skips_older_messages() -> None:
    tracker = SeqTracker(10)
    assert tracker.started
    assert not tracker.accept(msg(10))
    assert not tracker.accept(msg(3))
    assert tracker.accept(msg(11))


def test_out_of_order_message_within_window_is_delivered() -> None:
    tracker = SeqTracker(0)
    assert tracker.accept(msg(5))
    assert tracker.accept(msg(4))
    assert tracker.last_seq == 5
    assert not tracker.accept(msg(4))


def test_duplicate_id_with_other_seq_is_dropped() -> None:
    tracker = SeqTracker(0)
    tracker.accept(msg(1))
    same_id = msg(2).model_copy(update={"id": "m1"})
    assert not tracker.accept(same_id)


def test_memory_is_bounded_by_window() -> None:
    tracker = SeqTracker(0, window=10)
    for seq in range(1, 1001):
        tracker.accept(msg(seq))
    assert len(tracker._seqs) <= 10
    assert len(tracker._ids) <= 10
    assert tracker.floor == 990
    assert not tracker.accept(msg(500))  # left the memory: counted as delivered


def test_catch_up_starts_overlap_below_last_seq_but_not_below_floor() -> None:
    tracker = SeqTracker(100, overlap=5)
    assert tracker.catch_up_after() == 100
    for seq in range(101, 121):
        tracker.accept(msg(seq))
    assert tracker.catch_up_after() == 115


def test_start_at_only_sets_a_missing_position() -> None:
    tracker = SeqTracker()
    assert not tracker.started
    tracker.start_at(7)
    assert tracker.last_seq == 7
    tracker.start_at(99)
    assert tracker.last_seq == 7


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        SeqTracker(window=0)
    with pytest.raises(ValueError, match="max_jump"):
        SeqTracker(max_jump=0)


def test_a_seq_beyond_max_jump_is_a_jump_not_a_new_floor() -> None:
    tracker = SeqTracker(10, window=100)
    assert tracker.max_jump == 100
    assert not tracker.is_jump(msg(110))
    assert tracker.is_jump(msg(111))
    assert tracker.is_jump(msg(10**15))
    assert not tracker.is_jump(msg(3))  # below: de-duplication decides
    assert not SeqTracker().is_jump(msg(10**15))  # no position yet
    # What is_jump protects against: accepted on trust, it hides every later message.
    trusting = SeqTracker(10, window=100)
    assert trusting.accept(msg(10**15))
    assert not trusting.accept(msg(11))


def test_the_jump_threshold_is_configurable() -> None:
    tracker = SeqTracker(0, window=1000, max_jump=5)
    assert not tracker.is_jump(msg(5))
    assert tracker.is_jump(msg(6))


def test_a_seq_jump_error_carries_the_payload() -> None:
    tracker = SeqTracker(4)

    class Model:
        message = msg(10**15)

    model = Model()
    error = seq_jump_error("new-message", model, tracker.last_seq, None)
    assert isinstance(error, DroppedEventError)
    assert isinstance(error, ProtocolError)
    assert (error.event, error.payload, error.seq, error.last_seq) == (
        "new-message",
        model,
        10**15,
        4,
    )
    assert "does not have it" in str(error)
    cause = RuntimeError("503")
    failed = seq_jump_error("new-message", model, tracker.last_seq, cause)
    assert failed.__cause__ is cause
    assert "could not be checked" in str(failed)


def test_the_seq_path_admits_new_drops_seen_and_flags_jumps() -> None:
    tracker = SeqTracker(10, max_jump=100)

    async def nothing() -> AsyncGenerator[Message, None]:
        return
        yield

    path = SeqRecovery(tracker, nothing)
    assert path.admit(msg(11)) == "new"
    assert path.admit(msg(11)) == "seen"
    assert path.admit(msg(500)) == "jump"
    assert path.admit(msg(5)) == "seen"
    assert (path.key(msg(12)), path.position) == (12, 11)


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=200))
def test_any_arrival_order_delivers_each_seq_at_most_once(arrivals: list[int]) -> None:
    tracker = SeqTracker(0, window=1000)
    delivered = [seq for seq in arrivals if tracker.accept(msg(seq))]
    assert sorted(delivered) == sorted(set(arrivals))
    assert tracker.last_seq == max(arrivals, default=0)


# ---------------------------------------------------------------- replay_all


async def collect_all(
    tracker: SeqTracker,
    fetch: FakeAllMessages,
    page: int,
    on_reset: Callable[[int, int], None] | None = None,
) -> list[int]:
    return [m.seq async for m in replay_all(tracker, fetch, page_size=page, on_reset=on_reset)]


async def test_fresh_tracker_starts_at_head_without_replaying() -> None:
    fetch = FakeAllMessages([1, 2, 3])
    tracker = SeqTracker()
    assert await collect_all(tracker, fetch, 10) == []
    assert tracker.last_seq == 3
    assert fetch.calls == [(0, 1)]


async def test_replay_pages_until_head_in_seq_order() -> None:
    fetch = FakeAllMessages(list(range(1, 24)))
    tracker = SeqTracker(2)
    assert await collect_all(tracker, fetch, 5) == list(range(3, 24))
    assert [after for after, _ in fetch.calls] == [2, 7, 12, 17, 22]
    assert tracker.last_seq == 23


async def test_replay_skips_already_delivered_overlap() -> None:
    fetch = FakeAllMessages(list(range(1, 11)))
    tracker = SeqTracker(0, overlap=3)
    for seq in (1, 2, 3, 4, 6):  # 5 was lost in flight
        tracker.accept(msg(seq))
    assert await collect_all(tracker, fetch, 100) == [5, 7, 8, 9, 10]
    assert fetch.calls[0][0] == 3
    assert await collect_all(tracker, fetch, 100) == []


async def test_a_reset_history_is_replayed_from_the_start() -> None:
    tracker = SeqTracker(0)
    for seq in range(1, 9):
        tracker.accept(msg(seq))
    resets: list[tuple[int, int]] = []
    fetch = FakeAllMessages([1, 2, 3])  # a new database: its head (3) is behind us (8)
    replayed = await collect_all(tracker, fetch, 100, on_reset=lambda *args: resets.append(args))
    assert replayed == [1, 2, 3]
    assert resets == [(8, 3)]
    assert tracker.last_seq == 3
    assert not tracker.accept(msg(3))
    assert tracker.accept(msg(4))


# ---------------------------------------------------------------- replay_conversation


async def test_conversation_replay_yields_agent_and_system_messages_only() -> None:
    history = [
        msg(1),
        msg(4, sender=Sender.AGENT),
        msg(6),
        msg(9, sender=Sender.SYSTEM),
    ]
    fetch = FakeConversation(history)
    tracker = SeqTracker(0)
    replayed = [m.seq async for m in replay_conversation(tracker, fetch, page_size=2)]
    assert replayed == [4, 9]
    assert tracker.last_seq == 9
    assert [after for after, _ in fetch.calls] == [0, 4, 9]


async def test_conversation_without_position_starts_at_its_end() -> None:
    fetch = FakeConversation([msg(2, sender=Sender.AGENT), msg(5, sender=Sender.AGENT)])
    tracker = SeqTracker()
    assert [m async for m in replay_conversation(tracker, fetch)] == []
    assert tracker.last_seq == 5
    fetch.messages.append(msg(8, sender=Sender.AGENT))
    assert [m.seq async for m in replay_conversation(tracker, fetch)] == [8]


# ---------------------------------------------------------------- InFlight


def test_resume_position_stops_below_the_lowest_waiting_seq() -> None:
    waiting = InFlight()
    assert waiting.resume_position(None) is None
    assert waiting.resume_position(7) == 7
    for seq in (3, 5, 6):
        waiting.add(seq)
    waiting.done(5)
    assert waiting.resume_position(6) == 2
    waiting.done(3)
    assert waiting.resume_position(6) == 5
    waiting.done(6)
    assert waiting.resume_position(6) == 6
    assert len(waiting) == 0


def test_a_seq_queued_twice_waits_until_both_are_handed_over() -> None:
    waiting = InFlight()
    waiting.add(4)
    waiting.add(4)
    waiting.done(4)
    assert waiting.resume_position(9) == 3
    waiting.done(4)
    waiting.done(4)  # unknown: ignored
    assert waiting.resume_position(9) == 9


# ---------------------------------------------------------------- JumpGuard


class GuardRig:
    """A JumpGuard whose catch-up 'finds' the ids in ``on_server`` (and can be paused)."""

    def __init__(self, on_server: set[str], *, limit: int = 100) -> None:
        self.on_server = on_server
        self.delivered: list[str] = []
        self.settled: list[tuple[str, BaseException | None]] = []
        self.catch_ups = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.failure: BaseException | None = None
        self.guard = JumpGuard(self.catch_up, self.settle, limit=limit)
        self.done = asyncio.Event()

    async def catch_up(self) -> None:
        self.catch_ups += 1
        self.entered.set()
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        for message_id in sorted(self.on_server):
            if self.guard.take(message_id) is not None:
                self.delivered.append(message_id)

    async def settle(self, event: str, failure: BaseException | None) -> None:
        self.settled.append((event, failure))
        self.done.set()


async def idle(guard: JumpGuard) -> None:
    await asyncio.wait_for(guard.drain(), 5)


async def test_the_catch_up_confirms_or_the_event_is_settled() -> None:
    rig = GuardRig({"real"})
    rig.guard.hold("real", "real")
    rig.guard.hold("bogus", "bogus")
    rig.guard.hold("bogus", "bogus")  # held once
    assert len(rig.guard) == 2
    await idle(rig.guard)
    assert rig.catch_ups == 1
    assert rig.delivered == ["real"]
    assert rig.settled == [("bogus", None)]
    assert len(rig.guard) == 0


async def test_events_held_during_a_catch_up_wait_for_the_next_one() -> None:
    rig = GuardRig({"late"})
    rig.gate.clear()
    rig.guard.hold("early", "early")
    await asyncio.wait_for(rig.entered.wait(), 5)
    rig.guard.hold("late", "late")  # the running catch-up may have fetched before it existed
    rig.gate.set()
    await idle(rig.guard)
    assert rig.catch_ups >= 1
    assert rig.settled == [("early", None)]
    assert rig.delivered == ["late"]


async def test_a_failed_catch_up_settles_with_the_failure() -> None:
    rig = GuardRig({"real"})
    rig.failure = RuntimeError("503")
    rig.guard.hold("real", "real")
    await idle(rig.guard)
    assert rig.settled == [("real", rig.failure)]


async def test_beyond_the_limit_events_are_settled_at_once() -> None:
    rig = GuardRig(set(), limit=2)
    rig.gate.clear()
    for name in ("a", "b", "c"):
        rig.guard.hold(name, name)
    await asyncio.wait_for(rig.done.wait(), 5)
    assert rig.settled == [("c", None)]
    assert len(rig.guard) == 2
    await rig.guard.aclose()  # stops the catch-up under way, forgets what is held
    assert len(rig.guard) == 0
    assert rig.settled == [("c", None)]
