"""What AgentClient and CustomerClient share: one manager, one REST client, one recovery.

A role client is a `ModernWebSocketManager` (the socket), a `RestClient` authenticated
like it, and a `Recovery` of its stream, put together: the client serves the manager's
connection as its session (`vilnius_client._connection.Session`: it prepares each attempt,
catches up after each, and routes the live events of its stream through the recovery).

A `Fleet` (an agent's ``fleet=``, `vilnius_client.fleet`) is attached once, when the client
is assembled (it puts its gate in the recovery's `Sink`), started before the first
connect, told to stop taking events when the client disconnects, and closed after the
handlers drained (it then stores what they handled and gives its conversations away).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, TypedDict

from ._capabilities import ServerCapabilities
from ._connection import Attempt, Listeners
from ._dispatch import Dispatcher, Overflow
from ._lifecycle import Lifecycle
from ._recovery import Recovery, seq_of
from ._state import ConnectionChange, ConnectionState, ConnectionStatus
from ._subscriptions import EventSubscriptions
from .errors import StateError
from .events import Event, Message
from .manager import ModernWebSocketManager
from .rest import RestClient

__all__ = ["ClientBase", "ConnectionOptions", "Fleet"]


class Fleet(Protocol):
    """What a client asks of a fleet of replicas (`vilnius_client.fleet.RedisFleet`)."""

    def attach(self, client: ClientBase) -> None:
        """Serve ``client`` (once, when it is assembled)."""
        ...

    async def start(self) -> None:
        """Before the first connect: reach the coordination store."""
        ...

    def stop(self) -> None:
        """The client is disconnecting: take no more events."""
        ...

    async def aclose(self) -> None:
        """The handlers drained: store what they handled, give the conversations away."""
        ...

    def reads(self, conversation_id: str) -> bool:
        """Whether this replica reads the conversation when it catches up by listing."""
        ...


class ConnectionOptions(TypedDict, total=False):
    """The connection's keywords (``**options``), typed so that mypy and editors know them:
    those of of [`ModernWebSocketManager`][vilnius_client.ModernWebSocketManager] that
    the role clients pass on; all optional, with the manager's defaults and meanings.

    Attributes:
        reconnection_attempts: Failed attempts in a row before a reconnection gives up.
        reconnection_delay: First backoff step, seconds.
        max_reconnection_delay: Longest wait between attempts, seconds.
        heartbeat_interval: Seconds between heartbeats.
        heartbeat_timeout: Silence after a heartbeat that marks the link dead.
        max_errors: Consecutive failures that open the circuit breaker.
        logger: Where the client logs.
        ack_timeout: Seconds to wait for an acknowledgement.
        connect_timeout: Seconds the first connect may take in all (and one attempt).
        close_timeout: Seconds the handlers get to finish when disconnecting.
        stable_after: Seconds a connection must last before the backoff resets.
        circuit_cooldown: Seconds the circuit stays open before a trial.
        transports: Engine.IO transports.
        compression: Offer ``permessage-deflate``.
        max_message_size: Largest WebSocket frame accepted, bytes.
        queue_maxsize: Events that may wait for one conversation's handlers.
        queue_overflow: Which event a full queue drops.
    """

    reconnection_attempts: int | None
    reconnection_delay: float
    max_reconnection_delay: float
    heartbeat_interval: float
    heartbeat_timeout: float
    max_errors: int
    logger: logging.Logger | None
    ack_timeout: float
    connect_timeout: float
    close_timeout: float
    stable_after: float
    circuit_cooldown: float | None
    transports: tuple[str, ...]
    compression: bool
    max_message_size: int | None
    queue_maxsize: int
    queue_overflow: Overflow


class ClientBase(Lifecycle, EventSubscriptions):
    """Base of the role clients: the parts, the lifecycle, the session they serve.

    A subclass calls `_assemble` in its ``__init__`` and implements `_prepare` (the
    attempt's credentials and capabilities, and the recovery's path the first time).
    """

    _manager: ModernWebSocketManager
    _rest: RestClient
    _recovery: Recovery[Any]
    _page_size: int
    _fleet: Fleet | None = None

    def _assemble(
        self,
        url: str,
        rest: RestClient,
        stream: Event,
        *,
        replayed: Any,
        applies: Any,
        fallback_after: float | None,
        poll_interval: float,
        page_size: int,
        options: ConnectionOptions,
        fleet: Fleet | None = None,
    ) -> None:
        self._rest = rest
        self._page_size = page_size
        self._manager = ModernWebSocketManager(url, server="auto", **options)
        self._manager._attach(_ClientSession(self))
        self._recovery = Recovery(
            self._manager._dispatcher,
            stream,
            replayed=replayed,
            applies=applies,
            report=self._manager._report,
            set_mode=self._set_mode,
            fallback_after=fallback_after,
            poll_interval=poll_interval,
            logger=self._manager.logger,
        )
        if fleet is not None:
            self._use_fleet(fleet)

    def _use_fleet(self, fleet: Fleet) -> None:
        """Serve as one replica of ``fleet`` (``fleet=``, or the runner's ``--fleet``).

        Raises:
            StateError: The client has a fleet already, or connected already.
        """
        if self._fleet is not None:
            raise StateError("this client is a fleet's replica already")
        if self._manager.state is not ConnectionState.DISCONNECTED:
            raise StateError("give a client its fleet before it connects")
        self._fleet = fleet
        fleet.attach(self)

    async def _prepare(self) -> Attempt:
        raise NotImplementedError

    def _changed(self, change: ConnectionChange) -> None:
        self._recovery.changed(change)

    def _set_mode(self, mode: str) -> None:
        self._manager._connection.mode = mode

    # -- lifecycle ------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (what entering ``async with`` does): see the manager's
        [`connect`][vilnius_client.ModernWebSocketManager.connect] for its bounds."""
        if self._fleet is not None:
            await self._fleet.start()
        await self._manager.connect()

    async def disconnect(self) -> None:
        """Disconnect and release everything (socket, REST session, tasks); idempotent.

        What leaving ``async with`` does; the client cannot connect again. Messages
        already received are handed to the handlers first (``close_timeout``), so that
        the resume position read afterwards covers them. A fleet's replica then stores
        what they handled and gives its conversations away (the others take over at once).
        """
        fleet = self._fleet
        try:
            if fleet is not None:
                fleet.stop()
            await self._recovery.aclose()
            await self._manager.disconnect()
        finally:
            try:
                if fleet is not None:
                    await fleet.aclose()  # after the drain: what the handlers took is stored
            finally:
                await self._rest.disconnect()

    async def run_forever(self) -> None:
        """Wait while the client is connected or reconnecting; raise why it gave up.

        What a bot does once its handlers are registered. Returns when
        ``disconnect()`` is called (from a handler, a signal handler, another task).

        Raises:
            AuthError: A reconnect's credentials were refused.
            TransportError: ``reconnection_attempts`` were used up.
        """
        await self._manager.run_forever()

    # -- parts and status ------------------------------------------------------------

    def _events(self) -> Dispatcher:
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
    def capabilities(self) -> ServerCapabilities | None:
        """What the server offers (known once the client connected, or a request needed it)."""
        return self._rest.capabilities

    @property
    def latency(self) -> float | None:
        """The last heartbeat round trip in seconds (``None`` without heartbeats)."""
        return self._manager.latency

    def get_connection_status(self) -> ConnectionStatus:
        """The connection's current status."""
        return self._manager.get_connection_status()

    async def _history(self, conversation_id: str, after: int | None) -> list[Message]:
        """Every message after ``after``: all pages; without seq, all of them in time order."""
        rest = self._rest
        if not (await rest.probe()).seq:
            if after is not None:
                raise ValueError(f"{rest.capabilities}: no seq, so no history(after=...)")
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


class _ClientSession:
    """A role client as its connection's session (kept off the client's public face)."""

    def __init__(self, client: ClientBase) -> None:
        self._client = client

    async def prepare(self) -> Attempt:
        return await self._client._prepare()

    async def resume(self) -> None:
        await self._client._recovery.resume()

    def deliver(self, event: Event | str, model: Any) -> None:
        self._client._recovery.deliver(event, model)

    def changed(self, change: ConnectionChange) -> None:
        self._client._changed(change)
