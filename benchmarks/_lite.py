"""A minimal Socket.IO v5 (Engine.IO v4) websocket client for load generation.

python-socketio's ``AsyncClient`` costs a few hundred microseconds per received event; with
50 agents that caps the load generator well below what the servers deliver on a 2-core box.
This client does only what a benchmark receiver needs: connect to ``/``, emit (optionally
with an ack), answer pings and hand each received event's raw text to a callback. The event
name is cut out of the frame without decoding the payload; the payload is decoded only on
demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

#: callback(event_name, raw_frame); ``decode(raw_frame)`` gives the payload.
RawHandler = Callable[[str, str], None]


def decode(frame: str) -> Any:
    """The first argument of the event in a raw ``42[...]`` frame."""
    return json.loads(frame[2:])[1]


def event_name(frame: str) -> str:
    """The event name of a raw ``42["name",...]`` frame (no JSON decoding)."""
    end = frame.index('"', 4)
    return frame[4:end]


class LiteClient:
    """One Socket.IO connection over a shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, on_event: RawHandler) -> None:
        self._session = session
        self._on_event = on_event
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self.closed = asyncio.Event()

    async def connect(self, url: str, auth: dict[str, Any] | None = None) -> None:
        """Open the websocket and connect to the default namespace."""
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._ws = ws = await self._session.ws_connect(ws_url, autoping=False, max_msg_size=0)
        opened = await ws.receive_str()
        if not opened.startswith("0"):
            raise ConnectionError(f"unexpected Engine.IO open packet {opened[:40]!r}")
        await ws.send_str("40" + (json.dumps(auth) if auth else ""))
        while True:
            frame = await ws.receive_str()
            if frame.startswith("40"):
                break
            if frame.startswith("44"):
                raise ConnectionError(f"connect refused: {frame[2:]}")
            if frame == "2":
                await ws.send_str("3")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        on_event = self._on_event
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame: str = msg.data
                if frame.startswith("42"):
                    on_event(event_name(frame), frame)
                elif frame == "2":
                    await ws.send_str("3")
                elif frame.startswith("43"):
                    bracket = frame.index("[")
                    fut = self._acks.pop(int(frame[2:bracket]), None)
                    if fut is not None and not fut.done():
                        fut.set_result(json.loads(frame[bracket:]))
        finally:
            self.closed.set()
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))

    async def emit(self, event: str, data: Any) -> None:
        """Send an event without waiting for anything."""
        assert self._ws is not None
        await self._ws.send_str("42" + json.dumps([event, data], separators=(",", ":")))

    async def call(self, event: str, data: Any) -> Any:
        """Send an event with an ack id and wait for the server's acknowledgement.

        Bound the wait with ``asyncio.timeout``; a closed connection fails it at once.
        """
        assert self._ws is not None
        ack_id = self._next_ack
        self._next_ack += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = fut
        await self._ws.send_str(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        return await fut

    async def disconnect(self) -> None:
        """Close the connection and stop the reader."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send_str("41")
            await self._ws.close()
        if self._reader is not None:
            await self._reader
