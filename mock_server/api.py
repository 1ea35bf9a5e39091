"""The REST API (CONTRACT.md §6) on aiohttp: parsing, auth, errors and fault hooks.

Every error answer is JSON ``{"error", "code", "details"}``: bad JSON is 400,
a body that fails its model 422, an unknown route 404, a too large body 413.
Unexpected failures are logged and answered 500 ``internal`` without a trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
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

from . import operations as ops
from . import production_api
from .auth import ANONYMOUS, OPEN, Identity, TokenSigner
from .errors import ServiceError
from .handlers import validation_details
from .hub import Hub
from .ratelimit import FixedWindow, RateLimit
from .wirejson import dumps

__all__ = ["add_routes", "middlewares"]

logger = logging.getLogger("mock_server")

M = TypeVar("M", bound=BaseModel)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AGENT_TOKEN_FAILURES = RateLimit(10, 60.0)
"""Wrong agent keys allowed per client IP and minute; then every attempt gets 429."""

MAX_IDEMPOTENCY_KEY = 255
MAX_SEQ = 2**63 - 1  # SQLite's INTEGER; a larger ``after`` simply matches nothing
SOCKETIO_PATH = "/socket.io/"

_STATUS_CODES = {
    400: ErrorCode.INVALID_PAYLOAD,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_PAYLOAD,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


def middlewares(hub: Hub) -> list[Any]:
    """Return the error-mapping and fault-injection middlewares."""
    production = hub.profile.user_login

    def _error(status: int, code: str, message: str, details: Any = None) -> web.Response:
        if production:  # production's Express error handler
            return _json_response(production_api.error_body(status, message), status)
        body = {"error": message, "code": code, "details": details}
        return _json_response(body, status)

    @web.middleware
    async def errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ServiceError as exc:
            if exc.body is not None:
                response = _json_response(exc.body, exc.status)
            else:
                response = _error(exc.status, exc.code, exc.message, exc.details)
            response.headers.update(exc.headers)
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _STATUS_CODES.get(exc.status, ErrorCode.INTERNAL)
            return _error(exc.status, code, exc.reason)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return _error(500, ErrorCode.INTERNAL, "internal error")

    @web.middleware
    async def faults(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path.startswith(SOCKETIO_PATH):
            if hub.faults.block_sockets:
                return _error(503, ErrorCode.INTERNAL, "socket endpoint blocked (injected fault)")
            return await handler(request)
        if hub.faults.fail_requests > 0:
            hub.faults.fail_requests -= 1
            response = _error(503, ErrorCode.INTERNAL, "service unavailable (injected fault)")
            response.headers["Retry-After"] = "0"
            return response
        if request.method == "POST" and hub.faults.drop_responses > 0:
            hub.faults.drop_responses -= 1
            await handler(request)
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable  # never written: the connection is gone
        return await handler(request)

    return [errors, faults]


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


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ServiceError(
            ErrorCode.INVALID_PAYLOAD,
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters",
            {"field": "Idempotency-Key"},
        )
    return key or None


def _json(model: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    body = model if isinstance(model, dict) else model.model_dump(mode="json", by_alias=True)
    return _json_response(body, status)


def _json_response(body: Any, status: int) -> web.Response:
    # what web.json_response makes (application/json; charset=utf-8), encoded by orjson
    return web.Response(text=dumps(body).decode(), status=status, content_type="application/json")


def add_routes(app: web.Application, hub: Hub, message_limit: RateLimit | None = None) -> None:
    """Add every endpoint of the profile to ``app`` (CONTRACT.md §6, or production's)."""
    if hub.profile.user_login:
        production_api.add_routes(app, hub, message_limit)
        return
    contract = {
        "name": "vilnius",
        "version": 1,
        "features": list(hub.profile.contract_features),
    }

    async def health(request: web.Request) -> web.Response:
        return _json(
            {
                "status": "ok",
                "contract": contract,
                "auth": hub.auth,
                "lastSeq": hub.store.messages.last_seq(),
            }
        )

    async def create_conversation(request: web.Request) -> web.Response:
        body = await _body(request, CreateConversationRequest)
        answer = await ops.create_conversation(hub, _identity(hub, request), body)
        return _json(answer, status=201)

    async def post_message(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        key = _idempotency_key(request)
        body = await _body(request, PostMessageRequest)
        return _json(await ops.post_message(hub, identity, body, key))

    async def conversation_messages(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        after = min(_int_query(request, "after", 0), MAX_SEQ)
        limit = _int_query(request, "limit", 100, 1000)
        conversation_id = request.match_info["id"]
        answer = await ops.conversation_messages(hub, identity, conversation_id, after, limit)
        return _json(answer)

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

    async def agent_respond(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        key = _idempotency_key(request)
        body = await _body(request, AgentRespondRequest)
        return _json(await ops.agent_respond(hub, identity, body, key))

    async def personal_status(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, PersonalStatusRequest)
        return _json(await ops.set_personal_status(hub, identity, body))

    async def get_mode(request: web.Request) -> web.Response:
        return _json(ops.get_mode(hub, _identity(hub, request)))

    async def set_mode(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, SystemModeRequest)
        return _json(await ops.set_mode(hub, identity, body))

    async def connected_agents(request: web.Request) -> web.Response:
        return _json(ops.connected_agents(hub, _identity(hub, request)))

    async def assign(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, AssignRequest)
        return _json(await ops.assign(hub, identity, request.match_info["id"], body))

    async def end(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, EndConversationRequest)
        return _json(await ops.end(hub, identity, request.match_info["id"], body))

    async def bulk_assign(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        body = await _body(request, BulkAssignRequest)
        return _json(await ops.bulk_assign(hub, identity, body))

    async def all_messages(request: web.Request) -> web.Response:
        identity = _identity(hub, request)
        after = min(_int_query(request, "after", 0), MAX_SEQ)
        limit = _int_query(request, "limit", 100, 1000)
        return _json(await ops.all_messages(hub, identity, after, limit))

    failures = FixedWindow(AGENT_TOKEN_FAILURES)

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

    app.router.add_get("/health", health)
    app.router.add_post("/api/conversations", create_conversation)
    app.router.add_post("/api/messages", post_message)
    app.router.add_get("/api/messages", all_messages)
    app.router.add_get("/api/conversations/{id}/messages", conversation_messages)
    app.router.add_get("/api/admin/conversations", list_conversations)
    app.router.add_post("/api/agent/respond", agent_respond)
    app.router.add_post("/api/agent/personal-status", personal_status)
    app.router.add_get("/api/system/mode", get_mode)
    app.router.add_post("/api/system/mode", set_mode)
    app.router.add_get("/api/agents/connected", connected_agents)
    app.router.add_post("/api/conversations/{id}/assign", assign)
    app.router.add_post("/api/conversations/{id}/end", end)
    app.router.add_post("/api/admin/conversations/bulk-assign", bulk_assign)
    app.router.add_post("/api/auth/agent-token", agent_token)
