"""Subscribing to server events: ``on``, ``off``, ``wait_for`` and ``stream``, written once.

`ModernWebSocketManager` and both role clients offer the same four methods;
they are defined here, over the manager's `Inbound`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ._dispatch import EventStream, Handler
from ._inbound import Inbound
from .events import Event

__all__ = ["EventSubscriptions"]

H = TypeVar("H", bound=Handler)


class EventSubscriptions:
    """``on``, ``off``, ``wait_for`` and ``stream`` over an `Inbound`."""

    def _events(self) -> Inbound:
        """Where the events come from (the manager's `Inbound`)."""
        raise NotImplementedError

    def on(self, event: Event | str, handler: Any = None) -> Any:
        """Register a handler for a server event; usable as a decorator."""
        inbound = self._events()
        if handler is None:

            def register(fn: H) -> H:
                inbound.subscribe(event, fn)
                return fn

            return register
        inbound.subscribe(event, handler)
        return handler

    def off(self, event: Event | str, handler: Handler) -> None:
        """Unregister a handler registered with ``on``."""
        self._events().unsubscribe(event, handler)

    async def wait_for(
        self,
        event: Event | str,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float | None,  # noqa: ASYNC109 - the agreed public signature
    ) -> Any:
        """Wait for the next ``event`` (matching ``predicate``) and return its model."""
        return await self._events().wait_for(event, predicate, timeout)

    def stream(self, event: Event | str, *, maxsize: int = 1000) -> EventStream[Any]:
        """An async iterator (and async context manager) of ``event`` models."""
        return self._events().stream(event, maxsize)
