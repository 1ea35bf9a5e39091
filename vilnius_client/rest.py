"""RestClient: every REST call of the contract (`docs/contract.md` §6), typed.

One `aiohttp.ClientSession` per client, opened lazily and closed by
``async with`` or [`disconnect`][vilnius_client.RestClient.disconnect]. Every
request body is built from the request model of `vilnius_client.events` that
the server validates it with, and checked before it is sent; every answer is
parsed into its response model; every error answer becomes the matching
[`ServerError`][vilnius_client.ServerError] subclass, and every failure of the
link itself a [`TransportError`][vilnius_client.TransportError].

Retries (one rule, described in `vilnius_client.errors`): reads (``GET``), the
logins and, on a server with the ``idempotency`` feature, the two sends
([`post_message`][vilnius_client.RestClient.post_message],
[`agent_respond`][vilnius_client.RestClient.agent_respond]) repeat temporary
failures. The sends then carry one ``Idempotency-Key`` for all attempts of a
logical send, so a retry after a dropped answer never stores a message twice.
Every other call (a send on a server without idempotency, such as production;
creating a conversation, assigning, changing statuses) is repeated only when
the server surely did not act: its connection could not be opened, or it
answered 408 or 429. After any other failure the error's ``may_have_acted``
says whether the server may have acted.

A 429's ``Retry-After`` is waited out before the next attempt (up to
``max_retry_after`` seconds; a longer one is raised at once as
[`RateLimitedError`][vilnius_client.RateLimitedError] with ``retry_after``).

What the server offers ([`ServerCapabilities`][vilnius_client.ServerCapabilities])
is asked from ``GET /health`` once ([`probe`][vilnius_client.RestClient.probe]), the
first time it matters, unless ``server=`` says it; then it is
[`capabilities`][vilnius_client.RestClient.capabilities].

One typed method per endpoint, in the contract's order (hence the length); the
request plumbing is `vilnius_client._http`'s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._http import IDEMPOTENCY_HEADER, HttpBase, TokenSource, check_url, request_body
from ._retry import RetryListener
from .errors import NotFoundError, ProtocolError
from .events import (
    AgentRespondRequest,
    AgentRespondResponse,
    AgentTokenRequest,
    AgentTokenResponse,
    AllMessagesResponse,
    AssignRequest,
    AssignResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    ConnectedAgentsResponse,
    ConversationListResponse,
    ConversationMessagesResponse,
    ConversationStatus,
    CreateConversationRequest,
    CreateConversationResponse,
    EndConversationRequest,
    EndConversationResponse,
    HealthResponse,
    LoginRequest,
    LoginResponse,
    PersonalStatus,
    PersonalStatusRequest,
    PersonalStatusResponse,
    PostMessageRequest,
    PostMessageResponse,
    RefreshRequest,
    RefreshResponse,
    SystemMode,
    SystemModeRequest,
    SystemModeResponse,
    WireModel,
)

__all__ = ["IDEMPOTENCY_HEADER", "RestClient"]

_M = TypeVar("_M", bound=WireModel)


class RestClient(HttpBase):
    """Async client for the Vilnius REST API.

    Example:
        ```python
        async with RestClient("http://127.0.0.1:3002") as rest:
            created = await rest.create_conversation(visitor_id="v-1")
            await rest.post_message(created.conversation_id, "Hello")
        ```

    Args:
        base_url: The server's root, e.g. ``"http://127.0.0.1:3002"``.
        token: A bearer token, or a function (plain or async) asked before every
            request, so that a refreshed token is picked up. ``None``: no
            ``Authorization`` header (servers in ``auth="none"`` mode).
        session: An existing `aiohttp.ClientSession` to use. It is not
            closed by [`disconnect`][vilnius_client.RestClient.disconnect]; by
            default the client opens its own.
        request_timeout: Total seconds for one attempt of one request.
        retry_attempts: Attempts for retryable calls, the first one included
            (``1`` disables retries).
        retry_base: First backoff step in seconds (full jitter).
        retry_cap: Longest single wait between attempts.
        on_auth_error: Called (and awaited) when a request is refused with 401;
            the request is then sent once more.
            [`AgentClient`][vilnius_client.AgentClient] uses it to drop an
            expired token so that a fresh one is fetched.
        server: What the server offers: ``"auto"`` (ask ``GET /health`` the
            first time it matters), ``"vilnius"``, ``"lizdeika"`` or a
            [`ServerCapabilities`][vilnius_client.ServerCapabilities].
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
        request_timeout: float = 10.0,
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
        self.base_url = check_url(base_url)
        self.token = token
        self.request_timeout = request_timeout
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

    @property
    def capabilities(self) -> ServerCapabilities | None:
        """What the server offers, once known (``None`` before [`probe`][] asked)."""
        return self._capabilities

    async def probe(self) -> ServerCapabilities:
        """What the server offers: asked from ``GET /health`` once (one attempt), then kept.

        Raises:
            NotFoundError: ``/health`` answered 404: the URL is not the server's base URL
                (production has ``/health`` too; a 404 is never taken for it).
            ProtocolError: The answer is not a Vilnius server's.
            TransportError: The server could not be asked.
        """
        if self._capabilities is not None:
            return self._capabilities
        async with self._probe_lock:
            if self._capabilities is None:
                try:
                    health = await self.request(
                        "GET", "/health", HealthResponse, auth=False, attempts=1
                    )
                except NotFoundError as exc:
                    raise NotFoundError(
                        f"GET {self.base_url}/health answered 404: is {self.base_url} the "
                        "server's base URL?",
                        status=404,
                    ) from exc
                except ProtocolError as exc:
                    raise ProtocolError(
                        f"GET {self.base_url}/health: not a Vilnius server's answer ({exc})"
                    ) from exc
                self._capabilities = ServerCapabilities.from_health(health)
            return self._capabilities

    # ------------------------------------------------------------------
    # Endpoints (the contract's §6), in the contract's order

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
        body = request_body(
            CreateConversationRequest,
            visitor_id=visitor_id,
            metadata=dict(metadata) if metadata else None,
        )
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

        On a server with the ``idempotency`` feature it is retried on temporary
        failures with one ``Idempotency-Key`` (``idempotency_key`` or a fresh
        UUID4), so the message is stored once. Elsewhere (production) it is
        retried only when the server surely did not act (refused connection,
        429 after its ``Retry-After``); any other failure is raised with
        ``may_have_acted`` set.
        """
        body = request_body(
            PostMessageRequest,
            conversation_id=conversation_id,
            message=message,
            visitor_id=visitor_id,
        )
        return await self._send("/api/messages", PostMessageResponse, body, idempotency_key)

    async def _send(
        self, path: str, model: type[_M], body: dict[str, Any], idempotency_key: str | None
    ) -> _M:
        """A send: keyed and retried where the server de-duplicates, else retried only unsent."""
        idempotent = (await self.probe()).idempotency
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
        """``POST /api/agent/respond``: an agent's reply, retried as
        [`post_message`][vilnius_client.RestClient.post_message] is."""
        body = request_body(
            AgentRespondRequest, conversation_id=conversation_id, message=message, agent_id=agent_id
        )
        return await self._send("/api/agent/respond", AgentRespondResponse, body, idempotency_key)

    async def set_personal_status(
        self, agent_id: str, personal_status: PersonalStatus | str
    ) -> PersonalStatusResponse:
        """``POST /api/agent/personal-status``: ``online``, or away (``afk``, or ``offline``)."""
        if personal_status == PersonalStatus.OFFLINE:
            # Production's spelling of "away" is outside the contract's model: built unchecked.
            away: Any = PersonalStatus.OFFLINE
            request = PersonalStatusRequest.model_construct(agent_id=agent_id, personal_status=away)
            body = request.model_dump(mode="json", by_alias=True)
        else:
            body = request_body(
                PersonalStatusRequest, agent_id=agent_id, personal_status=personal_status
            )
        return await self.request(
            "POST", "/api/agent/personal-status", PersonalStatusResponse, json_body=body
        )

    async def get_system_mode(self) -> SystemModeResponse:
        """``GET /api/system/mode``."""
        return await self.request("GET", "/api/system/mode", SystemModeResponse, retry=True)

    async def set_system_mode(self, mode: SystemMode | str) -> SystemModeResponse:
        """``POST /api/system/mode``."""
        body = request_body(SystemModeRequest, mode=mode)
        return await self.request("POST", "/api/system/mode", SystemModeResponse, json_body=body)

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
            json_body=request_body(AssignRequest, agent_id=agent_id),
        )

    async def end_conversation(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> EndConversationResponse:
        """``POST /api/conversations/{id}/end``."""
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/end",
            EndConversationResponse,
            json_body=request_body(EndConversationRequest, agent_id=agent_id),
        )

    async def bulk_assign(
        self, conversation_ids: Iterable[str], agent_id: str
    ) -> BulkAssignResponse:
        """``POST /api/admin/conversations/bulk-assign``."""
        body = request_body(
            BulkAssignRequest, conversation_ids=list(conversation_ids), agent_id=agent_id
        )
        return await self.request(
            "POST", "/api/admin/conversations/bulk-assign", BulkAssignResponse, json_body=body
        )

    async def agent_token(self, agent_id: str, agent_key: str) -> AgentTokenResponse:
        """``POST /api/auth/agent-token``: trade the agent key for a bearer token.

        Sent without ``Authorization`` and retried on temporary failures
        (issuing a token twice is harmless).
        """
        return await self.request(
            "POST",
            "/api/auth/agent-token",
            AgentTokenResponse,
            json_body=request_body(AgentTokenRequest, agent_id=agent_id, agent_key=agent_key),
            retry=True,
            auth=False,
        )

    async def login(
        self, email: str, password: str, *, totp_code: str | None = None
    ) -> LoginResponse:
        """``POST /api/auth/login`` (production): an agent user's e-mail and password.

        Sent without ``Authorization``; retried on temporary failures (a second
        login only issues a second pair of tokens). A user with two-factor
        authentication who sent no ``totp_code`` gets ``requires_totp`` and no tokens.
        """
        body = request_body(LoginRequest, email=email, password=password, totp_code=totp_code)
        return await self.request(
            "POST", "/api/auth/login", LoginResponse, json_body=body, retry=True, auth=False
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
            json_body=request_body(RefreshRequest, refresh_token=refresh_token),
            auth=False,
        )


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(**fields: str | int | None) -> dict[str, str | int]:
    return {name: value for name, value in fields.items() if value is not None}
