"""Nothing lost, nothing doubled: seq tracking, de-duplication and catch-up (CONTRACT.md §7).

Socket.IO delivers at most once, so after every reconnect the clients fetch what
they missed over REST and hand it to the same handlers, marked ``replayed``.
This module holds the logic, without sockets:

* :class:`SeqTracker` remembers which messages were delivered: a *floor* (every
  ``seq`` at or below it counts as delivered) plus the exact seqs and ids
  delivered above it. Memory is bounded: the floor follows the highest seq at a
  distance of ``window`` seqs, so a tracker never holds more than ``window``
  seqs and ``window`` ids.
* :func:`replay_all` (agents, ``GET /api/messages``) and
  :func:`replay_conversation` (customers, ``GET /api/conversations/{id}/messages``)
  page through the missed messages and yield each new one once, in seq order.

Decisions the contract leaves open:

* A tracker without a position (a fresh agent, ``last_seq=None``) starts at the
  server's head: history is not replayed; :meth:`SeqTracker.start_at` sets it.
* Catch-up starts ``overlap`` seqs below the highest delivered seq rather than
  at it, so that a message the server emitted out of seq order just before the
  link died is still found; the overlap is de-duplicated like live events.
* A live event whose seq is more than ``window`` below the highest delivered
  seq is taken as already delivered (dropped): it cannot be told apart from a
  duplicate once its seq has left the memory.
* A live event whose seq is more than ``max_jump`` (default ``window``) *above*
  the highest delivered seq is not taken on trust: accepted, it would move the
  floor past every seq in between, and every later message would look
  delivered. It is a gap to recover: :class:`JumpGuard` holds it and runs a
  catch-up; if the server's history has the message it is delivered (as the
  live event it was), otherwise it is dropped and reported
  (:class:`~vilnius_client.SeqJumpError`).
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable
from typing import Any

from .errors import ProtocolError, SeqJumpError
from .events import AllMessagesResponse, Message, Sender

__all__ = [
    "DEFAULT_HELD",
    "DEFAULT_OVERLAP",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_WINDOW",
    "InFlight",
    "JumpGuard",
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

DEFAULT_HELD = 1_000
"""Live messages with a jumping seq held at most while a catch-up checks them."""


class SeqTracker:
    """Which messages of one stream (an agent's, or one conversation's) were delivered.

    Args:
        last_seq: The position to resume from: every message with a seq at or
            below it counts as delivered. ``None``: no position yet (see
            :meth:`start_at`).
        window: How far below the highest delivered seq exact seqs and ids are
            remembered. Older seqs count as delivered.
        overlap: How far below the highest delivered seq :meth:`catch_up_after`
            starts.
        max_jump: How far above the highest delivered seq a live message may
            be before it counts as a jump (:meth:`is_jump`); default ``window``,
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
        """Whether the tracker has a position (constructor, :meth:`start_at` or a message)."""
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


class InFlight:
    """Seqs accepted for delivery whose handlers have not been called yet.

    A client accepts a message (:meth:`SeqTracker.accept`) when it queues it
    for its handlers; handlers of different conversations run independently,
    so a message may wait behind a slow handler while later seqs are handled.
    The position a restarted client may safely resume from is therefore the
    highest accepted seq *below the lowest one still waiting*
    (:meth:`resume_position`). Messages whose handlers were called count as
    delivered, even if the client closed while a handler was still running.
    """

    def __init__(self) -> None:
        self._waiting: dict[int, int] = {}

    def add(self, seq: int | None) -> None:
        """A message was queued for the handlers (a seq-less one is not tracked)."""
        if seq is None:
            return
        self._waiting[seq] = self._waiting.get(seq, 0) + 1

    def done(self, seq: int | None) -> None:
        """The handlers of a queued message were called."""
        if seq is None:
            return
        count = self._waiting.get(seq, 0)
        if count <= 1:
            self._waiting.pop(seq, None)
        else:
            self._waiting[seq] = count - 1

    def __len__(self) -> int:
        return len(self._waiting)

    def resume_position(self, last_seq: int | None) -> int | None:
        """``last_seq`` capped below the lowest seq still waiting for its handlers."""
        if last_seq is None or not self._waiting:
            return last_seq
        return min(last_seq, min(self._waiting) - 1)


class JumpGuard:
    """Holds live messages whose seq jumped ahead until a catch-up has checked them.

    :meth:`hold` keeps the live event and starts one catch-up (in a task) if
    none is running. The catch-up asks :meth:`take` for every message the
    server's history returned: a held event is then handed back, to be
    delivered as the live event it is. After the catch-up, every event held
    before it started and not taken is passed to ``settle(event, failure)``
    (``failure``: what the catch-up raised, if it failed), which delivers it
    if it no longer jumps, or drops and reports it. Events held while a
    catch-up runs wait for the next one.

    Args:
        catch_up: Runs the client's catch-up.
        settle: Decides about one held event the catch-up did not confirm.
        limit: Events held at most; beyond, a new one is settled at once
            (with no catch-up of its own).
    """

    def __init__(
        self,
        catch_up: Callable[[], Awaitable[None]],
        settle: Callable[[Any, BaseException | None], Coroutine[Any, Any, None]],
        *,
        limit: int = DEFAULT_HELD,
    ) -> None:
        self._catch_up = catch_up
        self._settle = settle
        self._limit = limit
        self._held: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._overflow: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, message_id: str, event: Any) -> None:
        """Hold ``event`` (the live event of message ``message_id``) for the next catch-up."""
        if message_id in self._held:
            return
        if len(self._held) >= self._limit:
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
                self._settle(event, None)
            )
            self._overflow.add(task)
            task.add_done_callback(self._overflow.discard)
            return
        self._held[message_id] = event
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="vilnius-seq-jump-catch-up"
            )

    def take(self, message_id: str) -> Any | None:
        """The held live event of ``message_id`` (the catch-up confirmed it), if any."""
        return self._held.pop(message_id, None)

    async def drain(self) -> None:
        """Wait until nothing is held and no catch-up or settling runs."""
        while True:
            tasks = [*self._overflow, *([self._task] if self._task is not None else [])]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop a catch-up under way and forget what is held; idempotent."""
        tasks = [*self._overflow, *([self._task] if self._task is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._held.clear()

    async def _run(self) -> None:
        try:
            while self._held:
                batch = list(self._held)
                failure: BaseException | None = None
                try:
                    await self._catch_up()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure = exc
                for message_id in batch:
                    event = self._held.pop(message_id, None)
                    if event is not None:
                        await self._settle(event, failure)
        finally:
            self._task = None


def seq_jump_error(
    event: str, model: Any, tracker: SeqTracker, failure: BaseException | None
) -> SeqJumpError:
    """The error that reports a dropped live message (``model.message``) whose seq jumped."""
    message: Message = model.message
    last = tracker.last_seq
    if failure is None:
        why = "the server's history does not have it"
    else:
        why = (
            f"it could not be checked (catch-up failed: {failure}); "
            "a later catch-up delivers it if the server has it"
        )
    error = SeqJumpError(
        f"dropped {event} {message.id!r}: its seq {message.seq} jumps past the highest "
        f"delivered seq {last} and {why}",
        event=event,
        payload=model,
        seq=seq_of(message),
        last_seq=last,
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
    :meth:`SeqTracker.catch_up_after` until a page reaches the head the server
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
