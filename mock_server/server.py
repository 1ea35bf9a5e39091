"""Lifecycle: ``RunningServer`` (start, stop, restart on the same port) and ``serve``.

```python
async with serve(port=0, db=":memory:", auth="none") as server:
    server.url     # "http://127.0.0.1:<port>"
```

``RunningServer.stop`` closes the listening socket and aborts every connection (clients
see a dropped transport, as if the server crashed, and reconnect);
``RunningServer.start`` listens again on the same port with the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web

from .app import SOCKETIO, create_app
from .auth import TokenSigner
from .config import AuthMode, ServerConfig
from .connections import GuardedSite, handler_options
from .faults import Faults
from .hub import Hub
from .logs import AccessLogger, access_logger
from .production_settings import seed_production
from .profile import PROFILES, ProfileName
from .store import Store
from .users import AgentUser, JwtIssuer, User, hash_password, new_user_id, verify_password
from .web_clients import clients_dir

__all__ = ["RunningServer", "serve"]

logger = logging.getLogger("mock_server")


class RunningServer:
    """A reference server started by ``serve``.

    Attributes:
        config: The configuration (``port`` is the bound port once started).
        agent_key: The agent key (generated in mode ``token`` when none was given).
        faults: Test hooks (``Faults``).
        store: The database, for tests to inspect.
        hub: The server's core.
    """

    def __init__(self, config: ServerConfig) -> None:
        if config.profile not in PROFILES:
            raise ValueError(f"unknown profile {config.profile!r}: one of {sorted(PROFILES)}")
        clients_dir(config)  # a bad static_dir is refused before anything is opened
        agent_key = config.agent_key
        if agent_key is None and config.auth == "token" and PROFILES[config.profile].agent_tokens:
            agent_key = secrets.token_urlsafe(24)
        self.config = config
        self.agent_key = agent_key
        self.faults = Faults()
        self._store: Store | None = None
        self._hub: Hub | None = None
        self._runner: web.AppRunner | None = None
        self._port = config.port
        self._ticker: asyncio.Task[None] | None = None

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
        store = await Store.open(self.config.database)
        async with store.transaction():
            secret = store.settings.get("token_secret")
            if secret is None:
                secret = TokenSigner.new_secret().hex()
                store.settings.set("token_secret", secret)
            jwt_secret = store.settings.get("jwt_secret")
            if jwt_secret is None:
                jwt_secret = secrets.token_hex(32)
                store.settings.set("jwt_secret", jwt_secret)
            _seed(store, self.config.agent_users)
            if PROFILES[self.config.profile].user_login:
                seed_production(store, self.config.production)
        self._store = store
        self._hub = Hub(
            store,
            TokenSigner(bytes.fromhex(secret), self.agent_key),
            auth=self.config.auth,
            agent_key=self.agent_key,
            faults=self.faults,
            profile=PROFILES[self.config.profile],
            jwt=JwtIssuer(jwt_secret, self.config.access_token_ttl, self.config.refresh_token_ttl),
            production=self.config.production,
        )
        return self._hub

    def users(self) -> list[User]:
        """The agent users (profile ``lizdeika``), in the order they were created."""
        return self.store.users.all()

    async def _tick(self, every: float) -> None:
        """Production's periodic ``connected-agents-update`` to the agents room."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.hub.broadcast_agents()
            except Exception:  # the next tick tries again
                logger.exception("periodic connected-agents-update failed")

    async def start(self) -> None:
        """Listen (again) on the same port, with the same database."""
        if self._runner is not None:
            return
        hub = self._hub or await self._open()
        async with hub.store.transaction():
            hub.store.agents.disconnect_all()
        hub.reset_sockets()
        app = create_app(hub, self.config)
        options = {
            **handler_options(self.config.header_timeout),
            "access_log": access_logger,
            "access_log_class": AccessLogger,
        }
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0, **options)
        await runner.setup()
        site = GuardedSite(runner, self.config.host, self._port, options)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        every = hub.profile.agents_broadcast_every
        if every is not None:
            self._ticker = asyncio.create_task(self._tick(every), name="vilnius-agents-broadcast")
        access = f"auth {self.config.auth}" if hub.profile.socket_auth else "user logins"
        logger.info(
            "listening on %s (profile %s, %s, db %s)",
            self.url,
            self.config.profile,
            access,
            hub.store.path,
        )

    async def stop(self) -> None:
        """Stop listening and drop every connection; the database stays open."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        hub = self.hub
        hub.transport = None  # handlers of the old server go quiet
        for site in list(runner.sites):
            await site.stop()
        server = runner.server
        if server is not None:
            for connection in server.connections:
                if connection.transport is not None:
                    connection.transport.abort()
        await runner.app[SOCKETIO].shutdown()
        await runner.cleanup()
        async with hub.store.transaction():
            hub.store.agents.disconnect_all()
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
    profile: ProfileName = "vilnius",
    agent_users: Sequence[AgentUser] = (),
    config: ServerConfig | None = None,
) -> AsyncIterator[RunningServer]:
    """Run a reference server for the duration of the block.

    Args:
        host: Interface to listen on.
        port: TCP port; 0 (the default) picks a free one.
        db: SQLite file or ``":memory:"`` (the default).
        auth: ``"token"`` (the default) or ``"none"``.
        agent_key: The agent key; generated in mode ``token`` when ``None``.
        profile: ``"vilnius"`` (the default) or ``"lizdeika"`` (production's behaviour).
        agent_users: Agent users to seed (profile ``lizdeika``).
        config: A complete configuration; when given, the other arguments are ignored.

    Yields:
        The started server; it is stopped and its database closed on exit.
    """
    server = RunningServer(
        config
        or ServerConfig(
            host=host,
            port=port,
            db=db,
            auth=auth,
            agent_key=agent_key,
            profile=profile,
            agent_users=tuple(agent_users),
        )
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _seed(store: Store, agent_users: Sequence[AgentUser]) -> None:
    """Create or update the given agent users; a user keeps its UUID across restarts."""
    existing = {user.email: user for user in store.users.all()}
    for seed in agent_users:
        email = seed.email.strip().lower()
        old = existing.get(email)
        password_hash = (
            old.password_hash
            if old is not None and verify_password(seed.password, old.password_hash)
            else hash_password(seed.password)
        )
        store.users.save(
            User(
                id=old.id if old is not None else new_user_id(),
                email=email,
                password_hash=password_hash,
                name=seed.name or email.split("@")[0],
                role=seed.role,
                totp_secret=seed.totp_secret,
                created_at=old.created_at
                if old is not None
                else datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
        )
