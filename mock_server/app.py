"""Assembly and lifecycle: the aiohttp app, the Socket.IO server, :func:`serve`.

::

    async with serve(port=0, db=":memory:", auth="none") as server:
        server.url     # "http://127.0.0.1:<port>"

:meth:`RunningServer.stop` closes the listening socket and aborts every
connection (clients see a dropped transport, as if the server crashed, and
reconnect); :meth:`RunningServer.start` listens again on the same port with the
same database.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import socketio
from aiohttp import web

from vilnius_client.events import Event, WireModel

from . import api, handlers
from .auth import TokenSigner
from .broadcast import Broadcaster
from .hub import Faults, Hub
from .store import Store

__all__ = ["Faults", "RunningServer", "ServerConfig", "create_app", "serve"]

logger = logging.getLogger("mock_server")

AuthMode = Literal["token", "none"]

MAX_BODY = 128 * 1024
"""Largest REST body accepted (a 10,000-character message, even JSON-escaped, fits)."""

MAX_SOCKET_PAYLOAD = 64 * 1024
"""Largest Engine.IO packet accepted."""


@dataclass(frozen=True)
class ServerConfig:
    """How to run the reference server.

    Attributes:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one (kept across :meth:`RunningServer.start`).
        db: SQLite file, or ``":memory:"``.
        auth: ``"token"`` (CONTRACT.md §8) or ``"none"``.
        agent_key: The key agents trade for tokens; generated when ``None`` in
            mode ``token``. In mode ``none`` any key is accepted unless one is set.
        max_body: Largest REST body, in bytes (413 above).
        max_socket_payload: Largest Socket.IO packet, in bytes.
    """

    host: str = "127.0.0.1"
    port: int = 3002
    db: str = "vilnius.db"
    auth: AuthMode = "token"
    agent_key: str | None = None
    max_body: int = MAX_BODY
    max_socket_payload: int = MAX_SOCKET_PAYLOAD


class _SocketTransport:
    """The hub's view of a python-socketio server (broadcasts take the direct path)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.broadcaster = Broadcaster(sio)

    async def emit(
        self, event: Event, data: WireModel, room: str, skip_sid: str | None = None
    ) -> None:
        await self.broadcaster.emit(event.value, data.to_wire(), room, skip_sid)

    async def enter_room(self, sid: str, room: str) -> None:
        await self.sio.enter_room(sid, room)


def create_app(hub: Hub, config: ServerConfig) -> web.Application:
    """Build the aiohttp application with Socket.IO attached, wired to ``hub``.

    The hub's transport is switched to the new Socket.IO server.
    """
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        max_http_buffer_size=config.max_socket_payload,
        async_handlers=False,  # one client's events are handled in order
        logger=False,
        engineio_logger=False,
    )
    transport = _SocketTransport(sio)
    handlers.register(sio, hub, lambda: hub.transport is transport)
    app = web.Application(client_max_size=config.max_body, middlewares=api.middlewares(hub))
    sio.attach(app)
    api.add_routes(app, hub)
    app[_SIO] = sio
    hub.transport = transport
    return app


_SIO = web.AppKey("sio", socketio.AsyncServer)


class RunningServer:
    """A reference server started by :func:`serve`.

    Attributes:
        config: The configuration (``port`` is the bound port once started).
        agent_key: The agent key (generated in mode ``token`` when none was given).
        faults: Test hooks (:class:`Faults`).
        store: The database, for tests to inspect.
        hub: The server's core.
    """

    def __init__(self, config: ServerConfig) -> None:
        agent_key = config.agent_key
        if agent_key is None and config.auth == "token":
            agent_key = secrets.token_urlsafe(24)
        self.config = config
        self.agent_key = agent_key
        self.faults = Faults()
        self._store: Store | None = None
        self._hub: Hub | None = None
        self._runner: web.AppRunner | None = None
        self._port = config.port

    @property
    def store(self) -> Store:
        """The persistence object (open between the first start and close)."""
        if self._store is None:
            raise RuntimeError("the server has not been started")
        return self._store

    @property
    def hub(self) -> Hub:
        """The server's core."""
        if self._hub is None:
            raise RuntimeError("the server has not been started")
        return self._hub

    @property
    def port(self) -> int:
        """The TCP port (the bound one once started)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        elif host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    async def _open(self) -> Hub:
        store = await Store.open(self.config.db)
        async with store.transaction():
            secret = await store.get_meta("token_secret")
            if secret is None:
                secret = TokenSigner.new_secret().hex()
                await store.set_meta("token_secret", secret)
        self._store = store
        self._hub = Hub(
            store,
            TokenSigner(bytes.fromhex(secret)),
            auth=self.config.auth,
            agent_key=self.agent_key,
            faults=self.faults,
        )
        return self._hub

    async def start(self) -> None:
        """Listen (again) on the same port, with the same database."""
        if self._runner is not None:
            return
        hub = self._hub or await self._open()
        async with hub.store.transaction():
            await hub.store.disconnect_all()
        hub.reset_sockets()
        app = create_app(hub, self.config)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self._port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        logger.info("listening on %s (auth %s, db %s)", self.url, self.config.auth, hub.store.path)

    async def stop(self) -> None:
        """Stop listening and drop every connection; the database stays open."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        hub = self.hub
        hub.transport = None  # handlers of the old server go quiet
        for site in list(runner.sites):
            await site.stop()
        server = runner.server
        if server is not None:
            for connection in server.connections:
                if connection.transport is not None:
                    connection.transport.abort()
        await runner.app[_SIO].shutdown()
        await runner.cleanup()
        async with hub.store.transaction():
            await hub.store.disconnect_all()
        hub.reset_sockets()
        logger.info("stopped")

    async def close(self) -> None:
        """Stop and close the database (every write is committed)."""
        await self.stop()
        store, self._store = self._store, None
        if store is not None:
            await store.close()

    async def __aenter__(self) -> RunningServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@asynccontextmanager
async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    db: str = ":memory:",
    auth: AuthMode = "token",
    agent_key: str | None = None,
    *,
    config: ServerConfig | None = None,
) -> AsyncIterator[RunningServer]:
    """Run a reference server for the duration of the block.

    Args:
        host: Interface to listen on.
        port: TCP port; 0 (the default) picks a free one.
        db: SQLite file or ``":memory:"`` (the default).
        auth: ``"token"`` (the default) or ``"none"``.
        agent_key: The agent key; generated in mode ``token`` when ``None``.
        config: A complete configuration; when given, the other arguments are ignored.

    Yields:
        The started server; it is stopped and its database closed on exit.
    """
    server = RunningServer(
        config or ServerConfig(host=host, port=port, db=db, auth=auth, agent_key=agent_key)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()
