"""The REST API of CONTRACT.md §6 (profile ``vilnius``): parsing, auth, answers.

Every request body is validated with its model of ``vilnius_client.events``. Every error
answer is JSON ``{"error", "code", "details"}`` (``middleware.py``): bad JSON is 400,
a body that fails its model 422, an unknown route 404, a too large body 413.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vilnius_client.events import (
    AgentRespondRequest,
    AgentTokenRequest,
    AssignRequest,
    BulkAssignRequest,
    ConversationStatus,
    CreateConversationRequest,
    EndConversationRequest,
    ErrorCode,
    PersonalStatusRequest,
    PostMessageRequest,
    SystemModeRequest,
)

from .. import operations as ops
from ..auth import ANONYMOUS, OPEN, Identity, TokenSigner
from ..errors import ServiceError, validation_details
from ..hub import Hub
from ..ratelimit import FixedWindow, RateLimit
from ..storable import PROBLEM, unstorable_body, unstorable_field
from ..wirejson import json_response

__all__ = ["AGENT_TOKEN_FAILURES", "MAX_IDEMPOTENCY_KEY", "MAX_SEQ", "add_routes"]

M = TypeVar("M", bound=BaseModel)

AGENT_TOKEN_FAILURES = RateLimit(10, 60.0)
"""Wrong agent keys allowed per client IP and minute; then every attempt gets 429."""

MAX_IDEMPOTENCY_KEY = 255
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER; a larger ``after`` simply matches nothing


def _identity(hub: Hub, request: web.Request) -> Identity:
    if hub.auth == "none":
        return OPEN
    token = TokenSigner.parse_bearer(request.headers.get("Authorization"))
    return ANONYMOUS if token is None else hub.identify(token)


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, "request body too large") from exc
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError; absurd nesting
        raise ServiceError(ErrorCode.INVALID_PAYLOAD, "body is not valid JSON") from exc
    field = unstorable_body(raw, data)
    if field is not None:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            "invalid request body",
            [{"field": field, "message": f"{field or 'the body'} {PROBLEM}"}],
            status=422,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD, "invalid request body", validation_details(exc), status=422
        ) from exc


def _int_query(request: web.Request, name: str, default: int, high: int | None = None) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0 or (high is not None and value > high):
        limit = f" and at most {high}" if high is not None else ""
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD, f"{name} must be an integer >= 0{limit}", {"field": name}
        )
    return value


def _page(request: web.Request) -> tuple[int, int]:
    """``after`` (default 0) and ``limit`` (default 100, at most 1,000) of a message page."""
    after = min(_int_query(request, "after", 0), MAX_SEQ)
    limit = _int_query(request, "limit", 100, 1000)
    return after, limit


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters",
            {"field": "Idempotency-Key"},
        )
    if key is not None and unstorable_field(key) is not None:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            f"Idempotency-Key {PROBLEM}",
            {"field": "Idempotency-Key"},
        )
    return key or None


def _json(model: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    body = model if isinstance(model, dict) else model.model_dump(mode="json", by_alias=True)
    return json_response(body, status)


def add_routes(app: web.Application, hub: Hub, message_limit: RateLimit | None = None) -> None:
    """Add the endpoints of CONTRACT.md §6 to ``app``.

    ``message_limit`` limits ``POST /api/messages`` per client IP (none by default).
    """
    routes = web.RouteTableDef()
    message_limiter = FixedWindow(message_limit) if message_limit is not None else None
    contract = {
        "name": "vilnius",
        "version": 1,
        "features": list(hub.profile.contract_features),
    }

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return _json(
            {
                "status": "ok",
                "contract": contract,
                "auth": hub.auth,
                "lastSeq": hub.store.messages.last_seq(),
            }
        )

    @routes.post("/api/conversations")
    async def create_conversation(request: web.Request) -> web.Response:
        body = await _body(request, CreateConversationRequest)
        answer = await ops.create_conversation(hub, _identity(hub, request), body)
        return _json(answer, status=201)

    @routes.post("/api/messages")
    async def post_message(request: web.Request) -> web.Response:
        if message_limiter is not None:
            hit = message_limiter.hit(request.remote or "unknown")
            if not hit.allowed:
                raise ServiceError(
                    ErrorCode.RATE_LIMITED,
                    "too many messages; try again later",
                    {"retryAfter": hit.reset},
                    headers=hit.headers(message_limiter.policy),
                )
        identity = _identity(hub, request)
        key = _idempotency_key(request)
        body = await _body(request, PostMessageRequest)
        return _json(await ops.post_message(hub, identity, body, key))

    @routes.get("/api/messages")
    async def all_messages(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        after, limit = _page(request)
        return _json(await ops.all_messages(hub, identity, after, limit))

    @routes.get("/api/conversations/{id}/messages")
    async def conversation_messages(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        after, limit = _page(request)
        conversation_id = request.match_info["id"]
        answer = await ops.conversation_messages(hub, identity, conversation_id, after, limit)
        return _json(answer)

    @routes.get("/api/admin/conversations")
    async def list_conversations(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        text = request.query.get("status")
        try:
            status = ConversationStatus(text) if text else None
        except ValueError as exc:
            raise ServiceError(
                ErrorCode.INVALID_PAYLOAD,
                "status must be one of active, ended, archived",
                {"field": "status"},
            ) from exc
        return _json(ops.list_conversations(hub, identity, status))

    @routes.post("/api/agent/respond")
    async def agent_respond(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        key = _idempotency_key(request)
        body = await _body(request, AgentRespondRequest)
        return _json(await ops.agent_respond(hub, identity, body, key))

    @routes.post("/api/agent/personal-status")
    async def personal_status(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, PersonalStatusRequest)
        return _json(await ops.set_personal_status(hub, identity, body))

    @routes.get("/api/system/mode")
    async def get_mode(request: web.Request) -> web.Response:
        return _json(ops.get_mode(hub, _identity(hub, request)))

    @routes.post("/api/system/mode")
    async def set_mode(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, SystemModeRequest)
        return _json(await ops.set_mode(hub, identity, body))

    @routes.get("/api/agents/connected")
    async def connected_agents(request: web.Request) -> web.Response:
        return _json(ops.connected_agents(hub, _identity(hub, request)))

    @routes.post("/api/conversations/{id}/assign")
    async def assign(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, AssignRequest)
        return _json(await ops.assign(hub, identity, request.match_info["id"], body))

    @routes.post("/api/conversations/{id}/end")
    async def end(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, EndConversationRequest)
        return _json(await ops.end(hub, identity, request.match_info["id"], body))

    @routes.post("/api/admin/conversations/bulk-assign")
    async def bulk_assign(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, BulkAssignRequest)
        return _json(await ops.bulk_assign(hub, identity, body))

    failures = FixedWindow(AGENT_TOKEN_FAILURES)

    @routes.post("/api/auth/agent-token")
    async def agent_token(request: web.Request) -> web.Response:
        client = request.remote or "unknown"
        blocked = failures.blocked(client)
        if blocked is not None:
            raise ServiceError(
                ErrorCode.RATE_LIMITED,
                "too many wrong agent keys; try again later",
                {"retryAfter": blocked.reset},
                headers=blocked.headers(failures.policy),
            )
        body = await _body(request, AgentTokenRequest)
        try:
            return _json(ops.agent_token(hub, body))
        except ServiceError as exc:
            if exc.code == ErrorCode.UNAUTHORIZED:
                failures.count(client)
            raise

    app.add_routes(routes)
