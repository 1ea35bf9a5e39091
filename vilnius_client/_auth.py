"""Agent credentials: the contract's agent key, and production's e-mail/password login.

* `AgentLogin` turns the keywords an `AgentClient` was given into the token
  its socket and REST calls send, and checks them against what the server
  offers when it connects.
* `AgentTokenCache` (contract, ``agent-token``): trades the agent key
  for a bearer token and caches it until shortly before it expires.
* `UserSession` (production, ``user_login``): logs an agent user in
  (``POST /api/auth/login``, with a TOTP code when the account has two-factor
  authentication), keeps the access token, refreshes it shortly before it
  expires (and when a request is refused with 401) through
  ``POST /api/auth/refresh``, always with the refresh token the server answered
  last, and logs in again when the refresh token is refused or the refresh
  budget is spent.

Production allows 10 refreshes per 15 minutes per client address
(`REFRESH_LIMIT`); `RefreshBudget` keeps a session under it by
logging in again (100 per 5 minutes there) instead of refreshing once the
budget is used up. With 15-minute access tokens a session refreshes about
once every 14 minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ._capabilities import ServerCapabilities
from ._http import TokenSource, resolve_token
from .errors import AuthError, InvalidPayloadError, RateLimitedError, ServerError
from .events import utcnow
from .rest import RestClient

__all__ = [
    "REFRESH_LIMIT",
    "REFRESH_WINDOW",
    "AgentLogin",
    "AgentTokenCache",
    "Credentials",
    "RefreshBudget",
    "TotpSource",
    "UserSession",
]

TotpSource = str | Callable[[], str | Awaitable[str]]
"""A TOTP code, or a function (plain or async) returning the current one."""

REFRESH_LIMIT = 10
"""Refreshes production allows per `REFRESH_WINDOW` and client address."""

REFRESH_WINDOW = 15 * 60.0
"""Seconds of production's refresh rate limit window."""

_MAX_MARGIN = 60.0


@dataclass(frozen=True)
class Credentials:
    """An agent user's login, for servers where agents are users (production).

    Attributes:
        email: The user's e-mail address.
        password: The password (never shown in ``repr``).
        totp: For accounts with two-factor authentication: a function returning
            the current code (``lambda: pyotp.TOTP(secret).now()``), so that
            later logins get a fresh one; a plain code works for one login only.
    """

    email: str
    password: str = field(repr=False)
    totp: TotpSource | None = field(default=None, repr=False)


