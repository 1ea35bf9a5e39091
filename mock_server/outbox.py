"""The connection layer: a bounded outgoing buffer per socket, and the WebSocket driver.

python-socketio puts every packet for a socket on that socket's Engine.IO queue, from
which the socket's writer task takes it and hands it to aiohttp. Nothing bounds that
queue: a client that stops reading makes it grow for as long as it stays connected.
(Every private part of the libraries this relies on is named in ``mock_server._internals``,
checked when the server starts.)

**A bounded outgoing buffer per connection.** Each Engine.IO socket's queue counts the
bytes it holds (``Outbox.queue`` is installed as the Engine.IO server's
``create_queue``); what the socket's transport holds (written, not yet taken by the
kernel) counts too. Past ``max_buffer`` bytes the server closes the connection at once
(the buffers are dropped) and logs why; the client reconnects and recovers what it
missed by ``seq``, and nobody else waits for it.

**The driver** (``Outbox.driver``, in place of python-engineio's aiohttp driver) keeps a
``Connection`` for each socket on the WebSocket transport, which the broadcast fast path
(``mock_server.broadcast``) writes to, and frames the packets it sends itself
(``mock_server.frames``; one shared compressor when compression is on). With the fast
paths off it sends through aiohttp's ``send_str``; the buffer limit stays unless the
internals it needs are missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs, web

from . import _internals
from .frames import Deflater

__all__ = ["MAX_BUFFER", "Connection", "Outbox"]

logger = logging.getLogger("mock_server")

MAX_BUFFER = 1024 * 1024
"""Default high-water mark of a connection's outgoing buffer, in bytes (1 MiB)."""


def _size(item: Any) -> int:
    """Bytes an Engine.IO packet will take on the wire (about)."""
    if item is None:
        return 0
    data = getattr(item, "data", None)
    if isinstance(data, str | bytes):
        return len(data) + 8
    return 64


class Connection:
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
    connection: Connection | None = None
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
        self.connections: dict[str, Connection] = {}
        self.sockets: Callable[[], Any] = dict
        self.upgraded: Callable[[str, dict[str, Any]], None] | None = None
        self.deflater = Deflater()
        self.compress = False
        """Whether the driver's sockets accept ``permessage-deflate`` (``--ws-compression``)."""
        self.dropped = 0

    def queue(self) -> _Queue:
        """A new socket's queue (installed as the Engine.IO server's ``create_queue``)."""
        return _Queue(self)

    def check_queue(self, queue: _Queue) -> None:
        """Called when a packet was queued: drop the connection if it is over the limit."""
        if queue.nbytes > self.max_buffer or queue.buffered() > self.max_buffer:
            queue.dropped = True
            asyncio.get_running_loop().call_soon(self.drop, queue)

    def check(self, conn: Connection) -> None:
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
        self.conn: Connection | None = None

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = _internals.aiohttp_request(environ)
        ws = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=self.outbox.compress
        )
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
        conn = self.conn = Connection(socket, ws, transport)
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
