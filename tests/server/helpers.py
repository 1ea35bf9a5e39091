"""Test helpers for the reference server: a recording Socket.IO client and a REST caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

from tests.conftest import scaled

TIMEOUT = scaled(5.0)

Predicate = Callable[[Any], bool]


class Recorder:
    """A python-socketio client that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_errors: list[Any] = []
        self._changed = asyncio.Condition()
        self.client.on("*", self._record)
        self.client.on("connect_error", self._connect_error)

    async def _record(self, event: str, data: Any = None) -> None:
        async with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    async def _connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)

    async def connect(self, url: str, token: str | None = None) -> None:
        """Connect over websocket, with ``auth={"token": token}`` when given."""
        auth = {"token": token} if token is not None else None
        await self.client.connect(url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT)

    def received(self, event: str, predicate: Predicate | None = None) -> list[Any]:
        """Return the payloads of ``event`` received so far (matching ``predicate``)."""
        return [
            data
            for name, data in self.events
            if name == event and (predicate is None or predicate(data))
        ]

    async def wait_for(
        self, event: str, predicate: Predicate | None = None, *, count: int = 1
    ) -> Any:
        """Wait until ``count`` matching ``event``s were received; return the last one."""

        async def arrived() -> Any:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.received(event, predicate)) >= count)
                return self.received(event, predicate)[count - 1]

        return await asyncio.wait_for(arrived(), TIMEOUT)

    async def call(self, event: str, *args: Any) -> Any:
        """Emit ``event`` and return the server's acknowledgement."""
        return await self.client.call(event, *args if args else (), timeout=TIMEOUT)

    async def close(self) -> None:
        """Disconnect (no-op when not connected)."""
        await self.client.disconnect()


@asynccontextmanager
async def recorder(url: str, token: str | None = None) -> AsyncIterator[Recorder]:
    """A connected :class:`Recorder`, disconnected at exit."""
    rec = Recorder()
    await rec.connect(url, token)
    try:
        yield rec
    finally:
        await rec.close()


@asynccontextmanager
async def agent(url: str, agent_id: str, token: str | None = None) -> AsyncIterator[Recorder]:
    """A :class:`Recorder` that joined the dashboard as ``agent_id``."""
    async with recorder(url, token) as rec:
        assert await rec.call("join-agent-dashboard", agent_id) == {"ok": True}
        yield rec


@dataclass
class Reply:
    """A REST answer."""

    status: int
    body: Any
    headers: Any


class Api:
    """A small REST caller; ``token`` is sent as ``Authorization: Bearer``."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send a request and return its status and JSON body."""
        assert self._session is not None
        all_headers = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer is not None:
            all_headers["Authorization"] = f"Bearer {bearer}"
        async with self._session.request(
            method, self.base_url + path, json=json, data=data, headers=all_headers
        ) as response:
            body = await response.json(content_type=None)
            return Reply(response.status, body, response.headers)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        """``GET path``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """``POST path`` with a JSON body."""
        return await self.request("POST", path, json=json, **kwargs)

    async def agent_token(self, agent_id: str, key: str = "test-key") -> str:
        """Trade the agent key for a token."""
        reply = await self.post("/api/auth/agent-token", {"agentId": agent_id, "agentKey": key})
        assert reply.status == 200, reply.body
        token: str = reply.body["token"]
        return token

    async def new_conversation(self, **body: Any) -> tuple[str, str]:
        """Create a conversation; return its id and customer token."""
        reply = await self.post("/api/conversations", body)
        assert reply.status == 201, reply.body
        return reply.body["conversationId"], reply.body["token"]


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it is true (for state with no event to await)."""

    async def poll() -> None:
        # store state has no event to wait on; polling with a deadline is the honest option
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)
