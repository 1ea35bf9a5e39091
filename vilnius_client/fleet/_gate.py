"""The ownership gate: which of a replica's events reach its handlers.

Every replica of a fleet receives every event of the agents' room. The gate stands between
the client's recovery and its dispatcher (the recovery's `Sink`) and passes on only the
events of the conversations this replica owns. Per conversation it is in one of three
states:

* **owned** (the lease is ours and was renewed less than a TTL ago, by this process's
  clock): events go on to the dispatcher. A message is handed over once (`Book`); when its
  handlers ran, its conversation's position is stored in Redis (``mark``).
* **elsewhere** (another replica holds the lease, for as long as Redis said): events are
  dropped silently; a message is settled as handled for this replica's own resume position
  (it is not ours to answer) and *watched*: when the holder's lease would have ended, the
  gate looks again, and takes the conversation over if its position does not cover the
  message by then (the holder died).
* **pending** (nobody known, or a lease that lapsed): events wait, in order, in the
  conversation's queue while a task claims the lease. Taken, the conversation is first
  caught up from the position stored in Redis (what the last owner never handled, as
  replayed events; a waiting live event takes the place of its replayed twin), then the
  waiting events follow. Held elsewhere, they are dropped as above.

Events that name no conversation (agent lists, modes, the room's) pass as they are.

Nothing here talks to Redis or the server itself: it asks its `Coordination` (the fleet).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .._dispatch import GLOBAL_KEY, ROOM_KEY, Settle, conversation_key
from .._recovery import Sink
from ..errors import FleetError, QueueOverflowError, VilniusError
from ..events import Message
from ._book import Book, Position, just_before, position_of

__all__ = ["Claim", "ClaimKind", "Coordination", "Gate", "GateCounts"]

State = Literal["owned", "elsewhere", "pending"]
_Item = tuple[str, Any, "Settle | None"]


ClaimKind = Literal["taken", "ours", "elsewhere", "restarted", "deferred"]


@dataclass(frozen=True)
class Claim:
    """What a claim found.

    Attributes:
        kind: ``"taken"`` (the lease is ours now), ``"ours"`` (it was ours already),
            ``"elsewhere"`` (another replica holds it), ``"restarted"`` (not taken:
            Redis lost its data since the epoch the claim was made with), or
            ``"deferred"`` (not taken: a replica holding fewer leases may take it).
        position: The conversation's stored position (``None``: never handled).
        expires_in: Elsewhere: seconds the holder's lease still runs.
        epoch: Redis's epoch now.
    """

    kind: ClaimKind
    position: Position | None
    expires_in: float = 0.0
    epoch: str = ""


class Coordination(Protocol):
    """What the gate asks of its fleet."""

    lease_ttl: float
    margin: float
    retry_interval: float

    async def ready(self) -> None:
        """Return once a claim may be tried (Redis answers, the replica is healthy)."""
        ...

    async def claim(self, conversation_id: str) -> Claim:
        """Take a conversation's lease if free (raises `FleetError`)."""
        ...

    def failed(self, error: FleetError) -> None:
        """A Redis call failed."""
        ...

    def mark(self, conversation_id: str, position: Position) -> None:
        """Store a conversation's position (in the background)."""
        ...

    async def missed(self, conversation_id: str, after: Position) -> list[Message]:
        """The conversation's messages after ``after`` (raises `VilniusError`)."""
        ...

    def replayed(self, message: Message) -> Any:
        """A fetched message as the event it would have been."""
        ...

    def report(self, error: BaseException) -> None:
        """Tell the client's error listeners."""
        ...


class GateCounts:
    """What the gate did, counted since it started (read by the metrics).

    Attributes:
        taken_over: Claims of a conversation another replica had handled before.
        lost: Leases found held by another replica while this one thought them its own.
        passed_by: Messages dropped because another replica owns their conversation.
        caught_up: Messages a claim fetched and handed over (the previous owner's).
    """

    __slots__ = ("caught_up", "lost", "passed_by", "taken_over")

    def __init__(self) -> None:
        self.taken_over = 0
        self.lost = 0
        self.passed_by = 0
        self.caught_up = 0


