"""Ordered, isolated delivery of events to handlers, waiters and streams.

Ordering and isolation:

* Each event has a *key*: its ``conversation_id`` when it has one, else a
  single global key. Events of one key reach handlers in the order they were
  submitted (the server's order); a key whose handler awaits gets a worker
  task of its own, so a slow handler holds up only later events of its own
  conversation.
* A key's handlers run one after another for each event, in registration
  order. A handler that raises is reported through ``on_error`` and the other
  handlers still run.
* A handler that *blocks* (``time.sleep``, CPU work, blocking I/O) blocks the
  whole event loop, heartbeats included; run such work in
  ``asyncio.to_thread``. An ``async`` handler that awaits for long delays only
  its own conversation's later events.
* Waiters and streams (`vilnius_client._watchers`) see events when they are
  submitted, in order, without waiting behind handlers.

Bounded queues: at most ``maxsize`` events (default
`DEFAULT_QUEUE_MAXSIZE`) wait for the handlers of one key, so a handler
that hangs cannot make its conversation's events pile up without bound. When
an event arrives at a full queue, one event is dropped, by the ``overflow``
policy: ``"drop-oldest"`` (the default, as streams do: the handlers see the
newest events once they move again) drops the oldest waiting event,
``"drop-newest"`` the arriving one. Every dropped event is reported to
``on_error`` as a `QueueOverflowError` carrying it.
Events received in one burst count too: the bound is on what waits, whatever
the reason. Waiters and streams are not affected (streams have their own bound).

Sync handlers are called from one loop callback for all keys (no task per
event); a key gets a worker task only while it has a handler to await, and
only while it has queued events, so a process that sees thousands of
conversations does not keep thousands of tasks.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from ._watchers import EventStream, Watchers
from .errors import QueueOverflowError
from .events import AgentMessageEvent, AgentTypingStatusEvent

__all__ = [
    "DEFAULT_QUEUE_MAXSIZE",
    "GLOBAL_KEY",
    "ROOM_KEY",
    "Dispatcher",
    "Handler",
    "Overflow",
    "conversation_key",
]

T = TypeVar("T")
Handler = Callable[[Any], Awaitable[Any] | Any]
"""A handler: called with one argument (the event's model); may be async."""
ErrorReporter = Callable[[BaseException], None]

DEFAULT_QUEUE_MAXSIZE = 10_000
"""Events that may wait for the handlers of one key (conversation) by default."""

Overflow = Literal["drop-oldest", "drop-newest"]
"""Which event a full queue drops: the oldest waiting, or the one arriving."""

GLOBAL_KEY = ""
"""The ordering key of events that belong to no single conversation."""


ROOM_KEY = "\x00room"
"""The ordering key of conversation-room events (``agent-message``, ``agent-typing-status``).

``agent-typing-status`` does not name its conversation, so both room events
share one lane: a reply never overtakes the typing indicator sent before it.
"""

_ROOM_EVENTS = (AgentMessageEvent, AgentTypingStatusEvent)


def conversation_key(model: Any) -> str:
    """The ordering key of an event: its conversation id, or `GLOBAL_KEY`.

    Room events all share `ROOM_KEY`.
    """
    if isinstance(model, _ROOM_EVENTS):
        return ROOM_KEY
    if isinstance(model, dict):  # an event the SDK has no model for
        key = model.get("conversationId", model.get("conversation_id"))
    else:
        key = getattr(model, "conversation_id", None)
    return key if isinstance(key, str) and key else GLOBAL_KEY


class Dispatcher:
    """Handler registry plus ordered, per-conversation delivery.

    Events of a key wait in that key's queue. Plain (sync) handlers are
    called from one loop callback that serves every key with queued events,
    so a stream of events costs no task per event. As soon as a key meets a
    handler that has to be awaited (an ``async def`` handler, or a handler
    returning an awaitable), the key gets its own worker task, which awaits
    it and works through that key's queue; the key is handed back when its
    queue is empty. Other keys are never held up by it.

    Args:
        on_error: Receives every exception a handler, predicate or listener raised.
        logger: For what cannot be reported elsewhere.
    """

    def __init__(
        self,
        on_error: ErrorReporter,
        logger: logging.Logger,
        *,
        maxsize: int = DEFAULT_QUEUE_MAXSIZE,
        overflow: Overflow = "drop-oldest",
    ) -> None:
        if maxsize < 1:
            raise ValueError("queue_maxsize must be at least 1")
        if overflow not in ("drop-oldest", "drop-newest"):
            raise ValueError(
                f"queue_overflow must be 'drop-oldest' or 'drop-newest', not {overflow!r}"
            )
        self.maxsize = maxsize
        self.overflow = overflow
        self._on_error = on_error
        self._logger = logger
        # event -> ((handler, is a coroutine function), ...), in registration order;
        # replaced, never changed in place, so delivery iterates it without a copy
        self._handlers: dict[str, tuple[tuple[Handler, bool], ...]] = {}
        # keys with events queued or being handled
        self._queues: dict[str, collections.deque[tuple[str, Any]]] = {}
        # keys whose handlers are awaited in a task of their own
        self._workers: dict[str, asyncio.Task[None]] = {}
        # keys waiting for the pump (an ordered set)
        self._pending: dict[str, None] = {}
        self._pump_handle: asyncio.Handle | None = None
        self._watchers = Watchers()
        self._closed = False

    # -- registry -----------------------------------------------------------

    def add(self, event: str, handler: Handler) -> None:
        """Register ``handler`` for ``event`` (a handler added twice runs twice)."""
        entry = (handler, inspect.iscoroutinefunction(handler))
        self._handlers[event] = (*self._handlers.get(event, ()), entry)

    def remove(self, event: str, handler: Handler) -> None:
        """Unregister one registration of ``handler``; unknown handlers are ignored."""
        entries = self._handlers.get(event, ())
        for i, (known, _) in enumerate(entries):
            if known == handler:
                self._handlers[event] = entries[:i] + entries[i + 1 :]
                return

    def wants(self, event: str) -> bool:
        """Whether ``event`` has a handler, a waiter or a stream."""
        return bool(self._handlers.get(event)) or self._watchers.wants(event)

    # -- delivery -----------------------------------------------------------

    def submit(self, event: str, model: Any) -> None:
        """Queue ``model`` for the handlers of ``event`` and feed waiters and streams.

        Returns at once; handlers run soon after, in the key's order.
        """
        if self._closed:
            return
        self._watchers.feed(event, model)
        if not self._handlers.get(event):
            return
        key = conversation_key(model)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = collections.deque()
        queue.append((event, model))
        if len(queue) > self.maxsize:
            self._drop(key, queue)
        if key not in self._workers and key not in self._pending:
            self._pending[key] = None
            if self._pump_handle is None:
                self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)

    def _drop(self, key: str, queue: collections.deque[tuple[str, Any]]) -> None:
        event, model = queue.popleft() if self.overflow == "drop-oldest" else queue.pop()
        self.report(
            QueueOverflowError(
                f"dropped a {event} event: {self.maxsize} events already wait for the "
                f"handlers of {'conversation ' + repr(key) if key else 'events without one'} "
                f"({self.overflow})",
                event=event,
                payload=model,
                key=key,
                maxsize=self.maxsize,
            )
        )

    def queued(self, key: str) -> int:
        """How many events wait for the handlers of ``key`` (not counting one being handled)."""
        queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    @property
    def busy_keys(self) -> int:
        """How many keys have events queued or running (for tests and metrics)."""
        return len(self._queues)

    async def drain(self) -> None:
        """Wait until every queued event has been handled."""
        me = asyncio.current_task()
        while True:
            if self._pump_handle is not None:
                await asyncio.sleep(0)  # the pump was scheduled first: it runs now
                continue
            others = [task for task in self._workers.values() if task is not me]
            if not others:
                return
            await asyncio.gather(*others, return_exceptions=True)

    def _pump(self) -> None:
        """Loop callback: call the sync handlers of every pending key's events."""
        self._pump_handle = None
        pending = self._pending
        while pending and not self._closed:
            key = next(iter(pending))
            del pending[key]
            self._run_key(key)

    def _run_key(self, key: str) -> None:
        queue = self._queues.get(key)
        if queue is None or key in self._workers:
            return
        while queue:
            event, model = queue.popleft()
            entries = self._handlers.get(event, ())
            for i, (handler, is_async) in enumerate(entries):
                if is_async:
                    self._start_worker(key, queue, model, entries[i:], None)
                    return
                try:
                    result = handler(model)
                except Exception as exc:
                    self.report(exc)
                    continue
                if result is not None and inspect.isawaitable(result):
                    self._start_worker(key, queue, model, entries[i + 1 :], result)
                    return
                if self._closed:
                    return
        del self._queues[key]

    def _start_worker(
        self,
        key: str,
        queue: collections.deque[tuple[str, Any]],
        model: Any,
        rest: tuple[tuple[Handler, bool], ...],
        started: Awaitable[Any] | None,
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._work(key, queue, model, rest, started),
            name=f"vilnius-dispatch[{key or 'global'}]",
        )
        if inspect.iscoroutine(started):
            # Cancelled before its first step, the task would never await it.
            coro = started
            task.add_done_callback(lambda _: coro.close())
        self._workers[key] = task

    async def _work(
        self,
        key: str,
        queue: collections.deque[tuple[str, Any]],
        model: Any,
        rest: tuple[tuple[Handler, bool], ...],
        started: Awaitable[Any] | None,
    ) -> None:
        try:
            if started is not None:
                await self._settle(started)
            for handler, _ in rest:
                await self.call(handler, model)
            while queue:
                event, model = queue.popleft()
                for handler, _ in self._handlers.get(event, ()):
                    await self.call(handler, model)
        finally:
            # No await between the empty check and the removal: submit() sees
            # either a live worker or none.
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if not queue:
                    self._queues.pop(key, None)

    async def _settle(self, awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report(exc)

    async def call(self, fn: Callable[[Any], Any], arg: Any) -> None:
        """Call a sync or async callable; report what it raises."""
        try:
            result = fn(arg)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.report(exc)

    def report(self, exc: BaseException) -> None:
        """Hand ``exc`` to the error reporter, never raising."""
        try:
            self._on_error(exc)
        except Exception:
            self._logger.exception("error reporter failed")

    # -- waiters and streams --------------------------------------------------

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] | None, within: float | None
    ) -> Any:
        """Wait for the next ``event`` whose model satisfies ``predicate`` (see `Watchers`)."""
        return await self._watchers.wait_for(event, predicate, within)

    def stream(self, event: str, maxsize: int) -> EventStream[Any]:
        """Open a stream of ``event`` models (see `EventStream`)."""
        return self._watchers.stream(event, maxsize)

    # -- shutdown -----------------------------------------------------------

    async def aclose(self) -> None:
        """Stop every worker, fail every waiter, end every stream; idempotent."""
        self._closed = True
        self._watchers.close()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._pending.clear()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
