"""Nothing lost, nothing doubled: one recovery per client, by seq or by message id.

Socket.IO delivers at most once. A `Recovery` makes a client's *stream* (an agent's
``new-message``s, a customer's ``agent-message``s) arrive exactly once anyway, and keeps
the resume position honest (the contract is `vilnius_client._trackers`'):

* A live message of the stream is admitted by the tracker: new ones are handed to the
  dispatcher with a ``settle`` callback, seen ones dropped. The dispatcher settles each
  (handled, or dropped untaken); only then does the position move, and a dropped one
  is fetched again by a catch-up.
* A *catch-up round* fetches what was missed over REST (`Path.missed`) and hands it over
  as replayed events, in order.
* A round runs after every reconnect (the connection's ``resume`` step, before state
  ``connected``) and when a live seq jumps far ahead (a gap to check): meanwhile live
  messages of the stream wait in a bounded *gate*, so that nothing passes what was
  missed, and are admitted after it (those the gate could not keep are stored: a later
  round finds them). These rounds never wait for room in a full queue: what overflows
  is settled as dropped, and found again.
* A round runs in the background when a message was dropped untaken (a full queue, a
  stream closed unread, nobody consuming): it waits for room instead of overflowing,
  while live messages keep flowing (the dropped message arrives late, out of its place).
* While the socket stays down, a round runs every ``poll_interval`` (the polling
  fallback, after ``fallback_after`` seconds, or at once when the circuit opens).

Events leave through the recovery's `Sink`: the dispatcher, or a fleet's gate in front of it
(`vilnius_client.fleet`), which passes on the events of the conversations its replica owns
and settles the others itself; only the fleet's leader polls (``polls``).

How messages are found depends on the server (`Path`): by seq (``GET /api/messages``,
``GET /api/conversations/{id}/messages?after=``) or, on production, by message id (the
conversation listing, then the messages of each conversation that moved). The fetching
generators are here, each with its decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ._dispatch import Dispatcher, Settle
from ._state import LOST, ConnectionChange, ConnectionState
from ._trackers import MessageLedger, SeqTracker, Verdict, epoch_ms
from .errors import ProtocolError, SeqJumpError, StateError, TransportError, VilniusError
from .events import AllMessagesResponse, Conversation, Event, Message, Sender

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "GATE_LIMIT",
    "Path",
    "Recovery",
    "Sink",
    "replay_all",
    "replay_conversation",
    "replay_conversation_by_id",
    "replay_listing",
    "seq_of",
]

DEFAULT_PAGE_SIZE = 500
"""Messages asked for per catch-up request."""

GATE_LIMIT = 1_000
"""Live messages of the stream kept while a round is due; past it they are left to the round."""


class Sink(Protocol):
    """Where a client's events go: its dispatcher, or a fleet's gate in front of it
    (`vilnius_client.fleet`), which settles what it does not hand on."""

    def submit(self, event: str, model: Any, settle: Settle | None = None) -> None: ...


def _always() -> bool:
    return True


class Tracker(Protocol):
    """What `Recovery` asks of `SeqTracker` and `MessageLedger`."""

    def verdict(self, message: Message) -> Verdict: ...
    def accept(self, message: Message) -> None: ...
    def settle(self, message: Message, handled: bool) -> None: ...

    @property
    def position(self) -> int | None: ...


@dataclass
class Path:
    """How one client finds what it missed, and tracks what it was handed.

    Attributes:
        tracker: The `SeqTracker` or `MessageLedger`.
        replay: ``replay(starting)`` yields missed messages in order, not yet seen
            (``starting``: the client has no position yet; the replay sets one).
        senders: Whose messages are tracked (others pass untracked); ``None``: all.
        started: Whether a first replay has run (set by `missed`).
    """

    tracker: Tracker
    replay: Callable[[bool], AsyncGenerator[Message, None]]
    senders: frozenset[Sender] | None = None
    started: bool = False

    async def missed(self) -> AsyncGenerator[Message, None]:
        """The messages missed since the last round, in order."""
        async with contextlib.aclosing(self.replay(not self.started)) as messages:
            async for message in messages:
                yield message
        self.started = True

    def tracks(self, message: Message) -> bool:
        """Whether ``message`` belongs to the stream's bookkeeping."""
        return self.senders is None or message.sender in self.senders


