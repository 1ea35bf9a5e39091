"""What a client may send before its request is read: header limits, the header timeout,
pipelining with garbage and half-closed connections, on both profiles (issue 20).

Raw sockets throughout: these are attacks no HTTP client library would make.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mock_server import RunningServer, serve
from mock_server.connections import MAX_FIELD, MAX_HEADERS, MAX_LINE
from tests.conftest import scaled
from tests.deployments import Deployment, server_config
from tests.server.cli_server import Server
from tests.server.helpers import Api, recorder

WAIT = scaled(5.0)


def _post(conversation_id: str, text: str) -> bytes:
    body = json.dumps({"conversationId": conversation_id, "message": text}).encode()
    return (
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _statuses(stream: bytes) -> list[int]:
    """The status of every HTTP answer in ``stream``, in order (bodies skipped)."""
    statuses = []
    while stream:
        head, found, rest = stream.partition(b"\r\n\r\n")
        if not found:
            break
        lines = head.split(b"\r\n")
        statuses.append(int(lines[0].split(b" ")[1]))
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        stream = rest[length:]
    return statuses


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes (bounded); a reset ends it too."""
    chunks = []
    async with asyncio.timeout(WAIT):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:  # a reset, or the write side's broken pipe
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


async def _visitor_texts(server: RunningServer, conversation_id: str) -> list[str]:
    history = await server.store.messages.history(conversation_id)
    return [m.content for m in history if m.sender.value == "visitor"]


# -- header limits --------------------------------------------------------------------


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await _read_all(reader)
    finally:
        writer.close()


async def test_headers_past_the_limits_are_refused(deployment: Deployment) -> None:
    port = deployment.server.port
    close = b"Connection: close\r\n"

    def get(path: bytes = b"/health", headers: bytes = b"") -> bytes:
        return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + close + headers + b"\r\n"

    fits = b"X-Fits: " + b"a" * MAX_FIELD + b"\r\n"
    assert _statuses(await _exchange(port, get(headers=fits))) == [200]
    too_long = b"X-Big: " + b"a" * (MAX_FIELD + 1) + b"\r\n"
    assert _statuses(await _exchange(port, get(headers=too_long))) == [400]
    long_name = b"X-" + b"n" * MAX_FIELD + b": v\r\n"
    assert _statuses(await _exchange(port, get(headers=long_name))) == [400]
    enough = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS - 2))  # + Host, Connection
    assert _statuses(await _exchange(port, get(headers=enough))) == [200]
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS))
    assert _statuses(await _exchange(port, get(headers=many))) == [400]
    path = b"/health?" + b"q" * MAX_LINE
    assert _statuses(await _exchange(port, get(path=path))) == [400]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("profile", ["vilnius", "lizdeika"])
async def test_oversized_headers_leave_no_memory_behind(profile: str) -> None:
    """240 requests with an 8 MB header, each refused: the server's memory stays flat.

    The CLI in a subprocess, as users run it (with uvloop, which read every such header
    whole, 256 KiB at a time, before the 400 went out; 1 GiB of RSS was never given back).
    """
    server = await Server.start("--db", ":memory:", "--profile", profile, "--log-level", "ERROR")
    try:
        before = _rss_mib(server.process.pid)
        header = b"X-Big: " + b"a" * 8_000_000 + b"\r\n\r\n"

        async def one() -> list[int]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n" + header)
                with contextlib.suppress(ConnectionError):  # it stopped reading, as it should
                    await writer.drain()
                return _statuses(await _read_all(reader))
            finally:
                writer.close()

        answers: list[list[int]] = []
        for _ in range(30):  # 8 at a time
            answers += await asyncio.gather(*(one() for _ in range(8)))
        after = _rss_mib(server.process.pid)
        # a 400, or a reset that overtook it (the server closed with unread bytes)
        assert all(statuses in ([400], []) for statuses in answers), answers
        async with Api(server.url) as api:  # and it serves on
            assert (await api.get("/health")).status == 200
    finally:
        assert await server.stop() == 0
    assert after - before < 64, (before, after)


