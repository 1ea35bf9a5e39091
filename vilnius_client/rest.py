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

Every request carries an ``X-Correlation-ID`` (`correlation` sets it for a block;
errors carry the one answered as ``correlation_id``).

One typed method per endpoint, in the contract's order, then production's agent endpoints
(suggestions, conversation actions, categories, templates, files, statistics:
``docs/guides/production.md``), hence the length; the request plumbing is
`vilnius_client._http`'s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from ._capabilities import ServerCapabilities, ServerKind, resolve_server
from ._http import (
    CORRELATION_HEADER,
    IDEMPOTENCY_HEADER,
    Correlation,
    Download,
    HttpBase,
    TokenSource,
    check_url,
    correlation,
    request_body,
    wire_body,
)
from ._retry import RetryListener
from .errors import NotFoundError, ProtocolError
from .events import (
    AgentIdRequest,
    AgentListResponse,
    AgentRespondRequest,
    AgentRespondResponse,
    AgentStatisticsResponse,
    AgentStatusResponse,
    AgentTokenRequest,
    AgentTokenResponse,
    AllMessagesResponse,
    AssignRequest,
    AssignResponse,
    BulkArchiveResponse,
    BulkAssignRequest,
    BulkAssignResponse,
    BulkCategoryRequest,
    BulkCategoryResponse,
    BulkConversationsRequest,
    CategorizationStatsResponse,
    CategorizeResponse,
    CategoryAssignment,
    CategoryListResponse,
    CategoryOverrideRequest,
    CategoryOverrideResponse,
    CategoryRequest,
    ChatSuggestionRequest,
    ChatSuggestionResponse,
    ConnectedAgentsResponse,
    ConversationListResponse,
    ConversationMessagesResponse,
    ConversationStatisticsResponse,
    ConversationStatus,
    CreateConversationRequest,
    CreateConversationResponse,
    DashboardStatisticsResponse,
    EndConversationRequest,
    EndConversationResponse,
    FileMetadata,
    GeneratedSuggestionResponse,
    Granularity,
    HealthResponse,
    LoginRequest,
    LoginResponse,
    LogoutRequest,
    LogoutResponse,
    MarkSeenResponse,
    MessageType,
    PendingSuggestionResponse,
    PersonalStatus,
    PersonalStatusRequest,
    PersonalStatusResponse,
    PostMessageRequest,
    PostMessageResponse,
    RefreshRequest,
    RefreshResponse,
    SuggestionAction,
    SuggestionStatisticsResponse,
    SystemMode,
    SystemModeRequest,
    SystemModeResponse,
    TemplateListResponse,
    TrendStatisticsResponse,
    UnassignResponse,
    UploadResponse,
    WidgetConfigResponse,
    WireModel,
    format_timestamp,
)

