"""Events in, dispatched, watched: one path from a server's frame to the user's code.

`Dispatcher.parse` turns a frame into its model (`vilnius_client.events`); a payload that
does not fit is reported as `InvalidEventError` and goes no further. `Dispatcher.submit`
hands a model to whoever consumes its event: the handlers (``on``), the waiters
(``wait_for``) and the streams (``stream``).

**Nothing is handed to nobody.** An event that arrives before any handler, waiter or
stream of its type exists is *held* and handed over when the first one is registered, so
that registering inside ``async with`` is as safe as registering before connecting. A
*durable* event (a message with a resume position: it comes with a ``settle`` callback)
is held up to ``maxsize`` per type, and past that the oldest is dropped and reported; of
the others (typing, agent lists, modes, acks: state, not history) the newest
`TRANSIENT_HELD` per type are kept, older ones dropped silently.

**Settling.** ``settle(handled)`` is called once per durable event: ``True`` when user
code took it (all its handlers ran, a waiter looked at it, or a stream yielded it),
``False`` when it was dropped untaken (a full queue or stream, a stream closed unread, the
client closed). `vilnius_client._recovery` moves the resume position on it alone.

**Order and isolation.** Each event has a *key*: its ``conversation_id``, or one global
key (room events share `ROOM_KEY`: ``agent-typing-status`` names no conversation, and a
reply must not overtake the typing indicator sent before it). A key's handlers run one
after another, in registration order, for each event in arrival order; a handler that
awaits holds up only its own key. Plain (sync) handlers are called from one loop callback
for every key (no task per event); a key gets a worker task only while it has an async
handler to await. A handler that raises is reported and the others still run. A handler
that *blocks* (``time.sleep``, CPU work) blocks the whole event loop: use
``asyncio.to_thread``. Waiters and streams see events at once, never behind a handler.

**Bounds.** At most ``maxsize`` events wait for one key's handlers; past that one is
dropped by the ``overflow`` policy (``"drop-oldest"``, the default, or ``"drop-newest"``)
and reported as `QueueOverflowError`. A stream holds ``maxsize`` of its own and drops its
oldest (counted in ``dropped``). `has_room` and `room` let a producer that can wait (the
catch-up) wait instead of overflowing.
"""

from __future__ import annotations

import asyncio
import collections
import difflib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Literal, TypeVar

import pydantic

from .errors import InvalidEventError, QueueOverflowError, ReplyTimeoutError, StateError
from .events import SERVER_EVENT_MODELS, AgentMessageEvent, AgentTypingStatusEvent, Event

__all__ = [
    "DEFAULT_QUEUE_MAXSIZE",
    "GLOBAL_KEY",
    "ROOM_KEY",
    "TRANSIENT_HELD",
    "Dispatcher",
    "EventStream",
    "Handler",
    "Overflow",
    "Settle",
    "conversation_key",
    "server_event",
]

T = TypeVar("T")
Handler = Callable[[Any], Awaitable[Any] | Any]
"""A handler: called with one argument (the event's model); may be async."""
Settle = Callable[[bool], None]
"""Called once per durable event: ``True`` handled by user code, ``False`` dropped untaken."""

DEFAULT_QUEUE_MAXSIZE = 10_000
"""Events that may wait for the handlers of one key (conversation) by default."""

TRANSIENT_HELD = 100
"""Events without a resume position held per type until a consumer exists (the newest)."""

Overflow = Literal["drop-oldest", "drop-newest"]
"""Which event a full queue drops: the oldest waiting, or the one arriving."""

GLOBAL_KEY = ""
"""The ordering key of events that belong to no single conversation."""

ROOM_KEY = "\x00room"
"""The ordering key of conversation-room events (``agent-message``, ``agent-typing-status``)."""

#: Compared by exact type: `isinstance` on a pydantic model class goes through
#: ``ABCMeta.__instancecheck__``, a measurable cost per received event.
_ROOM_EVENTS: frozenset[type] = frozenset((AgentMessageEvent, AgentTypingStatusEvent))

#: Wire name -> (event, model) of every server -> client event.
_SERVER_EVENTS = {event.value: (event, model) for event, model in SERVER_EVENT_MODELS.items()}


