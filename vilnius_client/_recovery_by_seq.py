"""Recovery by seq (the contract's §7): tracking, de-duplication and catch-up, without sockets.

Socket.IO delivers at most once, so after every reconnect the clients fetch what
they missed over REST and hand it to the same handlers, marked ``replayed``
(`vilnius_client._recovery`). On a server whose messages carry ``seq``:

* `SeqTracker` remembers which messages were delivered: a *floor* (every
  ``seq`` at or below it counts as delivered) plus the exact seqs and ids
  delivered above it. Memory is bounded: the floor follows the highest seq at a
  distance of ``window`` seqs, so a tracker never holds more than ``window``
  seqs and ``window`` ids.
* `replay_all` (agents, ``GET /api/messages``) and `replay_conversation`
  (customers, ``GET /api/conversations/{id}/messages``) page through the missed
  messages and yield each new one once, in seq order.
* `SeqRecovery` is this path as `Recovery` uses it.

Decisions the contract leaves open:

* A tracker without a position (a fresh agent, ``last_seq=None``) starts at the
  server's head: history is not replayed; `SeqTracker.start_at` sets it.
* Catch-up starts ``overlap`` seqs below the highest delivered seq rather than
  at it, so that a message the server emitted out of seq order just before the
  link died is still found; the overlap is de-duplicated like live events.
* A live event whose seq is more than ``window`` below the highest delivered
  seq is taken as already delivered (dropped): it cannot be told apart from a
  duplicate once its seq has left the memory.
* A live event whose seq is more than ``max_jump`` (default ``window``) *above*
  the highest delivered seq is not taken on trust: accepted, it would move the
  floor past every seq in between, and every later message would look
  delivered. It is a gap to recover (a ``jump``): `Recovery` holds it and runs a
  catch-up; if the server's history has the message it is delivered (as the
  live event it was), otherwise it is dropped and reported (`SeqJumpError`).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, Literal

from .errors import ProtocolError, SeqJumpError
from .events import AllMessagesResponse, Message, Sender

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_WINDOW",
    "SeqRecovery",
    "SeqTracker",
    "replay_all",
    "replay_conversation",
    "seq_jump_error",
    "seq_of",
]


def seq_of(message: Message) -> int:
    """The ``seq`` of a message from a catch-up page (those endpoints exist only with seq)."""
    if message.seq is None:
        raise ProtocolError(f"message {message.id!r} has no seq")
    return message.seq


DEFAULT_WINDOW = 10_000
"""Seqs (and message ids) remembered below the highest delivered seq."""

DEFAULT_OVERLAP = 50
"""Seqs re-fetched below the highest delivered seq on catch-up."""

DEFAULT_PAGE_SIZE = 500
"""Messages asked for per catch-up request."""


class SeqTracker:
    """Which messages of one stream (an agent's, or one conversation's) were delivered.

    Args:
        last_seq: The position to resume from: every message with a seq at or
            below it counts as delivered. ``None``: no position yet (see
            `start_at`).
        window: How far below the highest delivered seq exact seqs and ids are
            remembered. Older seqs count as delivered.
        overlap: How far below the highest delivered seq `catch_up_after`
            starts.
        max_jump: How far above the highest delivered seq a live message may
            be before it counts as a jump (`is_jump`); default ``window``,
            the distance past which accepting it would move the floor over
            seqs never seen.
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
        self.window = window
        self.overlap = min(overlap, window)
        self.max_jump = window if max_jump is None else max_jump
        self._floor: int | None = last_seq
        self._last_seq: int | None = last_seq
        self._seqs: set[int] = set()
        self._seq_heap: list[int] = []  # the members of _seqs, smallest first
        self._ids: set[str] = set()
        self._id_order: deque[str] = deque()

    @property
    def started(self) -> bool:
        """Whether the tracker has a position (constructor, `start_at` or a message)."""
        return self._last_seq is not None

    @property
    def last_seq(self) -> int | None:
        """The highest seq delivered (or the starting position); persist it to resume."""
        return self._last_seq

    @property
    def floor(self) -> int | None:
        """Every seq at or below this counts as delivered."""
        return self._floor

    def start_at(self, head: int) -> None:
        """Set the position of a tracker that has none: messages up to ``head`` are skipped."""
        if self._last_seq is None:
            self._floor = self._last_seq = head

    def restart(self, at: int) -> None:
        """Forget everything and resume from ``at`` (the server's history was reset)."""
        self._floor = self._last_seq = at
        self._seqs.clear()
        self._seq_heap.clear()
        self._ids.clear()
        self._id_order.clear()

    def is_new(self, message: Message) -> bool:
        """Whether ``message`` has not been delivered yet (a seq-less one always is)."""
        if message.seq is None:
            return True
        if message.id in self._ids or message.seq in self._seqs:
            return False
        return self._floor is None or message.seq > self._floor

    def is_jump(self, message: Message) -> bool:
        """Whether ``message``'s seq is more than ``max_jump`` above the highest delivered.

        Such a message must not be accepted on trust (see the module
        docstring). A tracker without a position, or a message without a seq,
        never jumps.
        """
        seq = message.seq
        last = self._last_seq
        return seq is not None and last is not None and seq - last > self.max_jump

    def accept(self, message: Message) -> bool:
        """Record ``message`` as delivered; return whether it was new (deliver it then)."""
        if not self.is_new(message):
            return False
        self.mark(message)
        return True

    def mark(self, message: Message) -> None:
        """Record ``message`` as delivered without asking (a seq-less one is not tracked)."""
        seq = message.seq
        if seq is None:
            return
        if seq not in self._seqs:
            self._seqs.add(seq)
            heapq.heappush(self._seq_heap, seq)
        self._ids.add(message.id)
        self._id_order.append(message.id)
        if self._last_seq is None or seq > self._last_seq:
            self._last_seq = seq
        if self._floor is None:
            # First message of a tracker without a position: nothing below it is expected.
            self._floor = seq - 1
        self._compact(self._last_seq, self._floor)

    def catch_up_after(self) -> int:
        """The ``after=`` of the next catch-up request."""
        if self._last_seq is None or self._floor is None:
            return 0
        return max(self._floor, self._last_seq - self.overlap, 0)

    def _compact(self, last_seq: int, floor: int) -> None:
        new_floor = last_seq - self.window
        if new_floor > floor:
            self._floor = new_floor
            # Amortised O(log n) per message: only the seqs that fell below the
            # floor are removed (rebuilding the set cost O(window) per message).
            heap, seqs = self._seq_heap, self._seqs
            while heap and heap[0] <= new_floor:
                seqs.discard(heapq.heappop(heap))
        while len(self._id_order) > self.window:
            self._ids.discard(self._id_order.popleft())

    def __repr__(self) -> str:
        return (
            f"SeqTracker(last_seq={self._last_seq}, floor={self._floor}, "
            f"remembered={len(self._seqs)})"
        )


