"""The one place that names private parts of python-engineio, python-socketio and asyncio.

The server's connection layer and fast paths (``mock_server.outbox``,
``mock_server.broadcast``) lean on a few things those libraries do not promise to keep.
Every one of them is listed here and checked when a server starts, all of them, not a
sample: ``check`` returns, per feature, what is missing, and a feature whose list is not
empty is switched off (with one warning per process and feature), leaving
python-socketio's own code to do the job.

Two features:

- ``outbox``: the connection layer: the reference server's Engine.IO WebSocket driver (in
  place of python-engineio's aiohttp driver) and a queue per socket that counts its bytes,
  so that every connection has a bounded outgoing buffer. A safety limit, not a fast
  path: ``VILNIUS_FAST_PATHS=0`` leaves it on.
- ``direct``: the fast paths: a broadcast framed once and written to every recipient's
  transport, the driver writing frames itself (one shared compressor when compression is
  on). Needs ``outbox``. ``VILNIUS_FAST_PATHS=0`` switches it off.

aiohttp's fast paths need no private attribute: the transport comes from
``request.transport`` and the negotiated compression from ``WebSocketResponse.compress``
and the response headers. The HTTP connection guard (``mock_server.connections``) reads
two attributes of aiohttp's ``RequestHandler`` (``HANDLER_ATTRIBUTES``): without them
connections get aiohttp's own handler (the header limits and timeout still apply).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import engineio
from aiohttp import web
from aiohttp.http import RawRequestMessage
from engineio import async_socket

from vilnius_client._fastpath import ENVIRONMENT_VARIABLE, requested

try:  # the aiohttp driver of python-engineio (what async_mode="aiohttp" uses)
    from engineio.async_drivers import aiohttp as eio_aiohttp
except ImportError:  # pragma: no cover - python-engineio without the aiohttp driver
    eio_aiohttp = None

__all__ = [
    "ENV",
    "Support",
    "check",
    "fast_paths_enabled",
    "forget_handshake_request",
    "handler_busy",
    "handler_missing",
    "install_driver",
    "install_queue",
    "message_packet",
    "participants",
    "refusal_queued",
    "socket_of_handler",
    "warn_handler_once",
    "warn_once",
]

logger = logging.getLogger("mock_server")

ENV = ENVIRONMENT_VARIABLE
"""Environment variable: ``0`` (or ``false``, ``no``, ``off``) switches every fast path off
(the SDK's too: one variable, read by ``vilnius_client._fastpath.requested``; a
comma-separated list names the paths to keep, ``direct`` being the server's)."""

NAMESPACE = "/"

SOCKET_ATTRIBUTES = ("sid", "queue", "connected", "upgraded", "upgrading", "closing", "closed")
"""Attributes every python-engineio ``AsyncSocket`` must have (set in ``BaseSocket``)."""


def fast_paths_enabled() -> bool:
    """Whether ``VILNIUS_FAST_PATHS`` leaves the server's fast path (``direct``) on: the
    default, ``1``, or a list that names it."""
    wanted = requested(os.environ)
    return wanted is None or "direct" in wanted


@dataclass(frozen=True)
class Support:
    """What each feature misses in the installed libraries (empty: the feature can run)."""

    outbox: tuple[str, ...] = ()
    direct: tuple[str, ...] = ()
    switched_off: bool = False
    """``VILNIUS_FAST_PATHS=0`` was set."""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def use_outbox(self) -> bool:
        """The driver and the bounded queues can be installed."""
        return not self.outbox

    @property
    def use_direct(self) -> bool:
        """The fast paths can run (and were not switched off)."""
        return not self.outbox and not self.direct and not self.switched_off


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("python-engineio", "python-socketio", "aiohttp"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - vendored copies
            found[name] = "unknown"
    return found


def check(
    sio: Any,
    queue_factory: Callable[[], asyncio.Queue[Any]],
    *,
    driver_module: Any = eio_aiohttp,
    socket_class: Any = None,
) -> Support:
    """Check every internal the two features use, against one ``AsyncServer``.

    ``queue_factory`` makes the queue ``install_queue`` would install (probed with a
    throwaway Engine.IO socket that is never registered). ``driver_module`` and
    ``socket_class`` are there for tests (fakes of other library versions).
    """
    socket_class = socket_class or getattr(async_socket, "AsyncSocket", None)
    outbox: list[str] = []
    direct: list[str] = []
    eio = getattr(sio, "eio", None)
    if eio is None:
        outbox.append("socketio.AsyncServer.eio")
    hooks = getattr(eio, "_async", None)
    driver = getattr(driver_module, "WebSocket", None)
    if driver_module is None or driver is None:
        outbox.append("engineio.async_drivers.aiohttp.WebSocket")
    if not isinstance(hooks, dict):
        outbox.append("engineio.AsyncServer._async (dict of the async driver)")
    elif driver is not None and hooks.get("websocket") is not driver:
        outbox.append("engineio.AsyncServer._async['websocket'] (async_mode 'aiohttp')")
    if getattr(driver_module, "translate_request", None) is None:
        outbox.append("engineio.async_drivers.aiohttp.translate_request (environ)")
    if not isinstance(getattr(eio, "max_http_buffer_size", None), int):
        outbox.append("engineio.AsyncServer.max_http_buffer_size")
    handler = getattr(socket_class, "_websocket_handler", None)
    if handler is None or not inspect.iscoroutinefunction(handler):
        outbox.append("engineio.AsyncSocket._websocket_handler (coroutine)")
    for name in ("poll", "send", "close"):
        if not inspect.iscoroutinefunction(getattr(socket_class, name, None)):
            outbox.append(f"engineio.AsyncSocket.{name} (coroutine)")
    for name in ("_put", "_get"):
        if not callable(getattr(asyncio.Queue, name, None)):
            outbox.append(f"asyncio.Queue.{name}")
    if eio is not None and socket_class is not None:
        # Sockets must take their queue from server.create_queue() and carry the state
        # attributes: make one (never registered with the server) and look.
        original = eio.create_queue
        eio.create_queue = queue_factory
        try:
            probe = socket_class(eio, "vilnius-probe")
        except Exception as exc:  # a changed constructor
            outbox.append(f"engineio.AsyncSocket(server, sid) ({type(exc).__name__})")
        else:
            missing = [name for name in SOCKET_ATTRIBUTES if not hasattr(probe, name)]
            outbox.extend(f"engineio.AsyncSocket.{name}" for name in missing)
            if type(getattr(probe, "queue", None)) is not type(queue_factory()):
                outbox.append("engineio.AsyncSocket.queue from server.create_queue()")
        finally:
            eio.create_queue = original
    if not isinstance(getattr(eio, "sockets", None), dict):
        direct.append("engineio.AsyncServer.sockets (dict)")
    manager = getattr(sio, "manager", None)
    if not isinstance(getattr(manager, "rooms", None), dict):
        direct.append("socketio.AsyncManager.rooms (dict)")
    if not callable(getattr(manager, "get_participants", None)):
        direct.append("socketio.AsyncManager.get_participants")
    if not isinstance(getattr(sio, "environ", None), dict):
        direct.append("socketio.AsyncServer.environ (dict by Engine.IO sid)")
    packet = getattr(engineio, "packet", None)
    if not hasattr(packet, "Packet") or not hasattr(packet, "MESSAGE"):
        direct.append("engineio.packet.Packet / MESSAGE")
    return Support(
        outbox=tuple(outbox),
        direct=tuple(direct),
        switched_off=not fast_paths_enabled(),
        versions=_versions(),
    )


_warned: set[str] = set()


def warn_once(support: Support) -> None:
    """Log, once per process and feature, why a feature is off."""
    libs = ", ".join(f"{name} {v}" for name, v in support.versions.items())
    if support.outbox and "outbox" not in _warned:
        _warned.add("outbox")
        logger.warning(
            "per-connection outgoing buffer limit and fast paths off: %s not as expected (%s)",
            "; ".join(support.outbox),
            libs,
        )
    elif support.direct and "direct" not in _warned:
        _warned.add("direct")
        logger.warning(
            "broadcast fast path off: %s not as expected (%s)", "; ".join(support.direct), libs
        )
    if support.switched_off and "env" not in _warned:
        _warned.add("env")
        logger.info("fast paths switched off by %s=%s", ENV, os.environ.get(ENV))


def install_driver(sio: Any, driver: Any) -> None:
    """Make ``sio``'s Engine.IO server use ``driver`` for its WebSocket connections.

    The driver is called as python-engineio calls its own: ``driver(handler, server)``,
    then ``await instance(environ)``; the instance offers ``send``, ``wait``, ``close``.
    """
    eio = sio.eio
    eio._async = {**eio._async, "websocket": driver}


def install_queue(sio: Any, factory: Callable[[], asyncio.Queue[Any]]) -> None:
    """Give every Engine.IO socket created from now on a queue made by ``factory``."""
    sio.eio.create_queue = factory


def socket_of_handler(handler: Any) -> Any:
    """The Engine.IO socket whose ``_websocket_handler`` the driver was given."""
    return handler.__self__


def aiohttp_request(environ: dict[str, Any]) -> Any:
    """The aiohttp request python-engineio's aiohttp driver put in the WSGI-style environ."""
    return environ["aiohttp.request"]


def participants(sio: Any, room: str) -> Any:
    """``(sid, eio_sid)`` of every socket in ``room`` of namespace ``/`` (none: empty)."""
    manager = sio.manager
    if NAMESPACE not in manager.rooms:
        return ()
    return manager.get_participants(NAMESPACE, room)


def forget_handshake_request(sio: Any, eio_sid: str, environ: dict[str, Any]) -> None:
    """Point the environ python-socketio keeps for ``eio_sid`` at the WebSocket's request.

    python-socketio keeps the environ of a socket's first request for the socket's life;
    for a client that starts on long-polling (browsers, the stock ``socket.io-client``)
    that is the handshake's request, which pins its HTTP connection's protocol object
    (~6 KiB per socket). Its WSGI headers are kept.
    """
    stored = sio.environ.get(eio_sid)
    if stored is not None and stored is not environ:
        stored["aiohttp.request"] = environ["aiohttp.request"]
        stored["wsgi.input"] = environ.get("wsgi.input")


def message_packet(data: str) -> Any:
    """An Engine.IO MESSAGE packet carrying ``data`` (an encoded Socket.IO packet)."""
    return engineio.packet.Packet(engineio.packet.MESSAGE, data)


def engineio_sockets(sio: Any) -> dict[str, Any]:
    """The Engine.IO server's live sockets by sid."""
    sockets: dict[str, Any] = sio.eio.sockets
    return sockets


HANDLER_ATTRIBUTES = ("_messages", "_request_in_progress")
"""What ``mock_server.connections`` reads of aiohttp's ``web.RequestHandler``: the queue of
parsed requests (a 400 for one it could not parse is queued as a non-request), and
whether a request is being handled."""


def handler_missing() -> tuple[str, ...]:
    """The ``HANDLER_ATTRIBUTES`` aiohttp's ``RequestHandler`` lacks (empty: all there)."""
    return tuple(
        f"aiohttp.web.RequestHandler.{name}"
        for name in HANDLER_ATTRIBUTES
        if not hasattr(web.RequestHandler, name)
    )


def warn_handler_once(missing: tuple[str, ...]) -> None:
    """Log, once per process, that connections get aiohttp's own handler."""
    if "handler" not in _warned:
        _warned.add("handler")
        logger.warning(
            "HTTP connection guard off (no stop after a refused request, no answer after a"
            " half-close): %s not as expected (aiohttp %s)",
            "; ".join(missing),
            _versions()["aiohttp"],
        )


def refusal_queued(handler: web.RequestHandler) -> bool:
    """Whether the last request ``handler`` queued is aiohttp's 400 for one it could not read."""
    messages = handler._messages
    return bool(messages) and not isinstance(messages[-1][0], RawRequestMessage)


def handler_busy(handler: web.RequestHandler) -> bool:
    """Whether ``handler`` is handling a request or has one queued."""
    return bool(handler._request_in_progress or handler._messages)