def conversation_key(model: Any) -> str:
    """The ordering key of an event: its conversation id, `ROOM_KEY`, or `GLOBAL_KEY`."""
    if type(model) in _ROOM_EVENTS:
        return ROOM_KEY
    if isinstance(model, dict):  # an event the SDK has no model for
        key = model.get("conversationId", model.get("conversation_id"))
    else:
        key = getattr(model, "conversation_id", None)
    return key if isinstance(key, str) and key else GLOBAL_KEY


def server_event(event: Event | str) -> Event | str:
    """``event`` as a name that can be subscribed to: an `Event`, or an unknown name as is.

    Raises:
        ValueError: A client -> server event, or not a name.
    """
    try:
        name = Event(event)
    except ValueError:
        if not isinstance(event, str) or not event:
            raise ValueError(f"not an event name: {event!r}") from None
        return event
    if name not in SERVER_EVENT_MODELS:
        raise ValueError(f"{name} is not a server -> client event")
    return name


class _Receipt:
    """Counts the consumers a durable event went to; settles it when the last is done."""

    __slots__ = ("settle", "taken", "waiting")

    def __init__(self, settle: Settle, waiting: int, taken: bool) -> None:
        self.settle = settle
        self.waiting = waiting
        self.taken = taken

    def done(self, taken: bool) -> None:
        self.taken = self.taken or taken
        self.waiting -= 1
        if self.waiting == 0:
            self.settle(self.taken)


