"""The seam around python-socketio: with the fast paths (`_fastpaths`, `_fastclient`), the
only modules of the SDK that import it.

A `SocketLink` is one Socket.IO connection, from connect to close. The
manager makes a new link for every attempt, so no state of python-socketio or
Engine.IO leaks from one connection to the next. python-socketio is used
with its own reconnection and SIGINT handling disabled and with an adapter
logger, so that it neither installs process-wide handlers nor adds log
handlers to shared loggers. This module uses the libraries' public API only;
the internals the fast paths need live in `_fastpaths` and `_fastclient`.

WebSocket options (passed to aiohttp's ``ws_connect`` through Engine.IO's
``websocket_extra_options``):

* ``permessage-deflate`` is not offered unless ``compression=True`` (passed
  explicitly, whatever aiohttp's default). Chat events are small; compressing
  them costs CPU on both sides and memory on the server per connection; off
  is socket.io's server default (``perMessageDeflate: false``) too.
* Frames up to ``max_message_size`` bytes are accepted (default
  `DEFAULT_MAX_MESSAGE_SIZE`, 16 MiB, four times aiohttp's default);
  ``None`` lifts the limit. A bigger frame closes the link (a WebSocket
  cannot skip one frame): the link's `SocketLink.close_error` is then a
  `FrameTooLargeError`, which the manager reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import socketio

from . import _fastpaths
from ._fastclient import EventCallback
from .errors import (
    ConnectionLostError,
    FrameTooLargeError,
    NotConnectedError,
    ReplyTimeoutError,
    ServerError,
    TransportError,
    VilniusError,
    error_from_code,
)

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "EventCallback", "SocketLink"]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20
"""Largest WebSocket frame a link accepts by default, in bytes (aiohttp's default: 4 MiB)."""

_CLOSE_TIMEOUT = 1.0


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


def refusal_error(data: Any) -> TransportError | ServerError:
    """Map a ``connect_error`` payload to an exception, by its error code only.

    Contract servers refuse with ``{"message": ..., "data": {"code": ...}}``
    (socket.io 4's ``next(err)`` with ``err.data``) or ``{"message", "code"}``:
    the code picks the `ServerError` (``unauthorized``: `AuthError`). A refusal
    without a code is a `TransportError`, whatever its words.
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
    if code is None:
        return TransportError(f"connection refused: {message}")
    return error_from_code(code, f"connection refused: {message}")


class SocketLink:
    """One Socket.IO connection to the default namespace.

    Args:
        url: The server URL (``http://host:port``).
        on_event: Called for every server event, synchronously and in order.
        on_close: Called once when the link is gone, with the reason.
        logger: Where python-socketio's messages go.
        transports: Engine.IO transports, first one used to connect.
        path: The Socket.IO path.
        compression: Offer ``permessage-deflate`` on the WebSocket.
        max_message_size: Largest frame accepted, in bytes (``None``: no limit).
        paths: The fast paths to use (default: `fast_paths`).

    Attributes:
        received: How many Socket.IO events and acknowledgements arrived so
            far: a count that moves proves the link alive.
        close_error: Why the link closed, when it is an error worth reporting
            (an oversize frame), else ``None``.
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
        compression: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        paths: _fastpaths.FastPaths | None = None,
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
        self.close_error: VilniusError | None = None
        self.received = 0
        self.max_message_size = max_message_size
        self._http: aiohttp.ClientSession | None = None
        quiet = _LibraryLogger(logger)
        self.paths = _fastpaths.fast_paths() if paths is None else paths
        self._sio = _fastpaths.make_client(
            self.paths,
            fast_event=self._deliver,
            reconnection=False,
            handle_sigint=False,
            logger=quiet,
            engineio_logger=quiet,
            http_session=self._session,
            websocket_extra_options={
                "compress": 15 if compression else 0,
                "max_msg_size": max_message_size or 0,
            },
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

    async def emit(
        self, event: str, data: Any, *, callback: Callable[..., None] | None = None
    ) -> None:
        """Send an event without waiting for an acknowledgement (``callback`` gets it, if any).

        Raises:
            NotConnectedError: The link is not connected.
        """
        if not self.connected:
            raise NotConnectedError(f"cannot send {event!r}: not connected")
        try:
            await self._sio.emit(event, data, callback=callback)
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
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: Any) -> None:
            self.received += 1
            if not future.done():
                future.set_result(args)

        self._pending.add(future)
        try:
            await self.emit(event, data, callback=acknowledge)
            try:
                async with asyncio.timeout(ack_within):
                    return await future
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

        The socket itself is torn down by `close`.
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
        if _fastpaths.engine_connected(self._sio):
            with contextlib.suppress(TimeoutError, OSError, aiohttp.ClientError, ValueError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await self._sio.disconnect()
        if self._http is not None:
            await self._http.close()  # also breaks a socket that would not close
        loops = _fastpaths.engine_tasks(self._sio)
        if loops:
            await asyncio.wait(loops, timeout=_CLOSE_TIMEOUT)
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        _fastpaths.mark_engine_disconnected(self._sio)

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
        self._deliver(event, args)  # python-socketio's own dispatch (no fast path)

    def _deliver(self, event: str, args: tuple[Any, ...]) -> None:
        self.received += 1
        if not self._closed.is_set():
            self._on_event(event, args)

    def _handle_connect_error(self, data: Any = None) -> None:
        self._refusal = data if data is not None else "refused"

    def _handle_disconnect(self, reason: Any = None) -> None:
        ws = _fastpaths.engine_websocket(self._sio)
        if ws is not None and ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            limit = self.max_message_size
            ours = f"{limit} bytes" if limit else "none"
            self.close_error = FrameTooLargeError(
                "the WebSocket was closed with code 1009 (message too big): a frame from the "
                f"server exceeded this client's max_message_size ({ours}), or the server "
                "refused one of ours",
                limit=limit,
            )
            reason = "frame too large"
        self._mark_closed(f"disconnected ({reason})" if reason else "disconnected")