class RefreshBudget:
    """At most ``limit`` refreshes in any ``window`` seconds (a sliding window).

    Args:
        limit: Refreshes allowed per window.
        window: The window, in seconds.
        clock: Monotonic seconds (for tests).
    """

    def __init__(
        self,
        limit: int = REFRESH_LIMIT,
        window: float = REFRESH_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be positive and window above 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._spent: deque[float] = deque()

    def _expire(self) -> None:
        now = self._clock()
        while self._spent and now - self._spent[0] >= self.window:
            self._spent.popleft()

    def available(self) -> bool:
        """Whether one more refresh stays within the limit."""
        self._expire()
        return len(self._spent) < self.limit

    def spend(self) -> None:
        """Count one refresh (made now)."""
        self._expire()
        self._spent.append(self._clock())


def _margin(lifetime: float) -> float:
    """How long before expiry a token is renewed: a tenth of its life, at most a minute."""
    return min(_MAX_MARGIN, lifetime / 10)


class UserSession:
    """The access token of one agent user on a server with e-mail/password login.

    Args:
        rest: The REST client to log in with (requests go without ``Authorization``).
        credentials: The user's login.
        budget: The refresh budget (production's limit by default).
        clock: Monotonic seconds (for tests).
    """

    def __init__(
        self,
        rest: RestClient,
        credentials: Credentials,
        *,
        budget: RefreshBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self._credentials = credentials
        self.budget = budget or RefreshBudget(clock=clock)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._renew_at = 0.0
        self.user: dict[str, Any] = {}
        self.logins = 0
        self.refreshes = 0

    @property
    def user_id(self) -> str | None:
        """The user's UUID (the agent id), once logged in."""
        value = self.user.get("id")
        return str(value) if value is not None else None

    async def token(self) -> str:
        """A valid access token: the cached one, a refreshed one or a new login's.

        Raises:
            AuthError: The server refused the credentials (or the TOTP code).
            TransportError: The server could not be reached.
        """
        async with self._lock:
            if self._access is None or self._clock() >= self._renew_at:
                await self._renew()
            assert self._access is not None
            return self._access

    async def login(self) -> str:
        """Log in now (if not logged in yet) and return the user's id."""
        await self.token()
        user_id = self.user_id
        if user_id is None:
            raise AuthError("the login answered no user id")
        return user_id

    async def invalidate(self) -> None:
        """The access token was refused (401): renew it before the next request."""
        self._renew_at = 0.0

    async def _renew(self) -> None:
        if self._refresh is not None and self.budget.available():
            self.budget.spend()
            try:
                answer = await self._rest.refresh(self._refresh)
            except (AuthError, InvalidPayloadError, RateLimitedError):
                self._refresh = None  # spent, revoked or refused: log in again
            else:
                self.refreshes += 1
                self._keep(
                    answer.data.access_token, answer.data.refresh_token, answer.data.expires_in
                )
                return
        await self._login()

    async def _login(self) -> None:
        credentials = self._credentials
        try:
            code = await resolve_token(credentials.totp)
            answer = await self._rest.login(credentials.email, credentials.password, totp_code=code)
        except InvalidPayloadError as exc:
            raise AuthError(
                f"login refused: {exc.message}",
                code=exc.code,
                details=exc.details,
                status=exc.status,
            ) from exc
        except ServerError as exc:
            if isinstance(exc, AuthError):
                raise AuthError(
                    f"login refused for {credentials.email}: {exc.message}",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise
        data = answer.login_data()
        if data is None:
            raise AuthError(
                f"{credentials.email} has two-factor authentication: pass totp= "
                "(a function returning the current code)",
                code="TOTP_REQUIRED",
            )
        self.logins += 1
        self.user = dict(data.user)
        self._keep(data.tokens.access_token, data.tokens.refresh_token, data.tokens.expires_in)

    def _keep(self, access: str, refresh: str, expires_in: float) -> None:
        self._access = access
        self._refresh = refresh
        self._renew_at = self._clock() + expires_in - _margin(expires_in)


class AgentTokenCache:
    """Fetches agent tokens with the agent key; caches one until shortly before expiry."""

    def __init__(self, rest: RestClient, agent_id: str, agent_key: str) -> None:
        self._rest = rest
        self.agent_id = agent_id
        self._agent_key = agent_key
        self._token: str | None = None
        self._refresh_at = utcnow()
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """The cached token, or a new one.

        Raises:
            AuthError: Wrong agent key, or a server without agent tokens.
        """
        async with self._lock:
            if self._token is None or utcnow() >= self._refresh_at:
                answer = await self._rest.agent_token(self.agent_id, self._agent_key)
                lifetime = answer.expires_at - utcnow()
                margin = timedelta(seconds=_margin(lifetime.total_seconds()))
                self._token = answer.token
                self._refresh_at = answer.expires_at - margin
            return self._token

    def invalidate(self) -> None:
        """Drop the cached token (the next `get` fetches a new one)."""
        self._token = None

    async def ainvalidate(self) -> None:
        """`invalidate`, as an async callback."""
        self.invalidate()


class AgentLogin:
    """How one agent authenticates, from the keywords given to `AgentClient`.

    One of: a ready ``token`` (or a function returning one), the contract's
    ``agent_key`` (traded for tokens by an `AgentTokenCache`), or a user login
    with ``email``/``password``/``totp`` or ``credentials`` (a `UserSession`);
    or none, for a server without auth. The REST client is set up to send the
    token and to renew it after a 401.

    Raises:
        ValueError: More than one kind of credential, or neither ``agent_id``
            nor a login.
    """

    def __init__(
        self,
        rest: RestClient,
        *,
        agent_id: str | None,
        agent_key: str | None,
        token: TokenSource,
        email: str | None,
        password: str | None,
        totp: TotpSource | None,
        credentials: Credentials | None,
    ) -> None:
        if email is not None or password is not None:
            if credentials is not None or email is None or password is None:
                raise ValueError("pass email and password (and totp), or credentials")
            credentials = Credentials(email, password, totp)
        kinds = [agent_key is not None, token is not None, credentials is not None]
        if sum(kinds) > 1:
            raise ValueError("pass one of agent_key, token, or a login (email/password), not both")
        if credentials is not None and agent_id is not None:
            raise ValueError("with a login the agent id is the user's: do not pass agent_id")
        if credentials is None and agent_id is None:
            raise ValueError("pass agent_id (or log in with email and password)")
        self._cache: AgentTokenCache | None = None
        self.session: UserSession | None = None
        self.token: TokenSource = token
        if agent_key is not None:
            assert agent_id is not None
            self._cache = AgentTokenCache(rest, agent_id, agent_key)
            self.token = self._cache.get
            rest.on_auth_error = self._cache.ainvalidate
        elif credentials is not None:
            self.session = UserSession(rest, credentials)
            self.token = self.session.token
            rest.on_auth_error = self.session.invalidate
        rest.token = self.token

    async def log_in(self, capabilities: ServerCapabilities) -> str | None:
        """Check the server has a use for these credentials; log a user in.

        Returns:
            The agent id a login gave (the user's UUID), else ``None``.

        Raises:
            AuthError: The server has no use for them (an agent key without
                agent tokens, an e-mail without logins), or refused them.
        """
        if self._cache is not None and not capabilities.agent_token:
            raise AuthError(
                f"{capabilities.name} has no agent tokens (agent_key): "
                "log in as an agent user with email and password",
                code="unsupported_credentials",
            )
        if self.session is None:
            return None
        if not capabilities.user_login:
            raise AuthError(
                f"{capabilities.name} has no e-mail/password login: use agent_key",
                code="unsupported_credentials",
            )
        return await self.session.login()

    def connection_lost(self) -> None:
        """The socket lost its connection: a cached agent token is not trusted any more
        (the server may have restarted with a new signing key)."""
        if self._cache is not None:
            self._cache.invalidate()