class EventStream(Generic[T]):
    """An async iterator over one event's models, with a bounded buffer.

    Made by ``stream()`` on a client or the manager. Use it as an async context manager,
    or iterate and call [`aclose`][] yourself:

    ```python
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        async for event in messages:
            ...
    ```

    When the buffer is full the *oldest* event is dropped (and counted in ``dropped``),
    so that a stalled consumer cannot exhaust memory. A message dropped so, or left
    unread when the stream closes, does not count as handled: the resume position stays
    below it. The iteration ends when the stream or its client is closed.

    Attributes:
        name: The event's wire name.
        maxsize: The buffer's bound.
        dropped: How many events were dropped from a full buffer.
    """

    def __init__(self, name: str, maxsize: int, on_close: Callable[[EventStream[T]], None]) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0
        self._items: collections.deque[tuple[T, _Receipt | None]] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._on_close = on_close
        self._on_take: Callable[[], None] = _nothing

    def _put(self, item: T, receipt: _Receipt | None) -> None:
        if self._closed:
            if receipt is not None:
                receipt.done(False)
            return
        if len(self._items) >= self.maxsize:
            _, lost = self._items.popleft()
            self.dropped += 1
            if lost is not None:
                lost.done(False)
        self._items.append((item, receipt))
        self._ready.set()

    @property
    def full(self) -> bool:
        """Whether the next event would drop one."""
        return len(self._items) >= self.maxsize

    def close(self) -> None:
        """End the iteration; events not read yet are dropped."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        for _, receipt in self._items:
            if receipt is not None:
                receipt.done(False)
        self._items.clear()
        self._on_close(self)

    async def aclose(self) -> None:
        """Close the stream (async form, for ``contextlib.aclosing``)."""
        self.close()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        item, receipt = self._items.popleft()
        if receipt is not None:
            receipt.done(True)
        self._on_take()
        return item

    async def __aenter__(self) -> EventStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


def _nothing() -> None:
    return None


class _Waiter:
    __slots__ = ("future", "predicate")

    def __init__(self, predicate: Callable[[Any], bool] | None) -> None:
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.predicate = predicate


_Item = tuple[str, Any, "_Receipt | None"]


class Dispatcher:
    """Parses, holds, queues and delivers events (see the module docstring).

    Args:
        on_error: Receives invalid payloads, overflows and what handlers raise.
        logger: For what cannot be reported elsewhere.
        maxsize: Events that may wait per key (and durable events held per type).
        overflow: Which event a full queue drops.
    """

    def __init__(
        self,
        on_error: Callable[[BaseException], None],
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
        # event -> ((handler, is a coroutine function), ...), replaced on change, never
        # changed in place: delivery iterates it without a copy
        self._handlers: dict[str, tuple[tuple[Handler, bool], ...]] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._streams: dict[str, list[EventStream[Any]]] = {}
        self._held: dict[str, collections.deque[tuple[Any, Settle | None]]] = {}
        self._queues: dict[str, collections.deque[_Item]] = {}  # keys with events queued
        self._workers: dict[str, asyncio.Task[None]] = {}  # keys awaiting async handlers
        self._pending: dict[str, None] = {}  # keys waiting for the pump (an ordered set)
        self._pump_handle: asyncio.Handle | None = None
        self._space: asyncio.Event | None = None
        self._closed = False

    # -- in ------------------------------------------------------------------------

    def parse(self, name: str, args: tuple[Any, ...]) -> tuple[Event | str, Any] | None:
        """A frame's event and model; ``None`` when invalid (reported) or unwanted.

        An event the SDK has no model for is passed on as its raw payload (its one
        argument, or a list of several) when something subscribed to it, else ignored.
        """
        known = _SERVER_EVENTS.get(name)
        if known is None:
            if not self.wants(name):
                self._logger.debug("ignored unknown event %r", name)
                return None
            return name, (None if not args else args[0] if len(args) == 1 else list(args))
        event, model_cls = known
        raw = args[0] if args else None
        try:
            return event, model_cls.model_validate(raw)
        except pydantic.ValidationError as exc:
            self.report(
                InvalidEventError(
                    f"invalid {event} payload from server: {exc}",
                    event=event.value,
                    payload=raw,
                    errors=exc.errors(include_url=False),
                )
            )
            return None

    def submit(self, event: str, model: Any, settle: Settle | None = None) -> None:
        """Hand ``model`` to the consumers of ``event`` (or hold it until one exists).

        ``settle`` marks a durable event (see the module docstring). Returns at once;
        handlers run soon after, in their key's order.
        """
        if self._closed:
            if settle is not None:
                settle(False)
            return
        handlers = self._handlers.get(event)
        streams = self._streams.get(event)
        waiters = self._waiters.get(event)
        looked = waiters is not None and self._feed_waiters(waiters, model)
        if not handlers and not streams:
            if looked:
                if settle is not None:
                    settle(True)
            else:
                self._hold(event, model, settle)
            return
        receipt: _Receipt | None = None
        if settle is not None:
            count = (1 if handlers else 0) + (len(streams) if streams else 0)
            receipt = _Receipt(settle, count, looked)
        if streams:
            for stream in streams:
                stream._put(model, receipt)
        if handlers:
            self._enqueue(event, model, receipt)

    def _feed_waiters(self, waiters: list[_Waiter], model: Any) -> bool:
        """Offer ``model`` to the waiting waiters; whether any was waiting (it looked)."""
        looked = False
        for waiter in list(waiters):
            if waiter.future.done():
                continue
            looked = True
            try:
                matched = waiter.predicate is None or waiter.predicate(model)
            except Exception as exc:
                waiter.future.set_exception(exc)
                continue
            if matched:
                waiter.future.set_result(model)
        return looked

    def _hold(self, event: str, model: Any, settle: Settle | None) -> None:
        if event not in _SERVER_EVENTS:  # unknown names: not held (a bounded set of types)
            if settle is not None:
                settle(False)
            return
        held = self._held.setdefault(event, collections.deque())
        held.append((model, settle))
        limit = self.maxsize if settle is not None else TRANSIENT_HELD
        if len(held) > limit:
            old, lost = held.popleft()
            if lost is not None:
                lost(False)
                self._report_drop(event, old, "nothing consumes it yet", "held")

    def _release(self, event: str, *, durable_only: bool = False) -> None:
        """A consumer of ``event`` appeared: hand it what was held, in order.

        ``durable_only`` (a waiter): only messages; a waiter waits for the *next* state
        event, not for one superseded before it asked (those stay held for a handler).
        """
        held = self._held.pop(event, None)
        kept: collections.deque[tuple[Any, Settle | None]] = collections.deque()
        while held:
            if not self.wants(event):
                kept.extend(held)  # a waiter took what it wanted: keep the rest
                break
            model, settle = held.popleft()
            if durable_only and settle is None:
                kept.append((model, settle))
            else:
                self.submit(event, model, settle)
        if kept:
            self._held[event] = kept

    # -- handlers, per key -------------------------------------------------------------

    def _enqueue(self, event: str, model: Any, receipt: _Receipt | None) -> None:
        key = conversation_key(model)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = collections.deque()
        queue.append((event, model, receipt))
        if len(queue) > self.maxsize:
            dropped = queue.popleft() if self.overflow == "drop-oldest" else queue.pop()
            if dropped[2] is not None:
                dropped[2].done(False)
            where = f"conversation {key!r}" if key else "events without one"
            self._report_drop(dropped[0], dropped[1], f"the handlers of {where}", key)
        if key not in self._workers and key not in self._pending:
            self._pending[key] = None
            if self._pump_handle is None:
                self._pump_handle = asyncio.get_running_loop().call_soon(self._pump)

    def _report_drop(self, event: str, model: Any, whose: str, key: str) -> None:
        self.report(
            QueueOverflowError(
                f"dropped a {event} event: {self.maxsize} events already wait for {whose} "
                f"({self.overflow})",
                event=event,
                payload=model,
                key=key,
                maxsize=self.maxsize,
            )
        )

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
            event, model, receipt = queue.popleft()
            entries = self._handlers.get(event, ())
            for i, (handler, is_async) in enumerate(entries):
                if is_async:
                    self._start_worker(key, queue, (event, model, receipt), entries[i:], None)
                    return
                try:
                    result = handler(model)
                except Exception as exc:
                    self.report(exc)
                    continue
                if result is not None and inspect.isawaitable(result):
                    item = (event, model, receipt)
                    self._start_worker(key, queue, item, entries[i + 1 :], result)
                    return
                if self._closed:
                    return
            if receipt is not None:
                receipt.done(True)
            self._made_room()
        del self._queues[key]

    def _start_worker(
        self,
        key: str,
        queue: collections.deque[_Item],
        item: _Item,
        rest: tuple[tuple[Handler, bool], ...],
        started: Awaitable[Any] | None,
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._work(key, queue, item, rest, started),
            name=f"vilnius-dispatch[{key or 'global'}]",
        )
        if inspect.iscoroutine(started):
            coro = started  # cancelled before its first step, the task would never await it
            task.add_done_callback(lambda _: coro.close())
        self._workers[key] = task

    async def _work(
        self,
        key: str,
        queue: collections.deque[_Item],
        item: _Item,
        rest: tuple[tuple[Handler, bool], ...],
        started: Awaitable[Any] | None,
    ) -> None:
        try:
            if started is not None:
                await self._settle_awaitable(started)
            _, model, receipt = item
            for handler, _ in rest:
                await self.call(handler, model)
            if receipt is not None:
                receipt.done(True)
            self._made_room()
            while queue:
                event, model, receipt = queue.popleft()
                for handler, _ in self._handlers.get(event, ()):
                    await self.call(handler, model)
                if receipt is not None:
                    receipt.done(True)
                self._made_room()
        finally:
            # No await between the empty check and the removal: _enqueue() sees either
            # a live worker or none.
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if not queue:
                    self._queues.pop(key, None)

    async def _settle_awaitable(self, awaitable: Awaitable[Any]) -> None:
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

    # -- room: for producers that can wait ------------------------------------------------

    def has_room(self, event: str, model: Any) -> bool:
        """Whether ``model`` can be submitted now without a queue, stream or hold dropping one."""
        if self._handlers.get(event):
            queue = self._queues.get(conversation_key(model))
            if queue is not None and len(queue) >= self.maxsize:
                return False
        streams = self._streams.get(event)
        if streams and any(stream.full for stream in streams):
            return False
        if not self.wants(event):
            return len(self._held.get(event, ())) < self.maxsize
        return True

    async def room(self, event: str, model: Any) -> None:
        """Wait until `has_room` (events handled, taken or released make room)."""
        while not self.has_room(event, model):
            if self._closed:
                raise StateError("the client is closed")
            if self._space is None:
                self._space = asyncio.Event()
            self._space.clear()
            await self._space.wait()

    def _made_room(self) -> None:
        if self._space is not None:
            self._space.set()

    # -- registry ------------------------------------------------------------------------

    def wants(self, event: str) -> bool:
        """Whether ``event`` has a handler, a stream or a waiter still waiting."""
        if self._handlers.get(event) or self._streams.get(event):
            return True
        return any(not waiter.future.done() for waiter in self._waiters.get(event, ()))

    def add(self, event: Event | str, handler: Handler) -> None:
        """Register ``handler`` (a handler added twice runs twice); held events follow."""
        name = self._name(event)
        entry = (handler, inspect.iscoroutinefunction(handler))
        self._handlers[name] = (*self._handlers.get(name, ()), entry)
        self._release(name)
        self._made_room()

    def remove(self, event: Event | str, handler: Handler) -> None:
        """Unregister one registration of ``handler``; unknown handlers are ignored."""
        name = server_event(event)
        entries = self._handlers.get(name, ())
        for i, (known, _) in enumerate(entries):
            if known == handler:
                self._handlers[name] = entries[:i] + entries[i + 1 :]
                return

    async def wait_for(
        self,
        event: Event | str,
        predicate: Callable[[Any], bool] | None,
        within: float | None,
        *,
        held: bool = True,
    ) -> Any:
        """The next ``event`` whose model satisfies ``predicate``: held messages first
        (unless ``held`` is false: for an answer to a request sent now); held state events
        (typing, modes, lists) are not handed to waiters, which wait for the next one.

        Raises:
            ReplyTimeoutError: Nothing matched within ``within`` seconds.
            StateError: Closed, before or meanwhile.
        """
        name = self._name(event)
        if self._closed:
            raise StateError("the client is closed")
        waiter = _Waiter(predicate)
        waiters = self._waiters.setdefault(name, [])
        waiters.append(waiter)
        try:
            if held:
                self._release(name, durable_only=True)
            async with asyncio.timeout(within):
                return await waiter.future
        except TimeoutError:
            raise ReplyTimeoutError(f"no {name!r} within {within:g} s") from None
        finally:
            waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(name, None)

    def stream(self, event: Event | str, maxsize: int) -> EventStream[Any]:
        """Open a stream of ``event`` models; held events come first.

        Raises:
            StateError: Closed.
        """
        name = self._name(event)
        if self._closed:
            raise StateError("the client is closed")
        stream: EventStream[Any] = EventStream(name, maxsize, self._forget)
        stream._on_take = self._made_room
        self._streams.setdefault(name, []).append(stream)
        self._release(name)
        return stream

    def _forget(self, stream: EventStream[Any]) -> None:
        streams = self._streams.get(stream.name, [])
        if stream in streams:
            streams.remove(stream)
        self._made_room()

    def _name(self, event: Event | str) -> str:
        name = server_event(event)
        if not isinstance(name, Event):
            close = difflib.get_close_matches(name, list(_SERVER_EVENTS), n=1, cutoff=0.85)
            if close:
                self._logger.warning(
                    "subscribed to %r, which the SDK does not know (handlers get the raw "
                    "payload); did you mean %r?",
                    name,
                    close[0],
                )
        return name

    # -- shutdown ------------------------------------------------------------------------

    def queued(self, key: str) -> int:
        """How many events wait for the handlers of ``key`` (not one being handled)."""
        queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    @property
    def busy_keys(self) -> int:
        """How many keys have events queued or running."""
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

    async def aclose(self) -> None:
        """Stop every worker, fail every waiter, end every stream, drop what is held;
        idempotent. Durable events not handled are settled as dropped."""
        self._closed = True
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._pending.clear()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        for queue in self._queues.values():
            for _, _, receipt in queue:
                if receipt is not None:
                    receipt.done(False)
        self._queues.clear()
        for held in self._held.values():
            for _, settle in held:
                if settle is not None:
                    settle(False)
        self._held.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_exception(StateError("the client was closed"))
        for streams in list(self._streams.values()):
            for stream in list(streams):
                stream.close()
        self._made_room()
