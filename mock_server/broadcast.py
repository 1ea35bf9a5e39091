"""Connections and fan-out: a bounded outgoing buffer per socket, and broadcasts framed once.

python-socketio's ``AsyncServer.emit(room=...)`` encodes a broadcast once but then creates
one task per recipient, each putting the packet on that socket's Engine.IO queue, from
which the socket's writer task takes it and hands it to aiohttp, which frames it again (and
deflates it again, per connection, when ``permessage-deflate`` was negotiated). Nothing
bounds that queue: a client that stops reading makes it grow for as long as it stays
connected.

This module gives the reference server its own connection layer (every private part of
the libraries it relies on is named in :mod:`mock_server._internals`, checked when the
server starts):

**Compression like socket.io's default.** ``permessage-deflate`` is negotiated only when
the server runs with ``ws_compression``; otherwise the offer of the client (every browser
and the stock Node ``socket.io-client`` make one) is declined, as the Node.js socket.io
server does by default. When it is on, the server always asks for
``server_no_context_takeover`` (RFC 7692 lets a server add it to any offer it accepts):
a compressed message then depends on nothing sent before it, so one compressed frame
serves every recipient. Messages under :data:`COMPRESSION_THRESHOLD` bytes go out
uncompressed (the threshold of Node's ``ws`` and of python-engineio's HTTP compression).
This is :func:`negotiation`, an aiohttp middleware on public API only, so it holds on the
stock path too.

**A bounded outgoing buffer per connection.** Each Engine.IO socket's queue counts the
bytes it holds; what the socket's transport holds (written, not yet taken by the kernel)
counts too. Past ``max_buffer`` bytes the server closes the connection at once (the
buffers are dropped) and logs why; the client reconnects and recovers what it missed by
``seq``, and nobody else waits for it.

**Broadcasts framed once** (the fast path): the Socket.IO packet is encoded once (orjson,
:mod:`mock_server.wirejson`), framed once as an unmasked WebSocket text frame (compressed
once per window size when the recipient negotiated compression and the message is over
the threshold), and the same bytes are written to the transport of every recipient whose
connection allows it:

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
``AsyncServer.emit`` and frames through aiohttp's ``send_str``; the buffer limit stays
unless the internals it needs are missing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import hdrs, web

from . import _internals
from .wirejson import dumps

__all__ = [
    "COMPRESSION_THRESHOLD",
    "MAX_BUFFER",
    "Broadcaster",
    "negotiation",
]

logger = logging.getLogger("mock_server")

MAX_BUFFER = 1024 * 1024
"""Default high-water mark of a connection's outgoing buffer, in bytes (1 MiB)."""

COMPRESSION_THRESHOLD = 1024
"""Messages shorter than this many bytes are sent uncompressed even when compression is on."""

_DEFLATE_TRAILER = b"\x00\x00\xff\xff"
_EXTENSION = re.compile(r"(^|,)\s*permessage-deflate\b[^,]*", re.IGNORECASE)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def negotiation(compression: bool) -> Any:
    """An aiohttp middleware that shapes the WebSocket compression handshake.

    ``compression=False``: the client's ``Sec-WebSocket-Extensions`` offer is removed, so
    no extension is negotiated. ``True``: ``server_no_context_takeover`` is added to each
    ``permessage-deflate`` offer, so aiohttp accepts it with that parameter.
    """

    def shaped(offer: str) -> str:
        def add(match: re.Match[str]) -> str:
            text = match.group(0)
            if "server_no_context_takeover" in text.lower():
                return text
            return text.rstrip() + "; server_no_context_takeover"

        return _EXTENSION.sub(add, offer)

    @web.middleware
    async def negotiate(request: web.Request, handler: _Handler) -> web.StreamResponse:
        offer = request.headers.get(hdrs.SEC_WEBSOCKET_EXTENSIONS)
        if offer is None:
            return await handler(request)
        headers = request.headers.copy()
        if compression:
            headers[hdrs.SEC_WEBSOCKET_EXTENSIONS] = shaped(offer)
        else:
            del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        return await handler(request.clone(headers=headers))

    return negotiate


_PACK1 = struct.Struct("!BB").pack
_PACK2 = struct.Struct("!BBH").pack
_PACK3 = struct.Struct("!BBQ").pack


