"""Resume positions, without I/O: which messages of a stream were taken, where to resume.

A *stream* is what one client is handed and must never lose: an agent's
``new-message``s, a customer's replies in its conversation. The delivery contract
(``docs/guides/recovery.md``) is kept here, for both kinds of position:

    A message is *handled* once user code took it: every handler registered for
    it ran, or a waiter or stream received it. The resume position never passes
    a message that was received and not handled.

A tracker is asked for a `Verdict` on every message (live or fetched), records the
new ones it is told to `accept` as *pending*, and learns from the dispatcher how each
was settled: handled, or dropped unhandled (a full queue). A dropped message is
forgotten, so that the next catch-up finds it again, and holds the position below
it until then. `Positions` is that bookkeeping, shared by both trackers.

* `SeqTracker` (servers with ``seq``): positions are seqs; the position is
  ``last_seq``.
* `MessageLedger` (production, no ``seq``): positions are the server's
  timestamps in epoch ms, de-duplication is by message id per conversation; the
  position is ``last_message_at``.

Everything here is plain synchronous code, tested without sockets
(``tests/unit/test_trackers.py``).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from .events import Message

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_WINDOW",
    "MessageLedger",
    "Positions",
    "SeqTracker",
    "Verdict",
    "epoch_ms",
    "from_epoch_ms",
]

Verdict = Literal["new", "seen", "jump"]
"""What a tracker says of a message: new (hand it over), seen (drop it), or a jump
(its seq is so far ahead that it must be checked by a catch-up first)."""

DEFAULT_WINDOW = 10_000
"""Seqs (and message ids) remembered below the highest seq admitted."""

DEFAULT_OVERLAP = 50
"""Seqs re-fetched below the highest seq admitted on catch-up (out-of-order emits)."""


def epoch_ms(moment: datetime) -> int:
    """A timestamp as integer epoch milliseconds (what servers store)."""
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class Positions:
    """Positions admitted and not handled yet (pending), and those dropped unhandled (lost).

    The resume position is capped just below the lowest of either: a restarted client
    resumes there and receives them again rather than never. Each kind is a count per
    position plus a heap of the positions (pruned lazily), so that the lowest is found in
    O(1) and a burst of thousands of pending messages costs O(log n) each, not O(n).
    """

    def __init__(self) -> None:
        self._pending: dict[int, int] = {}
        self._lost: dict[int, int] = {}
        self._pending_heap: list[int] = []
        self._lost_heap: list[int] = []

    def add(self, position: int) -> None:
        """A message at ``position`` was admitted (a lost one found again counts once less)."""
        _count_in(self._pending, self._pending_heap, position)
        if position in self._lost:
            _count_out(self._lost, position)

    def settle(self, position: int, handled: bool) -> None:
        """The message at ``position`` was handled, or dropped unhandled (``handled=False``)."""
        _count_out(self._pending, position)
        if not handled:
            _count_in(self._lost, self._lost_heap, position)

    @property
    def lowest(self) -> int | None:
        """The lowest position pending or lost, if any."""
        pending = _top(self._pending, self._pending_heap)
        lost = _top(self._lost, self._lost_heap)
        if pending is None:
            return lost
        return pending if lost is None or pending < lost else lost

    def cap(self, newest: int | None) -> int | None:
        """``newest`` capped just below the lowest position pending or lost."""
        lowest = self.lowest
        if newest is None or lowest is None:
            return newest
        return min(newest, lowest - 1)

    def __len__(self) -> int:
        return sum(self._pending.values()) + sum(self._lost.values())


def _count_in(counts: dict[int, int], heap: list[int], position: int) -> None:
    count = counts.get(position, 0)
    if count == 0:
        heapq.heappush(heap, position)
    counts[position] = count + 1


def _count_out(counts: dict[int, int], position: int) -> None:
    count = counts.get(position, 0)
    if count <= 1:
        counts.pop(position, None)  # its heap entry goes when it reaches the top
    else:
        counts[position] = count - 1


def _top(counts: dict[int, int], heap: list[int]) -> int | None:
    while heap and heap[0] not in counts:
        heapq.heappop(heap)
    return heap[0] if heap else None


class SeqTracker:
    """What one stream admitted, by ``seq``, and where it resumes.

    Memory is bounded: below ``floor`` every seq counts as settled, and the floor
    follows the highest seq admitted at a distance of ``window`` (never past a
    pending or lost one).

    Args:
        last_seq: The position to resume from (every seq at or below it counts as
            handled). ``None``: none yet (see `start_at`).
        window: How far below the highest seq exact seqs and ids are remembered.
        overlap: How far below the highest seq a catch-up starts (a message the
            server emitted out of order just before a link died is found too).
        max_jump: How far above the highest seq a live message may be before it
            is a jump (default ``window``: accepted on trust, it would move the
            floor past seqs never seen).
    """

    def __init__(
        self,
        last_seq: int | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        max_jump: int | None = None,
    ) -> None:
        if window < 1 or overlap < 0 or (max_jump is not None and max_jump < 1):
            raise ValueError("window and max_jump must be positive and overlap not negative")
        if last_seq is not None and last_seq < 0:
            raise ValueError(f"last_seq must not be negative: {last_seq}")
        self.window = window
        self.overlap = min(overlap, window)
        self.max_jump = window if max_jump is None else max_jump
        self.floor: int | None = last_seq
        self.high: int | None = last_seq
        self.book = Positions()
        self._seqs: set[int] = set()
        self._heap: list[int] = []  # the members of _seqs, smallest first
        self._ids: set[str] = set()
        self._id_order: deque[str] = deque()

    @property
    def started(self) -> bool:
        """Whether the tracker has a position (given, `start_at`, or a message)."""
        return self.high is not None

    @property
    def position(self) -> int | None:
        """Where a restarted client resumes (``last_seq``): the highest seq admitted,
        capped below any message admitted and not handled."""
        return self.book.cap(self.high)

    def start_at(self, head: int) -> None:
        """Give a tracker without a position one: everything up to ``head`` is history."""
        if self.high is None:
            self.floor = self.high = head

    def restart(self, at: int) -> None:
        """Forget everything and resume from ``at`` (the server's history was reset)."""
        self.floor = self.high = at
        self.book = Positions()
        self._seqs.clear()
        self._heap.clear()
        self._ids.clear()
        self._id_order.clear()

    def verdict(self, message: Message) -> Verdict:
        """Whether ``message`` is new, seen, or a jump (nothing is recorded)."""
        seq = message.seq
        if seq is None:
            return "new"  # nothing to track it by
        if message.id in self._ids or seq in self._seqs:
            return "seen"
        if self.floor is not None and seq <= self.floor:
            return "seen"
        if self.high is not None and seq - self.high > self.max_jump:
            return "jump"
        return "new"

    def accept(self, message: Message) -> None:
        """Record a new message as admitted, pending until `settle`."""
        seq = message.seq
        if seq is None:
            return
        self._remember(message.id, seq)
        self.book.add(seq)

    def settle(self, message: Message, handled: bool) -> None:
        """An admitted message was handled, or dropped unhandled (to be found again)."""
        seq = message.seq
        if seq is None:
            return
        self.book.settle(seq, handled)
        if not handled:
            self._seqs.discard(seq)  # the heap keeps it until compaction: harmless
            self._ids.discard(message.id)

    def skip(self, message: Message) -> None:
        """Record a message that is not handed to this client (its own, say): settled at once."""
        if message.seq is not None and self.verdict(message) == "new":
            self._remember(message.id, message.seq)

    def catch_up_after(self) -> int:
        """The ``after=`` of the next catch-up: below any unhandled message, and ``overlap``
        below the highest seq."""
        if self.high is None:
            return 0
        start = min(self.book.cap(self.high) or 0, self.high - self.overlap)
        return max(start, self.floor or 0, 0)

    def _remember(self, message_id: str, seq: int) -> None:
        if seq not in self._seqs:
            self._seqs.add(seq)
            heapq.heappush(self._heap, seq)
        self._ids.add(message_id)
        self._id_order.append(message_id)
        if self.high is None or seq > self.high:
            self.high = seq
        if self.floor is None:
            self.floor = seq - 1  # the first message of a tracker without a position
        self._compact()

    def _compact(self) -> None:
        assert self.high is not None
        assert self.floor is not None
        floor = self.high - self.window
        if floor > self.floor:  # only then can the pending and lost hold it back
            lowest = self.book.lowest
            if lowest is not None:
                floor = min(floor, lowest - 1)
        if floor > self.floor:
            self.floor = floor
            heap, seqs = self._heap, self._seqs
            while heap and heap[0] <= floor:  # amortised O(log n) per message
                seqs.discard(heapq.heappop(heap))
        while len(self._id_order) > self.window:
            self._ids.discard(self._id_order.popleft())

    def __repr__(self) -> str:
        return f"SeqTracker(position={self.position}, floor={self.floor}, high={self.high})"


class _Conversation:
    __slots__ = ("floor", "listed", "lost", "recent")

    def __init__(self, floor: int | None) -> None:
        self.floor = floor
        self.recent: dict[str, int] = {}
        self.lost: Counter[int] = Counter()
        self.listed: str | None = None


class MessageLedger:
    """What one stream admitted on a server without ``seq``: ids and server timestamps.

    Per conversation it keeps a *floor* (a message at or before it counts as
    handled, or as history) and the ids of the messages just above it. A stream's
    messages come from one side of a conversation, one after another, so a message
    older than the newest one admitted was either admitted or never meant for the
    client: the floor follows the newest message (``overlap_ms`` behind, so that
    messages of the same millisecond are told apart by id), never past a message
    pending or lost.

    Args:
        floor: The position to resume from (epoch ms): every message at or before it
            counts as handled, in every conversation. ``None``: none.
        overlap_ms: How far the floor trails the newest message.
    """

    def __init__(self, floor: int | None = None, *, overlap_ms: int = 1) -> None:
        self.default_floor = floor
        self.overlap_ms = overlap_ms
        self.high: int | None = floor
        self.book = Positions()
        self._conversations: dict[str, _Conversation] = {}

    def __len__(self) -> int:
        return len(self._conversations)

    @property
    def position(self) -> int | None:
        """Where a restarted client resumes (``last_message_at``, epoch ms)."""
        return self.book.cap(self.high)

    def _get(self, conversation_id: str) -> _Conversation:
        known = self._conversations.get(conversation_id)
        if known is None:
            known = self._conversations[conversation_id] = _Conversation(self.default_floor)
        return known

    def start_at(self, conversation_id: str, floor: int | None) -> None:
        """Count everything up to ``floor`` as history in a conversation met now."""
        if conversation_id not in self._conversations:
            self._conversations[conversation_id] = _Conversation(floor)
            if floor is not None and (self.high is None or floor > self.high):
                self.high = floor

    def is_new_id(self, conversation_id: str, message_id: str, stamp: int) -> bool:
        """Whether a message known by id and timestamp (epoch ms) is new."""
        known = self._conversations.get(conversation_id)
        floor = known.floor if known is not None else self.default_floor
        if floor is not None and stamp <= floor:
            return False
        return known is None or message_id not in known.recent

    def verdict(self, message: Message) -> Verdict:
        """Whether ``message`` is new or seen (there are no jumps without seq)."""
        stamp = epoch_ms(message.timestamp)
        return "new" if self.is_new_id(message.conversation_id, message.id, stamp) else "seen"

    def accept(self, message: Message) -> None:
        """Record a new message as admitted, pending until `settle`."""
        stamp = epoch_ms(message.timestamp)
        conversation = self._get(message.conversation_id)
        conversation.recent[message.id] = stamp
        if stamp in conversation.lost:
            _count_out(conversation.lost, stamp)
        self.book.add(stamp)
        if self.high is None or stamp > self.high:
            self.high = stamp
        self._compact(conversation)

    def settle(self, message: Message, handled: bool) -> None:
        """An admitted message was handled, or dropped unhandled (to be found again)."""
        stamp = epoch_ms(message.timestamp)
        self.book.settle(stamp, handled)
        if not handled:
            conversation = self._get(message.conversation_id)
            conversation.recent.pop(message.id, None)
            conversation.lost[stamp] += 1

    def _compact(self, conversation: _Conversation) -> None:
        newest = max(conversation.recent.values(), default=None)
        if newest is None:
            return
        limit = newest - self.overlap_ms
        if conversation.lost:
            limit = min(limit, min(conversation.lost) - 1)
        if conversation.floor is None or limit > conversation.floor:
            conversation.floor = limit
            conversation.recent = {
                key: value for key, value in conversation.recent.items() if value > limit
            }

    def listed_last(self, conversation_id: str) -> str | None:
        """The last message id a listing showed for the conversation when it was last read."""
        known = self._conversations.get(conversation_id)
        return known.listed if known is not None else None

    def read_up_to(self, conversation_id: str, message_id: str | None) -> None:
        """Note that the conversation was read while a listing showed ``message_id`` last."""
        self._get(conversation_id).listed = message_id

    def forget_except(self, conversation_ids: Iterable[str]) -> None:
        """Forget every conversation not in ``conversation_ids`` (gone from the server)."""
        keep = set(conversation_ids)
        for conversation_id in [c for c in self._conversations if c not in keep]:
            del self._conversations[conversation_id]
