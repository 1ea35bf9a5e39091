"""ModernWebSocketManager: one supervised Socket.IO connection with typed events.

The manager keeps one connection to a Vilnius server alive and hands every
server event, parsed into its :mod:`vilnius_client.events` model, to the
handlers registered with :meth:`ModernWebSocketManager.on`.

Lifecycle of every (re)connection, in order:

1. ask for the token (a string, or a callable asked again on every attempt)
   and connect with ``auth={"token": ...}``;
2. when ``agent_id`` is set, ``join-agent-dashboard``, then the first
   ``heartbeat``;
3. ``join-conversation`` for every remembered conversation; on a server
   with acknowledgements each join waits for its own, on one without
   (production) one ``request-current-state`` answer, which the server sends
   after handling the joins, confirms them all (and is not handed on);
4. the session steps (:meth:`~ModernWebSocketManager.add_session_step`), e.g.
   the catch-up of missed messages;
5. state ``connected``; live events received since step 1, which were held
   back, go through the filters and reach the handlers.

Live events therefore never reach handlers before the rooms are joined and
the session steps have run.

What the server offers (:class:`~vilnius_client.ServerCapabilities`) is asked
from ``GET /health`` before the first attempt, unless ``server=`` says it.

Events the SDK has no model for (a newer server's) can be subscribed to by
name like any other; their handlers receive the payload as the server sent it
(a dict, usually).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

import pydantic

from . import _transport
from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._dispatch import DEFAULT_QUEUE_MAXSIZE, Dispatcher, EventStream, Handler, Overflow
from ._joins import JoinConfirmations
from ._state import Backoff, CircuitBreaker, ConnectionChange, ConnectionState, StateMachine
from ._tokens import TokenSource, resolve_token
from .errors import (
    AuthError,
    ForbiddenError,
    InvalidEventError,
    InvalidPayloadError,
    NotConnectedError,
    NotFoundError,
    ProtocolError,
    ReplyTimeoutError,
    ServerError,
    StateError,
    TransportError,
    VilniusError,
    error_from_code,
)
from .events import (
    CLIENT_EVENT_PAYLOADS,
    SERVER_EVENT_MODELS,
    Ack,
    ErrorEvent,
    Event,
    ServerEvent,
    WireModel,
    utcnow,
)
from .rest import RestClient

__all__ = [
    "ConnectionChange",
    "ConnectionState",
    "ConnectionStatus",
    "ModernWebSocketManager",
]

H = TypeVar("H", bound=Handler)
SessionStep = Callable[[], Awaitable[Any]]
ConnectionListener = TypeVar("ConnectionListener", bound=Callable[[ConnectionChange], Any])
ErrorListener = TypeVar("ErrorListener", bound=Callable[[BaseException], Any])
EventFilter = Callable[[Event | str, Any], bool]

_S = ConnectionState

#: How often per ``heartbeat_timeout`` the watchdog looks for received frames.
_WATCHDOG_CHECKS = 4

#: Wire name -> (event, model) of every server -> client event.
_SERVER_EVENTS: dict[str, tuple[Event, type[ServerEvent]]] = {
    event.value: (event, model) for event, model in SERVER_EVENT_MODELS.items()
}


@dataclass(frozen=True)
class ConnectionStatus:
    """A snapshot of a manager's connection.

    Attributes:
        state: The state machine's current state.
        connected: Whether events flow (``state is CONNECTED``).
        attempts: Consecutive failed attempts since the last stable connection.
        latency: Last heartbeat round trip in seconds (``None`` before the first).
        sid: The Socket.IO session id, when connected.
        namespace: The Socket.IO namespace (always ``"/"``).
        transport: The Engine.IO transport in use, when connected.
        url: The server URL.
        last_error: The last connection error, if any.
        since: When the current state was entered.
        mode: How events arrive: ``"socket"`` (a fallback may report ``"polling"``).
    """

    state: ConnectionState
    connected: bool
    attempts: int
    latency: float | None
    sid: str | None
    namespace: str
    transport: str | None
    url: str
    last_error: BaseException | None
    since: datetime
    mode: str = "socket"


def _event_name(event: Event | str) -> Event | str:
    """The :class:`Event` of a known name; an unknown name as it is."""
    try:
        return Event(event)
    except ValueError:
        if not isinstance(event, str) or not event:
            raise ValueError(f"not an event name: {event!r}") from None
        return event


def _raw_payload(args: tuple[Any, ...]) -> Any:
    """An unmodelled event's payload: its one argument, ``None``, or a list of several."""
    if not args:
        return None
    return args[0] if len(args) == 1 else list(args)


