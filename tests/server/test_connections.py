"""The connection layer (mock_server/outbox.py, broadcast.py, frames.py, _internals.py).

Compression is negotiated only when the server is started with it, and then without server
context takeover (one compressed frame serves every recipient); the library internals the
fast paths use are all checked at start-up, and anything missing (or
``VILNIUS_FAST_PATHS=0``) leaves a server that still delivers everything; a connection whose
outgoing buffer passes the limit is closed.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server import RunningServer, ServerConfig, _internals, serve
from mock_server.broadcast import Broadcaster
from mock_server.frames import COMPRESSION_THRESHOLD, Deflater
from tests.faults.timing import wait_until
from tests.server.helpers import TIMEOUT, Api, Recorder, agent

WS_PATH = "/socket.io/?EIO=4&transport=websocket"


def _inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=6), st.binary(max_size=3000))
@settings(max_examples=50, deadline=None)
def test_a_compressed_message_does_not_depend_on_what_was_compressed_before(
    history: list[bytes], message: bytes
) -> None:
    used = Deflater()
    for earlier in history:
        used.compress(earlier, 15)
    assert used.compress(message, 15) == Deflater().compress(message, 15)
    assert _inflate(used.compress(message, 15)) == message


@pytest.fixture
async def deflate_server() -> AsyncIterator[RunningServer]:
    """A reference server started with WebSocket compression on."""
    config = ServerConfig(port=0, db=":memory:", auth="none", ws_compression=True)
    async with serve(config=config) as running:
        yield running


async def _handshake(url: str, offer: bool) -> tuple[int, str | None]:
    """Open a raw WebSocket (deflate offered or not); the negotiated window and header."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url + WS_PATH, compress=15 if offer else 0) as ws,
    ):
        header = ws._response.headers.get("Sec-WebSocket-Extensions")
        return int(ws.compress), header


async def test_compression_is_declined_unless_the_server_is_started_with_it(
    server: RunningServer, deflate_server: RunningServer
) -> None:
    assert await _handshake(server.url, offer=True) == (0, None)
    compress, header = await _handshake(deflate_server.url, offer=True)
    assert compress == 15
    assert header is not None
    assert "server_no_context_takeover" in header
    assert await _handshake(deflate_server.url, offer=False) == (0, None)


async def test_with_compression_on_large_and_small_broadcasts_arrive_intact(
    deflate_server: RunningServer,
) -> None:
    big = "x" * 50 + "".join(f"{n:05d}" for n in range(1500))  # > the threshold, compressible
    assert len(big) > COMPRESSION_THRESHOLD
    async with (
        Api(deflate_server.url) as api,
        agent(deflate_server.url, "a1") as first,
        agent(deflate_server.url, "a2") as second,
    ):
        conversation, _ = await api.new_conversation()
        for text in (big, "small", big[::-1]):
            reply = await api.post(
                "/api/messages", {"conversationId": conversation, "message": text}
            )
            assert reply.status == 200, reply.body
        for bot in (first, second):
            await bot.wait_for("new-message", count=3)
            contents = [d["message"]["content"] for d in bot.received("new-message")]
            assert contents == [big, "small", big[::-1]]


class _FakeSocket:
    """An Engine.IO socket of some other library version: no ``_websocket_handler``."""

    def __init__(self, server: Any, sid: str) -> None:
        self.sid = sid
        self.queue = server.create_queue()

    async def poll(self) -> None: ...
    async def send(self, pkt: Any) -> None: ...
    async def close(self) -> None: ...


async def test_the_check_lists_every_missing_internal(server: RunningServer) -> None:
    broadcaster = server.hub.transport.broadcaster  # type: ignore[union-attr]
    sio = broadcaster.sio
    assert _internals.check(sio, broadcaster.outbox.queue, driver_module=None) != (
        _internals.Support()
    )
    support = _internals.check(sio, broadcaster.outbox.queue, socket_class=_FakeSocket)
    assert "engineio.AsyncSocket._websocket_handler (coroutine)" in support.outbox
    missing = {name for name in support.outbox if name.startswith("engineio.AsyncSocket.")}
    assert {f"engineio.AsyncSocket.{n}" for n in ("upgraded", "upgrading", "closed")} <= missing
    assert not support.use_outbox
    assert not support.use_direct


