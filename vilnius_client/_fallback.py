"""Fall back to REST polling while the socket cannot be re-established (CONTRACT.md §7).

Used by AgentClient and CustomerClient: after ``fallback_after`` seconds in a
lost state (or at once when the circuit breaker opens) the client's own
catch-up function runs every ``poll_interval`` seconds, delivering new
messages as replayed events, until the socket is back. The manager's status
``mode`` reads ``"polling"`` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ._state import LOST
from .errors import VilniusError
from .manager import ConnectionChange, ConnectionState, ModernWebSocketManager

__all__ = ["PollingFallback"]


class PollingFallback:
    """Runs ``poll`` periodically while the manager's socket stays down."""

    def __init__(
        self,
        manager: ModernWebSocketManager,
        poll: Callable[[], Awaitable[None]],
        *,
        fallback_after: float | None,
        poll_interval: float,
    ) -> None:
        self._manager = manager
        self._poll = poll
        self._fallback_after = fallback_after
        self._poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._now = asyncio.Event()

    def on_change(self, change: ConnectionChange) -> None:
        """Connection listener: start the countdown when lost, stop when back or closed."""
        if change.new in LOST:
            if change.new is ConnectionState.CIRCUIT_OPEN:
                self._now.set()
            if self._fallback_after is not None and self._task is None:
                self._stop.clear()
                self._task = asyncio.get_running_loop().create_task(
                    self._run(self._fallback_after), name="vilnius-poll-fallback"
                )
        elif change.new is not ConnectionState.CONNECTING:
            self._stop.set()  # connected again, or closed

    async def stop(self) -> None:
        """Stop polling, letting a poll under way finish first; idempotent."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self._now.clear()

    async def _run(self, fallback_after: float) -> None:
        waiters = [
            asyncio.ensure_future(self._stop.wait()),
            asyncio.ensure_future(self._now.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=fallback_after, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if self._stop.is_set():
            return
        self._manager.mode = "polling"
        self._manager.logger.warning("socket down: polling the REST API for new messages")
        try:
            while not self._stop.is_set():
                try:
                    await self._poll()
                except VilniusError as exc:
                    self._manager.logger.info("poll failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._stop.wait()
        finally:
            self._manager.mode = "socket"
