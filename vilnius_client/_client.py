"""What AgentClient and CustomerClient share: lifecycle, status and event registration.

Both wrap one :class:`~vilnius_client.ModernWebSocketManager`, one
:class:`~vilnius_client.RestClient` and one polling fallback; everything here
delegates to them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from ._dispatch import EventStream
from ._fallback import PollingFallback
from ._recovery import JumpGuard
from .events import Event
from .manager import (
    ConnectionListener,
    ConnectionStatus,
    ErrorListener,
    ModernWebSocketManager,
)
from .rest import RestClient

__all__ = ["ClientBase"]

H = TypeVar("H", bound=Callable[..., Any])


class ClientBase:
    """Base of the role clients; subclasses set the three parts and ``connect()``."""

    _manager: ModernWebSocketManager
    _rest: RestClient
    _fallback: PollingFallback
    _jumps: JumpGuard

    async def connect(self) -> None:
        """Connect (what entering the context manager does)."""
        raise NotImplementedError

    async def disconnect(self) -> None:
        """Disconnect and release everything (socket, REST session, tasks); idempotent.

        What leaving ``async with`` does; the client cannot connect again.
        """
        try:
            await self._fallback.stop()
            await self._jumps.aclose()
            await self._manager.disconnect()
        finally:
            await self._rest.disconnect()

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.disconnect()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # ------------------------------------------------------------------
    # Parts and status

    @property
    def manager(self) -> ModernWebSocketManager:
        """The underlying socket manager."""
        return self._manager

    @property
    def rest(self) -> RestClient:
        """The REST client, authenticated like the socket."""
        return self._rest

    @property
    def latency(self) -> float | None:
        """The last heartbeat round trip in seconds (``None`` without heartbeats)."""
        return self._manager.latency

    def get_connection_status(self) -> ConnectionStatus:
        """The connection's current status."""
        return self._manager.get_connection_status()

    def on_connection_change(self, callback: ConnectionListener) -> ConnectionListener:
        """Call ``callback(change)`` on every connection state transition; returns it."""
        return self._manager.on_connection_change(callback)

    def off_connection_change(self, callback: ConnectionListener) -> None:
        """Stop calling ``callback`` on state transitions."""
        self._manager.off_connection_change(callback)

    def on_error(self, callback: ErrorListener) -> ErrorListener:
        """Call ``callback(exc)`` with every error (a failed handler, ``error-event``...)."""
        return self._manager.on_error(callback)

    def off_error(self, callback: ErrorListener) -> None:
        """Stop calling ``callback`` with errors."""
        self._manager.off_error(callback)

    # ------------------------------------------------------------------
    # Events

    @overload
    def on(self, event: Event | str, handler: H) -> H: ...

    @overload
    def on(self, event: Event | str, handler: None = None) -> Callable[[H], H]: ...

    def on(self, event: Event | str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event`` (also usable as ``@client.on(event)``)."""
        if handler is None:

            def decorator(fn: H) -> H:
                self._manager.on(event, fn)
                return fn

            return decorator
        self._manager.on(event, handler)
        return handler

    def off(self, event: Event | str, handler: Callable[..., Any]) -> None:
        """Unregister ``handler`` from ``event``."""
        self._manager.off(event, handler)

    async def wait_for(
        self,
        event: Event | str,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float | None,  # noqa: ASYNC109 - the agreed public signature
    ) -> Any:
        """Wait for the next ``event`` matching ``predicate``; see the manager."""
        return await self._manager.wait_for(event, predicate, timeout=timeout)

    def stream(self, event: Event | str, *, maxsize: int = 1000) -> EventStream[Any]:
        """An async iterator (and context manager) over ``event`` with a bounded buffer."""
        return self._manager.stream(event, maxsize=maxsize)
