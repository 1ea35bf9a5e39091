"""Helpers for the manager's integration tests: raw REST calls, a transition
recorder and a scripted Socket.IO server for misbehaviour the reference server
does not offer (acks that never come, invalid payloads)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from tests.conftest import scaled
from vilnius_client import ConnectionChange, ConnectionState, ModernWebSocketManager

FAST: dict[str, Any] = {
    "reconnection_delay": 0.05,
    "max_reconnection_delay": 0.2,
    "ack_timeout": 5.0,
}


async def post(url: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    """POST JSON to the server and return the decoded answer (raises on HTTP errors)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + path, json=body, headers=headers) as response,
    ):
        response.raise_for_status()
        return await response.json()


class Transitions:
    """Records a manager's transitions and lets a test await one."""

    def __init__(self, manager: ModernWebSocketManager) -> None:
        self.changes: list[ConnectionChange] = []
        self._changed = asyncio.Event()
        manager.on_connection_change(self._record)

    def _record(self, change: ConnectionChange) -> None:
        self.changes.append(change)
        self._changed.set()

    @property
    def states(self) -> list[ConnectionState]:
        return [change.new for change in self.changes]

    async def wait(self, state: ConnectionState, *, after: int = 0, within: float = 5.0) -> int:
        """Wait for a transition into ``state`` at index >= ``after``; return its index."""
        async with asyncio.timeout(scaled(within)):
            while True:
                for index in range(after, len(self.changes)):
                    if self.changes[index].new is state:
                        return index
                self._changed.clear()
                await self._changed.wait()


class ScriptedServer:
    """A bare python-socketio server whose handlers a test writes itself; its ``/health``
    answers as production's does (no contract: no acks, no seq)."""

    def __init__(self, *, health: bool = True) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp")
        self.app = web.Application()
        if health:
            self.app.router.add_get("/health", _production_health)
        self.sio.attach(self.app)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.sids: list[str] = []
        self.connected = asyncio.Event()

        @self.sio.event  # type: ignore[untyped-decorator]
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            self.sids.append(sid)
            self.connected.set()

    def on(self, event: str) -> Callable[[Any], Any]:
        return self.sio.on(event)  # type: ignore[no-any-return]

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.sio.shutdown()
            await self.runner.cleanup()
            self.runner = None


async def _production_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "uptime": 1})


@contextlib.asynccontextmanager
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
