"""WebSocket frames the server writes itself, and ``permessage-deflate`` like socket.io's.

**Compression like socket.io's default.** ``permessage-deflate`` is negotiated only when
the server runs with ``ws_compression``; otherwise the offer of the client (every browser
and the stock Node ``socket.io-client`` make one) is declined, as the Node.js socket.io
server does by default. When it is on, the server always asks for
``server_no_context_takeover`` (RFC 7692 lets a server add it to any offer it accepts):
a compressed message then depends on nothing sent before it, so one compressed frame
serves every recipient (``Deflater``). Messages under ``COMPRESSION_THRESHOLD`` bytes go
out uncompressed (the threshold of Node's ``ws`` and of python-engineio's HTTP
compression). ``negotiation`` is an aiohttp middleware on public API only, so it holds on
the stock path too.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

__all__ = ["COMPRESSION_THRESHOLD", "Deflater", "frame", "negotiation"]

COMPRESSION_THRESHOLD = 1024
"""Messages shorter than this many bytes are sent uncompressed even when compression is on."""

_DEFLATE_TRAILER = b"\x00\x00\xff\xff"

_EXTENSION = re.compile(r"(^|,)\s*permessage-deflate\b[^,]*", re.IGNORECASE)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def negotiation(compression: bool) -> Any:
    """An aiohttp middleware that shapes the WebSocket compression handshake.

    ``compression=False``: the client's ``Sec-WebSocket-Extensions`` offer is removed, so
    no extension is negotiated. ``True``: ``server_no_context_takeover`` is added to each
    ``permessage-deflate`` offer, so aiohttp accepts it with that parameter. The reference
    server's own WebSocket driver declines compression itself when it is off, and then
    does without this middleware (a copy of the request would live as long as the socket).
    """

    def shaped(offer: str) -> str:
        def add(match: re.Match[str]) -> str:
            text = match.group(0)
            if "server_no_context_takeover" in text.lower():
                return text
            return text.rstrip() + "; server_no_context_takeover"

        return _EXTENSION.sub(add, offer)

    @web.middleware
    def negotiate(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        # Not a coroutine function: no frame of its own for a WebSocket's lifetime.
        offer = request.headers.get(hdrs.SEC_WEBSOCKET_EXTENSIONS)
        if offer is None:
            return handler(request)
        headers = request.headers.copy()
        if compression:
            headers[hdrs.SEC_WEBSOCKET_EXTENSIONS] = shaped(offer)
        else:
            del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        return handler(request.clone(headers=headers))

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
