"""Broadcasts framed once: the fast path of every event sent to a room.

python-socketio's ``AsyncServer.emit(room=...)`` encodes a broadcast once but then creates
one task per recipient, each putting the packet on that socket's Engine.IO queue, from
which the socket's writer task takes it and hands it to aiohttp, which frames it again (and
deflates it again, per connection, when ``permessage-deflate`` was negotiated).

Here (the fast path) the Socket.IO packet is encoded once (orjson, ``mock_server.wirejson``),
framed once as an unmasked WebSocket text frame (compressed once per window size when the
recipient negotiated compression and the message is over the threshold;
``mock_server.frames``), and the same bytes are written to the transport of every
recipient whose connection (``mock_server.outbox``) allows it:

* the Engine.IO socket is on the WebSocket transport (upgraded, not upgrading, not closed),
* nothing is waiting in, or was just taken from, its Engine.IO queue, so the frame cannot
  overtake a packet sent earlier through python-socketio (acks, pings, single-socket
  emits).

Frames are not written at once: each connection collects the frames of the broadcasts that
run in the same event-loop iteration, and one callback scheduled with ``call_soon`` writes
them with one ``write`` (one ``send()`` system call) per transport. The callback runs
before any writer task woken later, so a packet queued after a pending frame still follows
it. Any other recipient gets the packet on its Engine.IO queue (``put_nowait``, still no
task), exactly as python-socketio would. The driver's writer frames the queued packets the
same way.

With ``VILNIUS_FAST_PATHS=0`` (or an internal missing) broadcasts go through
``AsyncServer.emit``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import socketio

from . import _internals
from .frames import COMPRESSION_THRESHOLD
from .outbox import MAX_BUFFER, Connection, Outbox
from .wirejson import dumps

__all__ = ["Broadcaster"]

logger = logging.getLogger("mock_server")


class Broadcaster:
    """Sends events to rooms of one ``AsyncServer`` (see the module docstring)."""

    def __init__(
        self, sio: socketio.AsyncServer, *, max_buffer: int = MAX_BUFFER, compression: bool = False
    ) -> None:
        self.sio = sio
        self.outbox = Outbox(max_buffer, direct=False)
        self.outbox.compress = compression
        support = _internals.check(sio, self.outbox.queue)
        _internals.warn_once(support)
        self.bounded = support.use_outbox
        self.direct = support.use_direct
        if self.bounded:
            _internals.install_driver(sio, self.outbox.driver())
            _internals.install_queue(sio, self.outbox.queue)
            self.outbox.direct = self.direct
            if not support.direct:
                self.outbox.sockets = lambda: _internals.engineio_sockets(sio)
            if self.direct:
                self.outbox.upgraded = functools.partial(_internals.forget_handshake_request, sio)
        self._pending: dict[Connection, list[bytes]] = {}

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
        # Socket.IO EVENT packet "2[...]" inside an Engine.IO MESSAGE packet "4...".
        body = dumps([event, data])
        payload = b"42" + body
        compressible = len(payload) >= COMPRESSION_THRESHOLD
        framed: dict[int, bytes] = {}  # by window size; 0: uncompressed
        queued: Any = None
        connections = self.outbox.connections
        sockets = _internals.engineio_sockets(self.sio)
        pending = self._pending
        flush_scheduled = bool(pending)
        for sid, eio_sid in _internals.participants(self.sio, room):
            if sid == skip_sid:
                continue
            conn = connections.get(eio_sid)
            socket = conn.socket if conn is not None else sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            queue = socket.queue
            if queue.dropped:
                continue
            if (
                conn is not None
                and socket.upgraded
                and not socket.upgrading
                and not queue.holding
                and queue.empty()
                and not conn.transport.is_closing()
            ):
                wbits = conn.wbits if compressible else 0
                data_frame = framed.get(wbits)
                if data_frame is None:
                    data_frame = framed[wbits] = self.outbox.deflater.frame(payload, wbits)
                frames = pending.get(conn)
                if frames is None:
                    pending[conn] = [data_frame]
                else:
                    frames.append(data_frame)
                continue
            if queued is None:
                queued = _internals.message_packet("2" + body.decode())
            if queue.socket is None:
                queue.socket = socket
            queue.put_nowait(queued)
        if pending and not flush_scheduled:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write what this loop iteration's broadcasts left for each transport, in one go."""
        pending, self._pending = self._pending, {}
        check = self.outbox.check
        for conn, frames in pending.items():
            transport = conn.transport
            if transport.is_closing():
                continue  # the connection went away: its events are lost, as on any drop
            try:
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            except Exception:  # one broken connection must not starve the others
                logger.exception("write of %d event frame(s) failed", len(frames))
                continue
            check(conn)
