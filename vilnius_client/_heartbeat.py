"""Heartbeats on one link, and the watchdog that declares a silent link dead.

The dashboard's JavaScript manager sends ``heartbeat`` every 15 s and never
looks at the answer; here the answer is checked. Any event or acknowledgement
received proves the link alive (as discord.py's gateway does): under a burst
the ``heartbeat-ack`` waits behind the backlog, and a reconnect would lose
what is in flight. So a link is dead only after ``timeout`` seconds in which
nothing at all arrived; it is then aborted, and the manager reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ._transport import SocketLink
from .errors import TransportError, VilniusError
from .events import Event

__all__ = ["Heartbeat"]

#: How often per ``timeout`` the watchdog looks for received frames.
_WATCHDOG_CHECKS = 4


class Heartbeat:
    """Sends heartbeats on a link, one outstanding at a time, and watches for silence.

    Args:
        interval: Seconds between two heartbeats.
        timeout: Seconds of silence after a heartbeat that mark the link dead.
        logger: Where a dead link is announced.
        report_error: Receives the `TransportError` of a dead link.

    Attributes:
        latency: The last heartbeat round trip in seconds (``None`` before the first).
    """

    def __init__(
        self,
        interval: float,
        timeout: float,
        *,
        logger: logging.Logger,
        report_error: Callable[[BaseException], None],
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self.latency: float | None = None
        self._logger = logger
        self._report_error = report_error
        self._ack: asyncio.Future[None] | None = None
        self._sent = 0.0

    def acknowledged(self) -> None:
        """A ``heartbeat-ack`` arrived: the round trip is measured now, before any handler runs."""
        ack = self._ack
        if ack is not None and not ack.done():
            self.latency = ack.get_loop().time() - self._sent
            ack.set_result(None)

    async def run(self, link: SocketLink) -> None:
        """Heartbeat on ``link`` until it closes (or is declared dead and aborted)."""
        loop = asyncio.get_running_loop()
        while link.connected:
            started = self._sent = loop.time()
            ack = self._ack = loop.create_future()
            try:
                await link.emit(Event.HEARTBEAT.value, {"timestamp": int(time.time() * 1000)})
            except VilniusError:
                return
            if not await self._answered(link, ack, started):
                reason = f"no heartbeat-ack and nothing else within {self.timeout:g} s"
                self._logger.warning("%s: connection considered dead", reason)
                self._report_error(TransportError(reason))
                link.abort(reason)
                return
            if not ack.done():
                return  # the link closed meanwhile
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    async def _answered(self, link: SocketLink, ack: asyncio.Future[None], sent: float) -> bool:
        """Wait for ``ack``; ``False`` once nothing arrived for ``timeout`` seconds.

        Checked every quarter of the timeout, so silence is detected between
        one and one and a quarter timeouts after the last frame.
        """
        loop = asyncio.get_running_loop()
        step = self.timeout / _WATCHDOG_CHECKS
        heard, quiet_since = link.received, sent
        while not ack.done():
            # asyncio.wait, not wait_for: it neither cancels the future nor, on
            # 3.11, swallows a cancellation racing with the ack.
            await asyncio.wait((ack,), timeout=step)
            if ack.done() or not link.connected:
                break
            now = loop.time()
            if link.received != heard:
                heard, quiet_since = link.received, now
            elif now - quiet_since >= self.timeout - step / 100:
                return False
        return True
