"""The seam around python-socketio: the only module of the SDK that imports it.

A :class:`SocketLink` is one Socket.IO connection, from connect to close. The
manager makes a new link for every attempt, so no state of python-socketio or
Engine.IO leaks from one connection to the next. python-socketio is used
with its own reconnection and SIGINT handling disabled and with an adapter
logger, so that it neither installs process-wide handlers nor adds log
handlers to shared loggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import engineio
import orjson
import socketio
from engineio import base_client as eio_base_client
from engineio import packet as eio_packet

from .errors import (
    AuthError,
    ConnectionLostError,
    ForbiddenError,
    NotConnectedError,
    ReplyTimeoutError,
    ServerError,
    TransportError,
)

__all__ = ["EventCallback", "SocketLink"]

EventCallback = Callable[[str, tuple[Any, ...]], None]
"""``(event_name, args)``: called for every server event, in arrival order."""

_AUTH_CODES = {"unauthorized": AuthError, "forbidden": ForbiddenError}
_CLOSE_TIMEOUT = 1.0
_EIO_MESSAGE = 4  # engineio.packet.MESSAGE


class _LibraryLogger:
    """Passes python-socketio's chatter to our logger, one level quieter.

    python-socketio logs every packet at INFO; those become DEBUG here. Passing
    an object (not ``True``/``False``) also stops it from attaching a
    ``StreamHandler`` to its module logger.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._logger.debug(msg, *args, **kwargs)

    info = debug

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._logger.info(msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._logger.warning(msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._logger.warning(msg, *args, exc_info=True, **kwargs)


class _EngineIOClient(engineio.AsyncClient):  # type: ignore[misc]
    """Engine.IO client that hands Socket.IO events and acks over inline.

    Stock Engine.IO starts one task per received message (and, on Python
    3.11, one more per ``wait_for`` around each websocket read), and
    python-socketio then decodes it with the stdlib ``json``; at thousands of
    events per second that is most of the client's work. Here text messages
    carrying a Socket.IO ``EVENT`` or ``ACK`` are handled in the read loop
    itself, in arrival order (:class:`_SocketIOClient`); every other message
    (ping, connect, disconnect, errors, binary) takes the stock path.
    """

    #: ``fast_event(data) -> handled``: a Socket.IO packet, decoded and delivered at once.
    fast_event: Callable[[str], bool] | None = None
    #: ``take_message(data)``: any Socket.IO EVENT or ACK packet, handled in order.
    take_message: Callable[[str], Awaitable[None]] | None = None

    async def _receive_packet(self, pkt: Any) -> None:
        data = pkt.data
        take = self.take_message
        if (
            take is not None
            and pkt.packet_type == _EIO_MESSAGE
            and type(data) is str
            and data[:1] in ("2", "3")
        ):
            fast = self.fast_event
            if fast is None or not fast(data):
                await take(data)
            return
        await super()._receive_packet(pkt)

    async def _read_loop_websocket(self) -> None:
        if not _OWN_READ_LOOP:
            await super()._read_loop_websocket()
            return
        # The stock loop, with one idle deadline that is moved forward lazily
        # instead of a ``wait_for`` (a task and a timer) per message, and with
        # Socket.IO events and acks taken without building Engine.IO packets.
        loop = asyncio.get_running_loop()
        limit = self.ping_interval + self.ping_timeout
        ws = self.ws
        try:
            async with asyncio.timeout(None) as idle:
                while self.state == "connected" and self.write_loop_task:
                    now = loop.time()
                    when = idle.when()
                    if when is None or when < now + limit:
                        idle.reschedule(now + limit * 1.05)
                    try:
                        data = (await ws.receive()).data
                    except aiohttp.client_exceptions.ServerDisconnectedError:
                        self.logger.info("Read loop: WebSocket connection was closed, aborting")
                        await self.queue.put(None)
                        break
                    except Exception as exc:
                        self.logger.info('Unexpected error receiving packet: "%s", aborting', exc)
                        await self.queue.put(None)
                        break
                    if type(data) is str and data[:2] in ("42", "43"):
                        take = self.take_message
                        if take is not None:
                            fast = self.fast_event
                            body = data[1:]
                            if fast is None or not fast(body):
                                await take(body)
                            continue
                    if not isinstance(data, str | bytes):
                        self.logger.warning("Server sent packet data %s, aborting", data)
                        await self.queue.put(None)
                        break
                    try:
                        pkt = eio_packet.Packet(encoded_packet=data)
                    except Exception as exc:
                        self.logger.info('Unexpected error decoding packet: "%s", aborting', exc)
                        await self.queue.put(None)
                        break
                    await self._receive_packet(pkt)
        except TimeoutError:
            self.logger.warning("Server has stopped communicating, aborting")
            await self.queue.put(None)
        if self.write_loop_task:
            self.logger.info("Waiting for write loop task to end")
            await self.write_loop_task
        if self.state == "connected":
            await self._trigger_event("disconnect", self.reason.TRANSPORT_ERROR, run_async=False)
            with contextlib.suppress(ValueError):
                eio_base_client.connected_clients.remove(self)
            await self._reset()
        self.logger.info("Exiting read loop task")


# The read loop above relies on these internals of python-engineio 4.x; with a
# version that lacks one of them the stock loop is used.
_OWN_READ_LOOP = all(
    hasattr(engineio.AsyncClient, name)
    for name in ("_read_loop_websocket", "_receive_packet", "_trigger_event", "_reset", "reason")
) and hasattr(eio_base_client, "connected_clients")


class _SocketIOClient(socketio.AsyncClient):  # type: ignore[misc]
    """``socketio.AsyncClient`` with a fast path for events on the default namespace.

    ``2["name",...]`` (an event without acknowledgement id on ``/``) is decoded
    with orjson and passed to ``fast_event(name, args)`` directly. Anything
    else of type EVENT or ACK, and anything orjson refuses (e.g. integers
    beyond 64 bits), goes through python-socketio's own decoding, still
    inline so that the order of arrival is kept.
    """

    def __init__(self, *, fast_event: EventCallback, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_event = fast_event
        self._fast_names_excluded = frozenset(self.reserved_events)
        if isinstance(self.eio, _EngineIOClient):
            self.eio.fast_event = self.fast_event
            self.eio.take_message = self.take_message

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return _EngineIOClient

    async def take_message(self, data: str) -> None:
        """Handle one Socket.IO EVENT or ACK packet (``data``) the stock way, inline."""
        try:
            await self._handle_eio_message(data)
        except Exception:
            # Inline, an exception would end Engine.IO's read loop (the
            # connection); the stock path only loses the one message.
            self.logger.exception("error handling a Socket.IO message")

    def fast_event(self, data: str) -> bool:
        """Decode and deliver ``2["name",...]``; ``False`` when it is not that simple."""
        if data[1:2] != "[" or data[:1] != "2":
            return False
        try:
            decoded = orjson.loads(data[1:])
        except orjson.JSONDecodeError:
            return False
        if type(decoded) is not list or not decoded:
            return False
        name = decoded[0]
        if type(name) is not str or name in self._fast_names_excluded:
            return False
        if name in self.handlers.get("/", ()):
            return False
        try:
            self._fast_event(name, tuple(decoded[1:]))
        except Exception:
            self.logger.exception("error handling a Socket.IO event")
        return True


def refusal_error(data: Any) -> TransportError | ServerError:
    """Map a ``connect_error`` payload to an exception.

    Servers refuse with ``{"message": ..., "data": {"code": ...}}`` (socket.io
    4's ``next(err)`` with ``err.data``) or only a message; a code or message of
    ``unauthorized`` / ``forbidden`` means the credentials were refused.
    """
    message = str(data)
    code: str | None = None
    if isinstance(data, dict):
        message = str(data.get("message", data))
        inner = data.get("data")
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            code = inner["code"]
        elif isinstance(data.get("code"), str):
            code = data["code"]
    elif isinstance(data, str):
        message = data
    if code is None:
        lowered = message.lower()
        code = next((c for c in _AUTH_CODES if c in lowered), None)
        if code is None and ("auth" in lowered or "token" in lowered):
            code = "unauthorized"
    cls = _AUTH_CODES.get(code or "")
    if cls is not None:
        return cls(f"connection refused: {message}", code=code)
    return TransportError(f"connection refused: {message}")


class SocketLink:
    """One Socket.IO connection to the default namespace.

    Args:
        url: The server URL (``http://host:port``).
        on_event: Called for every server event, synchronously and in order.
        on_close: Called once when the link is gone, with the reason.
        logger: Where python-socketio's messages go.
        transports: Engine.IO transports, first one used to connect.
        path: The Socket.IO path.
    """

    def __init__(
        self,
        url: str,
        *,
        on_event: EventCallback,
        on_close: Callable[[str], None],
        logger: logging.Logger,
        transports: Sequence[str] = ("websocket",),
        path: str = "socket.io",
    ) -> None:
        self.url = url
        self._on_event = on_event
        self._on_close = on_close
        self._transports = list(transports)
        self._path = path
        self._pending: set[asyncio.Future[tuple[Any, ...]]] = set()
        self._refusal: Any = None
        self._closed = asyncio.Event()
        self.close_reason = ""
        self._http: aiohttp.ClientSession | None = None
        quiet = _LibraryLogger(logger)
        self._sio = _SocketIOClient(
            fast_event=self._deliver,
            reconnection=False,
            handle_sigint=False,
            logger=quiet,
            engineio_logger=quiet,
            http_session=self._session,
        )
        self._sio.on("*", self._handle_event)
        self._sio.on("connect_error", self._handle_connect_error)
        self._sio.on("disconnect", self._handle_disconnect)

    def _session(self) -> aiohttp.ClientSession:
        # Our own session (Engine.IO leaves external sessions open): Engine.IO
        # does not close the one it makes when a websocket handshake fails.
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    @property
    def connected(self) -> bool:
        """Whether the namespace is connected and the link not closed."""
        return bool(self._sio.connected) and not self._closed.is_set()

    @property
    def sid(self) -> str | None:
        """The Socket.IO session id of the default namespace."""
        sid = self._sio.get_sid("/")
        return str(sid) if sid is not None else None

    @property
    def transport(self) -> str | None:
        """The Engine.IO transport in use (``"websocket"`` or ``"polling"``)."""
        name = self._sio.transport()
        return str(name) if name else None

    async def open(self, auth: dict[str, Any] | None, *, wait: float) -> None:
        """Connect and wait for the namespace to be accepted, within ``wait`` seconds.

        Raises:
            AuthError: The server refused the credentials (``ForbiddenError``
                for a ``forbidden`` refusal).
            TransportError: Any other failure, a refusal included.
        """
        try:
            # One bound for the whole handshake: a black-holed connect would
            # otherwise wait for aiohttp's default of minutes.
            async with asyncio.timeout(wait):
                await self._sio.connect(
                    self.url,
                    auth=auth,
                    transports=self._transports,
                    socketio_path=self._path,
                    wait_timeout=wait,
                )
        except TimeoutError as exc:
            await self.close()
            raise TransportError(f"no answer from {self.url} within {wait:g} s") from exc
        except (socketio.exceptions.ConnectionError, ValueError, OSError) as exc:
            await self.close()
            if self._refusal is not None:
                raise refusal_error(self._refusal) from exc
            raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
        except BaseException:
            await self.close()
            raise

    async def emit(self, event: str, data: Any) -> None:
        """Send an event without waiting for an acknowledgement.

        Raises:
            NotConnectedError: The link is not connected.
        """
        if not self.connected:
            raise NotConnectedError(f"cannot send {event!r}: not connected")
        try:
            await self._sio.emit(event, data)
        except socketio.exceptions.BadNamespaceError as exc:
            raise NotConnectedError(f"cannot send {event!r}: not connected") from exc

    async def call(self, event: str, data: Any, *, ack_within: float) -> tuple[Any, ...]:
        """Send an event and wait for the server's acknowledgement.

        Unlike ``AsyncClient.call()``, this fails at once when the link drops.

        Returns:
            The arguments the server passed to the acknowledgement.

        Raises:
            NotConnectedError: The link is not connected.
            ConnectionLostError: The link dropped before the acknowledgement.
            ReplyTimeoutError: No acknowledgement within ``ack_within`` seconds.
        """
        if not self.connected:
            raise NotConnectedError(f"cannot send {event!r}: not connected")
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: Any) -> None:
            if not future.done():
                future.set_result(args)

        self._pending.add(future)
        try:
            try:
                await self._sio.emit(event, data, callback=acknowledge)
            except socketio.exceptions.BadNamespaceError as exc:
                raise NotConnectedError(f"cannot send {event!r}: not connected") from exc
            try:
                return await asyncio.wait_for(future, ack_within)
            except TimeoutError:
                raise ReplyTimeoutError(
                    f"no acknowledgement for {event!r} within {ack_within:g} s"
                ) from None
        finally:
            self._pending.discard(future)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning
            else:
                future.cancel()

    def abort(self, reason: str) -> None:
        """Declare the link dead now (pending acknowledgements fail at once).

        The socket itself is torn down by :meth:`close`.
        """
        self._mark_closed(reason)

    async def wait_closed(self) -> str:
        """Wait until the link is gone; return the reason."""
        await self._closed.wait()
        return self.close_reason

    async def close(self) -> None:
        """Close the socket and release every resource; idempotent.

        Bounded in time even on a half-open TCP connection.
        """
        self._mark_closed("closed by client")
        eio = self._sio.eio
        if eio.state == "connected":
            with contextlib.suppress(TimeoutError, OSError, aiohttp.ClientError, ValueError):
                await asyncio.wait_for(self._sio.disconnect(), _CLOSE_TIMEOUT)
        if self._http is not None:
            await self._http.close()  # also breaks a socket that would not close
        loops = [
            task
            for task in (eio.read_loop_task, eio.write_loop_task)
            if isinstance(task, asyncio.Task) and not task.done()
        ]
        if loops:
            await asyncio.wait(loops, timeout=_CLOSE_TIMEOUT)
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        eio.state = "disconnected"

    # -- python-socketio callbacks ------------------------------------------

    def _mark_closed(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = reason
        self._closed.set()
        for future in self._pending:
            if not future.done():
                future.set_exception(ConnectionLostError(f"connection lost: {reason}"))
        self._on_close(reason)

    def _handle_event(self, event: str, *args: Any) -> None:
        if not self._closed.is_set():
            self._on_event(event, args)

    def _deliver(self, event: str, args: tuple[Any, ...]) -> None:
        if not self._closed.is_set():
            self._on_event(event, args)

    def _handle_connect_error(self, data: Any = None) -> None:
        self._refusal = data if data is not None else "refused"

    def _handle_disconnect(self, reason: Any = None) -> None:
        self._mark_closed(f"disconnected ({reason})" if reason else "disconnected")
