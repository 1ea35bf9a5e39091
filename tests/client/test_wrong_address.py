"""A wrong address fails the first connect loudly, within ``connect_timeout``, with a cause
a user can act on (issue 19): nothing listening, no scheme, TLS against a plain server, a
path that is not the server's root, a peer that is not HTTP, a redirect loop, a server
that accepts and never answers. After a first success, the client reconnects for ever.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from mock_server import RunningServer
from tests.conftest import scaled
from vilnius_client import (
    AgentClient,
    CustomerClient,
    ModernWebSocketManager,
    NotFoundError,
    TransportError,
    VilniusError,
)
from vilnius_client._transport import SocketIOLink, SocketIOTransport


async def _peer(answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]):  # type: ignore[no-untyped-def]
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server, url = await _peer(accept)
    yield url
    for writer in held:
        writer.close()
    server.close()


@pytest.fixture
async def garbage() -> AsyncIterator[str]:
    """A peer that answers something that is not HTTP."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\xff\xfe garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server, url = await _peer(answer)
    yield url
    server.close()


@pytest.fixture
async def redirect_loop() -> AsyncIterator[str]:
    """An HTTP server whose every path redirects to itself."""
    app = web.Application()

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.rel_url))

    app.router.add_route("*", "/{tail:.*}", loop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def _fails(client: AgentClient | ModernWebSocketManager, within: float) -> VilniusError:
    """Connect; return the one error it ends with, after checking how long it took."""
    started = time.monotonic()
    with pytest.raises(VilniusError) as raised:
        async with client:
            pass
    took = time.monotonic() - started
    assert took < scaled(within), f"took {took:.1f} s: {raised.value}"
    return raised.value


async def test_nothing_listening_is_refused_within_the_connect_timeout(
    nothing_listens: str,
) -> None:
    error = await _fails(AgentClient(nothing_listens, agent_id="a1", connect_timeout=1), 5)
    assert isinstance(error, TransportError)
    port = nothing_listens.rsplit(":", 1)[1]
    assert f"connection refused: 127.0.0.1:{port}" in str(error)
    socket_only = ModernWebSocketManager(nothing_listens, server="vilnius", connect_timeout=1)
    error = await _fails(socket_only, 5)  # no /health probe: the handshake says it
    assert f"connection refused: 127.0.0.1:{port}" in str(error)


def test_a_url_without_its_scheme_is_refused_when_the_client_is_made() -> None:
    for client in (AgentClient, CustomerClient):
        with pytest.raises(ValueError, match=r"needs http:// or https://.*'localhost:3002'"):
            client("localhost:3002")
    with pytest.raises(ValueError, match="did you mean 'http://localhost:3002'"):
        ModernWebSocketManager("localhost:3002")
    with pytest.raises(ValueError, match="invalid port"):
        AgentClient("http://127.0.0.1:99999", agent_id="a1")


async def test_https_on_a_plain_server_fails_at_once(server: RunningServer) -> None:
    url = server.url.replace("http://", "https://")
    error = await _fails(AgentClient(url, agent_id="a1", connect_timeout=10), 5)
    assert "TLS handshake failed" in str(error)
    assert not error.temporary


async def test_a_path_that_is_not_the_servers_root_is_never_taken_for_production(
    server: RunningServer,
) -> None:
    """``/health`` answered 404 used to mean "production" (which has no agent tokens)."""
    typo = f"{server.url}/typo"
    error = await _fails(AgentClient(typo, agent_id="a1", agent_key="k"), 5)
    assert isinstance(error, NotFoundError)
    assert f"GET {typo}/health answered 404: is {typo} the server's base URL?" in str(error)


async def test_a_peer_that_is_not_http_fails_at_once(garbage: str) -> None:
    error = await _fails(AgentClient(garbage, agent_id="a1", connect_timeout=10), 5)
    assert isinstance(error, TransportError)
    assert "not HTTP" in str(error)


async def test_a_redirect_loop_fails_at_once(redirect_loop: str) -> None:
    error = await _fails(AgentClient(redirect_loop, agent_id="a1", connect_timeout=10), 5)
    assert "too many redirects" in str(error)


async def test_a_server_that_never_answers_is_bounded_by_the_connect_timeout(
    silent: str,
) -> None:
    """It took 55 s before (``/health`` asked 5 times with ``request_timeout``)."""
    error = await _fails(AgentClient(silent, agent_id="a1", connect_timeout=1), 4)
    assert isinstance(error, TransportError)
    assert "no answer within 1 s" in str(error)


async def test_a_customers_first_send_to_nothing_is_one_error(nothing_listens: str) -> None:
    async with CustomerClient(nothing_listens, retry_attempts=2, connect_timeout=1) as customer:
        with pytest.raises(TransportError, match="connection refused") as raised:
            await customer.send_message("hello?")
    assert raised.value.may_have_acted is False


@pytest.mark.parametrize("ended_by", ["its timeout", "a cancellation"])
async def test_a_handshake_given_up_leaves_no_task_behind(ended_by: str) -> None:
    """python-socketio's connect runs in a task: given up, it is ended and its failure
    retrieved, not left to print "Task exception was never retrieved" (seen in the demo)."""
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        accepted.set()

    server, url = await _peer(accept)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    before = asyncio.all_tasks()
    link = SocketIOLink(SocketIOTransport(logger=logging.getLogger("test")), lambda *_: None)
    try:
        if ended_by == "its timeout":
            with pytest.raises(TransportError, match="no answer within"):
                await link.open(url, None, 0.3)
        else:
            opening = asyncio.ensure_future(link.open(url, None, 30))
            await asyncio.wait_for(accepted.wait(), 5)  # the handshake hangs there
            opening.cancel()
            with pytest.raises(asyncio.CancelledError):
                await opening
        await link.close()
        left = asyncio.all_tasks() - before - {asyncio.current_task()}
        if left:
            await asyncio.wait(left, timeout=5)  # (wait, unlike gather, retrieves nothing)
        del left
        gc.collect()
        await asyncio.sleep(0)  # a loop turn for what the collection reports
        assert unhandled == []
    finally:
        loop.set_exception_handler(None)
        for writer in held:
            writer.close()
        server.close()
