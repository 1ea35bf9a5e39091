"""The transport's inline event path against a stock python-socketio server sending
what the fast path does not take (ack ids, integers beyond 64 bits, several
arguments): every event still arrives, in the order it was sent, and a
callback that raises does not end the connection. Run with the fast paths and
with the stock paths (``VILNIUS_FAST_PATHS=0``): the behaviour is the same."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from aiohttp import web

from tests.conftest import scaled
from vilnius_client._transport import SocketIOTransport

pytestmark = pytest.mark.usefixtures("fast_paths")

LOG = logging.getLogger("test.transport")
BIG = 2**70  # orjson refuses it; python-socketio's own decoder reads it


class Peer:
    """A stock python-socketio server on loopback that sends scripted events."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp")
        self.app = web.Application()
        self.sio.attach(self.app)
        self.sids: list[str] = []
        self.connected = asyncio.Event()
        self.acks: list[tuple[Any, ...]] = []
        self.acked = asyncio.Event()

        @self.sio.event  # type: ignore[untyped-decorator]
        async def connect(sid: str, environ: Any, auth: Any = None) -> None:
            self.sids.append(sid)
            self.connected.set()

    def on_ack(self, *args: Any) -> None:
        self.acks.append(args)
        self.acked.set()

    async def script(self, sid: str) -> None:
        emit = self.sio.emit
        await emit("e", {"n": 0}, to=sid)
        await emit("e", {"n": 1, "big": BIG}, to=sid)  # stock decoding
        await emit("e", {"n": 2}, to=sid)
        await emit("e", {"n": 3}, to=sid, callback=self.on_ack)  # with an ack id
        await emit("e", {"n": 4}, to=sid)
        await emit("two", ("a", {"n": 5}), to=sid)  # several arguments
        await emit("e", {"n": 6}, to=sid)
        await emit("bad", {"n": 7}, to=sid)  # the callback raises
        await emit("e", {"n": 8}, to=sid)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Peer, str]]:
    p = Peer()
    runner = web.AppRunner(p.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield p, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_every_event_arrives_in_order(peer: tuple[Peer, str]) -> None:
    server, url = peer
    got: list[tuple[str, tuple[Any, ...]]] = []
    done = asyncio.Event()

    def on_event(name: str, args: tuple[Any, ...]) -> None:
        if name == "bad":
            raise RuntimeError("handler bug")
        got.append((name, args))
        if args and args[-1] == {"n": 8}:
            done.set()

    link = await SocketIOTransport(logger=LOG).open(
        url, auth=None, on_event=on_event, within=scaled(5)
    )
    try:
        await asyncio.wait_for(server.connected.wait(), scaled(5))
        await server.script(server.sids[0])
        await asyncio.wait_for(done.wait(), scaled(5))
        assert got == [
            ("e", ({"n": 0},)),
            ("e", ({"n": 1, "big": BIG},)),
            ("e", ({"n": 2},)),
            ("e", ({"n": 3},)),
            ("e", ({"n": 4},)),
            ("two", ("a", {"n": 5})),
            ("e", ({"n": 6},)),
            ("e", ({"n": 8},)),
        ]
        assert link.connected  # a raising callback did not end the read loop
        await asyncio.wait_for(server.acked.wait(), scaled(5))
        assert server.acks == [()]  # the ack id was answered (with no value)
    finally:
        await link.close()


async def test_the_link_takes_the_paths_in_force(peer: tuple[Peer, str], fast_paths: str) -> None:
    _, url = peer
    link = await SocketIOTransport(logger=LOG).open(
        url, auth=None, on_event=lambda name, args: None, within=scaled(5)
    )
    try:
        inline = fast_paths == "fast"
        assert link.paths.inline_events is inline
        assert link.paths.read_loop is inline
        assert (type(link._sio) is socketio.AsyncClient) is not inline
        assert getattr(link._sio.eio, "own_read_loop", False) is inline
    finally:
        await link.close()