def seq_jump_error(
    event: str, model: Any, last_seq: int | None, failure: BaseException | None
) -> SeqJumpError:
    """The error that reports a dropped live message (``model.message``) whose seq jumped."""
    message: Message = model.message
    if failure is None:
        why = "the server's history does not have it"
    else:
        why = (
            f"it could not be checked (catch-up failed: {failure}); "
            "a later catch-up delivers it if the server has it"
        )
    error = SeqJumpError(
        f"dropped {event} {message.id!r}: its seq {message.seq} jumps past the highest "
        f"delivered seq {last_seq} and {why}",
        event=event,
        payload=model,
        seq=seq_of(message),
        last_seq=last_seq,
    )
    error.__cause__ = failure
    return error


FetchAll = Callable[[int, int], Awaitable[AllMessagesResponse]]
"""``fetch(after, limit)`` -> one page of ``GET /api/messages``."""

FetchConversation = Callable[[int, int], Awaitable[list[Message]]]
"""``fetch(after, limit)`` -> one page of ``GET /api/conversations/{id}/messages``."""


def _in_order(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=seq_of)


async def replay_all(
    tracker: SeqTracker,
    fetch: FetchAll,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_reset: Callable[[int, int], None] | None = None,
) -> AsyncGenerator[Message, None]:
    """Yield every message of ``GET /api/messages`` not yet delivered, in seq order.

    A tracker without a position is set to the server's head (one request with
    ``limit=1``) and nothing is yielded. Otherwise pages are fetched from
    `SeqTracker.catch_up_after` until a page reaches the head the server
    reported (``lastSeq``) or comes back empty. Yielded messages are already
    recorded in ``tracker``.

    A head *below* the position means the server's history was reset (a new
    database: seqs start again at 1). ``on_reset(position, head)`` is called,
    the tracker restarts at 0 and every message of the new history is yielded,
    rather than being dropped as "already delivered".
    """
    if not tracker.started:
        tracker.start_at((await fetch(0, 1)).last_seq)
        return
    cursor = tracker.catch_up_after()
    page = await fetch(cursor, page_size)
    position = tracker.last_seq
    if position is not None and page.last_seq < position:
        if on_reset is not None:
            on_reset(position, page.last_seq)
        tracker.restart(0)
        cursor = 0
        page = await fetch(cursor, page_size)
    while True:
        messages = _in_order(page.messages)
        for message in messages:
            if tracker.accept(message):
                yield message
        if not messages:
            return
        cursor = seq_of(messages[-1])
        if cursor >= page.last_seq:
            return
        page = await fetch(cursor, page_size)


