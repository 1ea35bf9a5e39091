"""Confirming room joins on a server that acknowledges nothing (production).

On a server with the ``acks`` feature each join waits for its own
acknowledgement. Production acknowledges nothing, but it handles one socket's
events in order and joins a room first thing in its handlers; so the answer to
a ``request-current-state`` sent after the joins proves them done. Without that
proof a message stored between a join being sent and the server handling it
would be neither delivered live nor found by the catch-up that follows. The
manager goes on without the proof when none comes (a join is done when sent).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ._transport import SocketLink
from .errors import ConnectionLostError, ReplyTimeoutError
from .events import CurrentStateEvent, Event, StateType

__all__ = ["JoinConfirmations"]


class JoinConfirmations:
    """Waits for the answer that confirms the joins sent before it.

    The manager offers every ``current-state`` event to `offer` first;
    the answer a confirmation waits for is taken there and not handed on.
    """

    def __init__(self) -> None:
        self._waiting: asyncio.Future[None] | None = None

    def offer(self, model: Any) -> bool:
        """Take ``model`` if it is the answer a confirmation waits for."""
        waiting = self._waiting
        if (
            waiting is None
            or waiting.done()
            or not isinstance(model, CurrentStateEvent)
            or model.type is not StateType.SYSTEM_MODE
        ):
            return False
        waiting.set_result(None)
        return True

    async def confirm(self, link: SocketLink, within: float) -> None:
        """Ask, and wait (``within`` seconds) until the server handled every earlier event.

        Raises:
            ReplyTimeoutError: No answer in time.
            ConnectionLostError: The link closed meanwhile.
        """
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous, self._waiting = self._waiting, confirmed
        closed = asyncio.ensure_future(link.wait_closed())
        try:
            await link.emit(Event.REQUEST_CURRENT_STATE.value, StateType.SYSTEM_MODE.value)
            await asyncio.wait((confirmed, closed), timeout=within, return_when="FIRST_COMPLETED")
            if not confirmed.done():
                if closed.done():
                    raise ConnectionLostError(f"connection lost while joining: {link.close_reason}")
                raise ReplyTimeoutError(
                    f"no answer to request-current-state within {within:g} s: "
                    "the joins are not confirmed"
                )
        finally:
            closed.cancel()
            if self._waiting is confirmed:
                self._waiting = previous
            if not confirmed.done():
                confirmed.cancel()
