"""Events the application pulls: one-off waiters (``wait_for``) and bounded streams.

`Watchers` is fed every event as the dispatcher receives it, in order and
before any handler runs, so a waiter or a stream never waits behind a slow
handler. A stream holds at most ``maxsize`` events: when it is full the
*oldest* is dropped (and counted), so that a stalled consumer cannot exhaust
memory.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from .errors import ReplyTimeoutError, StateError

__all__ = ["EventStream", "Watchers"]

T = TypeVar("T")


class EventStream(Generic[T]):
    """An async iterator over one event's models, with a bounded buffer.

    Made by `stream()` on a client or the manager. Use it as an async context
    manager, or iterate and call [`aclose`][] yourself:

    ```python
    async with bot.stream(Event.NEW_MESSAGE) as messages:
        async for event in messages:
            ...
    ```

    When the buffer is full the *oldest* event is dropped (and counted in
    ``dropped``) so that a stalled consumer cannot exhaust memory. The
    iteration ends when the stream or its client is closed.

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
        self._items: collections.deque[T] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._on_close = on_close

    def put(self, item: T) -> None:
        """Add an event (dropping the oldest one when full)."""
        if self._closed:
            return
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """End the iteration once the buffered events are consumed."""
        if not self._closed:
            self._closed = True
            self._ready.set()
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
        return self._items.popleft()

    async def __aenter__(self) -> EventStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class _Waiter:
    __slots__ = ("future", "predicate")

    def __init__(self, predicate: Callable[[Any], bool] | None) -> None:
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.predicate = predicate


class Watchers:
    """The waiters and streams of every event."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[_Waiter]] = {}
        self._streams: dict[str, list[EventStream[Any]]] = {}
        self._closed = False

    def wants(self, event: str) -> bool:
        """Whether ``event`` has a waiter or a stream."""
        return bool(self._waiters.get(event) or self._streams.get(event))

    def feed(self, event: str, model: Any) -> None:
        """Hand ``model`` to the waiters and streams of ``event``."""
        waiters = self._waiters.get(event)
        if waiters:
            for waiter in list(waiters):
                if waiter.future.done():
                    continue
                try:
                    matched = waiter.predicate is None or waiter.predicate(model)
                except Exception as exc:
                    waiter.future.set_exception(exc)
                    continue
                if matched:
                    waiter.future.set_result(model)
        streams = self._streams.get(event)
        if streams:
            for stream in list(streams):
                stream.put(model)

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] | None, within: float | None
    ) -> Any:
        """Wait for the next ``event`` whose model satisfies ``predicate``.

        Raises:
            ReplyTimeoutError: Nothing matched within ``within`` seconds.
            StateError: Closed, before or meanwhile.
        """
        if self._closed:
            raise StateError("the client is closed")
        waiter = _Waiter(predicate)
        waiters = self._waiters.setdefault(event, [])
        waiters.append(waiter)
        try:
            async with asyncio.timeout(within):
                return await waiter.future
        except TimeoutError:
            raise ReplyTimeoutError(f"no {event!r} within {within:g} s") from None
        finally:
            waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(event, None)

    def stream(self, event: str, maxsize: int) -> EventStream[Any]:
        """Open a stream of ``event`` models.

        Raises:
            StateError: Closed.
        """
        if self._closed:
            raise StateError("the client is closed")
        stream: EventStream[Any] = EventStream(event, maxsize, self._forget)
        self._streams.setdefault(event, []).append(stream)
        return stream

    def _forget(self, stream: EventStream[Any]) -> None:
        streams = self._streams.get(stream.name, [])
        if stream in streams:
            streams.remove(stream)

    def close(self) -> None:
        """Fail every waiter and end every stream; idempotent."""
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_exception(StateError("the client was closed"))
        for streams in list(self._streams.values()):
            for stream in list(streams):
                stream.close()
