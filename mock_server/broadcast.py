"""Fan-out without a task per recipient: encode an event once, write one frame to each socket.

python-socketio's ``AsyncServer.emit(room=...)`` encodes a broadcast once but then creates
one task per recipient, each putting the packet on that socket's Engine.IO queue, from
which the socket's writer task takes it and hands it to aiohttp, which frames it again.
With 50 agents that machinery, not the application, is most of the server's CPU time.

:class:`Broadcaster` sends an event to a room the short way: the Socket.IO packet is
encoded once (with orjson, :mod:`mock_server.wirejson`), framed once as an unmasked
WebSocket text frame, and the same bytes are written to the transport of every recipient
whose connection allows it:

* the Engine.IO socket is on the WebSocket transport (upgraded, not upgrading, not closed),
* its WebSocket did not negotiate ``permessage-deflate`` (a compressed frame depends on
  each connection's compressor), and
* nothing is waiting in, or was just taken from, its Engine.IO queue, so the frame cannot
  overtake a packet sent earlier through python-socketio (acks, pings, single-socket
  emits).

Frames are not written at once: each transport collects the frames of the broadcasts that
run in the same event-loop iteration, and one callback scheduled with ``call_soon`` writes
them with one ``write`` (one ``send()`` system call) per transport. Under load, several
broadcasts land in one iteration, so the per-delivery system call, the largest cost left,
is shared; at low load the delay is one loop iteration. The callback runs before any
writer task woken later, so a packet queued after a pending frame still follows it.

Any other recipient gets the packet on its Engine.IO queue (``put_nowait``, still no task),
exactly as python-socketio would. Writes that the kernel does not take at once stay in the
transport's buffer, as aiohttp's own writes do.

:func:`install` wires the two hooks this needs into an ``AsyncServer`` (a queue class that
says when its writer holds packets, and a WebSocket driver that remembers each socket's
aiohttp ``WebSocketResponse``); when the installed python-socketio / python-engineio do
not look as expected, nothing is installed and :meth:`Broadcaster.emit` uses
``AsyncServer.emit``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import socketio
from engineio import packet as eio_packet

from .wirejson import dumps

try:  # the aiohttp driver of python-engineio (what async_mode="aiohttp" uses)
    from engineio.async_drivers.aiohttp import WebSocket as _EngineIOWebSocket
except ImportError:  # pragma: no cover - python-engineio without the aiohttp driver
    _EngineIOWebSocket = None

__all__ = ["Broadcaster", "install"]

logger = logging.getLogger("mock_server")

_WS_ATTR = "_vilnius_ws"
"""Attribute of an Engine.IO socket holding its aiohttp ``WebSocketResponse``."""

_NAMESPACE = "/"


class _WriterQueue(asyncio.Queue[Any]):
    """An Engine.IO socket queue that knows when its writer holds packets not yet written.

    The socket's writer calls ``get`` (through ``poll``), then writes what it got and
    calls ``get`` again: between a ``get`` that returned and the next ``get`` call, packets
    taken from the queue may not be on the wire yet.
    """

    holding = False

    async def get(self) -> Any:
        self.holding = False
        item = await super().get()
        self.holding = True
        return item


def _websocket_driver() -> type | None:
    if _EngineIOWebSocket is None:
        return None

    class _WebSocket(_EngineIOWebSocket):  # type: ignore[misc]
        """python-engineio's aiohttp WebSocket that lets the socket know its response."""

        def __init__(self, handler: Any, server: Any) -> None:
            socket = getattr(handler, "__self__", None)  # the Engine.IO socket

            async def remembering(ws: Any) -> Any:
                if socket is not None:
                    setattr(socket, _WS_ATTR, ws._sock)
                try:
                    return await handler(ws)
                finally:
                    if socket is not None:
                        setattr(socket, _WS_ATTR, None)

            super().__init__(remembering, server)

    return _WebSocket


def install(sio: socketio.AsyncServer) -> bool:
    """Give ``sio``'s Engine.IO server the hooks of the direct path; ``False`` if impossible."""
    eio: Any = getattr(sio, "eio", None)
    driver = _websocket_driver()
    hooks = getattr(eio, "_async", None)
    if (
        driver is None
        or not isinstance(hooks, dict)
        or hooks.get("websocket") is not _EngineIOWebSocket
        or not hasattr(eio, "sockets")
        or not hasattr(sio, "manager")
    ):
        return False
    eio._async = {**hooks, "websocket": driver}
    eio.create_queue = _WriterQueue
    return True


_PACK1 = struct.Struct("!BB").pack
_PACK2 = struct.Struct("!BBH").pack
_PACK3 = struct.Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame carrying ``payload`` (server to client)."""
    size = len(payload)
    if size < 126:
        header = _PACK1(0x81, size)
    elif size < 65536:
        header = _PACK2(0x81, 126, size)
    else:
        header = _PACK3(0x81, 127, size)
    return header + payload


class Broadcaster:
    """Sends events to rooms of one ``AsyncServer`` (see the module docstring)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.direct = install(sio)
        self._pending: dict[Any, list[bytes]] = {}

    async def emit(
        self, event: str, data: dict[str, Any], room: str, skip_sid: str | None = None
    ) -> None:
        """Send ``event`` with ``data`` to every socket of ``room`` but ``skip_sid``."""
        if not self.direct:
            await self.sio.emit(event, data, room=room, skip_sid=skip_sid)
            return
        self.send(event, data, room, skip_sid)

    def send(self, event: str, data: dict[str, Any], room: str, skip_sid: str | None) -> None:
        """The direct path: never awaits, never creates a task."""
        manager = self.sio.manager
        if _NAMESPACE not in manager.rooms:
            return
        # Socket.IO EVENT packet "2[...]" inside an Engine.IO MESSAGE packet "4...".
        body = dumps([event, data])
        frame: bytes | None = None
        queued: Any = None
        sockets = self.sio.eio.sockets
        pending = self._pending
        flush_scheduled = bool(pending)
        for sid, eio_sid in manager.get_participants(_NAMESPACE, room):
            if sid == skip_sid:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            queue = socket.queue
            ws = getattr(socket, _WS_ATTR, None)
            if (
                ws is not None
                and socket.upgraded
                and not socket.upgrading
                and not getattr(queue, "holding", True)
                and queue.empty()
                and not ws.compress
                and not ws.closed
            ):
                writer = ws._writer
                transport = writer.transport if writer is not None else None
                if transport is not None and not transport.is_closing() and not writer._closing:
                    if frame is None:
                        frame = text_frame(b"42" + body)
                    frames = pending.get(transport)
                    if frames is None:
                        pending[transport] = [frame]
                    else:
                        frames.append(frame)
                    continue
            if queued is None:
                queued = eio_packet.Packet(eio_packet.MESSAGE, "2" + body.decode())
            queue.put_nowait(queued)
        if pending and not flush_scheduled:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write what this loop iteration's broadcasts left for each transport, in one go."""
        pending, self._pending = self._pending, {}
        for transport, frames in pending.items():
            if transport.is_closing():
                continue  # the connection went away: its events are lost, as on any drop
            try:
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            except Exception:  # one broken connection must not starve the others
                logger.exception("write of %d event frame(s) failed", len(frames))
