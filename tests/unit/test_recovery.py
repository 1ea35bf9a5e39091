"""The recovery without sockets: the catch-up replays over fake histories, and the
`Recovery` driver over the real `Dispatcher` (both pure), with a history a test writes.

What the driver must do: hand each message of the stream over once; keep live messages
behind a reconnect's or a jump's round; find again what a full queue or the hold dropped
(waiting for room, not overflowing); never let the position pass what no user code took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta

from tests.faults.timing import wait_until
from tests.unit.history import LOG, T0, History, live, message_recovery, msg
from vilnius_client._dispatch import Dispatcher
from vilnius_client._recovery import (
    Path,
    replay_all,
    replay_conversation,
    replay_conversation_by_id,
    replay_listing,
)
from vilnius_client._trackers import MessageLedger, SeqTracker
from vilnius_client.errors import InternalServerError, QueueOverflowError, SeqJumpError
from vilnius_client.events import (
    AllMessagesResponse,
    Conversation,
    Event,
    Message,
    NewMessageEvent,
    Sender,
)

# -- the replays ----------------------------------------------------------------------


async def seqs(replay: AsyncGenerator[Message, None], tracker: SeqTracker) -> list[int]:
    """Drain a replay, taking every message it yields (as handed-over-and-handled)."""
    got = []
    async for message in replay:
        tracker.accept(message)
        tracker.settle(message, True)
        got.append(message.seq or 0)
    return got


async def test_a_fresh_tracker_starts_at_the_head_without_replaying() -> None:
    history = History([1, 2, 3])
    tracker = SeqTracker()
    assert await seqs(replay_all(tracker, history), tracker) == []
    assert tracker.position == 3
    assert history.calls == [(0, 1)]


async def test_replay_pages_until_the_head_in_seq_order() -> None:
    history = History(list(range(1, 24)))
    tracker = SeqTracker(2)
    assert await seqs(replay_all(tracker, history, page_size=5), tracker) == list(range(3, 24))
    assert [after for after, _ in history.calls] == [2, 7, 12, 17, 22]


async def test_replay_skips_the_overlap_already_handled() -> None:
    history = History(list(range(1, 11)))
    tracker = SeqTracker(0, overlap=3)
    for seq in (1, 2, 3, 4, 6):  # 5 was lost in flight
        tracker.accept(msg(seq))
        tracker.settle(msg(seq), True)
    assert await seqs(replay_all(tracker, history), tracker) == [5, 7, 8, 9, 10]
    assert history.calls[0][0] == 3
    assert await seqs(replay_all(tracker, history), tracker) == []


async def test_a_reset_history_is_replayed_from_the_start() -> None:
    tracker = SeqTracker(8)
    resets: list[tuple[int, int]] = []
    history = History([1, 2, 3])  # a new database: its head (3) is behind us (8)
    replay = replay_all(tracker, history, on_reset=lambda *args: resets.append(args))
    assert await seqs(replay, tracker) == [1, 2, 3]
    assert resets == [(8, 3)]
    assert tracker.position == 3


async def test_a_customers_replay_yields_replies_and_skips_its_own_messages() -> None:
    pages = [msg(1), msg(4, sender=Sender.AGENT), msg(6), msg(9, sender=Sender.SYSTEM)]
    calls: list[int] = []

    async def fetch(after: int, limit: int) -> list[Message]:
        calls.append(after)
        return [m for m in pages if (m.seq or 0) > after][:limit]

    tracker = SeqTracker(0)
    assert await seqs(replay_conversation(tracker, fetch, page_size=2), tracker) == [4, 9]
    assert tracker.position == 9
    assert calls == [0, 4, 9]
    fresh = SeqTracker()
    assert await seqs(replay_conversation(fresh, fetch), fresh) == []  # starts at the end
    assert fresh.position == 9


def listed(cid: str, last: Message | None) -> Conversation:
    preview = None
    if last is not None:
        preview = {
            "id": last.id,
            "content": last.content,
            "sender": last.sender,
            "timestamp": last.timestamp,
        }
    return Conversation.model_validate(
        {"id": cid, "visitorId": "v", "startedAt": T0, "lastMessage": preview}
    )


def visitor(mid: str, ms: int, cid: str = "c1", sender: Sender = Sender.VISITOR) -> Message:
    return Message(
        id=mid,
        conversation_id=cid,
        content=mid,
        sender=sender,
        timestamp=T0 + timedelta(milliseconds=ms),
    )


async def ids(replay: AsyncGenerator[Message, None], ledger: MessageLedger) -> list[str]:
    got = []
    async for message in replay:
        ledger.accept(message)
        ledger.settle(message, True)
        got.append(message.id)
    return got


async def test_the_listing_replay_reads_only_conversations_that_moved() -> None:
    store: dict[str, list[Message]] = {
        "c1": [visitor("a1", 0), visitor("a2", 1, sender=Sender.AGENT)],
        "c2": [visitor("b1", 0, "c2")],
    }
    reads: list[str] = []

    async def listing() -> list[Conversation]:
        return [listed(cid, messages[-1] if messages else None) for cid, messages in store.items()]

    async def fetch(cid: str) -> list[Message]:
        reads.append(cid)
        return list(reversed(store[cid]))  # any order: replayed in time order

    ledger = MessageLedger()
    assert await ids(replay_listing(ledger, listing, fetch, starting=True), ledger) == []
    assert reads == [], "the listing's lastMessage is enough to start"
    store["c1"] += [visitor("a3", 5), visitor("a4", 6), visitor("s", 7, sender=Sender.SYSTEM)]
    store["c3"] = [visitor("n1", 3, "c3")]
    got = await ids(replay_listing(ledger, listing, fetch, starting=False), ledger)
    assert got == ["a3", "a4", "n1"], "visitor messages only, each once, in time order"
    assert sorted(reads) == ["c1", "c3"]
    reads.clear()
    assert await ids(replay_listing(ledger, listing, fetch, starting=False), ledger) == []
    assert reads == []


async def test_an_agent_with_a_position_on_production_catches_up_from_it() -> None:
    """A restarted bot given ``last_message_at``: what customers wrote after it comes."""
    store = {"c1": [visitor("old", 0), visitor("new1", 10)], "c2": [visitor("new2", 20, "c2")]}

    async def listing() -> list[Conversation]:
        return [listed(cid, messages[-1]) for cid, messages in store.items()]

    async def fetch(cid: str) -> list[Message]:
        return store[cid]

    from vilnius_client._trackers import epoch_ms

    ledger = MessageLedger(epoch_ms(T0) + 5)
    got = await ids(replay_listing(ledger, listing, fetch, starting=False), ledger)
    assert got == ["new1", "new2"]
    assert ledger.position == epoch_ms(T0) + 20


async def test_visitor_messages_the_autopilot_answered_are_not_replayed() -> None:
    reply = visitor("auto", 2, sender=Sender.AGENT).model_copy(
        update={"metadata": {"isAutopilotResponse": True}}
    )
    history = [visitor("v1", 0)]

    async def listing() -> list[Conversation]:
        return [listed("c1", history[-1])]

    async def fetch(cid: str) -> list[Message]:
        return list(history)

    ledger = MessageLedger()
    assert await ids(replay_listing(ledger, listing, fetch, starting=True), ledger) == []
    history += [visitor("in autopilot", 1), reply, visitor("in hitl again", 3)]
    assert await ids(replay_listing(ledger, listing, fetch, starting=False), ledger) == [
        "in hitl again"
    ]


async def test_a_customers_replay_by_id_yields_agent_replies_once() -> None:
    history: list[Message] = [visitor("hello", 0)]

    async def fetch(cid: str) -> list[Message]:
        return list(history)

    ledger = MessageLedger()
    assert await ids(replay_conversation_by_id(ledger, "c1", fetch, starting=True), ledger) == []
    history += [
        visitor("r1", 1, sender=Sender.AGENT),
        visitor("mine", 2),
        visitor("r2", 3, sender=Sender.AGENT),
    ]
    replay = replay_conversation_by_id(ledger, "c1", fetch, starting=False)
    assert await ids(replay, ledger) == ["r1", "r2"]
    replay = replay_conversation_by_id(ledger, "c1", fetch, starting=False)
    assert await ids(replay, ledger) == []


# -- the driver -----------------------------------------------------------------------


class Rig:
    """A Recovery of ``new-message`` over a real Dispatcher and a `History`."""

    def __init__(self, history: History, *, last_seq: int = 0, maxsize: int = 10_000) -> None:
        self.errors: list[BaseException] = []
        self.dispatcher = Dispatcher(self.errors.append, LOG, maxsize=maxsize)
        self.history = history
        self.tracker = SeqTracker(last_seq)
        self.recovery = message_recovery(self.dispatcher, history, self.tracker, self.errors.append)
        self.got: list[NewMessageEvent] = []

    def handle(self, event: NewMessageEvent) -> None:
        self.got.append(event)

    @property
    def seqs(self) -> list[int]:
        return [event.message.seq or 0 for event in self.got]

    async def until(self, done: Callable[[], bool]) -> None:
        await wait_until(done, 5)

    async def close(self) -> None:
        await self.recovery.aclose()
        await self.dispatcher.aclose()


async def test_live_messages_wait_behind_a_reconnects_round_and_come_once() -> None:
    history = History([1, 2, 3])
    rig = Rig(history)
    rig.dispatcher.add(Event.NEW_MESSAGE, rig.handle)
    real = history.__call__

    async def racing(after: int, limit: int) -> AllMessagesResponse:
        # While the round reads, 3 (in the page) and 4 (after it) arrive live.
        rig.recovery.deliver(Event.NEW_MESSAGE, live(3))
        history.store(4)
        rig.recovery.deliver(Event.NEW_MESSAGE, live(4))
        return await real(after, limit)

    history.__call__ = racing  # type: ignore[method-assign]
    rig.recovery.path = Path(rig.tracker, lambda starting: replay_all(rig.tracker, racing))
    await rig.recovery.resume()
    await rig.until(lambda: len(rig.got) == 4)
    assert rig.seqs == [1, 2, 3, 4]
    # 3 came live too: the live event (which waited) was handed over in place of the replay.
    assert [e.replayed for e in rig.got] == [True, True, False, False]
    assert rig.tracker.position == 4
    await rig.close()


async def test_messages_before_any_handler_are_held_and_the_position_waits_for_them() -> None:
    rig = Rig(History([1, 2, 3]))
    await rig.recovery.resume()  # the catch-up before the user registered anything
    assert rig.tracker.position == 0, "held, not handled: the position must not pass them"
    rig.recovery.deliver(Event.NEW_MESSAGE, live(4))
    rig.dispatcher.add(Event.NEW_MESSAGE, rig.handle)  # registered after connecting
    await rig.until(lambda: len(rig.got) == 4)
    assert rig.seqs == [1, 2, 3, 4]
    assert rig.tracker.position == 4
    await rig.close()


async def test_a_jump_is_checked_by_a_round_before_anything_passes() -> None:
    history = History([1])
    rig = Rig(history, last_seq=1)
    rig.tracker.max_jump = 10
    rig.dispatcher.add(Event.NEW_MESSAGE, rig.handle)
    await rig.recovery.resume()  # connected: live messages flow
    history.store(*range(2, 50))
    rig.recovery.deliver(Event.NEW_MESSAGE, live(49))  # 48 ahead: a gap to recover first
    rig.recovery.deliver(Event.NEW_MESSAGE, live(50))  # waits behind the round
    await rig.until(lambda: len(rig.got) == 49)
    assert rig.seqs == list(range(2, 51))
    # The jump itself came as the live event it was; 50 was admitted when the gate opened.
    assert [e.replayed for e in rig.got[-3:]] == [True, False, False]
    rig.recovery.deliver(Event.NEW_MESSAGE, live(10**9))  # the history has no such message
    await rig.until(lambda: any(isinstance(e, SeqJumpError) for e in rig.errors))
    (jump,) = [e for e in rig.errors if isinstance(e, SeqJumpError)]
    assert jump.seq == 10**9
    assert "does not have it" in str(jump)
    rig.recovery.deliver(Event.NEW_MESSAGE, live(51))
    await rig.until(lambda: rig.seqs[-1:] == [51])
    await rig.close()


async def test_a_failed_round_reports_the_unchecked_jump_and_tries_again() -> None:
    history = History([1])
    rig = Rig(history, last_seq=1)
    rig.tracker.max_jump = 10
    rig.dispatcher.add(Event.NEW_MESSAGE, rig.handle)
    await rig.recovery.resume()
    history.failures = 1
    history.store(*range(2, 30))
    rig.recovery.deliver(Event.NEW_MESSAGE, live(29))
    await rig.until(lambda: any(isinstance(e, SeqJumpError) for e in rig.errors))
    (jump,) = [e for e in rig.errors if isinstance(e, SeqJumpError)]
    assert isinstance(jump.__cause__, InternalServerError)
    await rig.until(lambda: len(rig.got) == 28)  # the next round found them all
    assert rig.seqs == list(range(2, 30))
    await rig.close()


async def test_what_a_full_queue_dropped_comes_again_without_overflowing_twice() -> None:
    history = History()
    rig = Rig(history, maxsize=3)
    release = asyncio.Event()
    hanging = asyncio.Event()

    async def slow(event: NewMessageEvent) -> None:
        hanging.set()
        await release.wait()
        rig.handle(event)

    rig.dispatcher.add(Event.NEW_MESSAGE, slow)
    await rig.recovery.resume()
    history.store(*range(1, 21))
    rig.recovery.deliver(Event.NEW_MESSAGE, live(1))
    await asyncio.wait_for(hanging.wait(), 5)  # its handler runs (and hangs)
    for seq in range(2, 21):
        rig.recovery.deliver(Event.NEW_MESSAGE, live(seq))
    overflows = [e for e in rig.errors if isinstance(e, QueueOverflowError)]
    assert len(overflows) == 16  # one in the handler, three queued
    assert rig.tracker.position == 0
    release.set()
    await rig.until(lambda: len(rig.got) == 20)
    assert sorted(rig.seqs) == list(range(1, 21)), "each once"
    assert len([e for e in rig.errors if isinstance(e, QueueOverflowError)]) == 16
    await rig.until(lambda: rig.tracker.position == 20)
    await rig.close()


async def test_after_close_nothing_counts_as_handled() -> None:
    rig = Rig(History([1, 2]))
    await rig.recovery.resume()  # held: nobody consumes
    await rig.close()
    assert rig.tracker.position == 0