class ModernWebSocketManager:
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
            and is reported as :class:`~vilnius_client.FrameTooLargeError`;
            the reconnect's catch-up recovers a stored message it carried.
        queue_maxsize: Events that may wait for the handlers of one
            conversation (default 10,000). Past it, one event is dropped per
            new one and reported as :class:`~vilnius_client.QueueOverflowError`.
        queue_overflow: Which event is dropped from a full queue:
            ``"drop-oldest"`` (default; the handlers see the newest events,
            as streams do) or ``"drop-newest"`` (the new event).
        server: What the server offers: ``"auto"`` (ask ``GET /health``
            before the first attempt), ``"vilnius"`` (the contract),
            ``"lizdeika"`` (production) or a
            :class:`~vilnius_client.ServerCapabilities`.

    Auth refusals: the first :meth:`connect` raises :class:`AuthError` (or
    :class:`ForbiddenError`) at once instead of retrying. On a later reconnect
    a refusal ends the reconnection (state ``disconnected``) when ``token`` is
    a fixed string, and is retried like any failure when it is a callable,
    which may return a fresh token. Every refusal reaches the error listeners.
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
        self._capabilities = resolve_server(server)
        self._joins = JoinConfirmations()
        self.agent_id = agent_id
        self._token = token
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        #: How events arrive: ``"socket"``, or ``"polling"`` while a client's
        #: REST fallback fetches them (set by AgentClient / CustomerClient).
        self.mode = "socket"
        self.stable_after = stable_after
        self.logger = logger or logging.getLogger("vilnius_client")
        self._transports = transports
        self.compression = compression
        self.max_message_size = max_message_size
        self._machine = StateMachine()
        self._since = utcnow()
        self._backoff = Backoff(reconnection_delay, max_reconnection_delay, reconnection_attempts)
        cooldown = max_reconnection_delay if circuit_cooldown is None else circuit_cooldown
        self._breaker = CircuitBreaker(max_errors, cooldown)
        self._dispatcher = Dispatcher(
            self._report_error, self.logger, maxsize=queue_maxsize, overflow=queue_overflow
        )
        self._connection_listeners: list[Callable[[ConnectionChange], Any]] = []
        self._error_listeners: list[Callable[[BaseException], Any]] = []
        self._session_steps: list[SessionStep] = []
        self._connect_steps: list[SessionStep] = []
        self._filters: list[EventFilter] = []
        self._rooms: dict[str, None] = {}
        self._link: _transport.SocketLink | None = None
        self._ready = False
        self._held: list[tuple[Event | str, Any]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._heartbeat_ack: asyncio.Future[None] | None = None
        self._last_error: BaseException | None = None
        self.latency: float | None = None

    # -- lifecycle ------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._machine.state

    @property
    def connected(self) -> bool:
        """Whether the manager is connected and events flow."""
        return self.state is _S.CONNECTED

    @property
    def capabilities(self) -> ServerCapabilities | None:
        """What the server offers (``None`` until asked, with ``server="auto"``).

        A client that found out already (the role clients do, over their REST
        client) sets it before :meth:`connect`, so that ``GET /health`` is asked once.
        """
        return self._capabilities

    @capabilities.setter
    def capabilities(self, value: ServerCapabilities) -> None:
        self._capabilities = value

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
        self._backoff.reset()
        self._breaker.record_success()
        self._set_state(_S.CONNECTING, "connect() called")
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._first = first
        self._supervisor = asyncio.create_task(self._supervise(), name="vilnius-supervisor")
        try:
            await asyncio.shield(first)
        except asyncio.CancelledError:
            await self._stop_supervisor()
            if self._machine.can(_S.DISCONNECTED):
                self._set_state(_S.DISCONNECTED, "connect() cancelled")
            raise

    async def disconnect(self) -> None:
        """Close the connection and stop every task and timer; idempotent.

        Events already received are still handed to the handlers first (for at
        most ``close_timeout`` seconds). The manager is ``closed`` afterwards and
        cannot connect again.
        """
        if self.state is _S.CLOSED and self._supervisor is None:
            return
        if self.state is not _S.CLOSED:
            self._set_state(_S.CLOSED, "disconnect() called")
        await self._stop_supervisor()
        # Events already received are handled before the handlers go away, so
        # that a position saved at close (``last_seq``) never covers an event no
        # handler saw. Bounded: a stuck handler is cancelled after ``close_timeout``.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._dispatcher.drain(), self.close_timeout)
        await self._dispatcher.aclose()
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, *self._closers, return_exceptions=True)
        self._held.clear()
        # Let python-socketio's per-packet tasks of the closed link finish.
        for _ in range(3):
            await asyncio.sleep(0)

    async def __aenter__(self) -> ModernWebSocketManager:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def _stop_supervisor(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._first is not None and not self._first.done():
            self._first.set_exception(StateError("disconnected while connecting"))
            self._first.exception()
        await self._drop_link("closed")

    # -- handlers and listeners ------------------------------------------------

    @overload
    def on(self, event: Event | str, handler: H) -> H: ...
    @overload
    def on(self, event: Event | str, handler: None = None) -> Callable[[H], H]: ...

    def on(self, event: Event | str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler for a server event; usable as a decorator.

        Args:
            event: An :class:`Event` or its wire name (``"new-message"``); also
                the name of an event the SDK has no model for, whose handlers
                receive the payload as sent (a dict, usually).
            handler: Called with the event's model; sync or async. What it
                raises goes to the error listeners. Events of one conversation
                arrive in server order; a handler that blocks the thread
                blocks the whole client (use ``asyncio.to_thread``).

        Raises:
            ValueError: ``event`` is a client -> server event.
        """
        name = self._server_event(event)
        if not isinstance(name, Event):
            self._warn_if_typo(name)

        def register(fn: H) -> H:
            self._dispatcher.add(name, fn)
            return fn

        return register(handler) if handler is not None else register

    def _warn_if_typo(self, name: str) -> None:
        close = difflib.get_close_matches(name, list(_SERVER_EVENTS), n=1, cutoff=0.85)
        if close:
            self.logger.warning(
                "subscribed to %r, which the SDK does not know (handlers get the raw payload);"
                " did you mean %r?",
                name,
                close[0],
            )

    def off(self, event: Event | str, handler: Handler) -> None:
        """Unregister a handler registered with :meth:`on`."""
        self._dispatcher.remove(self._server_event(event), handler)

    def on_connection_change(self, callback: ConnectionListener) -> ConnectionListener:
        """Call ``callback(change)`` on every state transition (sync or async).

        Returns ``callback``, so that it also works as a decorator; unregister
        it with [`off_connection_change`][].
        """
        self._connection_listeners.append(callback)
        return callback

    def off_connection_change(self, callback: ConnectionListener) -> None:
        """Stop calling ``callback`` on state transitions (unknown callbacks are ignored)."""
        self._discard(self._connection_listeners, callback)

    def on_error(self, callback: ErrorListener) -> ErrorListener:
        """Call ``callback(exc)`` for every error (sync or async).

        Every error: connection failures, handler exceptions, invalid server
        payloads, ``error-event``, dropped events. Returns ``callback``, so
        that it also works as a decorator; unregister it with
        [`off_error`][].
        """
        self._error_listeners.append(callback)
        return callback

    def off_error(self, callback: ErrorListener) -> None:
        """Stop calling ``callback`` with errors (unknown callbacks are ignored)."""
        self._discard(self._error_listeners, callback)

    async def wait_for(
        self,
        event: Event | str,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float | None,  # noqa: ASYNC109 - the agreed public signature
    ) -> Any:
        """Wait for the next ``event`` (matching ``predicate``) and return its model.

        Raises:
            ReplyTimeoutError: None arrived within ``timeout`` seconds.
            StateError: The manager was closed meanwhile.
        """
        return await self._dispatcher.wait_for(self._server_event(event), predicate, timeout)

    def stream(self, event: Event | str, *, maxsize: int = 1000) -> EventStream[Any]:
        """Return an async iterator (and async context manager) of ``event`` models.

        Events are buffered from this call on, at most ``maxsize`` (the oldest
        is dropped beyond that).
        """
        return self._dispatcher.stream(self._server_event(event), maxsize)

    def before_connect(self, step: SessionStep) -> None:
        """Run ``await step()`` at the start of every attempt, before the socket opens.

        For what a connection needs first (the role clients find out what the
        server offers and log in here). What it raises fails the attempt, which
        is retried with backoff; an :class:`AuthError` on the first
        :meth:`connect` ends it, as a refused connection does.
        """
        self._connect_steps.append(step)

    def add_session_step(self, step: SessionStep) -> None:
        """Run ``await step()`` on every (re)connect, after the rooms are joined and
        before live events reach handlers (they are held back meanwhile).

        A step raising :class:`TransportError` fails the attempt (reconnect);
        any other exception is reported to the error listeners.
        """
        self._session_steps.append(step)

    def report_error(self, exc: BaseException) -> None:
        """Hand ``exc`` to the error listeners, as the manager does with its own errors.

        For code built on the manager (the role clients report dropped
        events this way). Never raises.
        """
        self._report_error(exc)

    def add_filter(self, fn: EventFilter) -> None:
        """Add ``fn(event, model) -> bool``; ``False`` drops a live event."""
        self._filters.append(fn)

    async def deliver(self, event: Event | str, model: Any) -> None:
        """Hand a locally produced event (e.g. a replayed message) to the handlers,
        through the same ordered dispatch as live events (no filters)."""
        self._dispatcher.submit(self._server_event(event), model)

    # -- sending --------------------------------------------------------------

    async def send(
        self, event: Event | str, data: Any = None, *, ack: bool = False, volatile: bool = False
    ) -> Ack | None:
        """Send a client -> server event.

        Args:
            event: The event (``Event.AGENT_TYPING`` or ``"agent-typing"``).
            data: A :class:`WireModel`, a string or a dict (snake_case or camelCase).
            ack: Wait for the server's acknowledgement.
            volatile: Drop the event (return ``None``, log at debug level)
                instead of raising when not connected; for typing indicators.

        Returns:
            The :class:`Ack` when ``ack`` is true, else ``None``.

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
        payload = self._encode(name, data)
        link = self._link
        if link is None or not link.connected:
            if volatile:
                self.logger.debug("dropped volatile %s while %s", name, self.state)
                return None
            raise NotConnectedError(f"cannot send {name}: {self.state}")
        return await self._emit(link, name, payload, ack=ack)

    async def join_conversation(self, conversation_id: str) -> None:
        """Join a conversation's room, now if connected and after every reconnect.

        On a server without acknowledgements (production) the join is
        confirmed by the answer to one ``request-current-state``, which the
        server handles after the join; such a server refuses nothing.

        Raises:
            ServerError: The server refused (e.g. :class:`NotFoundError`,
                :class:`ForbiddenError`); the room is then not remembered.
        """
        self._rooms[conversation_id] = None
        link = self._link
        if link is not None and link.connected:
            acks = self._capabilities is None or self._capabilities.acks
            try:
                await self._join(link, Event.JOIN_CONVERSATION, conversation_id, acks=acks)
            except (NotFoundError, ForbiddenError):
                self._rooms.pop(conversation_id, None)
                raise
            if not acks:
                await self._confirm_joins(link)

    @property
    def conversations(self) -> tuple[str, ...]:
        """The conversation rooms joined on every (re)connect."""
        return tuple(self._rooms)

    def get_connection_status(self) -> ConnectionStatus:
        """Return a snapshot of the connection (see :class:`ConnectionStatus`)."""
        link = self._link if self.connected else None
        return ConnectionStatus(
            state=self.state,
            connected=self.connected,
            attempts=self._backoff.failures,
            latency=self.latency,
            sid=link.sid if link else None,
            namespace="/",
            transport=link.transport if link else None,
            url=self.url,
            last_error=self._last_error,
            since=self._since,
            mode=self.mode,
        )

    # -- internals: encoding and acks ------------------------------------------

    def _server_event(self, event: Event | str) -> Event | str:
        name = _event_name(event)
        if isinstance(name, Event) and name not in SERVER_EVENT_MODELS:
            raise ValueError(f"{name} is not a server -> client event")
        return name

    @staticmethod
    def _encode(event: Event, data: Any) -> Any:
        adapter = CLIENT_EVENT_PAYLOADS.get(event)
        if adapter is None:
            return data.to_wire() if isinstance(data, WireModel) else data
        try:
            value = adapter.validate_python(data)
        except pydantic.ValidationError as exc:
            raise InvalidPayloadError(
                f"invalid payload for {event}: {exc.error_count()} error(s)",
                details=exc.errors(include_url=False),
            ) from exc
        return (
            value.to_wire()
            if isinstance(value, WireModel)
            else adapter.dump_python(value, mode="json")
        )

    async def _emit(
        self, link: _transport.SocketLink, event: Event, payload: Any, *, ack: bool
    ) -> Ack | None:
        if not ack:
            await link.emit(event.value, payload)
            return None
        args = await link.call(event.value, payload, ack_within=self.ack_timeout)
        try:
            answer = Ack.model_validate(args[0] if args else {"ok": True})
        except pydantic.ValidationError as exc:
            raise ProtocolError(f"invalid acknowledgement for {event}: {args!r}") from exc
        if not answer.ok:
            code = answer.error.code if answer.error else None
            message = answer.error.message if answer.error else "refused"
            raise error_from_code(code, message)
        return answer

    async def _join(
        self, link: _transport.SocketLink, event: Event, room: str, *, acks: bool
    ) -> None:
        """Send a join: acknowledged where the server acknowledges, else just sent."""
        await self._emit(link, event, room, ack=acks)

    async def _confirm_joins(self, link: _transport.SocketLink) -> None:
        """No acks on this server: wait until it handled the joins (see :mod:`._joins`).

        A join is done when sent there; the confirmation only closes the gap before
        the catch-up. A server that does not answer costs ``ack_timeout`` and a
        reported error, not the connection.
        """
        try:
            await self._joins.confirm(link, self.ack_timeout)
        except ReplyTimeoutError as exc:
            self.logger.warning("%s; going on without", exc)
            self._report_error(exc)

    async def _probe(self) -> ServerCapabilities:
        """Ask ``GET /health`` what the server offers (once; kept for every reconnect)."""
        async with RestClient(
            self.url, request_timeout=self.connect_timeout, retry_attempts=1
        ) as rest:
            capabilities = await rest.capabilities()
        self._capabilities = capabilities
        self.logger.info(
            "server %s offers %s", self.url, sorted(capabilities.features) or "no extras"
        )
        return capabilities

    # -- internals: supervision --------------------------------------------------

    async def _supervise(self) -> None:
        first = self._first
        while True:
            try:
                await self._establish()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not await self._after_failure(exc, first):
                    return
                continue
            if first is not None and not first.done():
                first.set_result(None)
            reason = await self._hold_connection()
            self._set_state(_S.RECONNECTING, reason)
            self._backoff.fail()
            await self._drop_link(reason)
            await self._pause()

    async def _after_failure(self, exc: Exception, first: asyncio.Future[None] | None) -> bool:
        """Record a failed attempt; return whether to try again (after waiting)."""
        self._last_error = exc
        await self._drop_link(str(exc))
        self._report_error(exc)
        connecting = first is not None and not first.done()
        static_token = not callable(self._token)
        if isinstance(exc, AuthError | ForbiddenError) and (connecting or static_token):
            return self._give_up(exc, first, f"refused: {exc}")
        self._backoff.fail()
        if self._backoff.exhausted:
            return self._give_up(exc, first, f"gave up after {self._backoff.failures} attempts")
        self.logger.warning("connection attempt failed: %s", exc)
        if self._breaker.record_failure():
            self._set_state(_S.CIRCUIT_OPEN, f"{self._breaker.failures} consecutive failures")
            await asyncio.sleep(self._breaker.cooldown)
            self._breaker.trial()
            self._set_state(_S.CONNECTING if connecting else _S.RECONNECTING, "half-open trial")
            return True
        await self._pause()
        return True

    def _give_up(self, exc: Exception, first: asyncio.Future[None] | None, reason: str) -> bool:
        self.logger.error("stopped connecting: %s", reason)
        self._set_state(_S.DISCONNECTED, reason)
        if first is not None and not first.done():
            first.set_exception(exc)
            first.exception()  # the caller of connect() may be gone
        self._supervisor = None
        return False

    async def _pause(self) -> None:
        delay = self._backoff.next_delay()
        self.logger.info("next connection attempt in %.2f s", delay)
        await asyncio.sleep(delay)

    async def _establish(self) -> None:
        for prepare in list(self._connect_steps):
            await prepare()
        capabilities = self._capabilities or await self._probe()
        acks = capabilities.acks
        token = await resolve_token(self._token)
        link = _transport.SocketLink(
            self.url,
            on_event=lambda name, args: self._on_server_event(link, name, args),
            on_close=lambda reason: self._on_link_closed(link, reason),
            logger=self.logger,
            transports=self._transports,
            compression=self.compression,
            max_message_size=self.max_message_size,
        )
        self._ready = False
        self._held.clear()
        self._link = link
        await link.open({"token": token} if token is not None else None, wait=self.connect_timeout)
        self.logger.info("socket connected to %s (sid %s)", self.url, link.sid)
        if self.agent_id is not None:
            await self._join(link, Event.JOIN_AGENT_DASHBOARD, self.agent_id, acks=acks)
            self._spawn(self._heartbeat(link), "vilnius-heartbeat")
        for room in list(self._rooms):
            try:
                await self._join(link, Event.JOIN_CONVERSATION, room, acks=acks)
            except (NotFoundError, ForbiddenError) as exc:
                self._rooms.pop(room, None)
                self._report_error(exc)
        if not acks and (self.agent_id is not None or self._rooms):
            await self._confirm_joins(link)
        for step in list(self._session_steps):
            try:
                await step()
            except TransportError:
                raise
            except Exception as exc:
                self._report_error(exc)
        if not link.connected:
            raise TransportError(f"connection lost while joining: {link.close_reason}")
        self._breaker.record_success()
        self._set_state(_S.CONNECTED, "connected")
        held, self._held = self._held, []
        self._ready = True
        for event, model in held:
            self._dispatch_live(event, model)

    async def _hold_connection(self) -> str:
        """Wait while connected; reset the backoff once stable. Returns why it ended."""
        link = self._link
        assert link is not None
        try:
            async with asyncio.timeout(self.stable_after):
                reason = await link.wait_closed()
        except TimeoutError:
            self._backoff.reset()
            reason = await link.wait_closed()
        self.logger.warning("connection lost: %s", reason)
        if link.close_error is not None:
            self._last_error = link.close_error
            self._report_error(link.close_error)
        return reason

    async def _drop_link(self, reason: str) -> None:
        link, self._link = self._link, None
        self._ready = False
        for task in list(self._background):
            if task.get_name() == "vilnius-heartbeat":
                task.cancel()
        if link is not None:
            link.abort(reason)
            # A half-open socket may take a moment to close: do it aside (it
            # is bounded, and disconnect() waits for it).
            closer = asyncio.create_task(link.close(), name="vilnius-link-close")
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _heartbeat(self, link: _transport.SocketLink) -> None:
        """Send heartbeats; declare the link dead only after ``heartbeat_timeout`` of silence.

        Any event or acknowledgement received proves the link alive (as
        discord.py's gateway does): under a burst the ``heartbeat-ack`` waits
        behind the backlog, and a reconnect would lose what is in flight. The
        next heartbeat goes out once the ack arrived (one outstanding at a time).
        """
        loop = asyncio.get_running_loop()
        while link.connected:
            started = loop.time()
            ack = self._heartbeat_ack = loop.create_future()
            try:
                await link.emit(Event.HEARTBEAT.value, {"timestamp": int(time.time() * 1000)})
            except VilniusError:
                return
            if not await self._await_heartbeat_ack(link, ack, started):
                reason = f"no heartbeat-ack and nothing else within {self.heartbeat_timeout:g} s"
                self.logger.warning("%s: connection considered dead", reason)
                self._report_error(TransportError(reason))
                link.abort(reason)
                return
            if not ack.done():
                return  # the link closed meanwhile
            self.latency = loop.time() - started
            await asyncio.sleep(max(0.0, self.heartbeat_interval - (loop.time() - started)))

    async def _await_heartbeat_ack(
        self, link: _transport.SocketLink, ack: asyncio.Future[None], sent: float
    ) -> bool:
        """Wait for ``ack``; ``False`` once nothing arrived for ``heartbeat_timeout`` seconds.

        Checked every quarter of the timeout, so silence is detected between
        one and one and a quarter timeouts after the last frame.
        """
        loop = asyncio.get_running_loop()
        step = self.heartbeat_timeout / _WATCHDOG_CHECKS
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
            elif now - quiet_since >= self.heartbeat_timeout - step / 100:
                return False
        return True

    # -- internals: inbound events ------------------------------------------------

    def _on_link_closed(self, link: _transport.SocketLink, reason: str) -> None:
        if link is self._link:
            self.logger.debug("link closed: %s", reason)

    def _on_server_event(
        self, link: _transport.SocketLink, name: str, args: tuple[Any, ...]
    ) -> None:
        if link is not self._link:
            return
        known = _SERVER_EVENTS.get(name)
        if known is None:
            self._on_unmodelled_event(name, args)
            return
        event, model_cls = known
        raw = args[0] if args else None
        try:
            model = model_cls.model_validate(raw)
        except pydantic.ValidationError as exc:
            self._report_error(
                InvalidEventError(
                    f"invalid {event} payload from server: {exc}",
                    event=event.value,
                    payload=raw,
                    errors=exc.errors(include_url=False),
                )
            )
            return
        if event is Event.CURRENT_STATE and self._joins.offer(model):
            return  # the answer that confirms the joins
        if event is Event.HEARTBEAT_ACK:
            ack = self._heartbeat_ack
            if ack is not None and not ack.done():
                ack.set_result(None)
        elif isinstance(model, ErrorEvent):
            server_error: ServerError = error_from_code(
                model.code, model.message, details=model.details
            )
            self._report_error(server_error)
        if self._ready:
            self._dispatch_live(event, model)
        else:
            self._held.append((event, model))

    def _on_unmodelled_event(self, name: str, args: tuple[Any, ...]) -> None:
        """An event the SDK has no model for: its subscribers get the raw payload."""
        if not self._dispatcher.wants(name):
            self.logger.debug("ignored unknown event %r", name)
            return
        payload = _raw_payload(args)
        if self._ready:
            self._dispatch_live(name, payload)
        else:
            self._held.append((name, payload))

    def _dispatch_live(self, event: Event | str, model: Any) -> None:
        for keep in self._filters:
            try:
                if not keep(event, model):
                    return
            except Exception as exc:
                self._report_error(exc)
        self._dispatcher.submit(event, model)

    # -- internals: listeners ----------------------------------------------------

    def _set_state(self, new: ConnectionState, reason: str) -> None:
        change = self._machine.transition(new, reason)
        if change is None:
            return
        self._since = utcnow()
        self.logger.info("connection %s -> %s (%s)", change.old, change.new, reason)
        for listener in list(self._connection_listeners):
            self._notify(listener, change)

    def _report_error(self, exc: BaseException) -> None:
        if not self._error_listeners:
            self.logger.warning("unhandled client error: %r", exc)
        for listener in list(self._error_listeners):
            self._notify(listener, exc)

    def _notify(self, listener: Callable[[Any], Any], arg: Any) -> None:
        try:
            result = listener(arg)
            if inspect.isawaitable(result):
                self._spawn(self._await_listener(listener, result), "vilnius-listener")
        except Exception:
            self.logger.exception("listener %r failed", listener)

    async def _await_listener(self, listener: Callable[[Any], Any], result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception:
            self.logger.exception("listener %r failed", listener)

    @staticmethod
    def _discard(items: list[Any], item: Any) -> None:
        with contextlib.suppress(ValueError):
            items.remove(item)
