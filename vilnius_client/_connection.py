"""One connection to a Vilnius server: it connects, heartbeats, joins and reconnects.

`Connection` owns everything about one logical connection, over a `Transport` that tests
can replace (`vilnius_client._transport`). Every attempt, in order:

1. ``session.prepare()``: what the server offers (``GET /health``, once) and the
   credentials (a login the first time), as an `Attempt`;
2. a new `Link` with ``auth={"token": ...}``;
3. ``join-agent-dashboard`` (when there is an agent id) and the first heartbeat, then
   ``join-conversation`` for every room. On a server with acknowledgements each join waits
   for its own; on one without (production) the answer to one ``request-current-state``,
   which the server handles after the joins, confirms them all;
4. ``session.resume()``: the catch-up of missed messages (the recovery's);
5. state ``connected``.

Steps 1-2 are bounded by ``connect_timeout``, each join by ``ack_timeout``, the catch-up by
its requests' ``request_timeout``. The first `start` retries failed attempts
until ``connect_timeout`` has passed and then raises the last error (at once for what no
retry mends: refused credentials, a wrong URL, TLS); after a first success the connection
is kept up for ever, with backoff and full jitter between attempts (`vilnius_client._retry`),
and a circuit breaker that pauses after ``max_errors`` consecutive failures. The
attempts run in a tenacity loop whose sleep tests may replace.

Heartbeats (agents only) go out every ``heartbeat_interval`` seconds, one at a time. The
watchdog trips on silence, not on a late ack: any event or acknowledgement proves the link
alive (a ``heartbeat-ack`` waits behind a burst); nothing at all for ``heartbeat_timeout``
seconds after a heartbeat marks the link dead, and it is dropped and re-established.

Every event from the link goes `Dispatcher.parse` -> the connection's own taps
(``heartbeat-ack``, the join confirmation, ``error-event`` reported) -> ``session.deliver``
(the recovery, then the dispatcher).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import pydantic
import tenacity

from ._capabilities import ServerCapabilities
from ._dispatch import Dispatcher
from ._retry import Backoff, CircuitBreaker, attempt_error
from ._state import ConnectionChange, ConnectionState, ConnectionStatus, StateMachine
from ._timestamps import utcnow
from ._transport import Link, Transport, cancel_until_done
from .errors import (
    AuthError,
    ConnectionLostError,
    ForbiddenError,
    InvalidPayloadError,
    NotConnectedError,
    NotFoundError,
    ProtocolError,
    ReplyTimeoutError,
    StateError,
    TransportError,
    VilniusError,
    error_from_code,
)
from .events import CLIENT_EVENT_PAYLOADS, Ack, CurrentStateEvent, Event, StateType, WireModel

__all__ = ["Attempt", "Connection", "Listeners", "Session", "Timings", "encode"]

_S = ConnectionState
T = TypeVar("T")

#: How often per ``heartbeat_timeout`` the watchdog looks for received frames.
_WATCHDOG_CHECKS = 4

#: Cancellations sent to a connection loop that swallows them before it is left alone.
_STOP_TRIES = 50

#: The least time (s) worth a first-connect attempt: with less left, the last error stands.
_MIN_ATTEMPT = 0.25


@dataclass(frozen=True)
class Attempt:
    """What one connection attempt needs, as its session prepared it.

    Attributes:
        token: The bearer token sent as ``auth={"token": ...}`` (``None``: no auth).
        agent_id: The dashboard joined on this attempt (``None``: none).
        capabilities: What the server offers.
        fresh_credentials: Whether the next attempt may bring other credentials (a
            token function): a refusal after the first connect is then retried.
    """

    token: str | None
    agent_id: str | None
    capabilities: ServerCapabilities
    fresh_credentials: bool = False


class Session(Protocol):
    """What a connection asks of the client it serves."""

    async def prepare(self) -> Attempt:
        """Before every attempt: credentials and capabilities (probe, login)."""
        ...

    async def resume(self) -> None:
        """After the joins, before ``connected``: catch up (may return while it goes on)."""
        ...

    def deliver(self, event: Event | str, model: Any) -> None:
        """One event from the link, parsed."""
        ...

    def changed(self, change: ConnectionChange) -> None:
        """A state transition (before the listeners hear of it)."""
        ...


@dataclass(frozen=True)
class Timings:
    """The connection's options that are times and counts (see the manager's docstring)."""

    reconnection_attempts: int | None = None
    reconnection_delay: float = 1.0
    max_reconnection_delay: float = 30.0
    heartbeat_interval: float = 15.0
    heartbeat_timeout: float = 5.0
    max_errors: int = 10
    ack_timeout: float = 10.0
    connect_timeout: float = 10.0
    stable_after: float = 10.0
    circuit_cooldown: float | None = None


class Listeners(Generic[T]):
    """Callbacks that each receive one ``T``, plain or async, called safely.

    Called at once, in registration order; an awaitable a callback returns is awaited in a
    task of its own (a slow listener never holds the connection up). What a listener
    raises is logged, never propagated: reporting must not fail the reporter.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._callbacks: list[Callable[[T], Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._logger = logger

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, callback: Callable[[T], Any]) -> None:
        """Call ``callback`` from now on (added twice, it is called twice)."""
        self._callbacks.append(callback)

    def remove(self, callback: Callable[[T], Any]) -> None:
        """Stop calling ``callback`` (once per `add`); an unknown callback is ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def notify(self, value: T) -> None:
        """Call every listener with ``value``; never raises."""
        for callback in list(self._callbacks):
            try:
                result = callback(value)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(self._await(callback, result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                self._logger.exception("listener %r failed", callback)

    async def _await(self, callback: Callable[[T], Any], result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception:
            self._logger.exception("listener %r failed", callback)

    async def aclose(self) -> None:
        """Cancel the async listeners still running, and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def encode(event: Event, data: Any) -> Any:
    """The wire payload of a client -> server ``event``, checked with the contract's model.

    Raises:
        InvalidPayloadError: ``data`` does not fit the event.
    """
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
    if isinstance(value, WireModel):
        return value.to_wire()
    return adapter.dump_python(value, mode="json")


class Connection:
    """One logical connection, kept up across links (see the module docstring).

    Args:
        url: The server's root URL.
        transport: Makes the links.
        session: Prepares attempts, catches up, takes the events.
        dispatcher: Parses the events (and is drained on close by the owner).
        timings: Times and counts.
        logger: Where the connection logs.
        sleep: Waits between attempts (tests replace it).
    """

    def __init__(
        self,
        url: str,
        *,
        transport: Transport,
        session: Session,
        dispatcher: Dispatcher,
        timings: Timings,
        logger: logging.Logger,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.transport = transport
        self.session = session
        self.timings = timings
        self.logger = logger
        self.changes: Listeners[ConnectionChange] = Listeners(logger)
        self.errors: Listeners[BaseException] = Listeners(logger)
        #: How events arrive: ``"socket"``, or ``"polling"`` while the recovery polls.
        self.mode = "socket"
        self.latency: float | None = None
        self.last_error: BaseException | None = None
        self.since = utcnow()
        self.capabilities: ServerCapabilities | None = None
        self._dispatcher = dispatcher
        self._sleep = sleep
        self._machine = StateMachine()
        self.backoff = Backoff(
            timings.reconnection_delay,
            timings.max_reconnection_delay,
            timings.reconnection_attempts,
        )
        cooldown = timings.circuit_cooldown
        self.breaker = CircuitBreaker(
            timings.max_errors, timings.max_reconnection_delay if cooldown is None else cooldown
        )
        self._rooms: dict[str, None] = {}
        self._link: Link | None = None
        self._attempt: Attempt | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._ack: asyncio.Future[None] | None = None
        self._confirming: asyncio.Future[None] | None = None
        self._current: object | None = None
        self._sent = 0.0
        self._closers: set[asyncio.Task[None]] = set()
        self.fatal: BaseException | None = None
        self._reported: BaseException | None = None
        self.ended = asyncio.Event()

    # -- state --------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands."""
        return self._machine.state

    @property
    def rooms(self) -> tuple[str, ...]:
        """The conversation rooms joined on every (re)connect."""
        return tuple(self._rooms)

    @property
    def agent_id(self) -> str | None:
        """The agent of the dashboard joined by the last attempt."""
        return self._attempt.agent_id if self._attempt is not None else None

    def transition(self, new: ConnectionState, reason: str) -> None:
        """Move to ``new``; the session, then the listeners, hear of it."""
        change = self._machine.transition(new, reason)
        if change is None:
            return
        self.since = utcnow()
        self.logger.info("connection %s -> %s (%s)", change.old, change.new, reason)
        self.session.changed(change)
        self.changes.notify(change)

    def status(self) -> ConnectionStatus:
        """A snapshot of the connection."""
        link = self._link if self.state is _S.CONNECTED else None
        return ConnectionStatus(
            state=self.state,
            connected=self.state is _S.CONNECTED,
            attempts=self.backoff.failures,
            latency=self.latency,
            sid=link.sid if link else None,
            namespace="/",
            transport=link.transport if link else None,
            url=self.url,
            last_error=self.last_error,
            since=self.since,
            mode=self.mode,
        )

    def report(self, exc: BaseException) -> None:
        """Hand ``exc`` to the error listeners (logged when there are none); never raises."""
        if not self.errors:
            self.logger.warning("unhandled client error: %r", exc)
        self.errors.notify(exc)

    # -- lifecycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the connection loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Connect; return once connected (see the module docstring for the bounds).

        Raises:
            StateError: Already started, or closed.
            AuthError: The credentials were refused.
            TransportError: No attempt succeeded within ``connect_timeout`` (the last
                error), or one failed in a way no retry mends.
        """
        if self.state is _S.CLOSED:
            raise StateError("this client is closed; create a new one")
        if self.state is not _S.DISCONNECTED:
            raise StateError(f"connect() called while {self.state}")
        self.backoff.reset()
        self.breaker.record_success()
        self.fatal = None
        self.ended.clear()
        self.transition(_S.CONNECTING, "connect() called")
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._first = first
        self._task = asyncio.create_task(self._run(first), name="vilnius-connection")
        try:
            await asyncio.shield(first)
        except asyncio.CancelledError:
            await self._stop_loop()
            if self._machine.can(_S.DISCONNECTED):
                self.transition(_S.DISCONNECTED, "connect() cancelled")
            raise

    async def stop(self) -> None:
        """Close for good: stop the loop, drop the link; idempotent."""
        if self.state is not _S.CLOSED:
            self.transition(_S.CLOSED, "disconnect() called")
        await self._stop_loop()
        await asyncio.gather(*self._closers, return_exceptions=True)
        self.ended.set()

    async def _stop_loop(self) -> None:
        task, self._task = self._task, None
        # Cancelled again while it runs: an attempt may swallow a cancellation (user code
        # in a token function, Python 3.11's wait_for racing an answer).
        if task is not None and not await cancel_until_done(task, tries=_STOP_TRIES, step=0.1):
            self.logger.error("the connection loop ignores its cancellation; left running")
        if self._first is not None and not self._first.done():
            self._first.set_exception(StateError("disconnected while connecting"))
            self._first.exception()
        await self._drop("closed")

    async def _run(self, first: asyncio.Future[None]) -> None:
        try:
            link = await self._episode(first=True)
            while True:
                if self.state is _S.CLOSED:
                    return  # a stop() whose cancellation an attempt swallowed
                self.breaker.record_success()
                self.transition(_S.CONNECTED, "connected")
                if not first.done():
                    first.set_result(None)
                reason = await self._hold(link)
                self.transition(_S.RECONNECTING, reason)
                self.backoff.fail()
                await self._drop(reason)
                await self._sleep(self.backoff.next_delay())
                link = await self._episode(first=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._drop(str(exc))
            self._give_up(exc, first)

    def _give_up(self, exc: Exception, first: asyncio.Future[None]) -> None:
        self.logger.error("stopped connecting: %s", exc)
        self.fatal = exc
        self.last_error = exc
        if self._machine.can(_S.DISCONNECTED):
            self.transition(_S.DISCONNECTED, f"gave up: {exc}")
        if exc is not self._reported:
            self.report(exc)  # also raised by connect() the first time
        if not first.done():
            first.set_exception(exc)
            first.exception()  # the caller of connect() may be gone
        self.ended.set()

    async def _episode(self, *, first: bool) -> Link:
        """Attempts until one succeeds; the first connect only within ``connect_timeout``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        limit = self.timings.connect_timeout
        delays: list[float] = [0.0]

        def budget() -> float:
            return limit - (loop.time() - started) if first else limit

        def retry(exc: BaseException) -> bool:
            if self.state is _S.CLOSED or not isinstance(exc, Exception):
                return False
            if isinstance(exc, AuthError | ForbiddenError):
                fresh = self._attempt is not None and self._attempt.fresh_credentials
                return not first and fresh
            if first:
                return isinstance(exc, VilniusError) and exc.temporary
            return True

        def after(state: tenacity.RetryCallState) -> None:
            exc = attempt_error(state)
            self.last_error = exc
            self.backoff.fail()
            self.logger.warning("connection attempt failed: %s", exc)
            if exc is not None:
                self.report(exc)
                self._reported = exc
            if self.breaker.record_failure():
                why = f"{self.breaker.failures} consecutive failures"
                self.transition(_S.CIRCUIT_OPEN, why)
                self.report(
                    TransportError(
                        f"{self.url}: circuit open after {why} (last: {exc}); "
                        f"next attempt in {self.breaker.cooldown:g} s"
                    )
                )
            # Decided once here, read by wait and stop (tenacity calls them in either order).
            pause = self.breaker.cooldown if self.breaker.is_open else self.backoff.next_delay()
            delays.append(pause)

        def stop(state: tenacity.RetryCallState) -> bool:
            # The first connect stops rather than start an attempt with next to no time
            # left: its error would be a timeout, hiding the real one (refused, ...).
            floor = min(_MIN_ATTEMPT, limit / 2)
            return self.backoff.exhausted or (first and budget() - delays[-1] < floor)

        def wait(state: tenacity.RetryCallState) -> float:
            return delays[-1]

        def before(state: tenacity.RetryCallState) -> None:
            if self.state is _S.CIRCUIT_OPEN:
                self.breaker.trial()
                self.transition(_S.CONNECTING if first else _S.RECONNECTING, "half-open trial")

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retry),
            after=after,
            stop=stop,
            wait=wait,
            before=before,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            link: Link = await retrying(self._open, budget)
        except Exception as exc:
            if not first and self.backoff.exhausted:
                raise TransportError(
                    f"{self.url}: gave up after {self.backoff.failures} attempts: {exc}"
                ) from exc
            raise
        return link

    async def _open(self, budget: Callable[[], float]) -> Link:
        """One attempt (steps 1-4 of the module docstring)."""
        await self._drop("new attempt")
        within = max(budget(), 0.001)
        step = "preparing"
        try:
            async with asyncio.timeout(within):
                attempt = self._attempt = await self.session.prepare()
                self.capabilities = attempt.capabilities
                step = "the Socket.IO handshake"
                current = self._current = object()  # frames of this attempt's link only
                link = await self.transport.open(
                    self.url,
                    auth={"token": attempt.token} if attempt.token is not None else None,
                    on_event=lambda name, args: self._receive(current, name, args),
                    within=within,
                )
                self._link = link
        except TimeoutError as exc:
            raise TransportError(f"{self.url}: no answer within {within:.3g} s ({step})") from exc
        self.logger.info("socket connected to %s (sid %s)", self.url, link.sid)
        await self._join_all(link, attempt)  # each join bounded by ack_timeout
        await self.session.resume()
        if not link.connected:
            raise ConnectionLostError(f"connection lost while catching up: {link.close_reason}")
        return link

    async def _hold(self, link: Link) -> str:
        """Wait while connected; reset the backoff once stable. Returns why it ended."""
        try:
            async with asyncio.timeout(self.timings.stable_after):
                reason = await link.wait_closed()
        except TimeoutError:
            self.backoff.reset()
            reason = await link.wait_closed()
        self.logger.warning("connection lost: %s", reason)
        if link.close_error is not None:
            self.last_error = link.close_error
            self.report(link.close_error)
        return reason

    async def _drop(self, reason: str) -> None:
        """Tear the current link down (closed aside, bounded) and stop its heartbeats."""
        link, self._link = self._link, None
        self._current = None
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        if link is not None:
            link.abort(reason)
            closer = asyncio.create_task(link.close(), name="vilnius-link-close")
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)

    # -- rooms ------------------------------------------------------------------------

    async def _join_all(self, link: Link, attempt: Attempt) -> None:
        acks = attempt.capabilities.acks
        if attempt.agent_id is not None:
            await self._join(link, Event.JOIN_AGENT_DASHBOARD, attempt.agent_id, acks=acks)
            self._heartbeat = asyncio.create_task(self._beat(link), name="vilnius-heartbeat")
        for room in list(self._rooms):
            try:
                await self._join(link, Event.JOIN_CONVERSATION, room, acks=acks)
            except (NotFoundError, ForbiddenError) as exc:
                self._rooms.pop(room, None)
                self.report(exc)
        if not acks and (attempt.agent_id is not None or self._rooms):
            await self._confirm_joins(link)

    async def join(self, room: str) -> None:
        """Remember a room; join it now when connected.

        Raises:
            ServerError: The server refused (the room is then forgotten).
        """
        self._rooms[room] = None
        link = self._link
        if link is None or not link.connected or self.state is not _S.CONNECTED:
            return
        acks = self.capabilities is None or self.capabilities.acks
        try:
            await self._join(link, Event.JOIN_CONVERSATION, room, acks=acks)
        except (NotFoundError, ForbiddenError):
            self._rooms.pop(room, None)
            raise
        if not acks:
            await self._confirm_joins(link)

    async def _join(self, link: Link, event: Event, room: str, *, acks: bool) -> None:
        await self._emit(link, event, encode(event, room), ack=acks)

    async def _confirm_joins(self, link: Link) -> None:
        """No acks on this server: wait until it handled the joins sent before.

        Production handles one socket's events in order and joins a room first thing, so
        the answer to a ``request-current-state`` sent after the joins proves them done;
        without it, a message stored between a join and the server handling it would be
        neither live nor found by the catch-up. A server that does not answer costs
        ``ack_timeout`` and a reported error, not the connection.
        """
        confirmed = asyncio.get_running_loop().create_future()
        self._confirming = confirmed
        closed = asyncio.ensure_future(link.wait_closed())
        within = self.timings.ack_timeout
        try:
            await link.emit(Event.REQUEST_CURRENT_STATE.value, StateType.SYSTEM_MODE.value)
            await asyncio.wait((confirmed, closed), timeout=within, return_when="FIRST_COMPLETED")
            if not confirmed.done():
                if closed.done():
                    raise ConnectionLostError(f"connection lost while joining: {link.close_reason}")
                error = ReplyTimeoutError(
                    f"no answer to request-current-state within {within:g} s: "
                    "the joins are not confirmed"
                )
                self.logger.warning("%s; going on without", error)
                self.report(error)
        finally:
            closed.cancel()
            self._confirming = None
            if not confirmed.done():
                confirmed.cancel()

    # -- sending ----------------------------------------------------------------------

    async def send(self, event: Event, data: Any, *, ack: bool, volatile: bool) -> Ack | None:
        """Send a client -> server event (see the manager's ``send``)."""
        if self.state is _S.CLOSED:
            raise StateError("this client is closed")
        payload = encode(event, data)
        link = self._link
        if link is None or not link.connected:
            if volatile:
                self.logger.debug("dropped volatile %s while %s", event, self.state)
                return None
            raise NotConnectedError(f"cannot send {event}: {self.state}")
        return await self._emit(link, event, payload, ack=ack)

    async def _emit(self, link: Link, event: Event, payload: Any, *, ack: bool) -> Ack | None:
        if not ack:
            await link.emit(event.value, payload)
            return None
        args = await link.call(event.value, payload, within=self.timings.ack_timeout)
        try:
            answer = Ack.model_validate(args[0] if args else {"ok": True})
        except pydantic.ValidationError as exc:
            raise ProtocolError(f"invalid acknowledgement for {event}: {args!r}") from exc
        if not answer.ok:
            code = answer.error.code if answer.error else None
            message = answer.error.message if answer.error else "refused"
            raise error_from_code(code, message)
        return answer

    # -- receiving --------------------------------------------------------------------

    def _receive(self, current: object, name: str, args: tuple[Any, ...]) -> None:
        if current is not self._current:
            return  # a late frame of a link already dropped
        parsed = self._dispatcher.parse(name, args)
        if parsed is None:
            return
        event, model = parsed
        if event is Event.HEARTBEAT_ACK:
            self._acked()
        elif event is Event.CURRENT_STATE:
            confirming = self._confirming
            if (
                confirming is not None
                and not confirming.done()
                and isinstance(model, CurrentStateEvent)
                and model.type is StateType.SYSTEM_MODE
            ):
                confirming.set_result(None)
                return  # the answer that confirms the joins: not handed on
        elif event is Event.ERROR_EVENT:
            self.report(error_from_code(model.code, model.message, details=model.details))
        self.session.deliver(event, model)

    # -- heartbeats -------------------------------------------------------------------

    def _acked(self) -> None:
        ack = self._ack
        if ack is not None and not ack.done():
            self.latency = ack.get_loop().time() - self._sent  # measured now, before handlers
            ack.set_result(None)

    async def _beat(self, link: Link) -> None:
        """Heartbeat on ``link`` until it closes, or declare it dead after a silence."""
        loop = asyncio.get_running_loop()
        interval, timeout = self.timings.heartbeat_interval, self.timings.heartbeat_timeout
        while link.connected:
            sent = self._sent = loop.time()
            ack = self._ack = loop.create_future()
            try:
                await link.emit(Event.HEARTBEAT.value, {"timestamp": int(time.time() * 1000)})
            except VilniusError:
                return
            if not await self._answered(link, ack, sent):
                reason = f"no heartbeat-ack and nothing else within {timeout:g} s"
                self.logger.warning("%s: connection considered dead", reason)
                self.report(TransportError(reason))
                link.abort(reason)
                return
            if not ack.done():
                return  # the link closed meanwhile
            await asyncio.sleep(max(0.0, interval - (loop.time() - sent)))

    async def _answered(self, link: Link, ack: asyncio.Future[None], sent: float) -> bool:
        """Wait for ``ack``; ``False`` once nothing arrived for ``heartbeat_timeout``.

        Checked every quarter of the timeout: silence is detected between one and one and
        a quarter timeouts after the last frame.
        """
        loop = asyncio.get_running_loop()
        timeout = self.timings.heartbeat_timeout
        step = timeout / _WATCHDOG_CHECKS
        heard, quiet_since = link.received, sent
        while not ack.done():
            # asyncio.wait, not wait_for: it neither cancels the future nor, on 3.11,
            # swallows a cancellation racing with the ack.
            await asyncio.wait((ack,), timeout=step)
            if ack.done() or not link.connected:
                break
            now = loop.time()
            if link.received != heard:
                heard, quiet_since = link.received, now
            elif now - quiet_since >= timeout - step / 100:
                return False
        return True
