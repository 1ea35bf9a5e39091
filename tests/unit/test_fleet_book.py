"""A fleet's positions in one conversation, without I/O (vilnius_client.fleet._book).

The rule under test: the position a book gives to store never covers a message handed over
and not handled (the delivery contract, per conversation), and covers every message handled
before the first one still open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vilnius_client.events import Message, Sender
from vilnius_client.fleet._book import Book, Position, just_before, position_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(seq: int | None, *, ms: int = 0, name: str | None = None) -> Message:
    return Message(
        id=name or (f"m{seq}" if seq is not None else f"t{ms}"),
        conversation_id="c1",
        content="text",
        sender=Sender.VISITOR,
        timestamp=T0 + timedelta(milliseconds=ms),
        seq=seq,
    )


def test_a_position_covers_what_is_before_it_and_the_ids_at_it() -> None:
    position = Position(10, frozenset({"a"}))
    assert position.covers(msg(9))
    assert position.covers(msg(10, name="a"))
    assert not position.covers(msg(10, name="b"))
    assert not position.covers(msg(11))
    assert just_before(msg(10)) == Position(10)
    assert not just_before(msg(10)).covers(msg(10))


def test_positions_merge_forward_and_meet_backward() -> None:
    a, b = Position(5, frozenset({"x"})), Position(5, frozenset({"y"}))
    assert a.merge(b) == Position(5, frozenset({"x", "y"}))
    assert a.lesser(b) == Position(5)
    assert Position(7).merge(a) == Position(7)
    assert Position(7).lesser(a) == a
    assert Position(7).beyond(a)
    assert not a.beyond(a.merge(b))
    assert a.beyond(None)


def test_without_seq_a_place_is_the_servers_millisecond() -> None:
    message = msg(None, ms=1234)
    assert position_of(message) == int(T0.timestamp() * 1000) + 1234


def test_the_position_moves_as_messages_are_handled_in_order() -> None:
    book = Book(None)
    first, second = msg(3), msg(8)
    book.admit(first)
    book.admit(second)
    assert book.settle(first, True) == Position(8)  # 3 handled, 8 still open
    assert book.settle(second, True) == Position(8, frozenset({"m8"}))
    assert book.idle


def test_a_message_handled_out_of_order_does_not_pass_an_open_one() -> None:
    book = Book(Position(2, frozenset({"m2"})))
    first, second = msg(5), msg(6)
    book.admit(first)
    book.admit(second)
    stored = book.settle(second, True)
    assert stored == Position(5)  # up to the open one, not past it
    assert not stored.covers(first)
    assert book.settle(first, True) == Position(6, frozenset({"m6"}))


def test_a_message_dropped_untaken_holds_the_position_and_may_come_again() -> None:
    book = Book(None)
    dropped, later = msg(4), msg(9)
    book.admit(dropped)
    book.admit(later)
    book.settle(dropped, False)
    book.settle(later, True)
    assert book.position == Position(4)
    assert not book.seen(dropped)  # handed over again when it is found again
    assert book.seen(later)
    book.admit(dropped)
    assert book.settle(dropped, True) == Position(9, frozenset({"m9"}))


def test_two_messages_of_one_millisecond_are_told_apart_by_id() -> None:
    book = Book(None)
    a, b = msg(None, ms=5, name="a"), msg(None, ms=5, name="b")
    book.admit(a)
    book.admit(b)
    book.settle(a, True)
    position = book.settle(b, True)
    assert position is not None
    assert position.covers(a)
    assert position.covers(b)
    assert not position.covers(msg(None, ms=5, name="c"))


def test_what_redis_says_was_handled_counts_as_seen() -> None:
    book = Book(Position(4, frozenset({"m4"})))
    assert book.seen(msg(3))
    assert book.seen(msg(4))
    assert not book.seen(msg(5))
    book.lift(Position(7))
    assert book.seen(msg(6))
    assert book.position == Position(7)


@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.sampled_from(["handled", "dropped", "open"])),
        max_size=30,
        unique_by=lambda item: item[0],
    )
)
def test_the_position_never_covers_an_open_or_dropped_message(
    steps: list[tuple[int, str]],
) -> None:
    book = Book(None)
    messages = [(msg(seq), fate) for seq, fate in sorted(steps)]
    for message, _ in messages:
        book.admit(message)
    for message, fate in reversed(messages):  # settled in any order: the worst for the rule
        if fate != "open":
            book.settle(message, fate == "handled")
    position = book.position
    if position is None:
        assert not messages
        return
    for message, fate in messages:
        if fate != "handled":
            assert not position.covers(message)
    first_open = next((m for m, fate in messages if fate != "handled"), None)
    for message, fate in messages:
        if fate == "handled" and (first_open is None or message.seq < first_open.seq):  # type: ignore[operator]
            assert position.covers(message)
