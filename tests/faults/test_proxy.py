"""The fault-injection TCP proxy itself, against a tiny echo server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tests.faults.proxy import TcpProxy
from tests.faults.timing import scaled

#: How long a black hole must stay silent to count as silent.
QUIET = 0.2


@dataclass
class EchoServer:
    """Echoes every byte; counts connections opened and closed by peers."""

    opened: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        finally:
            self.closed.set()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    echo.server = await asyncio.start_server(echo.handle, "127.0.0.1", 0)
    async with echo.server:
        yield echo


@pytest.fixture
async def proxy(echo: EchoServer) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", echo.port) as proxy:
        yield proxy


async def _open(
    proxy: TcpProxy,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy.port), scaled(2))


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), scaled(2))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def test_forwards_both_ways(proxy: TcpProxy, echo: EchoServer) -> None:
    reader, writer = await _open(proxy)
    try:
        assert await _roundtrip(reader, writer, b"hello") == b"hello"
        big = bytes(range(256)) * 1024
        assert await _roundtrip(reader, writer, big) == big
    finally:
        await _close(writer)
    assert proxy.accepted == 1
    assert echo.opened == 1
    assert proxy.bytes_forwarded >= 2 * (5 + len(big))


async def test_pause_is_a_black_hole_that_keeps_sockets_open(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    reader, writer = await _open(proxy)
    try:
        assert await _roundtrip(reader, writer, b"before") == b"before"
        proxy.pause()
        assert proxy.paused
        writer.write(b"during")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), QUIET)
        # Silence, not a close: neither end saw EOF.
        assert not reader.at_eof()
        assert not echo.closed.is_set()
        assert proxy.open_connections == 1

        proxy.resume()
        # Held bytes arrive after the cut heals, like TCP retransmission.
        assert await asyncio.wait_for(reader.readexactly(6), scaled(2)) == b"during"
        assert await _roundtrip(reader, writer, b"after") == b"after"
    finally:
        await _close(writer)


async def test_connection_opened_during_pause_flows_after_resume(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    proxy.pause()
    reader, writer = await _open(proxy)
    try:
        writer.write(b"x")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), QUIET)
        assert echo.opened == 0
        proxy.resume()
        assert await asyncio.wait_for(reader.readexactly(1), scaled(2)) == b"x"
        assert echo.opened == 1
    finally:
        await _close(writer)


async def test_client_close_reaches_the_target(proxy: TcpProxy, echo: EchoServer) -> None:
    reader, writer = await _open(proxy)
    assert await _roundtrip(reader, writer, b"ping") == b"ping"
    await _close(writer)
    await asyncio.wait_for(echo.closed.wait(), scaled(2))


async def test_close_while_paused_closes_everything(echo: EchoServer) -> None:
    proxy = TcpProxy("127.0.0.1", echo.port)
    await proxy.start()
    port = proxy.port
    reader, writer = await _open(proxy)
    try:
        assert await _roundtrip(reader, writer, b"a") == b"a"
        proxy.pause()
        await proxy.close()
        assert await asyncio.wait_for(reader.read(), scaled(2)) == b""
        assert proxy.open_connections == 0
        await proxy.close()  # idempotent
    finally:
        await _close(writer)
    with pytest.raises(RuntimeError):
        _ = proxy.port
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_unreachable_target_closes_the_client() -> None:
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port: int = holder.sockets[0].getsockname()[1]
    holder.close()
    await holder.wait_closed()
    async with TcpProxy("127.0.0.1", dead_port) as proxy:
        reader, writer = await _open(proxy)
        try:
            assert await asyncio.wait_for(reader.read(), scaled(2)) == b""
        finally:
            await _close(writer)