__all__ = [
    "CORRELATION_HEADER",
    "IDEMPOTENCY_HEADER",
    "Correlation",
    "DateLike",
    "Download",
    "RestClient",
    "correlation",
]

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

    # ------------------------------------------------------------------
    # Production's agent endpoints (docs/guides/production.md "Everything an agent
    # can do"): suggestions, conversation actions, categories, templates, files,
    # statistics. Production needs an agent user's access token for most of them.

    async def agent_respond(
        self,
        conversation_id: str,
        message: str,
        agent_id: str,
        *,
        used_suggestion: bool | None = None,
        suggestion_action: SuggestionAction | str | None = None,
        auto_assign: bool | None = None,
        message_type: MessageType | str | None = None,
        file_metadata: FileMetadata | None = None,
        idempotency_key: str | None = None,
    ) -> AgentRespondResponse:
        """``POST /api/agent/respond``: an agent's reply, retried as
        [`post_message`][vilnius_client.RestClient.post_message] is.

        The keyword options are production's (our contract ignores them). Production's
        statistics count a reply by ``used_suggestion`` (whether an AI
        suggestion was there for it: only such replies are in the suggestion counts)
        and ``suggestion_action`` (``as-is``, ``edited`` or ``from-scratch``); it drops
        a reply's statistics whose ``used_suggestion`` is not a boolean, hence the type.

        Args:
            conversation_id: The conversation.
            message: The reply.
            agent_id: The replying agent (production: the user's UUID).
            used_suggestion: Whether a suggestion was offered for this reply.
            suggestion_action: How the reply used it.
            auto_assign: Ask the server to assign the conversation to the agent
                (production does so for every reply anyway).
            message_type: Production's message type (``text`` by default; ``file``
                with ``file_metadata``).
            file_metadata: The file the reply attaches (from
                [`upload_file`][vilnius_client.RestClient.upload_file]).
            idempotency_key: The send's key where the server de-duplicates (default: new).
        """
        body = request_body(
            AgentRespondRequest,
            conversation_id=conversation_id,
            message=message,
            agent_id=agent_id,
            used_suggestion=used_suggestion,
            suggestion_action=str(suggestion_action) if suggestion_action is not None else None,
            auto_assign=auto_assign,
            message_type=str(message_type) if message_type is not None else None,
            file_metadata=file_metadata.to_wire() if file_metadata is not None else None,
        )
        return await self._send("/api/agent/respond", AgentRespondResponse, body, idempotency_key)

    async def pending_suggestion(self, conversation_id: str) -> PendingSuggestionResponse:
        """``GET /api/conversations/{id}/pending-suggestion``: the newest AI suggestion.

        Raises:
            NotFoundError: The conversation has no pending suggestion (none yet, or a
                reply or a newer customer message superseded it).
        """
        return await self.request(
            "GET",
            f"/api/conversations/{_segment(conversation_id)}/pending-suggestion",
            PendingSuggestionResponse,
            retry=True,
        )

    async def generate_suggestion(self, conversation_id: str) -> GeneratedSuggestionResponse:
        """``POST /api/conversations/{id}/generate-suggestion``: a fresh AI suggestion.

        It replaces the pending one. Not retried after a failure that may have acted.

        Raises:
            NotFoundError: The conversation has no messages.
            InvalidPayloadError: None of them is a customer's or an agent's.
        """
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/generate-suggestion",
            GeneratedSuggestionResponse,
        )

    async def chat_suggestion(
        self, conversation_id: str, context: str, *, enable_rag: bool = False
    ) -> ChatSuggestionResponse:
        """``POST /api/chat/suggestion`` (admins only): a suggestion for any ``context``.

        Raises:
            ForbiddenError: The user is not an admin.
        """
        body = request_body(
            ChatSuggestionRequest,
            conversation_id=conversation_id,
            context=context,
            enable_rag=enable_rag,
        )
        return await self.request(
            "POST", "/api/chat/suggestion", ChatSuggestionResponse, json_body=body, retry=True
        )

    async def unassign(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> UnassignResponse:
        """``POST /api/conversations/{id}/unassign`` (any agent may unassign any conversation).

        Raises:
            NotFoundError: No such conversation.
        """
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/unassign",
            UnassignResponse,
            json_body=request_body(AgentIdRequest, agent_id=agent_id),
            retry=True,
        )

    async def mark_seen(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> MarkSeenResponse:
        """``POST /api/conversations/{id}/mark-seen``; agents get ``conversation-seen-update``."""
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/mark-seen",
            MarkSeenResponse,
            json_body=request_body(AgentIdRequest, agent_id=agent_id),
            retry=True,
        )

    async def set_category(
        self, conversation_id: str, category_id: str | None
    ) -> CategoryAssignment:
        """``PATCH /api/conversations/{id}/category``: set a category, or remove it (``None``).

        Agents get ``ticket:category_assigned`` (or ``ticket:category_removed``); the
        category is then the agent's choice, which the categoriser leaves alone
        ([`set_category_override`][vilnius_client.RestClient.set_category_override]).

        Raises:
            NotFoundError: No such conversation or category.
            ForbiddenError: The category is archived.
        """
        return await self.request(
            "PATCH",
            f"/api/conversations/{_segment(conversation_id)}/category",
            CategoryAssignment,
            json_body=wire_body(CategoryRequest, {"category_id": category_id}),
            retry=True,
        )

    async def set_category_override(
        self, conversation_id: str, manual_override: bool
    ) -> CategoryOverrideResponse:
        """``PUT /api/conversations/{id}/category-override``: whether the categoriser may
        change this conversation's category (``False`` hands it back to the categoriser)."""
        return await self.request(
            "PUT",
            f"/api/conversations/{_segment(conversation_id)}/category-override",
            CategoryOverrideResponse,
            json_body=request_body(CategoryOverrideRequest, manual_override=manual_override),
            retry=True,
        )

    async def categorize(self, conversation_id: str) -> CategorizeResponse:
        """``POST /api/conversations/{id}/categorize``: let the AI pick a category.

        Production refuses (400, the reason as the error's message) a conversation that
        is archived, categorised, manually overridden, too short or still active. At its
        commit 0dec8e5 it also answers 400 ``ws.broadcastToAgents is not a function``
        *after* storing the category it chose (its broadcast fails): read the category
        back (``categorization_stats``, the conversation listing) rather than trust the
        error.

        Raises:
            InvalidPayloadError: Refused, or the broadcast failure above.
        """
        return await self.request(
            "POST",
            f"/api/conversations/{_segment(conversation_id)}/categorize",
            CategorizeResponse,
        )

    async def categorization_stats(self) -> CategorizationStatsResponse:
        """``GET /api/categorization/stats``: how the conversations not archived are categorised."""
        return await self.request(
            "GET", "/api/categorization/stats", CategorizationStatsResponse, retry=True
        )

    async def bulk_archive(self, conversation_ids: Iterable[str]) -> BulkArchiveResponse:
        """``POST /api/admin/conversations/bulk-archive``: archive (and unassign) conversations.

        ``count`` of the answer says how many were not archived yet.
        """
        body = request_body(BulkConversationsRequest, conversation_ids=list(conversation_ids))
        return await self.request(
            "POST",
            "/api/admin/conversations/bulk-archive",
            BulkArchiveResponse,
            json_body=body,
            retry=True,
        )

    async def bulk_unarchive(self, conversation_ids: Iterable[str]) -> BulkArchiveResponse:
        """``POST /api/admin/conversations/bulk-unarchive`` (a new message unarchives, too)."""
        body = request_body(BulkConversationsRequest, conversation_ids=list(conversation_ids))
        return await self.request(
            "POST",
            "/api/admin/conversations/bulk-unarchive",
            BulkArchiveResponse,
            json_body=body,
            retry=True,
        )

    async def bulk_set_category(
        self,
        conversation_ids: Iterable[str],
        category_id: str | None,
        *,
        skip_archived: bool = True,
        continue_on_error: bool = False,
    ) -> BulkCategoryResponse:
        """``PATCH /api/admin/conversations/bulk-category``: one category (or none) for many.

        Unknown conversations are listed in ``failed``; agents get one
        ``ticket:category_*`` event per conversation changed.

        Raises:
            NotFoundError: No such category.
            ForbiddenError: The category is archived (with ``skip_archived``).
        """
        body = wire_body(
            BulkCategoryRequest,
            {
                "ticket_ids": list(conversation_ids),
                "updates": {"category_id": category_id},
                "options": {"skip_archived": skip_archived, "continue_on_error": continue_on_error},
            },
        )
        return await self.request(
            "PATCH",
            "/api/admin/conversations/bulk-category",
            BulkCategoryResponse,
            json_body=body,
            retry=True,
        )

    async def categories(
        self,
        *,
        include_archived: bool = False,
        search: str | None = None,
        page: int = 1,
        limit: int = 50,
    ) -> CategoryListResponse:
        """``GET /api/categories``: one page of the ticket categories, by name (at most 100)."""
        params = _query(
            include_archived="true" if include_archived else None,
            search=search,
            page=page,
            limit=limit,
        )
        return await self.request(
            "GET", "/api/categories", CategoryListResponse, params=params, retry=True
        )

    async def templates(self) -> TemplateListResponse:
        """``GET /api/templates``: the active response templates (canned answers), by title."""
        return await self.request("GET", "/api/templates", TemplateListResponse, retry=True)

    async def upload_file(
        self,
        content: bytes,
        filename: str,
        content_type: str,
        *,
        conversation_id: str | None = None,
    ) -> UploadResponse:
        """``POST /api/upload``: upload a file to attach to a reply (``file_metadata``).

        Production accepts images, PDF, Word, Excel and plain text files up to its size
        limit (10 MiB by default), and 5 uploads per minute per address. A customer
        (no token) names its ``conversation_id``.

        Raises:
            InternalServerError: A refused type or size (production answers those 500).
            RateLimitedError: Over the limit, and its ``Retry-After`` is longer than
                ``max_retry_after``.
        """

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData(quote_fields=False)  # the file's name as a browser sends it
            if conversation_id is not None:
                data.add_field("conversationId", conversation_id)
            data.add_field("file", content, filename=filename, content_type=content_type)
            return data

        return await self.request("POST", "/api/upload", UploadResponse, form=form)

    async def download_file(
        self, url: str | FileMetadata, *, conversation_id: str | None = None
    ) -> Download:
        """``GET /api/uploads/{filename}``: a file, by its ``url`` or metadata.

        Agents may read every file; a customer names the conversation it belongs to.

        Raises:
            NotFoundError: No such file.
            ForbiddenError: Not this caller's.
        """
        path = url.url if isinstance(url, FileMetadata) else url
        name = path.rsplit("/", 1)[-1]
        return await self.request_raw(
            "GET",
            f"/api/uploads/{_segment(name)}",
            params=_query(conversationId=conversation_id),
            retry=True,
        )

    async def statistics_dashboard(
        self, *, start: DateLike | None = None, end: DateLike | None = None
    ) -> DashboardStatisticsResponse:
        """``GET /api/statistics/dashboard``: conversations, messages, agents and suggestion use.

        ``start`` and ``end`` (dates, datetimes or ISO strings) are widened to whole UTC
        days; the default is the last 30 days. Production allows at most 365 days and
        answers a bad range with a 500.
        """
        return await self.request(
            "GET",
            "/api/statistics/dashboard",
            DashboardStatisticsResponse,
            params=_dates(start, end),
            retry=True,
        )

    async def statistics_conversations(
        self,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        category_id: str | None = None,
        archived: bool | None = None,
    ) -> ConversationStatisticsResponse:
        """``GET /api/statistics/conversations``: conversations started in the range.

        ``category_id`` and ``archived`` filter ``total`` only (as production does).
        """
        params = _dates(
            start,
            end,
            category_id=category_id,
            archived=None if archived is None else str(archived).lower(),
        )
        return await self.request(
            "GET",
            "/api/statistics/conversations",
            ConversationStatisticsResponse,
            params=params,
            retry=True,
        )

    async def statistics_agents(
        self,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        agent_id: str | None = None,
    ) -> AgentStatisticsResponse:
        """``GET /api/statistics/agents``: replies per agent, or one agent's in detail."""
        params = _dates(start, end, agentId=agent_id)
        return await self.request(
            "GET", "/api/statistics/agents", AgentStatisticsResponse, params=params, retry=True
        )

    async def statistics_suggestions(
        self,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        agent_id: str | None = None,
    ) -> SuggestionStatisticsResponse:
        """``GET /api/statistics/ai-suggestions``: how replies used suggestions (``hitl`` only)."""
        params = _dates(start, end, agentId=agent_id)
        return await self.request(
            "GET",
            "/api/statistics/ai-suggestions",
            SuggestionStatisticsResponse,
            params=params,
            retry=True,
        )

    async def statistics_trends(
        self,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        granularity: Granularity | str = Granularity.DAY,
    ) -> TrendStatisticsResponse:
        """``GET /api/statistics/trends``: conversations per day, week or month; busy hours."""
        params = _dates(start, end, granularity=str(Granularity(granularity)))
        return await self.request(
            "GET", "/api/statistics/trends", TrendStatisticsResponse, params=params, retry=True
        )

    async def widget_config(self) -> WidgetConfigResponse:
        """``GET /api/widget/config``: the chat widget's name, colour, domains and server."""
        return await self.request(
            "GET", "/api/widget/config", WidgetConfigResponse, retry=True, auth=False
        )

    async def logout(self, refresh_token: str) -> LogoutResponse:
        """``POST /api/auth/logout``: revoke a refresh token (production then shows an agent
        offline). Production answers success whatever the token."""
        return await self.request(
            "POST",
            "/api/auth/logout",
            LogoutResponse,
            json_body=request_body(LogoutRequest, refresh_token=refresh_token),
            retry=True,
        )

    async def agent_status(self) -> AgentStatusResponse:
        """``GET /api/agent/status``: production's legacy status (agents active in a minute)."""
        return await self.request("GET", "/api/agent/status", AgentStatusResponse, retry=True)

    async def active_agents(self) -> AgentListResponse:
        """``GET /api/agents``: the agents online now (production's dashboard list)."""
        return await self.request("GET", "/api/agents", AgentListResponse, retry=True)

    async def all_agents(self) -> AgentListResponse:
        """``GET /api/agents/all``: production's list for its assignment menu.

        At production's commit 0dec8e5 it keeps only agents whose id is one of four
        legacy names, and ids are user UUIDs: the list is always empty there. Use
        [`connected_agents`][vilnius_client.RestClient.connected_agents].
        """
        return await self.request("GET", "/api/agents/all", AgentListResponse, retry=True)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(**fields: str | int | None) -> dict[str, str | int]:
    return {name: value for name, value in fields.items() if value is not None}


DateLike = date | datetime | str
"""A statistics range bound: a date, a datetime (UTC when naive) or an ISO 8601 string."""


def _dates(
    start: DateLike | None, end: DateLike | None, **fields: str | int | None
) -> dict[str, str | int]:
    """A statistics query: the range's bounds, then ``fields`` (those at ``None`` left out)."""
    return _query(startDate=_iso(start), endDate=_iso(end), **fields)


def _iso(value: DateLike | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))
    return value.isoformat()
