"""The resume trackers, without I/O: verdicts, the position's rule, bounded memory.

The rule under test (the delivery contract): the position never passes a message that was
admitted and not handled; a message dropped untaken is forgotten (found again) and holds
the position below it until then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vilnius_client._trackers import MessageLedger, Positions, SeqTracker, epoch_ms
from vilnius_client.events import Message, Sender

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(
    seq: int | None, *, sender: Sender = Sender.VISITOR, conversation: str = "c1", ms: int = 0
) -> Message:
    return Message(
        id=f"m{seq}" if seq is not None else f"t{ms}",
        conversation_id=conversation,
        content=f"text {seq}",
        sender=sender,
        timestamp=T0 + timedelta(milliseconds=ms),
        seq=seq,
    )


def take(tracker: SeqTracker | MessageLedger, message: Message) -> bool:
    """Admit and handle ``message`` if new (what a handler that ran does); whether it was."""
    if tracker.verdict(message) == "seen":
        return False
    tracker.accept(message)
    tracker.settle(message, True)
    return True


# -- Positions ----------------------------------------------------------------------------


def test_positions_cap_below_the_lowest_pending_or_lost() -> None:
    book = Positions()
    assert book.cap(7) == 7
    assert book.cap(None) is None
    for seq in (3, 5, 6):
        book.add(seq)
    book.settle(5, True)
    assert book.cap(6) == 2
    book.settle(3, False)  # dropped untaken: lost until found again
    assert book.cap(6) == 2
    book.add(3)  # found again
    book.settle(3, True)
    book.settle(6, True)
    assert book.cap(6) == 6
    assert len(book) == 0


def test_a_position_admitted_twice_waits_for_both() -> None:
    book = Positions()
    book.add(4)
    book.add(4)
    book.settle(4, True)
    assert book.cap(9) == 3
    book.settle(4, True)
    assert book.cap(9) == 9


# -- SeqTracker ---------------------------------------------------------------------------


def test_each_message_is_new_once() -> None:
    tracker = SeqTracker(0)
    assert take(tracker, msg(1))
    assert not take(tracker, msg(1))
    assert take(tracker, msg(2))
    assert tracker.position == 2


def test_a_given_position_skips_older_messages() -> None:
    tracker = SeqTracker(10)
    assert tracker.started
    assert tracker.verdict(msg(10)) == "seen"
    assert tracker.verdict(msg(3)) == "seen"
    assert tracker.verdict(msg(11)) == "new"


def test_out_of_order_within_the_window_is_new_once() -> None:
    tracker = SeqTracker(0)
    assert take(tracker, msg(5))
    assert take(tracker, msg(4))
    assert not take(tracker, msg(4))
    assert tracker.position == 5


def test_a_duplicate_id_with_another_seq_is_seen() -> None:
    tracker = SeqTracker(0)
    take(tracker, msg(1))
    assert tracker.verdict(msg(2).model_copy(update={"id": "m1"})) == "seen"


def test_the_position_never_passes_a_message_not_handled() -> None:
    tracker = SeqTracker(0)
    for seq in (1, 2, 3):
        tracker.accept(msg(seq))
    tracker.settle(msg(2), True)
    tracker.settle(msg(3), True)
    assert tracker.position == 0  # 1 is still in a handler
    tracker.settle(msg(1), True)
    assert tracker.position == 3


def test_a_message_dropped_untaken_is_found_again_and_holds_the_position() -> None:
    tracker = SeqTracker(0)
    for seq in (1, 2, 3):
        tracker.accept(msg(seq))
    tracker.settle(msg(1), True)
    tracker.settle(msg(2), False)  # a full queue dropped it
    tracker.settle(msg(3), True)
    assert tracker.position == 1
    assert tracker.verdict(msg(2)) == "new"  # a catch-up hands it over again
    assert tracker.catch_up_after() <= 1
    assert take(tracker, msg(2))
    assert tracker.position == 3


def test_memory_is_bounded_by_the_window_but_never_passes_a_pending_message() -> None:
    tracker = SeqTracker(0, window=10)
    for seq in range(1, 1001):
        take(tracker, msg(seq))
    assert len(tracker._seqs) <= 10
    assert len(tracker._ids) <= 10
    assert tracker.floor == 990
    assert tracker.verdict(msg(500)) == "seen"  # left the memory: counted as handled
    slow = SeqTracker(0, window=10)
    slow.accept(msg(1))  # its handler hangs
    for seq in range(2, 200):
        take(slow, msg(seq))
    assert slow.floor == 0
    assert slow.position == 0
    assert slow.verdict(msg(1)) == "seen"  # still pending: not admitted twice


def test_catch_up_starts_below_unhandled_messages_and_overlap_below_the_highest() -> None:
    tracker = SeqTracker(100, overlap=5)
    assert tracker.catch_up_after() == 100
    for seq in range(101, 121):
        take(tracker, msg(seq))
    assert tracker.catch_up_after() == 115
    tracker.accept(msg(121))
    tracker.settle(msg(121), False)
    assert tracker.catch_up_after() == 116
    tracker.accept(msg(130))  # an untaken message far below the highest: the start follows it
    for seq in range(131, 160):
        take(tracker, msg(seq))
    assert tracker.catch_up_after() == 120


def test_the_customers_own_messages_do_not_move_the_position_on_their_own() -> None:
    """The minimal case of a lost reply: its seq k is below a message the customer sent
    while its socket was down, with more than ``overlap`` other messages in between."""
    tracker = SeqTracker(10, overlap=50)
    # (socket down) an agent replies with seq 20; 100 other messages are stored elsewhere;
    # the customer posts over REST and gets seq 121 back: nothing is recorded for it.
    assert tracker.catch_up_after() == 10  # the catch-up still finds seq 20
    tracker.skip(msg(121))  # a catch-up page passing the customer's own message
    assert tracker.position == 121
    assert tracker.verdict(msg(121)) == "seen"


def test_start_at_only_sets_a_missing_position() -> None:
    tracker = SeqTracker()
    assert not tracker.started
    assert tracker.position is None
    tracker.start_at(7)
    assert tracker.position == 7
    tracker.start_at(99)
    assert tracker.position == 7


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        SeqTracker(window=0)
    with pytest.raises(ValueError, match="max_jump"):
        SeqTracker(max_jump=0)
    with pytest.raises(ValueError, match="negative"):
        SeqTracker(-1)


def test_a_seq_beyond_max_jump_is_a_jump() -> None:
    tracker = SeqTracker(10, window=100)
    assert tracker.verdict(msg(110)) == "new"
    assert tracker.verdict(msg(111)) == "jump"
    assert tracker.verdict(msg(10**15)) == "jump"
    assert tracker.verdict(msg(3)) == "seen"
    assert SeqTracker().verdict(msg(10**15)) == "new"  # no position yet
    assert SeqTracker(0, window=1000, max_jump=5).verdict(msg(6)) == "jump"


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=200))
def test_any_arrival_order_hands_each_seq_over_at_most_once(arrivals: list[int]) -> None:
    tracker = SeqTracker(0, window=1000)
    handed = [seq for seq in arrivals if take(tracker, msg(seq))]
    assert sorted(handed) == sorted(set(arrivals))
    assert tracker.position == max(arrivals, default=0)


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=60), st.booleans()), min_size=1, max_size=80
    )
)
def test_the_position_covers_only_handled_messages(events: list[tuple[int, bool]]) -> None:
    """Whatever is admitted, handled or dropped in any order: every seq at or below the
    position that was admitted was handled, and nothing dropped is below it."""
    tracker = SeqTracker(0, window=1000)
    handled: set[int] = set()
    dropped: set[int] = set()
    for seq, ok in events:
        message = msg(seq)
        if tracker.verdict(message) == "seen":
            continue
        tracker.accept(message)
        tracker.settle(message, ok)
        (handled if ok else dropped).add(seq)
        if ok:
            dropped.discard(seq)
    position = tracker.position
    assert position is not None
    assert all(seq > position for seq in dropped)
    if not dropped:
        assert position == max(handled)


# -- MessageLedger -------------------------------------------------------------------------


def test_older_than_the_newest_handed_over_is_seen() -> None:
    ledger = MessageLedger()
    assert take(ledger, msg(None, ms=10))
    assert take(ledger, msg(None, ms=20))
    assert not take(ledger, msg(None, ms=5))
    assert not take(ledger, msg(None, ms=20))
    assert take(ledger, msg(None, ms=20).model_copy(update={"id": "same-ms"}))
    assert ledger.position == epoch_ms(T0) + 20


def test_a_given_floor_counts_everything_before_it_as_handled() -> None:
    ledger = MessageLedger(epoch_ms(T0) + 100)
    assert ledger.verdict(msg(None, ms=100)) == "seen"
    assert ledger.verdict(msg(None, ms=101, conversation="other")) == "new"
    assert ledger.position == epoch_ms(T0) + 100


def test_the_ledger_position_waits_for_handlers_and_finds_dropped_messages_again() -> None:
    ledger = MessageLedger(epoch_ms(T0))
    first, second = msg(None, ms=10), msg(None, ms=20, conversation="c2")
    ledger.accept(first)
    ledger.accept(second)
    ledger.settle(second, True)
    assert ledger.position == epoch_ms(T0) + 9  # the first is still in a handler
    ledger.settle(first, False)  # dropped untaken
    assert ledger.verdict(first) == "new"
    later = msg(None, ms=30)
    take(ledger, later)  # a later message of the same conversation does not bury it
    assert ledger.verdict(first) == "new"
    assert take(ledger, first)
    assert ledger.position == epoch_ms(T0) + 30


def test_start_at_makes_history_of_what_came_before() -> None:
    ledger = MessageLedger()
    ledger.start_at("c1", epoch_ms(T0) + 50)
    assert ledger.verdict(msg(None, ms=50)) == "seen"
    assert ledger.verdict(msg(None, ms=51)) == "new"
    ledger.start_at("c1", epoch_ms(T0) + 500)  # known already: kept
    assert ledger.verdict(msg(None, ms=51)) == "new"
    ledger.forget_except(["c2"])
    assert len(ledger) == 0