class _CarriesMessage(Protocol):
    @property
    def message(self) -> Message: ...


E = TypeVar("E", bound=_CarriesMessage)


class Recovery(Generic[E]):
    """Exactly-once delivery of one client's stream (see the module docstring).

    Args:
        dispatcher: Where the stream's events go.
        event: The stream's event (``new-message``, ``agent-message``).
        replayed: A fetched message as the event it would have been (``replayed=True``).
        applies: Which live events of ``event`` belong to the stream (others pass).
        report: Receives what the client must hear of (a jump not confirmed, a failed
            round in the background).
        set_mode: Told ``"polling"`` and ``"socket"`` as the fallback starts and stops.
        fallback_after: Seconds the socket may stay down before polling (``None``: never).
        poll_interval: Seconds between two polls, and between retries of a failed round.
        logger: Where the recovery logs.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        event: Event,
        *,
        replayed: Callable[[Message], E],
        applies: Callable[[E], bool],
        report: Callable[[BaseException], None],
        set_mode: Callable[[str], None],
        fallback_after: float | None,
        poll_interval: float,
        logger: logging.Logger,
    ) -> None:
        self._dispatcher = dispatcher
        self.event = event
        self._replayed = replayed
        self._applies = applies
        self._report = report
        self._set_mode = set_mode
        self._fallback_after = fallback_after
        self._poll_interval = poll_interval
        self._logger = logger
        self.path: Path | None = None
        #: Where the events go (see `Sink`); a fleet puts its gate here.
        self.sink: Sink = dispatcher
        #: Whether the polling fallback's rounds run here now (a fleet: on its leader only).
        self.polls: Callable[[], bool] = _always
        self._lock = asyncio.Lock()  # one round at a time
        # Live messages wait in the gate until a round completes: from the start of every
        # attempt (a link's first frames may come before the catch-up) to its catch-up.
        self._gating = True
        self._gate: dict[str, E] = {}
        self._gate_full = False
        self._need = False  # a background round is due
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._closed = False

    @property
    def position(self) -> int | None:
        """The resume position (``last_seq``, or ``last_message_at`` in epoch ms)."""
        return self.path.tracker.position if self.path is not None else None

    # -- live ---------------------------------------------------------------------

    def deliver(self, event: Event | str, model: Any) -> None:
        """An event from the link: the stream's go through the tracker, others straight on."""
        path = self.path
        if event != self.event or path is None or not self._applies(model):
            self.sink.submit(event, model)
            return
        message: Message = model.message
        if not path.tracks(message):
            self.sink.submit(event, model)
        elif self._gating:
            self._hold(model)
        else:
            verdict = path.tracker.verdict(message)
            if verdict == "new":
                self._hand_over(path, model)
            elif verdict == "jump":
                self._hold(model)  # a gap: a round checks it before anything passes
                self._schedule(gated=True)

    def hand_over(self, message: Message) -> None:
        """A message that came another way (a REST answer): hand it over if new."""
        path = self.path
        if path is not None and path.tracker.verdict(message) == "new":
            self._hand_over(path, self._replayed(message))

    def _hand_over(self, path: Path, model: E) -> None:
        message = model.message
        tracker = path.tracker
        tracker.accept(message)

        def settle(handled: bool) -> None:
            tracker.settle(message, handled)
            if not handled and not self._closed:
                self._schedule(gated=False)  # dropped untaken: a round finds it again

        self.sink.submit(self.event, model, settle)

    def _hold(self, model: E) -> None:
        if len(self._gate) >= GATE_LIMIT:
            self._gate_full = True  # stored: a round after the gate opens finds it
        else:
            self._gate.setdefault(model.message.id, model)

    # -- rounds -------------------------------------------------------------------

    async def resume(self) -> None:
        """The connection is back: stop polling, then one round before live messages pass.

        The round does not wait for room in full queues (what overflows is found again
        by a round in the background), so a connect never waits for a handler.
        """
        await self._stop_polling()
        self._gating = True
        try:
            async with self._lock:
                await self._round(wait=False)
        except VilniusError as exc:
            self._drop_jumps(exc)
            if isinstance(exc, TransportError):
                raise
            if exc.temporary:
                # A 503 must fail the attempt (so the catch-up is retried), not be skipped.
                raise TransportError(f"catch-up failed: {exc}") from exc
            self._report(exc)  # no retry mends it (the conversation is gone): go on
        self._open_gate()

    def _schedule(self, *, gated: bool) -> None:
        """Make a round due in the background (gated: live messages wait for it)."""
        if gated:
            self._gating = True
        self._need = True
        if self._task is None and not self._closed and self.path is not None:
            self._task = asyncio.create_task(self._work(), name="vilnius-catch-up")

    async def _work(self) -> None:
        try:
            while self._need and not self._closed:
                self._need = False
                gated = self._gating
                try:
                    async with self._lock:
                        blocked = await self._round(wait=not gated)
                except VilniusError as exc:
                    self._report(exc)
                    if gated:
                        self._drop_jumps(exc)
                    self._need = True
                    await asyncio.sleep(self._poll_interval)
                    continue
                if blocked is not None:
                    self._need = True  # out of the lock: a resume() may run meanwhile
                    await self._dispatcher.room(self.event, blocked)
                elif gated:
                    self._open_gate()
        except StateError:
            return  # closed while waiting for room
        finally:
            self._task = None

    async def _round(self, *, wait: bool) -> Any:
        """Fetch and hand over what was missed, in order. With ``wait``, stop at the first
        message a full queue has no room for and return it (the caller waits for room)."""
        path = self.path
        if path is None:
            return None
        tracker = path.tracker
        async with contextlib.aclosing(path.missed()) as missed:
            async for message in missed:
                if tracker.verdict(message) == "seen":
                    continue
                live = self._gate.pop(message.id, None)  # the live event, if it waited
                model = live or self._replayed(message)
                if wait and not self._dispatcher.has_room(self.event, model):
                    if live is not None:
                        self._gate[message.id] = live
                    return model
                self._hand_over(path, model)
        return None

    def _open_gate(self) -> None:
        """After a complete round: admit what waited, in arrival order."""
        self._gating = False
        gated, self._gate = self._gate, {}
        path = self.path
        if path is None:
            return
        for model in gated.values():
            verdict = path.tracker.verdict(model.message)
            if verdict == "new":
                self._hand_over(path, model)
            elif verdict == "jump":
                self._report(self._jump_error(model, None))
        if self._gate_full:
            self._gate_full = False
            self._schedule(gated=False)  # what the gate could not keep is stored

    def _drop_jumps(self, failure: BaseException) -> None:
        """A round failed: the jumps it was to check are dropped and reported."""
        path = self.path
        if path is None:
            return
        for message_id, model in list(self._gate.items()):
            if path.tracker.verdict(model.message) == "jump":
                del self._gate[message_id]
                self._report(self._jump_error(model, failure))

    def _jump_error(self, model: E, failure: BaseException | None) -> SeqJumpError:
        message = model.message
        last = self.position
        if failure is None:
            why = "the server's history does not have it"
        else:
            why = (
                f"it could not be checked (catch-up failed: {failure}); "
                "a later catch-up delivers it if the server has it"
            )
        error = SeqJumpError(
            f"dropped {self.event} {message.id!r}: its seq {message.seq} jumps past the "
            f"highest seq {last} and {why}",
            event=self.event.value,
            payload=model,
            seq=seq_of(message),
            last_seq=last,
        )
        error.__cause__ = failure
        return error

    # -- the polling fallback -----------------------------------------------------

    def changed(self, change: ConnectionChange) -> None:
        """The connection's state: gate live messages until the next catch-up; count down
        to polling while lost, stop when back."""
        if change.new in LOST or change.new is ConnectionState.CONNECTING:
            self._gating = True
        if change.new in LOST:
            if change.new is ConnectionState.CIRCUIT_OPEN:
                self._poll_now.set()
            if self._fallback_after is not None and self._poller is None and not self._closed:
                self._poller = asyncio.create_task(
                    self._poll(self._fallback_after), name="vilnius-poll-fallback"
                )
        elif change.new is not ConnectionState.CONNECTING and self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll(self, fallback_after: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(fallback_after):
                await self._poll_now.wait()
        self._logger.warning("socket down: polling the REST API for new messages")
        try:
            while True:
                polling = self.polls()
                self._set_mode("polling" if polling else "socket")
                if polling:
                    try:
                        async with self._lock:
                            await self._round(wait=False)
                    except VilniusError as exc:
                        self._logger.info("poll failed: %s", exc)
                await asyncio.sleep(self._poll_interval)
        finally:
            self._set_mode("socket")

    async def _stop_polling(self) -> None:
        poller, self._poller = self._poller, None
        self._poll_now.clear()
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop polling and any round; idempotent."""
        self._closed = True
        await self._stop_polling()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._gate.clear()


# -- finding what was missed ---------------------------------------------------------


def seq_of(message: Message) -> int:
    """The ``seq`` of a message from a catch-up page (those endpoints exist only with seq)."""
    if message.seq is None:
        raise ProtocolError(f"message {message.id!r} has no seq")
    return message.seq


FetchAll = Callable[[int, int], Awaitable[AllMessagesResponse]]
"""``fetch(after, limit)``: one page of ``GET /api/messages``."""

FetchPage = Callable[[int, int], Awaitable[list[Message]]]
"""``fetch(after, limit)``: one page of ``GET /api/conversations/{id}/messages``."""

ListConversations = Callable[[], Awaitable[list[Conversation]]]
"""``GET /api/admin/conversations``."""

FetchMessages = Callable[[str], Awaitable[list[Message]]]
"""``GET /api/conversations/{id}/messages``: every message of one conversation."""


async def replay_all(
    tracker: SeqTracker,
    fetch: FetchAll,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_reset: Callable[[int, int], None] | None = None,
) -> AsyncGenerator[Message, None]:
    """An agent's missed messages, by seq: every message of ``GET /api/messages`` not seen.

    A tracker without a position starts at the server's head (one request with
    ``limit=1``): history is not replayed. Otherwise pages are fetched from
    `SeqTracker.catch_up_after` until one reaches the head the server reported
    (``lastSeq``) or comes back empty. A head *below* the position means the server's
    history was reset (a new database, seqs from 1 again): ``on_reset(position, head)``
    is called and the tracker restarts at 0, rather than every new message looking seen.
    """
    if not tracker.started:
        tracker.start_at((await fetch(0, 1)).last_seq)
        return
    cursor = tracker.catch_up_after()
    page = await fetch(cursor, page_size)
    position = tracker.high
    if position is not None and page.last_seq < position:
        if on_reset is not None:
            on_reset(position, page.last_seq)
        tracker.restart(0)
        cursor = 0
        page = await fetch(cursor, page_size)
    while True:
        messages = sorted(page.messages, key=seq_of)
        for message in messages:
            if tracker.verdict(message) != "seen":
                yield message
        if not messages:
            return
        cursor = seq_of(messages[-1])
        if cursor >= page.last_seq:
            return
        page = await fetch(cursor, page_size)


async def replay_conversation(
    tracker: SeqTracker,
    fetch: FetchPage,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    senders: frozenset[Sender] = frozenset({Sender.AGENT, Sender.SYSTEM}),
) -> AsyncGenerator[Message, None]:
    """A customer's missed messages in its conversation, by seq: those by ``senders``.

    The others (the customer's own) are recorded as skipped as the pages pass them, so
    the position moves past them; they never move it on their own (a message the
    customer sent while its socket was down must not cover a reply stored before it).
    Pages are fetched until one comes back empty (this endpoint reports no head). A
    tracker without a position moves to the end of the conversation, yielding nothing.
    """
    starting = not tracker.started
    cursor = tracker.catch_up_after()
    while True:
        messages = sorted(await fetch(cursor, page_size), key=seq_of)
        if not messages:
            if starting:
                tracker.start_at(cursor)
            return
        for message in messages:
            if starting:
                continue
            if message.sender not in senders:
                tracker.skip(message)
            elif tracker.verdict(message) != "seen":
                yield message
        cursor = seq_of(messages[-1])


def _in_time_order(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda message: epoch_ms(message.timestamp))


def _lists_last_message(conversation: Conversation) -> bool:
    """Whether the listing says what the last message is (production's does, even ``null``)."""
    return "last_message" in conversation.model_fields_set


def _needs_reading(
    ledger: MessageLedger, conversation: Conversation, senders: frozenset[Sender]
) -> bool:
    if not _lists_last_message(conversation):
        return True  # a listing without lastMessage (a contract server): read it to know
    preview = conversation.last_message
    if preview is None or preview.id == ledger.listed_last(conversation.id):
        return False
    if preview.sender in senders:
        return ledger.is_new_id(conversation.id, preview.id, epoch_ms(preview.timestamp))
    return True  # someone else wrote last: read to see what came before it


def _unannounced(messages: list[Message]) -> set[str]:
    """Ids of the visitor messages the autopilot answered (production announced none)."""

    def autopilot(message: Message) -> bool:
        return message.sender is Sender.AGENT and bool(
            (message.metadata or {}).get("isAutopilotResponse")
        )

    return {
        message.id
        for message, following in itertools.pairwise(messages)
        if message.sender is Sender.VISITOR and autopilot(following)
    }


async def replay_listing(
    ledger: MessageLedger,
    list_conversations: ListConversations,
    fetch: FetchMessages,
    *,
    starting: bool,
    senders: frozenset[Sender] = frozenset({Sender.VISITOR}),
) -> AsyncGenerator[Message, None]:
    """An agent's missed messages without seq (production): by ``senders``, not seen.

    One listing, then one read per conversation whose last message is new (one listed
    without saying, as a contract server lists them, always is). Production announces
    visitor messages only (``new-message`` in ``hitl``), and none the autopilot answered:
    those are not replayed either. ``starting`` (no position): every listed conversation
    starts at its last message and nothing is yielded. Conversations no longer listed
    are forgotten.
    """
    conversations = await list_conversations()
    if starting:
        for conversation in conversations:
            if _lists_last_message(conversation):
                last = conversation.last_message
                ledger.start_at(conversation.id, epoch_ms(last.timestamp) if last else None)
                ledger.read_up_to(conversation.id, last.id if last else None)
            else:
                messages = await fetch(conversation.id)
                floor = max((epoch_ms(m.timestamp) for m in messages), default=None)
                ledger.start_at(conversation.id, floor)
        return
    for conversation in conversations:
        if not _needs_reading(ledger, conversation, senders):
            continue
        messages = _in_time_order(await fetch(conversation.id))
        skipped = _unannounced(messages)
        for message in messages:
            if (
                message.sender in senders
                and message.id not in skipped
                and ledger.verdict(message) == "new"
            ):
                yield message
        last = conversation.last_message
        ledger.read_up_to(conversation.id, last.id if last else None)
    ledger.forget_except(c.id for c in conversations)


async def replay_conversation_by_id(
    ledger: MessageLedger,
    conversation_id: str,
    fetch: FetchMessages,
    *,
    starting: bool,
    senders: frozenset[Sender] = frozenset({Sender.AGENT}),
) -> AsyncGenerator[Message, None]:
    """A customer's missed replies without seq: by ``senders``, not seen, in time order.

    ``starting`` (no position): the conversation starts at its last message.
    """
    messages = _in_time_order(await fetch(conversation_id))
    if starting:
        ledger.start_at(conversation_id, epoch_ms(messages[-1].timestamp) if messages else None)
        return
    for message in messages:
        if message.sender in senders and ledger.verdict(message) == "new":
            yield message
