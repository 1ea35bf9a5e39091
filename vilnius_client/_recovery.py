"""Nothing lost, nothing doubled: the one recovery component of both clients.

Socket.IO delivers at most once. A `Recovery` makes a client's stream of
messages (an agent's ``new-message``, a customer's ``agent-message``) arrive
exactly once anyway:

* live events go through its filter: a message already handed over is
  dropped; one whose seq jumps far ahead is held until a catch-up checked it;
* after every reconnect, before live events resume, the messages missed are
  fetched over REST and handed to the same handlers as replayed events
  (``replayed=True``), in order; so are they while the socket stays down and
  the client polls (`vilnius_client._fallback`);
* the position to resume from after a restart never covers a message still
  queued behind a slow handler (`InFlight`).

How messages are tracked and found depends on what the server offers, so it
is a *path* the client picks once it knows (`RecoveryPath`): by seq
(`vilnius_client._recovery_by_seq.SeqRecovery`) or by message id
(`vilnius_client._recovery_by_id`). The rest is here, once for both clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Generic, Literal, Protocol, TypeVar

from ._fallback import PollingFallback
from ._recovery_by_seq import seq_jump_error
from .errors import QueueOverflowError, TransportError, VilniusError
from .events import Event, Message
from .manager import ModernWebSocketManager

__all__ = ["DEFAULT_HELD", "InFlight", "JumpGuard", "Recovery", "RecoveryPath", "Verdict"]

DEFAULT_HELD = 1_000
"""Live messages with a jumping seq held at most while a catch-up checks them."""

Verdict = Literal["new", "seen", "jump"]
"""What a path says of a live message: hand it over, drop it, or check it first."""


class RecoveryPath(Protocol):
    """How a client tracks what it handed over, and finds what it missed."""

    def admit(self, message: Message) -> Verdict:
        """A live message: ``new`` (recorded: hand it over), ``seen``, or a ``jump`` to check."""
        ...

    def missed(self) -> AsyncGenerator[Message, None]:
        """The messages missed since the last call, in order (recorded as yielded)."""
        ...

    def key(self, message: Message) -> int | None:
        """A message's position (its seq, or its server timestamp in ms)."""
        ...

    @property
    def position(self) -> int | None:
        """The position of the newest message handed over."""
        ...


class _CarriesMessage(Protocol):
    @property
    def message(self) -> Message: ...


E = TypeVar("E", bound=_CarriesMessage)


class InFlight:
    """Positions accepted for delivery whose handlers have not been called yet.

    A client accepts a message (`SeqTracker.accept`) when it queues it
    for its handlers; handlers of different conversations run independently,
    so a message may wait behind a slow handler while later seqs are handled.
    The position a restarted client may safely resume from is therefore the
    highest accepted seq *below the lowest one still waiting*
    (`resume_position`). Messages whose handlers were called count as
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

    `hold` keeps the live event and starts one catch-up (in a task) if
    none is running. The catch-up asks `take` for every message the
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

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [*self._overflow, *([self._task] if self._task is not None else [])]

    async def drain(self) -> None:
        """Wait until nothing is held and no catch-up or settling runs."""
        while tasks := self._tasks():
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop a catch-up under way and forget what is held; idempotent."""
        tasks = self._tasks()
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


