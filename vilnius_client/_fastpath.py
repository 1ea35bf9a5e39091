"""Library internals behind one seam: the transport's fast paths, and every private name of
python-engineio, python-socketio and aiohttp the SDK touches (only this module does).

The fast paths (checked against python-engineio 4.11-4.15, python-socketio 5.12-5.18 and
aiohttp 3.9-3.14; CI runs their tests against each of those minor versions):

``inline_events``
    Socket.IO ``EVENT`` and ``ACK`` packets are handled inside Engine.IO's read loop, in
    arrival order, instead of in one task per message; events on ``/`` without an ack id
    are decoded with orjson. Off: python-socketio's own dispatch (a task per message,
    stdlib ``json``).
``read_loop``
    Our own WebSocket read loop (one lazily moved idle deadline instead of a ``wait_for``
    per message; Socket.IO packets taken without building an Engine.IO packet). Needs
    ``inline_events``. Off: Engine.IO's loop.

Every private name they use is listed in `REQUIREMENTS` and checked once, at the first
connection (`fast_paths`): a fast path any of whose names is missing is switched off with
a warning naming them, and the libraries' stock path is taken. ``VILNIUS_FAST_PATHS=0``
(or ``false``, ``off``, ``no``) switches them all off; the reference server honours the
same variable. Behaviour is the same either way (the client tests run both ways); only
the CPU cost differs (``./dev bench sdk`` measures both in one run).

Not a fast path, but here for the same reason: the engine's tasks, state, session id and
WebSocket read when a link is closed, with safe defaults when a name is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import engineio
import orjson
import socketio
from engineio import base_client as eio_base_client
from engineio import packet as eio_packet

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "REQUIREMENTS",
    "FastEngineIOClient",
    "FastPaths",
    "FastSocketIOClient",
    "Requirement",
    "engine_connected",
    "engine_tasks",
    "engine_websocket",
    "fast_paths",
    "make_client",
    "mark_engine_disconnected",
    "missing_names",
    "requested",
    "reset",
    "sid_of",
    "switched_off",
    "transport_of",
]

EventCallback = Callable[[str, tuple[Any, ...]], None]


class FastEngineIOClient(engineio.AsyncClient):  # type: ignore[misc]
    """Engine.IO client that hands Socket.IO events and acks over inline.

    Stock Engine.IO starts one task per received message (and, on Python
    3.11, one more per ``wait_for`` around each websocket read), and
    python-socketio then decodes it with the stdlib ``json``; at thousands of
    events per second that is most of the client's work. Here text messages
    carrying a Socket.IO ``EVENT`` or ``ACK`` are handled in the read loop
    itself, in arrival order (`FastSocketIOClient`); every other message
    (ping, connect, disconnect, errors, binary) takes the stock path.
    """

    #: ``fast_event(data) -> handled``: a Socket.IO packet, decoded and delivered at once.
    fast_event: Callable[[str], bool] | None = None
    #: ``take_message(data)``: any Socket.IO EVENT or ACK packet, handled in order.
    take_message: Callable[[str], Awaitable[None]] | None = None
    #: Whether `_read_loop_websocket` is ours (the ``read_loop`` fast path).
    own_read_loop = False

    async def _receive_packet(self, pkt: Any) -> None:
        data = pkt.data
        take = self.take_message
        if (
            take is not None
            and pkt.packet_type == eio_packet.MESSAGE
            and type(data) is str
            and data[:1] in ("2", "3")
        ):
            fast = self.fast_event
            if fast is None or not fast(data):
                await take(data)
            return
        await super()._receive_packet(pkt)

    async def _read_loop_websocket(self) -> None:
        if not self.own_read_loop:
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


class FastSocketIOClient(socketio.AsyncClient):  # type: ignore[misc]
    """``socketio.AsyncClient`` with a fast path for events on the default namespace.

    ``2["name",...]`` (an event without acknowledgement id on ``/``) is decoded
    with orjson and passed to ``fast_event(name, args)`` directly. Anything
    else of type EVENT or ACK, and anything orjson refuses (e.g. integers
    beyond 64 bits), goes through python-socketio's own decoding, still
    inline so that the order of arrival is kept.
    """

    def __init__(self, *, fast_event: EventCallback, own_read_loop: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fast_event = fast_event
        self._fast_names_excluded = frozenset(self.reserved_events)
        if isinstance(self.eio, FastEngineIOClient):
            self.eio.fast_event = self.fast_event
            self.eio.take_message = self.take_message
            self.eio.own_read_loop = own_read_loop

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return FastEngineIOClient

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


ENVIRONMENT_VARIABLE = "VILNIUS_FAST_PATHS"
_OFF_VALUES = frozenset({"0", "false", "off", "no"})
_ON_VALUES = frozenset({"", "1", "true", "on", "yes", "all"})

LOGGER = logging.getLogger("vilnius_client")


@dataclass(frozen=True)
class Requirement:
    """One library internal a fast path uses.

    Attributes:
        path: The fast path (``"inline_events"`` or ``"read_loop"``).
        owner: Where the name lives: a key of the owners mapping
            (``"engineio.AsyncClient"``, ``"engineio.AsyncClient()"`` for an
            attribute set on instances, ...).
        name: The attribute, dotted for nested ones (``"reason.TRANSPORT_ERROR"``).
    """

    path: str
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}.{self.name}"


def _needs(path: str, owner: str, *names: str) -> tuple[Requirement, ...]:
    return tuple(Requirement(path, owner, name) for name in names)


#: Every internal the fast paths use, per fast path.
REQUIREMENTS: tuple[Requirement, ...] = (
    *_needs(
        "inline_events",
        "socketio.AsyncClient",
        "_engineio_client_class",
        "_handle_eio_message",
        "reserved_events",
    ),
    *_needs("inline_events", "socketio.AsyncClient()", "handlers", "eio"),
    *_needs("inline_events", "engineio.AsyncClient", "_receive_packet"),
    *_needs("inline_events", "engineio.packet", "MESSAGE"),
    *_needs(
        "read_loop",
        "engineio.AsyncClient",
        "_read_loop_websocket",
        "_receive_packet",
        "_trigger_event",
        "_reset",
        "reason.TRANSPORT_ERROR",
    ),
    *_needs(
        "read_loop",
        "engineio.AsyncClient()",
        "state",
        "ws",
        "queue",
        "write_loop_task",
        "ping_interval",
        "ping_timeout",
        "logger",
    ),
    *_needs("read_loop", "engineio.base_client", "connected_clients"),
    *_needs("read_loop", "engineio.packet", "Packet"),
    *_needs("read_loop", "aiohttp.client_exceptions", "ServerDisconnectedError"),
)


@dataclass(frozen=True)
class FastPaths:
    """Which fast paths are on (see the module docstring)."""

    inline_events: bool = False
    read_loop: bool = False


class _QuietLogger:
    """A logger object for throwaway library instances: says nothing, touches no logger."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _owners() -> dict[str, object]:
    quiet = _QuietLogger()
    return {
        "socketio.AsyncClient": socketio.AsyncClient,
        "socketio.AsyncClient()": socketio.AsyncClient(
            reconnection=False, handle_sigint=False, logger=quiet, engineio_logger=quiet
        ),
        "engineio.AsyncClient": engineio.AsyncClient,
        "engineio.AsyncClient()": engineio.AsyncClient(handle_sigint=False, logger=quiet),
        "engineio.packet": eio_packet,
        "engineio.base_client": eio_base_client,
        "aiohttp.client_exceptions": aiohttp.client_exceptions,
    }


