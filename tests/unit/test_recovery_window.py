"""SeqTracker's bounded memory: the same answers as the plain set-rebuilding
version, and a cost per message that does not grow with the window."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from vilnius_client._recovery_by_seq import SeqTracker
from vilnius_client.events import Message, Sender

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def msg(seq: int, ident: str | None = None) -> Message:
    return Message(
        id=ident or f"m{seq}",
        conversation_id="c1",
        content="x",
        sender=Sender.VISITOR,
        timestamp=T0,
        seq=seq,
    )


class Reference:
    """The tracker as first written: the seq set rebuilt whenever the floor moves."""

    def __init__(self, last_seq: int | None, window: int) -> None:
        self.window = window
        self.floor = last_seq
        self.last_seq = last_seq
        self.seqs: set[int] = set()
        self.ids: set[str] = set()
        self.id_order: deque[str] = deque()

    def accept(self, message: Message) -> bool:
        if message.id in self.ids or message.seq in self.seqs:
            return False
        if self.floor is not None and message.seq <= self.floor:
            return False
        self.seqs.add(message.seq)
        self.ids.add(message.id)
        self.id_order.append(message.id)
        if self.last_seq is None or message.seq > self.last_seq:
            self.last_seq = message.seq
        if self.floor is None:
            self.floor = message.seq - 1
        new_floor = self.last_seq - self.window
        if new_floor > self.floor:
            self.floor = new_floor
            self.seqs = {seq for seq in self.seqs if seq > new_floor}
        while len(self.id_order) > self.window:
            self.ids.discard(self.id_order.popleft())
        return True


@given(
    st.sampled_from([None, 0, 5]),
    st.integers(min_value=1, max_value=12),
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=3)),
        max_size=150,
    ),
)
def test_same_answers_as_the_set_rebuilding_tracker(
    start: int | None, window: int, arrivals: list[tuple[int, int]]
) -> None:
    tracker = SeqTracker(start, window=window)
    reference = Reference(start, window)
    for seq, variant in arrivals:
        message = msg(seq, f"m{seq}" if variant else f"other{seq}")
        assert tracker.accept(message) == reference.accept(message)
        assert tracker.floor == reference.floor
        assert tracker.last_seq == reference.last_seq
        assert tracker._seqs == reference.seqs
        assert len(tracker._seqs) <= window


def test_seqs_are_pruned_in_place_not_rebuilt_per_message() -> None:
    # Rebuilding the set whenever the floor moved cost O(window) per message
    # once more than ``window`` seqs were seen (most of an agent's CPU at 10,000).
    tracker = SeqTracker(0, window=100)
    seqs = tracker._seqs
    for seq in range(1, 1001):
        assert tracker.accept(msg(seq))
        assert tracker._seqs is seqs
    assert len(seqs) == 100
    assert tracker.floor == 900