class Recovery(Generic[E]):
    """Exactly-once delivery of one client's messages (see the module docstring).

    Created with the client, before the user's handlers are registered, so
    that its own handler runs just before theirs for every message.

    Args:
        manager: The client's manager: events are filtered and delivered, and
            errors reported, through it.
        event: The event of the stream (``new-message``, ``agent-message``).
        replayed: The event a recovered message is handed over as.
        applies: Which live events of ``event`` belong to the stream (others
            pass untouched).
        fallback_after: Seconds the socket may stay down before polling.
        poll_interval: Seconds between two polls.
    """

    def __init__(
        self,
        manager: ModernWebSocketManager,
        event: Event,
        *,
        replayed: Callable[[Message], E],
        applies: Callable[[E], bool],
        fallback_after: float | None,
        poll_interval: float,
    ) -> None:
        self._manager = manager
        self._event = event
        self._replayed = replayed
        self._applies = applies
        self.path: RecoveryPath | None = None
        self._in_flight = InFlight()
        self._lock = asyncio.Lock()
        self._jumps = JumpGuard(self.replay, self._settle)
        self._fallback = PollingFallback(
            manager, self.replay, fallback_after=fallback_after, poll_interval=poll_interval
        )
        manager.on(event, self._handing_over)
        manager.on_error(self._dropped)
        manager.add_session_step(self._catch_up)
        manager.add_filter(self._is_new)
        manager.on_connection_change(self._fallback.on_change)

    def resume(self, position: int | None) -> int | None:
        """``position`` capped below the messages still waiting for their handlers."""
        return self._in_flight.resume_position(position)

    async def replay(self) -> None:
        """Hand over every message missed, as replayed events (one catch-up at a time).

        A message held as a jump is handed over as the live event it was.
        """
        path = self.path
        if path is None:
            return
        async with self._lock, contextlib.aclosing(path.missed()) as missed:
            async for message in missed:
                self._in_flight.add(path.key(message))
                event = self._jumps.take(message.id) or self._replayed(message)
                await self._manager.deliver(self._event, event)

    async def hand_over(self, message: Message) -> None:
        """Hand over a message that came another way (a REST answer) as a replayed event."""
        if self.path is not None:
            self._in_flight.add(self.path.key(message))
        await self._manager.deliver(self._event, self._replayed(message))

    async def aclose(self) -> None:
        """Stop polling and any catch-up under way; idempotent."""
        await self._fallback.stop()
        await self._jumps.aclose()

    async def _catch_up(self) -> None:
        """Session step: the socket is back, so stop polling and catch up."""
        await self._fallback.stop()
        try:
            await self.replay()
        except VilniusError as exc:
            if exc.temporary and not isinstance(exc, TransportError):
                # Only a TransportError makes the manager retry the connection
                # (and so the catch-up): a 503 must not skip the missed messages.
                raise TransportError(f"catch-up failed: {exc}") from exc
            raise

    def _ours(self, event: Event | str, model: Any) -> E | None:
        if event != self._event or self.path is None or not hasattr(model, "message"):
            return None
        return model if self._applies(model) else None

    def _is_new(self, event: Event | str, model: Any) -> bool:
        ours = self._ours(event, model)
        if ours is None:
            return True
        assert self.path is not None
        message = ours.message
        verdict = self.path.admit(message)
        if verdict == "jump":
            self._jumps.hold(message.id, ours)  # a gap: catch up first
            return False
        if verdict == "new":
            self._in_flight.add(self.path.key(message))
            return True
        return False

    async def _settle(self, event: E, failure: BaseException | None) -> None:
        """A held live message the catch-up did not return: deliver it, or drop and report."""
        path = self.path
        if path is None:
            return
        verdict = path.admit(event.message)
        if verdict == "new":
            self._in_flight.add(path.key(event.message))
            await self._manager.deliver(self._event, event)
        elif verdict == "jump":
            error = seq_jump_error(self._event.value, event, path.position, failure)
            self._manager.report_error(error)

    def _handing_over(self, model: Any) -> None:
        self._done(self._event, model)

    def _dropped(self, exc: BaseException) -> None:
        # A queued message that was dropped will not be handed over: it must
        # not hold the resume position back.
        if isinstance(exc, QueueOverflowError):
            self._done(exc.event, exc.payload)

    def _done(self, event: Event | str, model: Any) -> None:
        """A queued message left the queue: it no longer holds the resume position back."""
        ours = self._ours(event, model)
        if ours is not None:
            assert self.path is not None
            self._in_flight.done(self.path.key(ours.message))