def _has(owner: object, dotted: str) -> bool:
    for name in dotted.split("."):
        try:
            owner = getattr(owner, name)
        except AttributeError:
            return False
    return True


def missing_names(
    requirements: tuple[Requirement, ...], owners: Mapping[str, object]
) -> dict[str, list[str]]:
    """Check every requirement; return ``{fast path: [missing names]}`` (all of them)."""
    missing: dict[str, list[str]] = {}
    for requirement in requirements:
        owner = owners.get(requirement.owner)
        if owner is None or not _has(owner, requirement.name):
            missing.setdefault(requirement.path, []).append(str(requirement))
    return missing


def requested(environ: Mapping[str, str]) -> frozenset[str] | None:
    """The fast paths ``VILNIUS_FAST_PATHS`` asks for: ``None`` for all of them (unset, or
    ``1``/``on``), none (``0``/``off``), or those it names, comma-separated
    (``inline_events``, ``read_loop``, and the server's ``direct``): for measuring one at a
    time (``./dev bench``)."""
    value = environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if value in _OFF_VALUES:
        return frozenset()
    if value in _ON_VALUES:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def switched_off(environ: Mapping[str, str]) -> bool:
    """Whether ``VILNIUS_FAST_PATHS`` in ``environ`` switches every fast path off."""
    return requested(environ) == frozenset()