def _rss_mib(pid: int) -> int:
    """The resident memory of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmRSS for {pid}")


# -- the header timeout ---------------------------------------------------------------


@asynccontextmanager
async def _quick_server(profile: str) -> AsyncIterator[RunningServer]:
    async with serve(config=server_config(profile, header_timeout=0.5)) as running:
        yield running


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing; fails if it keeps the connection open."""
    try:
        return await _read_all(reader)
    except TimeoutError:
        raise AssertionError("the server kept the connection open") from None


@pytest.mark.parametrize("profile", ["vilnius", "lizdeika"])
async def test_incomplete_requests_are_timed_out(profile: str) -> None:
    async with _quick_server(profile) as server:
        silent = await asyncio.open_connection("127.0.0.1", server.port)
        trickling = await asyncio.open_connection("127.0.0.1", server.port)

        async def trickle() -> None:
            writer = trickling[1]
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            for i in range(100):  # a slowloris: a header line now and then, never the end
                await asyncio.sleep(0.1)
                if writer.is_closing():
                    return
                writer.write(b"X-%d: y\r\n" % i)

        sender = asyncio.create_task(trickle())
        try:
            assert await _closed_by_server(silent[0]) == b""
            assert await _closed_by_server(trickling[0]) == b""
        finally:
            sender.cancel()
            for _, writer in (silent, trickling):
                writer.close()


@pytest.mark.parametrize("profile", ["vilnius", "lizdeika"])
async def test_the_header_timeout_spares_requests_being_handled(profile: str) -> None:
    async with _quick_server(profile) as server:
        # a keep-alive connection is answered, then closed once idle
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _statuses(await _closed_by_server(reader)) == [200]
        finally:
            writer.close()
        # a WebSocket outlives the timeout: its request is being handled
        async with recorder(server.url) as rec:
            await asyncio.sleep(1.5)  # three header timeouts pass: time is what is tested
            assert rec.client.connected


# -- pipelining, garbage, half-close --------------------------------------------------


async def test_pipelined_posts_then_garbage_in_one_read(deployment: Deployment) -> None:
    """Parsed in one read with garbage: nothing is run, and the 400 answers them all."""
    server = deployment.server
    requests = b"".join(_post("session-pipeone", f"m{i}") for i in range(3))
    answer = await _exchange(server.port, requests + b"GARBAGE \x00\x01\r\n\r\n")
    assert _statuses(answer) == [400]
    assert await _visitor_texts(server, "session-pipeone") == []


async def test_pipelined_posts_then_garbage_later(deployment: Deployment) -> None:
    """Garbage after the requests were read: each stored request is answered, then 400."""
    server = deployment.server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"".join(_post("session-pipetwo", f"m{i}") for i in range(3)))
        received = b""
        async with asyncio.timeout(WAIT):  # the first answer: the requests were read
            while not _statuses(received):
                received += await reader.read(65536)
        writer.write(b"GARBAGE \x00\x01\r\n\r\n")
        received += await _read_all(reader)
    finally:
        writer.close()
    assert await _visitor_texts(server, "session-pipetwo") == ["m0", "m1", "m2"]
    assert _statuses(received) == [200, 200, 200, 400]


@pytest.mark.parametrize("garbage", [b"", b"GARBAGE\r\n\r\n"])
async def test_a_half_closed_client_gets_the_answer_to_what_was_stored(
    deployment: Deployment, garbage: bytes
) -> None:
    """``printf ... | nc -N``: requests, then the client shuts its sending side."""
    server = deployment.server
    conversation = f"session-halfclose{len(garbage)}"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"".join(_post(conversation, f"m{i}") for i in range(3)) + garbage)
        writer.write_eof()
        answer = await _read_all(reader)
    finally:
        writer.close()
    stored = await _visitor_texts(server, conversation)
    answered = _statuses(answer)
    assert answered.count(200) == len(stored), (answered, stored)
    if not garbage:
        assert stored, "the request read before the end is run and answered"