def frame(payload: bytes, opcode: int = 0x1, rsv1: bool = False) -> bytes:
    """An unmasked, final WebSocket frame carrying ``payload`` (server to client)."""
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        header = _PACK1(first, size)
    elif size < 65536:
        header = _PACK2(first, 126, size)
    else:
        header = _PACK3(first, 127, size)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed WebSocket text frame (server to client)."""
    return frame(payload)


class Deflater:
    """One ``permessage-deflate`` compressor per window size, shared by every connection.

    Each message ends with a full flush, which resets the compressor's history: the bytes
    of a message do not depend on what was compressed before, so they are right for any
    connection that negotiated ``server_no_context_takeover`` with that window size.
    """

    def __init__(self) -> None:
        self._compressors: dict[int, Any] = {}

    def compress(self, payload: bytes, wbits: int) -> bytes:
        """``payload`` compressed as one message for a ``wbits`` window (RFC 7692)."""
        compressor = self._compressors.get(wbits)
        if compressor is None:
            compressor = zlib.compressobj(zlib.Z_BEST_SPEED, zlib.DEFLATED, -wbits)
            self._compressors[wbits] = compressor
        data: bytes = compressor.compress(payload) + compressor.flush(zlib.Z_FULL_FLUSH)
        return data.removesuffix(_DEFLATE_TRAILER)

    def frame(self, payload: bytes, wbits: int, opcode: int = 0x1) -> bytes:
        """A frame for a connection with window ``wbits`` (0: no compression)."""
        if wbits and len(payload) >= COMPRESSION_THRESHOLD:
            return frame(self.compress(payload, wbits), opcode, rsv1=True)
        return frame(payload, opcode)


def _size(item: Any) -> int:
    """Bytes an Engine.IO packet will take on the wire (about)."""
    if item is None:
        return 0
    data = getattr(item, "data", None)
    if isinstance(data, str | bytes):
        return len(data) + 8
    return 64


class _Connection:
    """One Engine.IO socket on the WebSocket transport (while its driver runs)."""

    __slots__ = ("socket", "transport", "wbits", "ws")

    def __init__(self, socket: Any, ws: web.WebSocketResponse, transport: Any) -> None:
        self.socket = socket
        self.ws = ws
        self.transport = transport
        extensions = ws.headers.get(hdrs.SEC_WEBSOCKET_EXTENSIONS, "").lower()
        # A compressed frame can be shared only where the server keeps no context; where
        # it would have to (negotiated without the middleware), messages go uncompressed,
        # which RFC 7692 allows for any message.
        shared = "server_no_context_takeover" in extensions
        self.wbits = int(ws.compress) if shared else 0


class _Queue(asyncio.Queue[Any]):
    """An Engine.IO socket queue that counts its bytes and knows when its writer holds some.

    The socket's writer calls ``get`` (through ``poll``), then writes what it got and calls
    ``get`` again: between a ``get`` that returned and the next ``get`` call, packets taken
    from the queue may not be on the wire yet (``holding``).
    """

    holding = False
    nbytes = 0
    dropped = False
    connection: _Connection | None = None
    socket: Any = None

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    async def get(self) -> Any:
        self.holding = False
        item = await super().get()
        self.holding = True
        return item

    def _put(self, item: Any) -> None:
        super()._put(item)
        self.nbytes += _size(item)
        if not self.dropped:
            self.outbox.check_queue(self)

    def _get(self) -> Any:
        item = super()._get()
        self.nbytes -= _size(item)
        return item

    def buffered(self) -> int:
        """Bytes waiting for this socket: in the queue and in its transport."""
        conn = self.connection
        if conn is None:
            return self.nbytes
        return self.nbytes + int(conn.transport.get_write_buffer_size())


class Outbox:
    """The per-connection limit, the connections on WebSocket and how frames are written."""

    def __init__(self, max_buffer: int, direct: bool) -> None:
        self.max_buffer = max_buffer
        self.direct = direct
        self.connections: dict[str, _Connection] = {}
        self.sockets: Callable[[], Any] = dict
        self.upgraded: Callable[[str, dict[str, Any]], None] | None = None
        self.deflater = Deflater()
        self.dropped = 0

    def queue(self) -> _Queue:
        """A new socket's queue (installed as the Engine.IO server's ``create_queue``)."""
        return _Queue(self)

    def check_queue(self, queue: _Queue) -> None:
        """Called when a packet was queued: drop the connection if it is over the limit."""
        if queue.nbytes > self.max_buffer or queue.buffered() > self.max_buffer:
            queue.dropped = True
            asyncio.get_running_loop().call_soon(self.drop, queue)

    def check(self, conn: _Connection) -> None:
        """Called after a write to ``conn``: drop it if it is over the limit."""
        queue = conn.socket.queue
        if not queue.dropped and queue.buffered() > self.max_buffer:
            queue.dropped = True
            self.drop(queue)

    def drop(self, queue: _Queue) -> None:
        """Close the connection of ``queue`` at once and free what it holds."""
        buffered = queue.buffered()
        socket = queue.socket
        conn = queue.connection
        if conn is not None:
            socket = conn.socket
        if socket is None:  # a polling socket that never had a broadcast: look it up
            socket = next((s for s in self.sockets().values() if s.queue is queue), None)
        if socket is None:
            logger.warning("a socket queue holds %d bytes; its socket is gone", buffered)
            return
        sid = socket.sid
        self.dropped += 1
        logger.warning(
            "closing connection %s: %d bytes wait to be sent, over the limit of %d"
            " (the client does not read fast enough; it can reconnect and recover)",
            sid,
            buffered,
            self.max_buffer,
        )
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            queue.task_done()
        queue.holding = False
        if conn is not None:
            conn.transport.abort()  # the driver's read loop ends, then python-engineio's
        else:  # polling: close the Engine.IO socket, wake its poll
            loop = asyncio.get_running_loop()
            task = loop.create_task(socket.close(wait=False, abort=True))
            task.add_done_callback(_log_failure)
            queue.put_nowait(None)

    def driver(self) -> Callable[[Any, Any], _Driver]:
        """The Engine.IO WebSocket driver class, bound to this outbox."""
        outbox = self

        def make(handler: Any, server: Any) -> _Driver:
            return _Driver(outbox, handler, server)

        return make


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("closing a slow polling socket failed: %r", task.exception())


class _Driver:
    """python-engineio's WebSocket driver interface over an aiohttp ``WebSocketResponse``."""

    def __init__(self, outbox: Outbox, handler: Any, server: Any) -> None:
        self.outbox = outbox
        self.handler = handler
        self.server = server
        self.ws: web.WebSocketResponse | None = None
        self.conn: _Connection | None = None

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = _internals.aiohttp_request(environ)
        ws = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size)
        await ws.prepare(request)
        self.ws = ws
        socket = _internals.socket_of_handler(self.handler)
        transport = request.transport
        queue = socket.queue
        if transport is None or not isinstance(queue, _Queue):
            await self.handler(self)
            return ws
        upgraded = self.outbox.upgraded
        if upgraded is not None:
            upgraded(socket.sid, environ)
        conn = self.conn = _Connection(socket, ws, transport)
        queue.connection = conn
        connections = self.outbox.connections
        connections[socket.sid] = conn
        try:
            await self.handler(self)
        finally:
            if connections.get(socket.sid) is conn:
                del connections[socket.sid]
            queue.connection = None
        return ws

    async def close(self) -> None:
        """Close the WebSocket (a close frame, then the connection)."""
        assert self.ws is not None
        await self.ws.close()

    async def send(self, message: str | bytes) -> None:
        """Send one Engine.IO packet as a WebSocket message."""
        ws = self.ws
        conn = self.conn
        assert ws is not None
        if conn is None or not self.outbox.direct:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
            if conn is not None:
                self.outbox.check(conn)
            return
        transport = conn.transport
        if ws.closed or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        if isinstance(message, bytes):
            data = self.outbox.deflater.frame(message, conn.wbits, 0x2)
        else:
            data = self.outbox.deflater.frame(message.encode(), conn.wbits)
        transport.write(data)
        self.outbox.check(conn)

    async def wait(self) -> str | bytes:
        """The next message from the client (``OSError`` once the connection is gone)."""
        assert self.ws is not None
        msg = await self.ws.receive()
        data = msg.data
        if not isinstance(data, str | bytes):
            raise OSError("the connection is closed")
        return data


class Broadcaster:
    """Sends events to rooms of one ``AsyncServer`` (see the module docstring)."""

    def __init__(
        self, sio: socketio.AsyncServer, *, max_buffer: int = MAX_BUFFER, compression: bool = False
    ) -> None:
        self.sio = sio
        self.compression = compression
        self.outbox = Outbox(max_buffer, direct=False)
        support = _internals.check(sio, self.outbox.queue)
        _internals.warn_once(support)
        self.support = support
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
        self._pending: dict[_Connection, list[bytes]] = {}

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
        plain: bytes | None = None
        compressed: dict[int, bytes] | None = None
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
                wbits = conn.wbits
                if wbits and len(body) + 2 >= COMPRESSION_THRESHOLD:
                    if compressed is None:
                        compressed = {}
                    data_frame = compressed.get(wbits)
                    if data_frame is None:
                        payload = self.outbox.deflater.compress(b"42" + body, wbits)
                        data_frame = compressed[wbits] = frame(payload, rsv1=True)
                else:
                    if plain is None:
                        plain = text_frame(b"42" + body)
                    data_frame = plain
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
