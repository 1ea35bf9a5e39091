"""ModernWebSocketManager: one resilient Socket.IO connection with typed events.

The Python counterpart of the dashboard's JavaScript ``ModernWebSocketManager``: it keeps
one connection to a Vilnius server up (reconnecting with backoff and jitter, checking that
heartbeats are acknowledged, re-joining rooms after every reconnect) and hands every server
event, parsed into its `vilnius_client.events` model, to the handlers registered with
[`on`][vilnius_client.ModernWebSocketManager.on]. What one connection does, attempt by
attempt, is `vilnius_client._connection`'s; how events reach handlers,
`vilnius_client._dispatch`'s. Most users want the role clients built on it,
[`AgentClient`][vilnius_client.AgentClient] and
[`CustomerClient`][vilnius_client.CustomerClient], which add REST and recovery.

Events the SDK has no model for (a newer server's) can be subscribed to by name like any
other; their handlers receive the payload as the server sent it (a dict, usually).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._connection import Attempt, Connection, Listeners, Session, Timings
from ._dispatch import DEFAULT_QUEUE_MAXSIZE, Dispatcher, Overflow
from ._http import TokenSource, check_url, resolve_token
from ._lifecycle import Lifecycle
from ._state import ConnectionChange, ConnectionState, ConnectionStatus
from ._subscriptions import EventSubscriptions
from ._transport import DEFAULT_MAX_MESSAGE_SIZE, SocketIOTransport, Transport
from .errors import StateError
from .events import Ack, Event
from .rest import RestClient

__all__ = ["ModernWebSocketManager"]

_S = ConnectionState


class ModernWebSocketManager(Lifecycle, EventSubscriptions):
    """A resilient, typed Socket.IO connection to a Vilnius server.

    Args:
        url: The server URL, e.g. ``"http://localhost:3002"`` (``http://`` or ``https://``).
        agent_id: When set, the manager joins the agent dashboard and sends heartbeats on
            every (re)connect.
        token: A bearer token, or a callable (sync or async) returning one, asked again on
            every attempt. ``None`` for servers without auth.
        reconnection_attempts: Failed attempts in a row after which a *re*connection gives
            up (state ``disconnected``); ``None`` (the default) retries forever.
        reconnection_delay: First backoff step in seconds (full jitter).
        max_reconnection_delay: Longest wait between attempts.
        heartbeat_interval: Seconds between heartbeats (agents only).
        heartbeat_timeout: Silence for this long after a heartbeat (no ``heartbeat-ack``
            and no other event either) marks the connection dead and forces a reconnect.
        max_errors: Consecutive failures that open the circuit breaker.
        logger: Logger for everything the manager has to say (default
            ``logging.getLogger("vilnius_client")``; no handler added).
        ack_timeout: Seconds to wait for an acknowledgement (a send with ``ack=True``, a
            join, or the answer that confirms joins on a server without acknowledgements).
        connect_timeout: How long the first [`connect`][] may take, attempts included,
            before it raises the last error (at once for what no retry mends: refused
            credentials, a wrong URL, a failed TLS handshake); also the bound of any one
            attempt later. After a first success the manager reconnects forever.
        close_timeout: Seconds [`disconnect`][] gives the handlers to finish the events
            already received.
        stable_after: A connection must stay up this long before the backoff resets.
        circuit_cooldown: Seconds the circuit stays open before a trial attempt (default
            ``max_reconnection_delay``).
        transports: Engine.IO transports (default websocket only).
        compression: Offer ``permessage-deflate`` on the WebSocket (default off).
        max_message_size: Largest WebSocket frame accepted, in bytes (default 16 MiB;
            ``None``: no limit). A bigger frame closes the connection and is reported as
            [`FrameTooLargeError`][vilnius_client.FrameTooLargeError].
        queue_maxsize: Events that may wait for the handlers of one conversation (default
            10,000), and messages held per event type until a first handler exists. Past
            it, one is dropped per new one and reported as
            [`QueueOverflowError`][vilnius_client.QueueOverflowError].
        queue_overflow: Which event a full queue drops: ``"drop-oldest"`` (default) or
            ``"drop-newest"``.
        server: What the server offers: ``"auto"`` (ask ``GET /health`` before the first
            attempt), ``"vilnius"`` (the contract), ``"lizdeika"`` (production) or a
            [`ServerCapabilities`][vilnius_client.ServerCapabilities].

    Raises:
        ValueError: ``url`` is not an ``http://`` or ``https://`` URL with a host.

    Refusals: the first [`connect`][] raises [`AuthError`][vilnius_client.AuthError] (or
    [`ForbiddenError`][vilnius_client.ForbiddenError]) at once. On a later reconnect a
    refusal ends the reconnection (state ``disconnected``, reported to the error
    listeners, raised by [`run_forever`][]) when ``token`` is a fixed string, and is
    retried like any failure when it is a callable, which may return a fresh token.
    """

    def __init__(
        self,
        url: str,
        *,
        agent_id: str | None = None,
        token: TokenSource = None,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        max_reconnection_delay: float = 30.0,
        heartbeat_interval: float = 15.0,
        heartbeat_timeout: float = 5.0,
        max_errors: int = 10,
        logger: logging.Logger | None = None,
        ack_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 10.0,
        stable_after: float = 10.0,
        circuit_cooldown: float | None = None,
        transports: tuple[str, ...] = ("websocket",),
        compression: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
        queue_overflow: Overflow = "drop-oldest",
        server: ServerKind | ServerCapabilities = "auto",
    ) -> None:
        self.url = check_url(url)
        self.close_timeout = close_timeout
        self.logger = logger or logging.getLogger("vilnius_client")
        self._dispatcher = Dispatcher(
            self._report, self.logger, maxsize=queue_maxsize, overflow=queue_overflow
        )
        transport: Transport = SocketIOTransport(
            logger=self.logger,
            transports=transports,
            compression=compression,
            max_message_size=max_message_size,
        )
        self._plain = _PlainSession(self, token, agent_id, resolve_server(server))
        self._connection = Connection(
            self.url,
            transport=transport,
            session=self._plain,
            dispatcher=self._dispatcher,
            timings=Timings(
                reconnection_attempts=reconnection_attempts,
                reconnection_delay=reconnection_delay,
                max_reconnection_delay=max_reconnection_delay,
                heartbeat_interval=heartbeat_interval,
                heartbeat_timeout=heartbeat_timeout,
                max_errors=max_errors,
                ack_timeout=ack_timeout,
                connect_timeout=connect_timeout,
                stable_after=stable_after,
                circuit_cooldown=circuit_cooldown,
            ),
            logger=self.logger,
        )

    def _attach(self, session: Session) -> None:
        """Serve a role client's session instead of the manager's own (before connecting)."""
        self._connection.session = session

    # -- state ----------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current [`ConnectionState`][vilnius_client.ConnectionState]."""
        return self._connection.state

    @property
    def connected(self) -> bool:
        """Whether the manager is connected and events flow."""
        return self.state is _S.CONNECTED

    @property
    def latency(self) -> float | None:
        """The last heartbeat round trip in seconds (``None`` before the first)."""
        return self._connection.latency

    @property
    def agent_id(self) -> str | None:
        """The agent whose dashboard is joined on every (re)connect (``None``: none)."""
        return self._connection.agent_id or self._plain.agent_id

    @property
    def capabilities(self) -> ServerCapabilities | None:
        """What the server offers (``None`` until known)."""
        return self._connection.capabilities or self._plain.capabilities

    @property
    def rooms(self) -> tuple[str, ...]:
        """The conversation rooms joined on every (re)connect."""
        return self._connection.rooms

    def get_connection_status(self) -> ConnectionStatus:
        """A snapshot of the connection (see
        [`ConnectionStatus`][vilnius_client.ConnectionStatus])."""
        return self._connection.status()

    # -- lifecycle ------------------------------------------------------------

    async def connect(self) -> None:
        """Connect; return once the rooms are joined and missed messages caught up.

        Retries failed attempts for at most ``connect_timeout`` seconds, then raises the
        last error (at once for what no retry mends); cancelling it stops the attempts.

        Raises:
            StateError: Already connected or connecting, or closed.
            AuthError: The server refused the credentials.
            TransportError: The server could not be reached (the error says why: refused,
                not resolved, TLS, no answer in time, not a Vilnius server).
        """
        await self._connection.start()

    async def disconnect(self) -> None:
        """Close the connection and stop every task and timer; idempotent.

        Events already received are still handed to the handlers first (for at most
        ``close_timeout`` seconds). The manager is ``closed`` afterwards.
        """
        if self.state is _S.CLOSED and not self._connection.running:
            return
        await self._connection.stop()
        # Events already received are handled before the handlers go away, so that a
        # resume position saved at close never covers an event no handler saw.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout):
                await self._dispatcher.drain()
        await self._dispatcher.aclose()
        changes, errors = self._listeners()
        await changes.aclose()
        await errors.aclose()
        for _ in range(3):  # let python-socketio's per-packet tasks of the link finish
            await asyncio.sleep(0)

    async def run_forever(self) -> None:
        """Wait while the manager is connected or reconnecting; raise why it gave up.

        Returns when [`disconnect`][] is called (from a handler, a signal, another task).

        Raises:
            StateError: Not connected yet.
            AuthError: A reconnect's credentials were refused.
            TransportError: ``reconnection_attempts`` were used up.
        """
        if self.state is _S.DISCONNECTED and self._connection.fatal is None:
            raise StateError("connect() first (or use 'async with')")
        await self._connection.ended.wait()
        if self._connection.fatal is not None:
            raise self._connection.fatal

    # -- sending and rooms ------------------------------------------------------

    async def send(
        self, event: Event | str, data: Any = None, *, ack: bool = False, volatile: bool = False
    ) -> Ack | None:
        """Send a client -> server event.

        Args:
            event: The event (``Event.AGENT_TYPING`` or ``"agent-typing"``).
            data: A model, a string or a dict (snake_case or camelCase); checked against
                the event's payload model before it is sent.
            ack: Wait for the server's acknowledgement.
            volatile: Drop the event (return ``None``) instead of raising when not
                connected; for typing indicators.

        Returns:
            The [`Ack`][vilnius_client.events.Ack] when ``ack`` is true, else ``None``.

        Raises:
            NotConnectedError: Not connected (and not ``volatile``).
            ConnectionLostError: The connection dropped before the acknowledgement.
            ReplyTimeoutError: No acknowledgement within ``ack_timeout``.
            ServerError: The acknowledgement was negative (mapped by code).
            InvalidPayloadError: ``data`` does not fit the event.
            StateError: The manager is closed.
        """
        return await self._connection.send(Event(event), data, ack=ack, volatile=volatile)

    async def join_conversation(self, conversation_id: str) -> None:
        """Join a conversation's room, now if connected and after every reconnect.

        On a server without acknowledgements (production) the join is confirmed by the
        answer to one ``request-current-state``; such a server refuses nothing.

        Raises:
            ServerError: The server refused (e.g. [`NotFoundError`][vilnius_client.NotFoundError]);
                the room is then not remembered.
        """
        await self._connection.join(conversation_id)

    # -- subscriptions (EventSubscriptions) ---------------------------------------

    def _events(self) -> Dispatcher:
        return self._dispatcher

    def _listeners(self) -> tuple[Listeners[ConnectionChange], Listeners[BaseException]]:
        return self._connection.changes, self._connection.errors

    def _report(self, exc: BaseException) -> None:
        self._connection.report(exc)


class _PlainSession:
    """The manager's own session: a token, an agent id, what the server offers; no recovery."""

    def __init__(
        self,
        manager: ModernWebSocketManager,
        token: TokenSource,
        agent_id: str | None,
        capabilities: ServerCapabilities | None,
    ) -> None:
        self._manager = manager
        self.token = token
        self.agent_id = agent_id
        self.capabilities = capabilities

    async def prepare(self) -> Attempt:
        if self.capabilities is None:
            async with RestClient(self._manager.url, retry_attempts=1) as rest:
                self.capabilities = await rest.probe()
        return Attempt(
            token=await resolve_token(self.token),
            agent_id=self.agent_id,
            capabilities=self.capabilities,
            fresh_credentials=callable(self.token),
        )

    async def resume(self) -> None:
        return None

    def deliver(self, event: Event | str, model: Any) -> None:
        self._manager._dispatcher.submit(event, model)

    def changed(self, change: ConnectionChange) -> None:
        return None