def _resolve(
    requirements: tuple[Requirement, ...],
    owners: Callable[[], Mapping[str, object]],
    environ: Mapping[str, str],
) -> FastPaths:
    wanted = requested(environ)
    if wanted == frozenset():
        LOGGER.info("%s is off: the transport's fast paths are off", ENVIRONMENT_VARIABLE)
        return FastPaths()
    missing = missing_names(requirements, owners())
    if wanted is not None:
        for path in ("inline_events", "read_loop"):
            if path not in wanted:
                missing.setdefault(path, [])  # not asked for: off, without a warning
    for path, names in missing.items():
        if not names:
            continue
        LOGGER.warning(
            "fast path %r switched off: the installed python-engineio / python-socketio / "
            "aiohttp lack %s",
            path,
            ", ".join(names),
        )
    inline = "inline_events" not in missing
    return FastPaths(inline_events=inline, read_loop=inline and "read_loop" not in missing)


@functools.cache
def fast_paths() -> FastPaths:
    """The fast paths in force: checked on first use, then remembered (see `reset`)."""
    return _resolve(REQUIREMENTS, _owners, os.environ)


def reset() -> None:
    """Forget the remembered check, so that the next `fast_paths` checks again."""
    fast_paths.cache_clear()


def make_client(paths: FastPaths, *, fast_event: EventCallback, **options: Any) -> Any:
    """A ``socketio.AsyncClient`` with the fast paths in ``paths`` (stock when none)."""
    if paths.inline_events:
        return FastSocketIOClient(fast_event=fast_event, own_read_loop=paths.read_loop, **options)
    return socketio.AsyncClient(**options)


# -- engine state read when a link closes (best effort) ---------------------------


def engine_tasks(sio: Any) -> list[asyncio.Task[Any]]:
    """The engine's read and write loop tasks that are still running."""
    eio = getattr(sio, "eio", None)
    tasks = (getattr(eio, "read_loop_task", None), getattr(eio, "write_loop_task", None))
    return [task for task in tasks if isinstance(task, asyncio.Task) and not task.done()]


def engine_connected(sio: Any) -> bool:
    """Whether the engine still considers itself connected."""
    return getattr(getattr(sio, "eio", None), "state", None) == "connected"


def mark_engine_disconnected(sio: Any) -> None:
    """Leave the engine ``disconnected`` after its tasks were stopped."""
    eio = getattr(sio, "eio", None)
    if eio is not None and hasattr(eio, "state"):
        eio.state = "disconnected"


def engine_websocket(sio: Any) -> aiohttp.ClientWebSocketResponse | None:
    """The engine's aiohttp WebSocket (``None`` for polling, or when unknown)."""
    ws = getattr(getattr(sio, "eio", None), "ws", None)
    return ws if isinstance(ws, aiohttp.ClientWebSocketResponse) else None


def sid_of(sio: Any) -> str | None:
    """The Socket.IO session id of the default namespace."""
    sid = sio.get_sid("/")
    return str(sid) if sid is not None else None


def transport_of(sio: Any) -> str | None:
    """The Engine.IO transport in use (``"websocket"`` or ``"polling"``)."""
    name = sio.transport()
    return str(name) if name else None
