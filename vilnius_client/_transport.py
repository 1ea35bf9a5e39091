"""The transport seam: a small interface for one connection, and python-socketio behind it.

`vilnius_client._connection.Connection` drives a `Transport`: ``open()`` makes a
`Link` (one connection, from connect to close) for every attempt, so that no state of
python-socketio or Engine.IO leaks from one attempt to the next. Tests replace the
transport with an in-memory fake (``tests/unit/fake_transport.py``), as httpx's
``MockTransport`` replaces its network, so that the connection's edges (a zombie link,
a refused join, a drop during catch-up) are tested without sockets or timing.

`SocketIOTransport` is the real one: python-socketio's ``AsyncClient`` with its own
reconnection and SIGINT handling off and an adapter logger (so it installs no
process-wide handler and adds no log handler). Only this module and
`vilnius_client._fastpath` import socketio. WebSocket options go to aiohttp's
``ws_connect`` through Engine.IO's ``websocket_extra_options``:

* ``permessage-deflate`` is offered only with ``compression=True`` (socket.io's
  servers default to off, and chat events are small);
* frames up to ``max_message_size`` bytes are accepted (`DEFAULT_MAX_MESSAGE_SIZE`,
  four times aiohttp's default; ``None``: no limit). A bigger frame closes the link (a
  WebSocket cannot skip a frame) and its `Link.close_error` is a `FrameTooLargeError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aiohttp
import socketio

from . import _fastpath
from ._http import failure_of
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

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EventCallback",
    "Link",
    "SocketIOTransport",
    "Transport",
    "cancel_until_done",
    "refusal_error",
]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20
"""Largest WebSocket frame a link accepts by default, in bytes (aiohttp's default: 4 MiB)."""

EventCallback = _fastpath.EventCallback
"""``(event_name, args)``: called for every server event, in arrival order."""

_CLOSE_TIMEOUT = 1.0


class Link(Protocol):
    """One connection to the default namespace, from connect to close.

    Attributes:
        sid: The Socket.IO session id.
        transport: The Engine.IO transport in use (``"websocket"``, ``"polling"``).
        received: How many events and acknowledgements arrived: a count that moves
            proves the link alive (the heartbeat watchdog reads it).
        close_reason: Why the link closed (empty while open).
        close_error: Why it closed, when that is an error worth reporting.
    """

    sid: str | None
    transport: str | None
    received: int
    close_reason: str
    close_error: VilniusError | None

    @property
    def connected(self) -> bool:
        """Whether the link is up."""
        ...

    async def emit(self, event: str, data: Any) -> None:
        """Send an event (no acknowledgement). Raises `NotConnectedError` when down."""
        ...

    async def call(self, event: str, data: Any, *, within: float) -> tuple[Any, ...]:
        """Send an event and wait (``within`` seconds) for its acknowledgement's arguments.

        Raises `NotConnectedError`, `ConnectionLostError` (dropped meanwhile) or
        `ReplyTimeoutError`.
        """
        ...

    def abort(self, reason: str) -> None:
        """Declare the link dead now: `wait_closed` returns, pending calls fail."""
        ...

    async def wait_closed(self) -> str:
        """Wait until the link is gone; return why."""
        ...

    async def close(self) -> None:
        """Close the link and release everything; idempotent and bounded in time."""
        ...


class Transport(Protocol):
    """Makes links."""

    async def open(
        self, url: str, *, auth: dict[str, Any] | None, on_event: EventCallback, within: float
    ) -> Link:
        """Connect to ``url``; wait (``within`` seconds) until the namespace is accepted.

        Raises:
            AuthError: The server refused the credentials (`ForbiddenError` for a
                ``forbidden`` refusal; other codes their `ServerError`).
            TransportError: Anything else (with a cause a user can act on).
        """
        ...


class _LibraryLogger:
    """python-socketio's chatter into our logger, one level quieter (INFO per packet
    becomes DEBUG). An object, not ``True``/``False``, so that it attaches no handler."""

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

    Contract servers refuse with ``{"message", "data": {"code"}}`` (socket.io 4's
    ``next(err)`` with ``err.data``) or ``{"message", "code"}``: the code picks the
    `ServerError` (``unauthorized``: `AuthError`). Without a code it is a
    `TransportError`, whatever its words.
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


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def cancel_until_done(
    task: asyncio.Future[Any], *, tries: int = 10, step: float = 0.05
) -> bool:
    """Cancel ``task`` until it ends, and retrieve its failure; whether it ended.

    A task may swallow a cancellation (python-socketio's connect, or user code, on Python
    3.11, where ``wait_for`` races an answer): it is cancelled again every ``step`` seconds,
    ``tries`` times at most, then left alone (by default after half a second).
    """
    for _ in range(tries):
        task.cancel()
        await asyncio.wait((task,), timeout=step)
        if task.done():
            _retrieved(task)
            return True
    return False


class SocketIOTransport:
    """Links made with python-socketio (see the module docstring).

    Args:
        logger: Where python-socketio's messages go (quieter by one level).
        transports: Engine.IO transports, the first one used to connect.
        compression: Offer ``permessage-deflate``.
        max_message_size: Largest frame accepted, in bytes (``None``: no limit).
    """

    def __init__(
        self,
        *,
        logger: logging.Logger,
        transports: Sequence[str] = ("websocket",),
        compression: bool = False,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.logger = logger
        self.transports = list(transports)
        self.compression = compression
        self.max_message_size = max_message_size

    async def open(
        self, url: str, *, auth: dict[str, Any] | None, on_event: EventCallback, within: float
    ) -> SocketIOLink:
        link = SocketIOLink(self, on_event)
        await link.open(url, auth, within)
        return link


class LinkState:
    """What every `Link` keeps alike: the replies it awaits, its closing (once), and why.

    `abort` fails every reply still awaited with `ConnectionLostError`, so a caller never
    waits out a timeout on a link known dead.
    """

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[tuple[Any, ...]]] = set()
        self._closed = asyncio.Event()
        self.close_reason = ""
        self.close_error: VilniusError | None = None
        self.received = 0

    async def _await_reply(
        self,
        event: str,
        within: float,
        send: Callable[[Callable[..., None]], Awaitable[None]],
    ) -> tuple[Any, ...]:
        """``send(acknowledge)``, then wait up to ``within`` s for ``acknowledge(*args)``."""
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: Any) -> None:
            self.received += 1
            if not future.done():
                future.set_result(args)

        self._pending.add(future)
        try:
            await send(acknowledge)
            try:
                async with asyncio.timeout(within):
                    return await future
            except TimeoutError:
                raise ReplyTimeoutError(
                    f"no acknowledgement for {event!r} within {within:g} s"
                ) from None
        finally:
            self._pending.discard(future)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning
            else:
                future.cancel()

    def abort(self, reason: str) -> None:
        """Declare the link dead now (the socket itself is torn down by `close`)."""
        if self._closed.is_set():
            return
        self.close_reason = reason
        self._closed.set()
        for future in self._pending:
            if not future.done():
                future.set_exception(ConnectionLostError(f"connection lost: {reason}"))

    async def wait_closed(self) -> str:
        """Wait until the link is gone; return the reason."""
        await self._closed.wait()
        return self.close_reason