async def _deliveries(url: str) -> list[str]:
    async with Api(url) as api, agent(url, "a1") as bot:
        conversation, _ = await api.new_conversation()
        for n in range(20):
            reply = await api.post(
                "/api/messages", {"conversationId": conversation, "message": f"m{n}"}
            )
            assert reply.status == 200
        await bot.wait_for("new-message", count=20)
        return [d["message"]["content"] for d in bot.received("new-message")]


async def test_missing_internals_switch_the_fast_paths_off_once_and_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = _internals.check

    def without_sockets(sio: Any, queue_factory: Any, **kw: Any) -> _internals.Support:
        real(sio, queue_factory, **kw)
        return _internals.Support(outbox=("engineio.AsyncSocket.queue (test)",), direct=())

    monkeypatch.setattr(_internals, "check", without_sockets)
    monkeypatch.setattr(_internals, "_warned", set())
    caplog.set_level(logging.WARNING, "mock_server")
    for _ in range(2):
        async with serve(port=0, db=":memory:", auth="none") as running:
            broadcaster = running.hub.transport.broadcaster  # type: ignore[union-attr]
            assert not broadcaster.direct
            assert not broadcaster.bounded
            assert await _deliveries(running.url) == [f"m{n}" for n in range(20)]
    warnings = [r for r in caplog.records if "engineio.AsyncSocket.queue (test)" in r.message]
    assert len(warnings) == 1, "one warning per process, not per server"


async def test_the_environment_switch_keeps_the_buffer_limit_and_drops_the_fast_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(_internals.ENV, "0")
    async with serve(port=0, db=":memory:", auth="none") as running:
        broadcaster = running.hub.transport.broadcaster  # type: ignore[union-attr]
        assert isinstance(broadcaster, Broadcaster)
        assert broadcaster.bounded
        assert not broadcaster.direct
        assert await _deliveries(running.url) == [f"m{n}" for n in range(20)]


async def test_a_polling_socket_that_stops_polling_is_closed_past_the_limit() -> None:
    config = ServerConfig(port=0, db=":memory:", auth="none", max_outgoing_buffer=64 * 1024)
    async with serve(config=config) as running, aiohttp.ClientSession() as http:
        base = f"{running.url}/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as resp:
            opened = await resp.text()
        sid = opened[opened.index('"sid":"') + 7 :].split('"', 1)[0]
        url = f"{base}&sid={sid}"
        async with http.post(url, data="40") as resp:
            assert resp.status == 200
        async with http.get(url) as resp:  # the namespace connect answer
            assert (await resp.text()).startswith("40")
        async with http.post(url, data='420["join-agent-dashboard","poller"]') as resp:
            assert resp.status == 200
        async with Api(running.url) as api:
            conversation, _ = await api.new_conversation()
            # Never polled again: ~100 KB of events for this socket, over its 64 KiB limit.
            for n in range(12):
                body = {"conversationId": conversation, "message": f"{n:02d}" + "y" * 8000}
                reply = await api.post("/api/messages", body)
                assert reply.status == 200

            sockets = running.hub.transport.sio.eio.sockets  # type: ignore[union-attr]

            await wait_until(
                lambda: sid not in sockets or sockets[sid].closed, 5, what="the socket closed"
            )
        async with http.get(url) as resp:
            assert resp.status == 400, "the session is gone: the client must reconnect"


@pytest.mark.skipif(not _internals.fast_paths_enabled(), reason="a fast path, switched off")
async def test_after_the_upgrade_the_handshake_request_is_not_kept(server: RunningServer) -> None:
    # python-socketio keeps a socket's first environ for its life; for a client that starts
    # on long-polling that pinned the handshake's HTTP connection (~6 KiB per socket).
    recorder = Recorder()
    await recorder.client.connect(
        server.url, transports=["polling", "websocket"], wait_timeout=TIMEOUT
    )
    try:
        assert await recorder.call("join-agent-dashboard", "upgraded") == {"ok": True}
        await wait_until(lambda: recorder.client.transport() == "websocket", 5, what="upgrade")
        sio = server.hub.transport.sio  # type: ignore[union-attr]
        (environ,) = sio.environ.values()
        request = environ["aiohttp.request"]
        assert request.headers.get("Upgrade", "").lower() == "websocket"
        assert environ["QUERY_STRING"].count("transport=polling") == 1, "headers are kept"
    finally:
        await recorder.close()


def test_the_cli_refuses_a_limit_below_one_byte(capsys: pytest.CaptureFixture[str]) -> None:
    from mock_server.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--max-outgoing-buffer", "0"])
    assert exited.value.code == 2
    assert "--max-outgoing-buffer must be at least 1 byte" in capsys.readouterr().err
