"""How to run the reference server: ``ServerConfig`` and the limits it defaults to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .connections import HEADER_TIMEOUT
from .outbox import MAX_BUFFER
from .production_settings import ProductionSettings
from .profile import PROFILES, ProfileName
from .ratelimit import RateLimit
from .users import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, AgentUser

__all__ = ["MAX_BODY", "MAX_SOCKET_PAYLOAD", "AuthMode", "ServerConfig"]

AuthMode = Literal["token", "none"]

MAX_BODY = 128 * 1024
"""Largest REST body accepted (a 10,000-character message, even JSON-escaped, fits)."""

MAX_SOCKET_PAYLOAD = 64 * 1024
"""Largest Socket.IO event accepted; a larger one gets ``error-event`` ``payload_too_large``."""


@dataclass(frozen=True)
class ServerConfig:
    """How to run the reference server.

    Attributes:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one (kept across ``RunningServer.start``).
        db: SQLite file, or ``":memory:"``; ``None``: the profile's own file,
            ``vilnius.db`` or ``lizdeika.db`` (so that the two never read each other's
            conversations). ``database`` is the one used.
        auth: ``"token"`` (CONTRACT.md §8) or ``"none"``.
        agent_key: The key agents trade for tokens; generated when ``None`` in
            mode ``token``. In mode ``none`` any key is accepted unless one is set.
        max_body: Largest REST body, in bytes (413 above).
        max_socket_payload: Largest Socket.IO packet, in bytes.
        profile: ``"vilnius"`` (CONTRACT.md, the default) or ``"lizdeika"`` (production,
            PRODUCTION.md). ``auth`` and ``agent_key`` apply to ``vilnius`` only.
        agent_users: Agent users to seed (profile ``lizdeika``; kept in the database).
        message_rate_limit: Limit of ``POST /api/messages`` per client IP: ``"default"``
            (the profile's: 10 per minute for ``lizdeika``, none for ``vilnius``),
            ``"off"``, or a ``RateLimit``.
        access_token_ttl: Lifetime of ``lizdeika`` access tokens in seconds (900, as
            production); shorten it to test a client's refresh.
        refresh_token_ttl: Lifetime of ``lizdeika`` refresh tokens in seconds (7 days).
        ws_compression: Negotiate WebSocket ``permessage-deflate`` when a client offers it
            (off, as in socket.io's Node.js server; see docs/performance.md).
        max_outgoing_buffer: Bytes that may wait to be sent to one connection; past it the
            server closes that connection (the client reconnects and recovers).
        console: Serve the browser console at ``/console`` (docs/guides/console.md); in
            auth mode ``token`` it works only for whoever types the agent key into it.
        static_dir: A Lizdeika checkout (or its ``custom-widget``) whose web clients are
            served at the site root (profile ``lizdeika``; ``mock_server.web_clients``).
        production: Profile ``lizdeika``: the categories and templates to create, the
            texts that stand in for its AI provider, and its upload and categorisation
            limits (``mock_server.production_settings``).
        header_timeout: Seconds a connection has to send a request's headers, from its
            start or from the answer to its previous request; then it is closed
            (``mock_server.connections``).
    """

    host: str = "127.0.0.1"
    port: int = 3002
    db: str | None = None
    auth: AuthMode = "token"
    agent_key: str | None = None
    max_body: int = MAX_BODY
    max_socket_payload: int = MAX_SOCKET_PAYLOAD
    profile: ProfileName = "vilnius"
    agent_users: Sequence[AgentUser] = field(default_factory=tuple)
    message_rate_limit: RateLimit | Literal["default", "off"] = "default"
    access_token_ttl: int = ACCESS_TOKEN_TTL
    refresh_token_ttl: int = REFRESH_TOKEN_TTL
    ws_compression: bool = False
    max_outgoing_buffer: int = MAX_BUFFER
    console: bool = True
    static_dir: str | None = None
    production: ProductionSettings = field(default_factory=ProductionSettings)
    header_timeout: float = HEADER_TIMEOUT

    @property
    def database(self) -> str:
        """The SQLite file (or ``":memory:"``) the server uses."""
        return self.db if self.db is not None else f"{self.profile}.db"

    def message_limit(self) -> RateLimit | None:
        """The rate limit ``POST /api/messages`` gets."""
        if self.message_rate_limit == "default":
            return PROFILES[self.profile].message_rate_limit
        if self.message_rate_limit == "off":
            return None
        return self.message_rate_limit