class SocketIOLink(LinkState):
    """One python-socketio connection (a `Link`)."""

    def __init__(self, transport: SocketIOTransport, on_event: EventCallback) -> None:
        super().__init__()
        self._on_event = on_event
        self._transports = transport.transports
        self.max_message_size = transport.max_message_size
        self._refusal: Any = None
        self._refused = asyncio.Event()
        self._accepted = False
        self.sid: str | None = None
        self.transport: str | None = None
        # A session object, not a factory: python-engineio before 4.12 takes no callable.
        # Engine.IO leaves a session it was given open: `close` closes it.
        self._http = aiohttp.ClientSession()
        quiet = _LibraryLogger(transport.logger)
        paths = self.paths = _fastpath.fast_paths()
        self._sio = _fastpath.make_client(
            paths,
            fast_event=self._deliver,
            reconnection=False,
            handle_sigint=False,
            logger=quiet,
            engineio_logger=quiet,
            http_session=self._http,
            websocket_extra_options={
                "compress": 15 if transport.compression else 0,
                "max_msg_size": transport.max_message_size or 0,
            },
        )
        self._sio.on("*", self._handle_event)
        self._sio.on("connect", self._handle_connect)
        self._sio.on("connect_error", self._handle_connect_error)
        self._sio.on("disconnect", self._handle_disconnect)

    @property
    def connected(self) -> bool:
        """Whether the namespace is connected and the link not closed."""
        return bool(self._sio.connected) and not self._closed.is_set()

    async def open(self, url: str, auth: dict[str, Any] | None, within: float) -> None:
        """Connect within ``within`` seconds (see `Transport.open`)."""
        connecting: asyncio.Future[None] | None = None
        try:
            async with asyncio.timeout(within):  # one bound for the whole handshake
                connecting = asyncio.ensure_future(
                    self._sio.connect(
                        url,
                        auth=auth,
                        transports=self._transports,
                        socketio_path="socket.io",
                        wait_timeout=within,
                    )
                )
                # However this ends (a timeout, a cancellation from outside), its failure
                # is retrieved: no "Task exception was never retrieved" on standard error.
                connecting.add_done_callback(_retrieved)
                refused = asyncio.ensure_future(self._refused.wait())
                try:
                    # python-socketio before 5.14 waits out wait_timeout after a refusal.
                    await asyncio.wait((connecting, refused), return_when="FIRST_COMPLETED")
                finally:
                    refused.cancel()
                if not connecting.done():
                    await cancel_until_done(connecting)
                    raise socketio.exceptions.ConnectionError("refused")
                connecting.result()
        except TimeoutError as exc:
            await self._abandon(connecting)
            raise TransportError(f"{url}: no answer within {within:.3g} s") from exc
        except (socketio.exceptions.ConnectionError, ValueError, OSError) as exc:
            await self.close()
            if isinstance(self._refusal, dict):
                raise refusal_error(self._refusal) from exc
            raise failure_of(url, exc) from exc
        except BaseException:
            await self._abandon(connecting)
            raise
        self.sid = _fastpath.sid_of(self._sio)
        self.transport = _fastpath.transport_of(self._sio)

    async def _abandon(self, connecting: asyncio.Future[None] | None) -> None:
        """An unfinished handshake is given up: end python-socketio's connect, then close."""
        try:
            if connecting is not None and not connecting.done():
                await cancel_until_done(connecting)
        finally:
            await self.close()

    async def emit(self, event: str, data: Any) -> None:
        """Send an event without waiting for an acknowledgement."""
        await self._emit(event, data, None)

    async def _emit(self, event: str, data: Any, callback: Callable[..., None] | None) -> None:
        if not self.connected:
            raise NotConnectedError(f"cannot send {event!r}: not connected")
        try:
            await self._sio.emit(event, data, callback=callback)
        except socketio.exceptions.BadNamespaceError as exc:
            raise NotConnectedError(f"cannot send {event!r}: not connected") from exc

    async def call(self, event: str, data: Any, *, within: float) -> tuple[Any, ...]:
        """Send an event and wait for its acknowledgement (fails at once if the link drops)."""
        return await self._await_reply(
            event, within, lambda acknowledge: self._emit(event, data, acknowledge)
        )

    async def close(self) -> None:
        """Close the socket and release every resource; idempotent, bounded in time."""
        self.abort("closed by the client")
        if _fastpath.engine_connected(self._sio):
            with contextlib.suppress(TimeoutError, OSError, aiohttp.ClientError, ValueError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await self._sio.disconnect()
        await self._http.close()  # also breaks a socket that would not close
        loops = _fastpath.engine_tasks(self._sio)
        if loops:
            await asyncio.wait(loops, timeout=_CLOSE_TIMEOUT)
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        _fastpath.mark_engine_disconnected(self._sio)

    # -- python-socketio's callbacks ------------------------------------------

    def _handle_event(self, event: str, *args: Any) -> None:
        self._deliver(event, args)  # python-socketio's own dispatch (no fast path)

    def _deliver(self, event: str, args: tuple[Any, ...]) -> None:
        self.received += 1
        if not self._closed.is_set():
            self._on_event(event, args)

    def _handle_connect(self) -> None:
        self._accepted = True

    def _handle_connect_error(self, data: Any = None) -> None:
        if not self._accepted:
            self._refusal = data
            if isinstance(data, dict):
                self._refused.set()  # the namespace was refused (not a transport failure)
            return
        # A CONNECT_ERROR on a live link: python-socketio drops the namespace without a
        # disconnect event; the link is as good as gone, and the reason is reported.
        error = refusal_error(data if data is not None else "refused")
        self.close_error = error
        self.abort(f"refused by the server: {error}")

    def _handle_disconnect(self, reason: Any = None) -> None:
        ws = _fastpath.engine_websocket(self._sio)
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
        self.abort(f"disconnected ({reason})" if reason else "disconnected")