async def replay_conversation(
    tracker: SeqTracker,
    fetch: FetchConversation,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    senders: frozenset[Sender] = frozenset({Sender.AGENT, Sender.SYSTEM}),
) -> AsyncGenerator[Message, None]:
    """Yield the missed messages of one conversation written by ``senders``, in seq order.

    Every fetched message is recorded in ``tracker`` (the customer's own messages
    too, so the position moves past them), but only those by ``senders`` are
    yielded: a customer receives agents' and system messages live, not its own.
    Pages are fetched until one comes back empty, since this endpoint reports no
    head. A tracker without a position is moved to the end of the conversation
    and nothing is yielded.
    """
    starting = not tracker.started
    cursor = tracker.catch_up_after()
    while True:
        messages = _in_order(await fetch(cursor, page_size))
        if not messages:
            if starting:
                tracker.start_at(cursor)
            return
        for message in messages:
            if starting:
                continue
            if tracker.accept(message) and message.sender in senders:
                yield message
        cursor = seq_of(messages[-1])


class SeqRecovery:
    """The seq path of `vilnius_client._recovery.Recovery`: a tracker and its catch-up.

    Args:
        tracker: What was handed over (by seq).
        missed: Starts a catch-up (`replay_all` or `replay_conversation` over
            ``tracker``); what it yields is recorded already.
    """

    def __init__(
        self, tracker: SeqTracker, missed: Callable[[], AsyncGenerator[Message, None]]
    ) -> None:
        self.tracker = tracker
        self._missed = missed

    def admit(self, message: Message) -> Literal["new", "seen", "jump"]:
        """A live message: ``new`` (recorded: hand it over), ``seen``, or a ``jump`` to check."""
        tracker = self.tracker
        if tracker.is_jump(message):
            return "jump" if tracker.is_new(message) else "seen"
        return "new" if tracker.accept(message) else "seen"

    def missed(self) -> AsyncGenerator[Message, None]:
        """The messages missed, in seq order (recorded as they are yielded)."""
        return self._missed()

    def key(self, message: Message) -> int | None:
        """A message's place in the stream: its seq."""
        return message.seq

    @property
    def position(self) -> int | None:
        """The highest seq handed over (or the starting position)."""
        return self.tracker.last_seq
