"""What AgentClient and CustomerClient share: lifecycle, status and event subscriptions.

Both wrap one `ModernWebSocketManager`, one `RestClient` and one `Recovery`;
everything here delegates to them.
"""

from __future__ import annotations

from typing import Any

from ._inbound import Inbound
from ._lifecycle import Lifecycle
from ._listeners import Listeners
from ._recovery import Recovery
from ._recovery_by_seq import seq_of
from ._state import ConnectionChange
from ._subscriptions import EventSubscriptions
from .events import Message
from .manager import ConnectionStatus, ModernWebSocketManager
from .rest import RestClient

__all__ = ["ClientBase"]


class ClientBase(Lifecycle, EventSubscriptions):
    """Base of the role clients; subclasses set the three parts and ``connect()``."""

    _manager: ModernWebSocketManager
    _rest: RestClient
    _recovery: Recovery[Any]
    _page_size: int

    async def disconnect(self) -> None:
        """Disconnect and release everything (socket, REST session, tasks); idempotent.

        What leaving ``async with`` does; the client cannot connect again.
        """
        try:
            await self._recovery.aclose()
            await self._manager.disconnect()
        finally:
            await self._rest.disconnect()

    # ------------------------------------------------------------------
    # Parts and status

    def _events(self) -> Inbound:
        return self._manager._events()

    def _listeners(self) -> tuple[Listeners[ConnectionChange], Listeners[BaseException]]:
        return self._manager._listeners()

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

    async def _history(self, conversation_id: str, after: int | None) -> list[Message]:
        """Every message after ``after``: all pages; without seq, all of them in time order."""
        rest = self._rest
        if not (await rest.capabilities()).seq:
            if after is not None:
                raise ValueError(f"{rest.known_capabilities}: no seq, so no history(after=...)")
            every = await self._conversation_messages(conversation_id)
            return sorted(every, key=lambda message: message.timestamp)
        messages: list[Message] = []
        cursor = after or 0
        while True:
            answer = await rest.conversation_messages(
                conversation_id, after=cursor, limit=self._page_size
            )
            page = sorted(answer.messages, key=seq_of)
            if not page:
                return messages
            messages.extend(page)
            cursor = seq_of(page[-1])

    async def _conversation_messages(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, as the server lists them (one request)."""
        return (await self._rest.conversation_messages(conversation_id)).messages

    def get_connection_status(self) -> ConnectionStatus:
        """The connection's current status."""
        return self._manager.get_connection_status()