class _Conversation:
    __slots__ = (
        "active",
        "book",
        "dropped",
        "held",
        "key",
        "passed",
        "releasing",
        "start",
        "state",
        "task",
        "timer",
        "until",
        "waiting",
        "watch",
    )

    def __init__(self, key: str) -> None:
        self.key = key
        self.state: State = "pending"
        self.until = 0.0  # owned: the lease is ours until; elsewhere: held there until
        self.held = False  # the lease is ours in Redis (as far as we know)
        self.book: Book | None = None
        self.waiting: collections.deque[_Item] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.watch: Message | None = None  # the furthest message passed by, unhandled
        self.passed: Position | None = None  # just before the first one passed by
        self.dropped: Position | None = None  # waiting messages dropped: find them again
        self.start: Position | None = None  # a catch-up is due from here
        self.active = 0.0
        self.releasing = False


class Gate:
    """Per-conversation ownership in front of a dispatcher (see the module docstring).

    Args:
        inner: Where the events of owned conversations go (the dispatcher).
        coordination: The fleet.
        event: The stream's event (``new-message``), for the replayed ones.
        waiting_limit: Events that may wait for one conversation's claim.
        logger: Where the gate logs.
    """

    def __init__(
        self,
        inner: Sink,
        coordination: Coordination,
        *,
        event: str,
        waiting_limit: int,
        logger: logging.Logger,
    ) -> None:
        self.inner = inner
        self._fleet = coordination
        self._event = event
        self._limit = waiting_limit
        self._logger = logger
        self._conversations: dict[str, _Conversation] = {}
        self._closed = False
        self.counts = GateCounts()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- in -----------------------------------------------------------------------

    def submit(self, event: str, model: Any, settle: Settle | None = None) -> None:
        """An event of the client: on, dropped, or waiting (see the module docstring)."""
        key = conversation_key(model)
        if key in (GLOBAL_KEY, ROOM_KEY):
            self.inner.submit(event, model, settle)
            return
        if self._closed:
            if settle is not None:
                settle(False)
            return
        conversation = self._conversations.get(key)
        if conversation is None:
            conversation = self._conversations[key] = _Conversation(key)
        now = self._now()
        conversation.active = now
        if conversation.state == "owned":
            if now < conversation.until:
                self._hand_on(conversation, event, model, settle, fetched=False)
                return
            conversation.state = "pending"  # not renewed in time: claim it again first
        elif conversation.state == "elsewhere":
            if now < conversation.until:
                self._pass_by(conversation, model, settle)
                return
            conversation.state = "pending"
        self._wait(conversation, (event, model, settle))

    def _hand_on(
        self,
        conversation: _Conversation,
        event: str,
        model: Any,
        settle: Settle | None,
        *,
        fetched: bool,
    ) -> None:
        book = conversation.book
        if book is None or (settle is None and not fetched):
            self.inner.submit(event, model, settle)  # not a message of the stream
            return
        message: Message = model.message
        if book.seen(message):
            if settle is not None:
                settle(True)
            return
        book.admit(message)
        self.inner.submit(event, model, self._settler(conversation, book, message, settle))

    def _settler(
        self, conversation: _Conversation, book: Book, message: Message, settle: Settle | None
    ) -> Settle:
        key = conversation.key

        def settled(handled: bool) -> None:
            if settle is not None:
                settle(handled)
            position = book.settle(message, handled)
            if position is not None:
                self._fleet.mark(key, position)
            if not handled and settle is None and book is conversation.book and not self._closed:
                self._fetch_again(conversation)  # a replayed one: nobody else finds it again

        return settled

    def _pass_by(self, conversation: _Conversation, model: Any, settle: Settle | None) -> None:
        if settle is None:
            return  # another replica's typing, status, ...
        self.counts.passed_by += 1
        self._watch(conversation, model.message)
        settle(True)

    def _watch(self, conversation: _Conversation, message: Message) -> None:
        watch = conversation.watch
        if watch is None or position_of(message) >= position_of(watch):
            conversation.watch = message
        conversation.passed = just_before(message).lesser(conversation.passed)
        if conversation.timer is None and conversation.state == "elsewhere":
            loop = asyncio.get_running_loop()
            conversation.timer = loop.call_at(conversation.until, self._recheck, conversation)

    def _recheck(self, conversation: _Conversation) -> None:
        """The holder's lease would have ended: look again (take over if it did)."""
        conversation.timer = None
        if self._closed or conversation.state != "elsewhere" or conversation.watch is None:
            return
        conversation.state = "pending"
        self._start(conversation)

    def _wait(self, conversation: _Conversation, item: _Item) -> None:
        if len(conversation.waiting) >= self._limit:
            event, model, settle = conversation.waiting.popleft()
            if settle is not None:
                # Found again after the claim: by the catch-up from before it (or watched).
                message: Message = model.message
                before = just_before(message)
                dropped = conversation.dropped
                conversation.dropped = before if dropped is None else dropped.lesser(before)
                if conversation.watch is None:
                    conversation.watch = message
                settle(True)
            self._fleet.report(
                QueueOverflowError(
                    f"dropped a {event} event: {self._limit} events already wait for the "
                    f"claim of conversation {conversation.key!r} (a message is fetched again "
                    "once the conversation is claimed)",
                    event=event,
                    payload=model,
                    key=conversation.key,
                    maxsize=self._limit,
                )
            )
        conversation.waiting.append(item)
        if conversation.task is None and not conversation.releasing:
            self._start(conversation)

    def _start(self, conversation: _Conversation) -> None:
        if conversation.task is not None:
            return
        conversation.task = asyncio.get_running_loop().create_task(
            self._take(conversation), name=f"vilnius-fleet-claim[{conversation.key}]"
        )

    # -- claiming -------------------------------------------------------------------

    async def _take(self, conversation: _Conversation) -> None:
        """Claim the lease (unless it is ours), catch up if due, then let events pass."""
        try:
            while not self._closed:
                if not (conversation.held and self._now() < conversation.until):
                    started, claim = await self._claim(conversation)
                    if claim.kind == "elsewhere":
                        self._yield(conversation, claim)
                        return
                    self._own(conversation, claim, started)
                start, conversation.start = conversation.start, None
                fetched: list[Message] = []
                if start is not None:
                    try:
                        fetched = await self._fleet.missed(conversation.key, start)
                    except VilniusError as exc:
                        self._fleet.report(exc)
                        if exc.temporary:
                            conversation.start = start.lesser(conversation.start)
                            await asyncio.sleep(self._fleet.retry_interval)
                            continue
                    if not (conversation.held and self._now() < conversation.until):
                        conversation.start = start.lesser(conversation.start)
                        continue  # the lease lapsed meanwhile: claim it again first
                self._open(conversation, fetched)
                if conversation.start is None:
                    return
                conversation.state = "pending"  # a replayed message was dropped: again
        finally:
            if conversation.task is asyncio.current_task():
                conversation.task = None

    async def _claim(self, conversation: _Conversation) -> tuple[float, Claim]:
        while True:
            await self._fleet.ready()
            started = self._now()
            try:
                return started, await self._fleet.claim(conversation.key)
            except FleetError as exc:
                self._fleet.failed(exc)

    def _own(self, conversation: _Conversation, claim: Claim, started: float) -> None:
        conversation.held = True
        conversation.until = started + self._fleet.lease_ttl - self._fleet.margin
        book = conversation.book
        if claim.kind == "taken" or book is None:
            if claim.position is not None:
                self.counts.taken_over += 1
            conversation.book = Book(claim.position)
            # From what the last owner handled; without a position (none was stored: it
            # died before its first mark), from the first message passed by here.
            start = claim.position if claim.position is not None else conversation.passed
        else:
            book.lift(claim.position)  # ours all along: nothing to catch up
            start = None
        dropped, conversation.dropped = conversation.dropped, None
        for due in (start, dropped):
            if due is not None:
                conversation.start = due.lesser(conversation.start)
        if claim.kind == "taken":
            self._logger.debug("claimed conversation %s (from %s)", conversation.key, start)

    def _yield(self, conversation: _Conversation, claim: Claim) -> None:
        """Another replica holds the lease: drop what waited, watch what it must answer."""
        if conversation.held:
            self.counts.lost += 1
        conversation.held = False
        conversation.book = None
        conversation.start = conversation.dropped = None
        conversation.state = "elsewhere"
        conversation.until = self._now() + max(claim.expires_in, 0.001)
        watch = conversation.watch
        if watch is not None and claim.position is not None and claim.position.covers(watch):
            conversation.watch = conversation.passed = None  # answered there
        waiting, conversation.waiting = conversation.waiting, collections.deque()
        for _, model, settle in waiting:
            self._pass_by(conversation, model, settle)
        if conversation.watch is not None:
            self._watch(conversation, conversation.watch)

    def _open(self, conversation: _Conversation, fetched: list[Message]) -> None:
        """Owned now: hand over what was fetched, then what waited, in order."""
        waiting, conversation.waiting = conversation.waiting, collections.deque()
        conversation.state = "owned"
        conversation.watch = conversation.passed = None
        twins = {
            item[1].message.id: index for index, item in enumerate(waiting) if item[2] is not None
        }
        used: set[int] = set()
        for message in fetched:
            index = twins.get(message.id)
            if index is None:
                self.counts.caught_up += 1
                replayed = self._fleet.replayed(message)
                self._hand_on(conversation, self._event, replayed, None, fetched=True)
            else:
                used.add(index)
                event, model, settle = waiting[index]
                self._hand_on(conversation, event, model, settle, fetched=False)
        for index, (event, model, settle) in enumerate(waiting):
            if index not in used:
                self._hand_on(conversation, event, model, settle, fetched=False)

    def _fetch_again(self, conversation: _Conversation) -> None:
        book = conversation.book
        if book is None:
            return
        position = book.position
        if position is None:  # pragma: no cover - a replayed message implies a position
            return
        conversation.start = position.lesser(conversation.start)
        if conversation.task is None and not conversation.releasing:
            conversation.state = "pending"
            self._start(conversation)

    # -- what the fleet asks ----------------------------------------------------------

    def held(self) -> list[str]:
        """The conversations whose lease is ours and still valid here (to renew); those
        that lapsed (not renewed in time: Redis away, the replica not healthy) are let go:
        the next event claims them again."""
        now = self._now()
        renew = []
        for conversation in self._conversations.values():
            if not conversation.held:
                continue
            if now < conversation.until:
                renew.append(conversation.key)
            else:
                conversation.held = False
                self.counts.lost += 1
        return renew

    def renewed(self, results: dict[str, int], started: float) -> None:
        """The answer of a renewal sent at ``started``: per conversation 1/2 kept, 0 lost."""
        until = started + self._fleet.lease_ttl - self._fleet.margin
        for key, result in results.items():
            conversation = self._conversations.get(key)
            if conversation is None or not conversation.held:
                continue
            if result:
                conversation.until = max(conversation.until, until)
            else:
                self._logger.warning("lost the lease of conversation %s to another replica", key)
                self._yield(conversation, Claim("elsewhere", None, self._fleet.lease_ttl))

    def freed(self, keys: list[str]) -> None:
        """Another replica gave these conversations away: claim at once what is watched."""
        for key in keys:
            conversation = self._conversations.get(key)
            if conversation is None or conversation.state != "elsewhere":
                continue
            conversation.until = self._now()
            if conversation.timer is not None:
                conversation.timer.cancel()
                conversation.timer = None
            if conversation.watch is not None:
                self._recheck(conversation)

    def idle(self, since: float) -> list[str]:
        """Owned conversations without an event since ``since`` and nothing in flight:
        they stop taking events until `released` (the fleet gives their leases away)."""
        found = []
        for conversation in self._conversations.values():
            book = conversation.book
            if (
                conversation.state == "owned"
                and conversation.held
                and conversation.active < since
                and conversation.task is None
                and book is not None
                and book.idle
            ):
                conversation.state = "pending"
                conversation.releasing = True
                found.append(conversation.key)
        return found

    def released(self, keys: list[str]) -> None:
        """The leases of these conversations were given away (`idle`)."""
        for key in keys:
            conversation = self._conversations.get(key)
            if conversation is None:
                continue
            conversation.releasing = False
            conversation.held = False
            conversation.book = None
            if conversation.waiting:
                self._start(conversation)
            else:
                del self._conversations[key]

    def sweep(self, before: float) -> None:
        """Forget conversations held elsewhere until before ``before``, with nothing watched."""
        for key in [
            c.key
            for c in self._conversations.values()
            if c.state == "elsewhere" and c.watch is None and c.until < before and c.timer is None
        ]:
            del self._conversations[key]

    def reads(self, conversation_id: str, *, leading: bool) -> bool:
        """Whether this replica reads a listed conversation to catch up: its own, and on
        the leader those that nobody is known to own."""
        conversation = self._conversations.get(conversation_id)
        if conversation is not None and conversation.held:
            return True
        if not leading:
            return False
        return not (
            conversation is not None
            and conversation.state == "elsewhere"
            and self._now() < conversation.until
        )

    # Read by metric readers too, which may run in a thread of their own: a snapshot of
    # the table (one C-level copy) and no event loop.

    @property
    def holding(self) -> int:
        """How many conversations' leases are ours."""
        return sum(1 for c in list(self._conversations.values()) if c.held)

    @property
    def waiting(self) -> int:
        """How many events wait for a claim."""
        return sum(len(c.waiting) for c in list(self._conversations.values()))

    def holds(self) -> list[str]:
        """Every conversation whose lease is ours (to give away when stopping)."""
        return [c.key for c in self._conversations.values() if c.held]

    def positions(self) -> dict[str, Position]:
        """What this replica handled, per conversation it keeps a book of (to store again
        when Redis lost its data)."""
        found = {}
        for conversation in self._conversations.values():
            position = conversation.book.position if conversation.book is not None else None
            if position is not None:
                found[conversation.key] = position
        return found

    def let_go(self) -> None:
        """Every lease was given away (the replica stops)."""
        for conversation in self._conversations.values():
            conversation.held = False

    def state_of(self, conversation_id: str) -> State | None:
        """The gate's state of a conversation (``None``: never met, or forgotten)."""
        conversation = self._conversations.get(conversation_id)
        return conversation.state if conversation is not None else None

    def stop(self) -> None:
        """Take no more events: claims and timers stop, what waited is dropped untaken."""
        if self._closed:
            return
        self._closed = True
        for conversation in self._conversations.values():
            if conversation.task is not None:
                conversation.task.cancel()
            if conversation.timer is not None:
                conversation.timer.cancel()
                conversation.timer = None
            waiting, conversation.waiting = conversation.waiting, collections.deque()
            for _, _, settle in waiting:
                if settle is not None:
                    settle(False)

    async def wait_stopped(self) -> None:
        """Wait for the claim tasks that `stop` cancelled."""
        tasks = [c.task for c in self._conversations.values() if c.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
