"""RestClient: every REST call of the contract (CONTRACT.md §6), typed.

One :class:`aiohttp.ClientSession` per client, opened lazily and closed by
``async with`` or :meth:`RestClient.close`. Every answer is parsed into the
response model of :mod:`vilnius_client.events`; every error answer becomes the
matching :class:`~vilnius_client.errors.ServerError` subclass (built by
:func:`~vilnius_client.errors.error_from_code`), and every failure of the link
itself becomes a :class:`~vilnius_client.errors.TransportError`.

Retries (decided in :mod:`vilnius_client._retry`): reads (``GET``), the
logins and, on a server with the ``idempotency`` feature, the two sends
(:meth:`RestClient.post_message`, :meth:`RestClient.agent_respond`) repeat
transient failures. The sends then carry one ``Idempotency-Key`` for all
attempts of a logical send, so a retry after a dropped answer never stores a
message twice. Every other call (a send on a server without idempotency, such
as production; creating a conversation, assigning, changing statuses) is
repeated only when the server surely did not act: its connection could not be
opened, or it answered 429. After any other failure the error's
``may_have_acted`` says whether the server may have acted.

A 429's ``Retry-After`` is waited out before the next attempt (up to
``max_retry_after`` seconds; a longer one is raised at once as
:class:`~vilnius_client.RateLimitedError` with ``retry_after``).

What the server offers (:class:`~vilnius_client.ServerCapabilities`) is asked
from ``GET /health`` once, the first time it matters, unless ``server=`` says it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp
import tenacity
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._retry import RetryListener, rest_retrying
from ._tokens import TokenSource, resolve_token
from .errors import (
    AuthError,
    ConnectionLostError,
    NotFoundError,
    ProtocolError,
    ReplyTimeoutError,
    ServerError,
    StateError,
    TransportError,
    error_from_code,
)
from .events import (
    AgentRespondResponse,
    AgentTokenResponse,
    AllMessagesResponse,
    AssignResponse,
    BulkAssignResponse,
    ConnectedAgentsResponse,
    ConversationListResponse,
    ConversationMessagesResponse,
    ConversationStatus,
    CreateConversationResponse,
    EndConversationResponse,
    HealthResponse,
    LoginRequest,
    LoginResponse,
    PersonalStatus,
    PersonalStatusResponse,
    PostMessageResponse,
    RefreshResponse,
    SystemMode,
    SystemModeResponse,
    WireModel,
)

__all__ = ["IDEMPOTENCY_HEADER", "RestClient"]

IDEMPOTENCY_HEADER = "Idempotency-Key"

_M = TypeVar("_M", bound=WireModel)

#: How much of a non-JSON error body goes into the exception message.
_BODY_EXCERPT = 200


def _body(**fields: Any) -> dict[str, Any]:
    """A camelCase JSON body without the fields left at ``None``."""
    return {to_camel(name): value for name, value in fields.items() if value is not None}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


class RestClient:
    """Async client for the Vilnius REST API.

    Example::

        async with RestClient("http://127.0.0.1:3002") as rest:
            created = await rest.create_conversation(visitor_id="v-1")
            await rest.post_message(created.conversation_id, "Hello")

    Args:
        base_url: The server's root, e.g. ``"http://127.0.0.1:3002"``.
        token: A bearer token, or a function (plain or async) asked before every
            request, so that a refreshed token is picked up. ``None``: no
            ``Authorization`` header (servers in ``auth="none"`` mode).
        session: An existing :class:`aiohttp.ClientSession` to use. It is not
            closed by :meth:`close`; by default the client opens its own.
        timeout: Total seconds for one attempt of one request.
        retry_attempts: Attempts for retryable calls, the first one included
            (``1`` disables retries).
        retry_base: First backoff step in seconds (full jitter).
        retry_cap: Longest single wait between attempts, and cap of ``Retry-After``.
        on_auth_error: Called (and awaited) when a request is refused with 401;
            the request is then sent once more. :class:`~vilnius_client.AgentClient`
            uses it to drop an expired token so that a fresh one is fetched.
        server: What the server offers: ``"auto"`` (ask ``GET /health`` the
            first time it matters), ``"vilnius"``, ``"lizdeika"`` or a
            :class:`~vilnius_client.ServerCapabilities`.
        max_retry_after: Longest ``Retry-After`` (seconds) a retry waits out;
            a 429 asking for longer is raised at once.
        on_retry: Called before every retry with the error and the wait in
            seconds (for metrics: counting 429s, for instance).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        retry_attempts: int = 5,
        retry_base: float = 0.2,
        retry_cap: float = 5.0,
        on_auth_error: Callable[[], Awaitable[None]] | None = None,
        server: ServerKind | ServerCapabilities = "auto",
        max_retry_after: float = 60.0,
        on_retry: RetryListener | None = None,
    ) -> None:
        if retry_attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry_attempts = retry_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.on_auth_error = on_auth_error
        self.max_retry_after = max_retry_after
        self.on_retry = on_retry
        self._capabilities = resolve_server(server)
        self._probe_lock = asyncio.Lock()
        self._session = session
        self._owns_session = session is None
        self._closed = False

    # ------------------------------------------------------------------
    # Lifecycle

    async def __aenter__(self) -> Self:
        if self._closed:
            raise StateError("this RestClient is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client and its own session (idempotent)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def known_capabilities(self) -> ServerCapabilities | None:
        """What the server offers, once known (``None`` before :meth:`capabilities`)."""
        return self._capabilities

    async def capabilities(self) -> ServerCapabilities:
        """What the server offers: asked from ``GET /health`` once, then kept.

        A server without ``/health`` (404) is taken to be production, which
        has the endpoint but lists no contract features.

        Raises:
            TransportError: The server could not be asked.
        """
        if self._capabilities is not None:
            return self._capabilities
        async with self._probe_lock:
            if self._capabilities is None:
                try:
                    health = await self.health()
                except NotFoundError:
                    self._capabilities = ServerCapabilities.production()
                else:
                    self._capabilities = ServerCapabilities.from_health(health)
            return self._capabilities

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise StateError("this RestClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # ------------------------------------------------------------------
    # Plumbing

    async def request(
        self,
        method: str,
        path: str,
        model: type[_M],
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        retry: bool = False,
        idempotency_key: str | None = None,
        auth: bool = True,
    ) -> _M:
        """Send one request and parse the answer into ``model``.

        The typed methods below cover the whole contract; this is the escape
        hatch for endpoints a newer server adds. With ``retry`` every
        temporary failure is retried (use it for calls that are safe to
        repeat); without, only failures that surely did not reach the server.

        Raises:
            ServerError: The server answered with an error (the matching subclass).
            TransportError: The request could not be completed.
            ProtocolError: A success answer did not match ``model``.
            StateError: The client is closed.
        """
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key

        async def once() -> _M:
            try:
                return await self._once(method, path, model, json_body, params, headers, auth)
            except AuthError:
                if not auth or self.on_auth_error is None:
                    raise
                await self.on_auth_error()
            return await self._once(method, path, model, json_body, params, headers, auth)

        try:
            if self.retry_attempts == 1:
                return await once()
            result: _M = await self._retrying(retry)(once)
            return result
        except (ServerError, TransportError, ProtocolError) as exc:
            if exc.may_have_acted is None:
                exc.may_have_acted = True  # an answer that broke the contract, a lost one
            raise

    def _retrying(self, idempotent: bool) -> tenacity.AsyncRetrying:
        return rest_retrying(
            attempts=self.retry_attempts,
            base=self.retry_base,
            cap=self.retry_cap,
            idempotent=idempotent,
            max_retry_after=self.max_retry_after,
            listener=self.on_retry,
        )

    async def _once(
        self,
        method: str,
        path: str,
        model: type[_M],
        json_body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        auth: bool,
    ) -> _M:
        session = self._get_session()
        headers = dict(headers)
        if auth:
            token = await resolve_token(self.token)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        url = self.base_url + path
        try:
            async with session.request(
                method,
                url,
                json=json_body,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                text = await response.text()
                return self._parse(method, path, model, response, text)
        except aiohttp.ConnectionTimeoutError as exc:
            error = ReplyTimeoutError(f"{method} {path}: could not connect in {self.timeout} s")
            error.may_have_acted = False
            raise error from exc
        except TimeoutError as exc:
            raise ReplyTimeoutError(f"{method} {path}: no answer in {self.timeout} s") from exc
        except aiohttp.ClientConnectorError as exc:
            unsent = TransportError(f"{method} {path}: {exc}")
            unsent.may_have_acted = False  # the connection was never opened
            raise unsent from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise ConnectionLostError(f"{method} {path}: the server closed the connection") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransportError(f"{method} {path}: {exc}") from exc

    @staticmethod
    def _parse(
        method: str,
        path: str,
        model: type[_M],
        response: aiohttp.ClientResponse,
        text: str,
    ) -> _M:
        try:
            data: Any = json.loads(text) if text else None
        except ValueError:
            data = None
            is_json = False
        else:
            is_json = True
        status = response.status
        if status >= 400:
            raise _error_from_response(status, response, data if is_json else None, text)
        if not is_json:
            raise ProtocolError(
                f"{method} {path}: HTTP {status} answer is not JSON: {text[:_BODY_EXCERPT]!r}"
            )
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(
                f"{method} {path}: answer does not match {model.__name__}: {exc}"
            ) from exc

    # ------------------------------------------------------------------
    # Endpoints (CONTRACT.md §6), in the contract's order

    async def health(self) -> HealthResponse:
        """``GET /health``."""
        # Without Authorization: it is open everywhere, and asking for a token
        # (a login) must not depend on knowing the server first.
        return await self.request("GET", "/health", HealthResponse, retry=True, auth=False)

    async def create_conversation(
        self, *, visitor_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> CreateConversationResponse:
        """``POST /api/conversations``: start a conversation.

        The answer carries the customer's token in ``auth="token"`` servers.
        Not retried (it has no idempotency key).
        """
        body = _body(visitor_id=visitor_id, metadata=dict(metadata) if metadata else None)
        return await self.request(
            "POST", "/api/conversations", CreateConversationResponse, json_body=body
        )

    async def post_message(
        self,
        conversation_id: str,
        message: str,
        *,
        visitor_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> PostMessageResponse:
        """``POST /api/messages``: a customer's message (creates the conversation if unknown).

        On a server with the ``idempotency`` feature it is retried on transient
        failures with one ``Idempotency-Key`` (``idempotency_key`` or a fresh
        UUID4), so the message is stored once. Elsewhere (production) it is
        retried only when the server surely did not act (refused connection,
        429 after its ``Retry-After``); any other failure is raised with
        ``may_have_acted`` set.
        """
        body = _body(conversation_id=conversation_id, message=message, visitor_id=visitor_id)
        return await self._send("/api/messages", PostMessageResponse, body, idempotency_key)

    async def _send(
        self, path: str, model: type[_M], body: dict[str, Any], idempotency_key: str | None
    ) -> _M:
        """A send: keyed and retried where the server de-duplicates, else retried only unsent."""
        idempotent = (await self.capabilities()).idempotency
        return await self.request(
            "POST",
            path,
            model,
            json_body=body,
            retry=idempotent,
            idempotency_key=(idempotency_key or str(uuid.uuid4())) if idempotent else None,
        )

    async def conversation_messages(
        self, conversation_id: str, *, after: int | None = None, limit: int | None = None
    ) -> ConversationMessagesResponse:
        """``GET /api/conversations/{id}/messages``: one conversation's messages, in seq order."""
        return await self.request(
            "GET",
            f"/api/conversations/{_segment(conversation_id)}/messages",
            ConversationMessagesResponse,
            params=_query(after=after, limit=limit),
            retry=True,
        )

    async def all_messages(
        self, *, after: int = 0, limit: int | None = None
    ) -> AllMessagesResponse:
        """``GET /api/messages``: messages of every conversation with ``seq > after``.

        ``last_seq`` in the answer is the server's head, whatever the page.
        """
        return await self.request(
            "GET",
            "/api/messages",
            AllMessagesResponse,
            params=_query(after=after, limit=limit),
            retry=True,
        )

    async def admin_conversations(
        self, status: ConversationStatus | str | None = None
    ) -> ConversationListResponse:
        """``GET /api/admin/conversations``, optionally filtered by ``status``."""
        return await self.request(
            "GET",
            "/api/admin/conversations",
            ConversationListResponse,
            params=_query(status=str(status) if status is not None else None),
            retry=True,
        )

    async def agent_respond(
        self,
        conversation_id: str,
        message: str,
        agent_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> AgentRespondResponse:
        """``POST /api/agent/respond``: an agent's reply, retried as :meth:`post_message` is."""
        body = _body(conversation_id=conversation_id, message=message, agent_id=agent_id)
        return await self._send("/api/agent/respond", AgentRespondResponse, body, idempotency_key)

    async def set_personal_status(
        self, agent_id: str, personal_status: PersonalStatus | str
    ) -> PersonalStatusResponse:
        """``POST /api/agent/personal-status`` (``online`` or ``afk``)."""
        body = _body(agent_id=agent_id, personal_status=str(personal_status))
        return await self.request(
            "POST", "/api/agent/personal-status", PersonalStatusResponse, json_body=body
        )

    async def get_system_mode(self) -> SystemModeResponse:
        """``GET /api/system/mode``."""
        return await self.request("GET", "/api/system/mode", SystemModeResponse, retry=True)

    async def set_system_mode(self, mode: SystemMode | str) -> SystemModeResponse:
        """``POST /api/system/mode``."""
        return await self.request(
            "POST", "/api/system/mode", SystemModeResponse, json_body={"mode": str(mode)}
        )

    async def connected_agents(self) -> ConnectedAgentsResponse:
        """``GET /api/agents/connected``: the agents and the system mode."""
        return await self.request(
            "GET", "/api/agents/connected", ConnectedAgentsResponse, retry=True
        )

    async def assign(self, conversation_id: str, agent_id: str) -> AssignResponse:
        """``POST /api/conversations/{id}/assign``."""
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/assign",
            AssignResponse,
            json_body=_body(agent_id=agent_id),
        )

    async def end_conversation(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> EndConversationResponse:
        """``POST /api/conversations/{id}/end``."""
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/end",
            EndConversationResponse,
            json_body=_body(agent_id=agent_id),
        )

    async def bulk_assign(
        self, conversation_ids: Iterable[str], agent_id: str
    ) -> BulkAssignResponse:
        """``POST /api/admin/conversations/bulk-assign``."""
        body = _body(conversation_ids=list(conversation_ids), agent_id=agent_id)
        return await self.request(
            "POST", "/api/admin/conversations/bulk-assign", BulkAssignResponse, json_body=body
        )

    async def agent_token(self, agent_id: str, agent_key: str) -> AgentTokenResponse:
        """``POST /api/auth/agent-token``: trade the agent key for a bearer token.

        Sent without ``Authorization`` and retried on transient failures (issuing
        a token twice is harmless).
        """
        return await self.request(
            "POST",
            "/api/auth/agent-token",
            AgentTokenResponse,
            json_body=_body(agent_id=agent_id, agent_key=agent_key),
            retry=True,
            auth=False,
        )

    async def login(
        self, email: str, password: str, *, totp_code: str | None = None
    ) -> LoginResponse:
        """``POST /api/auth/login`` (production): an agent user's e-mail and password.

        Sent without ``Authorization``; retried on transient failures (a second
        login only issues a second pair of tokens). A user with two-factor
        authentication who sent no ``totp_code`` gets ``requires_totp`` and no tokens.
        """
        body = LoginRequest(email=email, password=password, totp_code=totp_code).to_wire()
        return await self.request(
            "POST",
            "/api/auth/login",
            LoginResponse,
            json_body={key: value for key, value in body.items() if value is not None},
            retry=True,
            auth=False,
        )

    async def refresh(self, refresh_token: str) -> RefreshResponse:
        """``POST /api/auth/refresh`` (production): a new access token (and refresh token).

        Not repeated after an ambiguous failure: the server may have spent the
        refresh token, and only a new login helps then.
        """
        return await self.request(
            "POST",
            "/api/auth/refresh",
            RefreshResponse,
            json_body={"refreshToken": refresh_token},
            auth=False,
        )


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(**fields: str | int | None) -> dict[str, str | int]:
    return {name: value for name, value in fields.items() if value is not None}


def _error_from_response(
    status: int, response: aiohttp.ClientResponse, data: Any, text: str
) -> ServerError:
    retry_after = _retry_after(response.headers)
    if isinstance(data, dict) and isinstance(data.get("error"), str | None):
        code = data.get("code")
        message = data.get("error") or response.reason or f"HTTP {status}"
        return error_from_code(
            code if isinstance(code, str) else None,
            message,
            details=data.get("details"),
            status=status,
            retry_after=retry_after,
        )
    excerpt = text.strip()[:_BODY_EXCERPT]
    message = excerpt or response.reason or f"HTTP {status}"
    return error_from_code(None, message, details=None, status=status, retry_after=retry_after)
