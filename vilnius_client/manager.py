"""ModernWebSocketManager: one supervised Socket.IO connection with typed events.

The manager keeps one connection to a Vilnius server alive and hands every
server event, parsed into its `vilnius_client.events` model, to the handlers
registered with [`on`][vilnius_client.ModernWebSocketManager.on].

Lifecycle of every (re)connection, in order:

1. ask for the token (a string, or a callable asked again on every attempt)
   and connect with ``auth={"token": ...}``;
2. when ``agent_id`` is set, ``join-agent-dashboard``, then the first
   ``heartbeat``;
3. ``join-conversation`` for every remembered conversation; on a server
   with acknowledgements each join waits for its own, on one without
   (production) one ``request-current-state`` answer, which the server sends
   after handling the joins, confirms them all (and is not handed on);
4. the session steps ([`add_session_step`][vilnius_client.ModernWebSocketManager.add_session_step]),
   e.g. the catch-up of missed messages;
5. state ``connected``; live events received since step 1, which were held
   back, go through the filters and reach the handlers.

Live events therefore never reach handlers before the rooms are joined and
the session steps have run.

What the server offers ([`ServerCapabilities`][vilnius_client.ServerCapabilities])
is asked from ``GET /health`` before the first attempt, unless ``server=`` says it.

Events the SDK has no model for (a newer server's) can be subscribed to by
name like any other; their handlers receive the payload as the server sent it
(a dict, usually).

This module is the public face (longer than most because every public method
carries its reference docstring); the work is done by its parts: when to
(re)connect (`_supervisor`, with `_state`'s state machine, backoff and circuit
breaker), what one connection does (`_connection`: link, rooms, session
steps), heartbeats (`_heartbeat`), the way in (`_inbound`: validation, holding
back, filters) and out (`_rpc`: encoding, acknowledgements), the ordered
dispatch (`_dispatch`) and the link itself (`_transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from . import _rpc, _transport
from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._connection import Connection, SessionStep
from ._dispatch import DEFAULT_QUEUE_MAXSIZE, Dispatcher, Overflow
from ._heartbeat import Heartbeat
from ._inbound import EventFilter, Inbound
from ._joins import JoinConfirmations
from ._lifecycle import Lifecycle
from ._listeners import Listeners
from ._state import Backoff, CircuitBreaker, ConnectionChange, ConnectionState, ConnectionStatus
from ._subscriptions import ConnectionListener, ErrorListener, EventSubscriptions
from ._supervisor import Supervisor
from ._tokens import TokenSource
from .errors import NotConnectedError, StateError
from .events import Ack, Event

__all__ = [
    "ConnectionChange",
    "ConnectionListener",
    "ConnectionState",
    "ConnectionStatus",
    "ErrorListener",
    "ModernWebSocketManager",
]

_S = ConnectionState


class ModernWebSocketManager(Lifecycle, EventSubscriptions):
    """A resilient, typed Socket.IO connection to a Vilnius server.

    Args:
        url: The server URL, e.g. ``"http://localhost:3002"``.
        agent_id: When set, the manager joins the agent dashboard and sends
            heartbeats on every (re)connect.
        token: A bearer token, or a callable (sync or async) returning one,
            asked again on every attempt. ``None`` for servers without auth.
        reconnection_attempts: Retries after consecutive failed attempts before
            giving up (state ``disconnected``); ``None`` retries forever.
        reconnection_delay: First backoff step in seconds (full jitter).
        max_reconnection_delay: Longest wait between attempts.
        heartbeat_interval: Seconds between heartbeats (agents only).
        heartbeat_timeout: Silence for this long after a heartbeat (no
            ``heartbeat-ack``, and no other event either) marks the connection
            dead and forces a reconnect. Any event received proves the link
            alive, so an ack delayed behind a burst does not.
        max_errors: Consecutive failures that open the circuit breaker.
        logger: Logger for everything the manager has to say
            (default ``logging.getLogger("vilnius_client")``; no handler added).
        ack_timeout: Seconds to wait for an acknowledgement (of a send with
            ``ack=True``, of a join, or the answer that confirms joins on a
            server without acknowledgements).
        connect_timeout: Seconds one connection attempt may take: the
            Socket.IO handshake, and asking ``GET /health`` what the server offers.
        close_timeout: Seconds [`disconnect`][] gives the handlers to finish
            the events already received.
        stable_after: A connection must stay up this long before the attempt
            counter (and so the backoff) resets.
        circuit_cooldown: Seconds the circuit stays open before a trial
            attempt (default ``max_reconnection_delay``).
        transports: Engine.IO transports (default websocket only).
        compression: Offer ``permessage-deflate`` on the WebSocket (default
            off, as socket.io servers default to).
        max_message_size: Largest WebSocket frame accepted, in bytes (default
            16 MiB; ``None``: no limit). A bigger frame closes the connection
            and is reported as [`FrameTooLargeError`][vilnius_client.FrameTooLargeError];
            the reconnect's catch-up recovers a stored message it carried.
        queue_maxsize: Events that may wait for the handlers of one
            conversation (default 10,000). Past it, one event is dropped per
            new one and reported as [`QueueOverflowError`][vilnius_client.QueueOverflowError].
        queue_overflow: Which event is dropped from a full queue:
            ``"drop-oldest"`` (default; the handlers see the newest events,
            as streams do) or ``"drop-newest"`` (the new event).
        server: What the server offers: ``"auto"`` (ask ``GET /health``
            before the first attempt), ``"vilnius"`` (the contract),
            ``"lizdeika"`` (production) or a
            [`ServerCapabilities`][vilnius_client.ServerCapabilities].

    Auth refusals: the first [`connect`][] raises
    [`AuthError`][vilnius_client.AuthError] (or
    [`ForbiddenError`][vilnius_client.ForbiddenError]) at once instead of
    retrying. On a later reconnect a refusal ends the reconnection (state
    ``disconnected``) when ``token`` is a fixed string, and is retried like any
    failure when it is a callable, which may return a fresh token. Every
    refusal reaches the error listeners.
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
        max_message_size: int | None = _transport.DEFAULT_MAX_MESSAGE_SIZE,
        queue_maxsize: int = DEFAULT_QUEUE_MAXSIZE,
        queue_overflow: Overflow = "drop-oldest",
        server: ServerKind | ServerCapabilities = "auto",
    ) -> None:
        self.url = url.rstrip("/")
        self.close_timeout = close_timeout
        #: How events arrive: ``"socket"``, or ``"polling"`` while a client's
        #: REST fallback fetches them (set by the role clients).
        self.mode = "socket"
        self.logger = logger or logging.getLogger("vilnius_client")
        self._connection_listeners: Listeners[ConnectionChange] = Listeners(self.logger)
        self._error_listeners: Listeners[BaseException] = Listeners(self.logger)
        joins = JoinConfirmations()
        self._heartbeat = Heartbeat(
            heartbeat_interval,
            heartbeat_timeout,
            logger=self.logger,
            report_error=self._report_error,
        )
        self._inbound = Inbound(
            Dispatcher(
                self._report_error, self.logger, maxsize=queue_maxsize, overflow=queue_overflow
            ),
            report_error=self._report_error,
            logger=self.logger,
            take=joins.offer,
            on_heartbeat_ack=self._heartbeat.acknowledged,
        )
        self._connection = Connection(
            self.url,
            token=token,
            agent_id=agent_id,
            capabilities=resolve_server(server),
            inbound=self._inbound,
            heartbeat=self._heartbeat,
            joins=joins,
            report_error=self._report_error,
            logger=self.logger,
            ack_timeout=ack_timeout,
            connect_timeout=connect_timeout,
            transports=transports,
            compression=compression,
            max_message_size=max_message_size,
        )
        cooldown = max_reconnection_delay if circuit_cooldown is None else circuit_cooldown
        self._supervisor = Supervisor(
            attempt=self._connection.open,
            drop=self._connection.drop,
            on_change=self._changed,
            report_error=self._report_error,
            # A fixed token refused stays refused; a function may return a fresh one.
            retry_refusals=lambda: callable(self._connection.token),
            backoff=Backoff(reconnection_delay, max_reconnection_delay, reconnection_attempts),
            breaker=CircuitBreaker(max_errors, cooldown),
            stable_after=stable_after,
            logger=self.logger,
        )

    # -- lifecycle ------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current [`ConnectionState`][vilnius_client.ConnectionState]."""
        return self._supervisor.state

    @property
    def connected(self) -> bool:
        """Whether the manager is connected and events flow."""
        return self.state is _S.CONNECTED

    @property
    def latency(self) -> float | None:
        """The last heartbeat round trip in seconds (``None`` before the first)."""
        return self._heartbeat.latency

    @property
    def agent_id(self) -> str | None:
        """The agent whose dashboard is joined on every (re)connect (``None``: none).

        The role client sets it once a login told it (before the socket connects).
        """
        return self._connection.agent_id

    @agent_id.setter
    def agent_id(self, value: str | None) -> None:
        self._connection.agent_id = value

    @property
    def capabilities(self) -> ServerCapabilities | None:
        """What the server offers (``None`` until asked, with ``server="auto"``).

        A client that found out already (the role clients do, over their REST
        client) sets it before [`connect`][], so that ``GET /health`` is asked once.
        """
        return self._connection.capabilities

    @capabilities.setter
    def capabilities(self, value: ServerCapabilities) -> None:
        self._connection.capabilities = value

    async def connect(self) -> None:
        """Connect, retrying with backoff until connected.

        Returns once the rooms are joined and the session steps have run. With
        ``reconnection_attempts=None`` this waits for as long as the server is
        unreachable (wrap it in ``asyncio.timeout`` to bound it); cancelling it
        stops the attempts and leaves the manager ``disconnected``.

        Raises:
            StateError: Already connected or connecting, or closed.
            AuthError: The server refused the credentials.
            TransportError: ``reconnection_attempts`` were used up.
        """
        if self.state is _S.CLOSED:
            raise StateError("this manager is closed; create a new one")
        if self.state is not _S.DISCONNECTED:
            raise StateError(f"connect() called while {self.state}")
        await self._supervisor.start()

    async def disconnect(self) -> None:
        """Close the connection and stop every task and timer; idempotent.

        Events already received are still handed to the handlers first (for at
        most ``close_timeout`` seconds). The manager is ``closed`` afterwards and
        cannot connect again.
        """
        if self.state is _S.CLOSED and not self._supervisor.running:
            return
        if self.state is not _S.CLOSED:
            self._supervisor.transition(_S.CLOSED, "disconnect() called")
        await self._supervisor.stop()
        dispatcher = self._inbound.dispatcher
        # Events already received are handled before the handlers go away, so
        # that a position saved at close (``last_seq``) never covers an event no
        # handler saw. Bounded: a stuck handler is cancelled after ``close_timeout``.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout):
                await dispatcher.drain()
        await dispatcher.aclose()
        await self._connection_listeners.aclose()
        await self._error_listeners.aclose()
        await self._connection.closed()
        self._inbound.hold()
        # Let python-socketio's per-packet tasks of the closed link finish.
        for _ in range(3):
            await asyncio.sleep(0)

    # -- listeners and hooks --------------------------------------------------

    def _events(self) -> Inbound:
        return self._inbound

    def _listeners(self) -> tuple[Listeners[ConnectionChange], Listeners[BaseException]]:
        return self._connection_listeners, self._error_listeners

    def before_connect(self, step: SessionStep) -> None:
        """Run ``await step()`` at the start of every attempt, before the socket opens.

        For what a connection needs first (the role clients find out what the
        server offers and log in here). What it raises fails the attempt, which
        is retried with backoff; an [`AuthError`][vilnius_client.AuthError] on
        the first [`connect`][] ends it, as a refused connection does.
        """
        self._connection.before.append(step)

    def add_session_step(self, step: SessionStep) -> None:
        """Run ``await step()`` on every (re)connect, after the rooms are joined and
        before live events reach handlers (they are held back meanwhile).

        A step raising [`TransportError`][vilnius_client.TransportError] fails
        the attempt (reconnect); any other exception is reported to the error
        listeners.
        """
        self._connection.steps.append(step)

    def report_error(self, exc: BaseException) -> None:
        """Hand ``exc`` to the error listeners, as the manager does with its own errors.

        For code built on the manager (the role clients report dropped
        events this way). Never raises.
        """
        self._report_error(exc)

    def add_filter(self, fn: EventFilter) -> None:
        """Add ``fn(event, model) -> bool``; ``False`` drops a live event."""
        self._inbound.add_filter(fn)

    async def deliver(self, event: Event | str, model: Any) -> None:
        """Hand a locally produced event (e.g. a replayed message) to the handlers,
        through the same ordered dispatch as live events (no filters)."""
        self._inbound.deliver(event, model)

    # -- sending --------------------------------------------------------------

    async def send(
        self, event: Event | str, data: Any = None, *, ack: bool = False, volatile: bool = False
    ) -> Ack | None:
        """Send a client -> server event.

        Args:
            event: The event (``Event.AGENT_TYPING`` or ``"agent-typing"``).
            data: A model, a string or a dict (snake_case or camelCase); checked
                against the event's payload model before it is sent.
            ack: Wait for the server's acknowledgement.
            volatile: Drop the event (return ``None``, log at debug level)
                instead of raising when not connected; for typing indicators.

        Returns:
            The [`Ack`][vilnius_client.Ack] when ``ack`` is true, else ``None``.

        Raises:
            NotConnectedError: Not connected (and not ``volatile``).
            ConnectionLostError: The connection dropped before the acknowledgement.
            ReplyTimeoutError: No acknowledgement within ``ack_timeout``.
            ServerError: The acknowledgement was negative (mapped by code).
            InvalidPayloadError: ``data`` does not fit the event.
            StateError: The manager is closed.
        """
        if self.state is _S.CLOSED:
            raise StateError("this manager is closed")
        name = Event(event)
        payload = _rpc.encode(name, data)
        link = self._connection.live_link
        if link is None:
            if volatile:
                self.logger.debug("dropped volatile %s while %s", name, self.state)
                return None
            raise NotConnectedError(f"cannot send {name}: {self.state}")
        return await _rpc.emit(link, name, payload, ack=ack, within=self._connection.ack_timeout)

    async def join_conversation(self, conversation_id: str) -> None:
        """Join a conversation's room, now if connected and after every reconnect.

        On a server without acknowledgements (production) the join is
        confirmed by the answer to one ``request-current-state``, which the
        server handles after the join; such a server refuses nothing.

        Raises:
            ServerError: The server refused (e.g. [`NotFoundError`][vilnius_client.NotFoundError],
                [`ForbiddenError`][vilnius_client.ForbiddenError]); the room is then not remembered.
        """
        await self._connection.join(conversation_id)

    @property
    def conversations(self) -> tuple[str, ...]:
        """The conversation rooms joined on every (re)connect."""
        return tuple(self._connection.rooms)

    def get_connection_status(self) -> ConnectionStatus:
        """Return a snapshot of the connection (see
        [`ConnectionStatus`][vilnius_client.ConnectionStatus])."""
        link = self._connection.link if self.connected else None
        return ConnectionStatus(
            state=self.state,
            connected=self.connected,
            attempts=self._supervisor.backoff.failures,
            latency=self.latency,
            sid=link.sid if link else None,
            namespace="/",
            transport=link.transport if link else None,
            url=self.url,
            last_error=self._supervisor.last_error,
            since=self._supervisor.since,
            mode=self.mode,
        )

    def _changed(self, change: ConnectionChange) -> None:
        self._connection_listeners.notify(change)
        if change.new is _S.CONNECTED:
            self._inbound.release()  # the session is ready: live events flow

    def _report_error(self, exc: BaseException) -> None:
        if not self._error_listeners:
            self.logger.warning("unhandled client error: %r", exc)
        self._error_listeners.notify(exc)
