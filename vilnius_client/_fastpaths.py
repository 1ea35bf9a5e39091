"""Library internals behind one seam: what the SDK's fast paths take from inside
python-engineio, python-socketio and aiohttp, checked once at start-up.

Every private (or undocumented) name of those libraries that the SDK uses is
listed in `REQUIREMENTS` and used only in this module and in
`vilnius_client._fastclient` (the fast paths' code). The first connection
checks them all (`fast_paths`): a fast path any of whose names is missing is
switched off, once, with a warning naming what is missing, and the SDK takes
the libraries' stock, public path instead.

The fast paths:

``inline_events``
    Socket.IO ``EVENT`` and ``ACK`` packets are handled inside Engine.IO's
    read loop, in arrival order, instead of in one task per message; events
    on ``/`` without an ack id are decoded with orjson. Off: python-socketio's
    own dispatch (a task per message, stdlib ``json``).
``read_loop``
    Our own WebSocket read loop (one lazily moved idle deadline instead of a
    ``wait_for`` per message; Socket.IO packets taken without building an
    Engine.IO packet). Needs ``inline_events``. Off: Engine.IO's loop.

``VILNIUS_FAST_PATHS=0`` (or ``false``, ``off``, ``no``) in the environment
switches every fast path off; the reference server honours the same
variable. Behaviour is the same either way (the client tests run both ways);
only the CPU cost differs.

Not a fast path, but read here too: the engine's tasks, state and WebSocket
when a link is closed (`engine_tasks`, `engine_websocket`), with
safe defaults when a name is missing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import engineio
import socketio
from engineio import base_client as eio_base_client
from engineio import packet as eio_packet

from ._fastclient import EventCallback, FastSocketIOClient

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "REQUIREMENTS",
    "FastPaths",
    "Requirement",
    "engine_connected",
    "engine_tasks",
    "engine_websocket",
    "fast_paths",
    "make_client",
    "mark_engine_disconnected",
    "missing_names",
    "reset",
    "switched_off",
]

ENVIRONMENT_VARIABLE = "VILNIUS_FAST_PATHS"
_OFF_VALUES = frozenset({"0", "false", "off", "no"})

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


def switched_off(environ: Mapping[str, str]) -> bool:
    """Whether ``VILNIUS_FAST_PATHS`` in ``environ`` switches the fast paths off (SDK, server)."""
    return environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() in _OFF_VALUES


def _resolve(
    requirements: tuple[Requirement, ...],
    owners: Callable[[], Mapping[str, object]],
    environ: Mapping[str, str],
) -> FastPaths:
    if switched_off(environ):
        LOGGER.info("%s is off: the transport's fast paths are off", ENVIRONMENT_VARIABLE)
        return FastPaths()
    missing = missing_names(requirements, owners())
    for path, names in missing.items():
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
