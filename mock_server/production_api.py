"""Production's REST dialect (profile ``lizdeika``): its paths, validation and bodies.

Production has no common envelope: each endpoint validates and answers in its own way
(``{error, field}`` 400s on messages, ``{success: false, error, code}`` on auth, bare
``{error}`` elsewhere, 500 ``{error}`` where it fails inside). This module reads requests
and writes answers that way; the state changes and events are the shared operations of
:mod:`mock_server.operations` and the shared :class:`~mock_server.hub.Hub`, which consult
the profile for what differs. Only what production alone has lives here: email/password
login and refresh (JWT), the admin conversation list's shape, ``mark-seen``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from vilnius_client.events import (
    AgentRespondRequest,
    ConversationSeenUpdateEvent,
    ErrorCode,
    Event,
    PersonalStatus,
    PostMessageRequest,
    SystemMode,
    SystemModeRequest,
    format_timestamp,
    utcnow,
)

from . import operations as ops
from .auth import OPEN
from .errors import ServiceError
from .hub import Hub
from .ratelimit import FixedWindow, RateLimit
from .rooms import AGENTS_ROOM
from .users import TokenError, User, verify_password
from .wirejson import dumps

__all__ = ["add_routes", "error_body"]

_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)
_SESSION = re.compile(r"^session-[a-z0-9]+$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

LOGIN_LIMIT = RateLimit(100, 5 * 60.0)
"""Every login request, per IP (production's ``strictRateLimit``)."""
LOGIN_FAILURES = RateLimit(5, 15 * 60.0)
"""Failed logins per IP and e-mail (production's ``authRateLimit``)."""
REFRESH_LIMIT = RateLimit(10, 15 * 60.0)
"""Refresh requests per IP (production's ``moderateRateLimit``)."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=dumps(body).decode(), status=status, content_type="application/json", headers=headers
    )


def error_body(status: int, message: str) -> dict[str, Any]:
    """Production's generic error answer (its Express error handler)."""
    return {"success": False, "error": message}


def _fail(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> ServiceError:
    code = {400: ErrorCode.INVALID_PAYLOAD, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN}
    return ServiceError(
        code.get(status, ErrorCode.INTERNAL if status >= 500 else ErrorCode.NOT_FOUND),
        str(body.get("error", "")),
        status=status,
        body=body,
        headers=headers,
    )


def _invalid(message: str, field: str) -> ServiceError:
    """``validation.js``: 400 ``{error, field}``."""
    return _fail(400, {"error": message, "field": field})


async def _body(request: web.Request) -> Any:
    """The JSON body as Express's ``express.json()`` reads it (``{}`` when not JSON)."""
    if request.content_type != "application/json":
        return {}
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _fail(413, error_body(413, "request entity too large")) from exc
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _fail(400, error_body(400, f"Unexpected token in JSON: {exc}")) from exc
    if not isinstance(data, dict | list):  # express.json() is strict: objects and arrays
        raise _fail(400, error_body(400, "Unexpected token in JSON: not an object"))
    return data if isinstance(data, dict) else {}


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _limited(limiter: FixedWindow, key: str, body: dict[str, Any]) -> dict[str, str]:
    """Count a request; raise production's 429 when over the limit, else return the headers."""
    hit = limiter.hit(key)
    headers = hit.headers(limiter.policy)
    if not hit.allowed:
        raise _fail(429, body, headers)
    return headers


class _Limits:
    """The rate limiters of one server."""

    def __init__(self, messages: RateLimit | None) -> None:
        self.messages = FixedWindow(messages) if messages is not None else None
        self.login = FixedWindow(LOGIN_LIMIT)
        self.login_failures = FixedWindow(LOGIN_FAILURES)
        self.refresh = FixedWindow(REFRESH_LIMIT)


def _jwt_user(hub: Hub, request: web.Request) -> User:
    """``authenticateToken`` + ``requireAgentOrAdmin``: the user of a valid access token."""
    header = request.headers.get("Authorization", "")
    parts = header.split(" ")
    if len(parts) != 2 or parts[0] != "Bearer" or not parts[1]:
        raise _fail(
            401, {"success": False, "error": "Access token required", "code": "TOKEN_MISSING"}
        )
    assert hub.jwt is not None
    try:
        claims = hub.jwt.verify_access(parts[1])
    except TokenError as exc:
        raise _fail(401, {"success": False, "error": str(exc), "code": "TOKEN_INVALID"}) from exc
    user = hub.store.users.get(str(claims.get("sub")))
    if user is None:
        raise _fail(401, {"success": False, "error": "User not found", "code": "USER_NOT_FOUND"})
    if user.role not in ("agent", "admin"):
        raise _fail(
            403,
            {
                "success": False,
                "error": "Insufficient permissions",
                "code": "INSUFFICIENT_PERMISSIONS",
            },
        )
    return user


def _message_text(value: Any, limit: int) -> str:
    """``validateMessage``: a string of 1..limit characters, not blank; trimmed."""
    if not isinstance(value, str):
        raise _invalid("message must be a string", "message")
    if len(value) > limit:
        raise _invalid(f"message must be no more than {limit} characters", "message")
    if not value.strip():
        raise _invalid("Message cannot be empty or only whitespace", "message")
    return value


def _conversation_id(value: Any, field: str = "conversationId") -> str:
    """``validateConversationId``: a UUID or ``session-[a-z0-9]+``."""
    if not value:
        raise _invalid(f"{field} is required", field)
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string", field)
    if not _UUID.match(value) and not _SESSION.match(value):
        raise _invalid(f"{field} must be a valid UUID or session ID", field)
    return value


def add_routes(app: web.Application, hub: Hub, message_limit: RateLimit | None) -> None:
    """Add production's endpoints to ``app``."""
    limits = _Limits(message_limit)
    started = time.monotonic()
    profile = hub.profile

    async def health(request: web.Request) -> web.Response:
        conversations = hub.store.conversations.all()
        return _json(
            {
                "status": "ok",
                "timestamp": format_timestamp(utcnow()),
                "uptime": time.monotonic() - started,
                "memory": {},
                "environment": "development",
                "port": hub_port(request),
                # production reports these as un-awaited promises: {} each
                "connections": {"conversations": {}, "messages": {}, "agents": {}},
                "aiProvider": {"provider": "mock", "healthy": True},
                "conversationCount": len(conversations),
            }
        )

    async def create_conversation(request: web.Request) -> web.Response:
        body = await _body(request)
        metadata = body.get("metadata")
        if "metadata" in body and metadata is not None and not isinstance(metadata, dict | list):
            raise _invalid("metadata must be an object", "metadata")
        visitor_id = body.get("visitorId") or None
        answer = await ops.create_conversation_production(
            hub, visitor_id if isinstance(visitor_id, str) else None, metadata or {}
        )
        return _json(answer)

    async def post_message(request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        if limits.messages is not None:
            headers = _limited(
                limits.messages,
                _client(request),
                {
                    "success": False,
                    "error": "Too many messages. Please wait before sending more.",
                    "code": "RATE_LIMIT_EXCEEDED",
                },
            )
        body = await _body(request)
        for field in ("conversationId", "message"):
            if not body.get(field):
                raise _invalid(f"Missing required field: {field}", field)
        conversation_id = _conversation_id(body["conversationId"])
        text = _message_text(body["message"], profile.max_message)
        visitor_id = body.get("visitorId")
        message_type = body.get("messageType")
        parsed = PostMessageRequest.model_construct(
            conversation_id=conversation_id,
            message=text,
            visitor_id=visitor_id if isinstance(visitor_id, str) and visitor_id else None,
            message_type=message_type if isinstance(message_type, str) else None,
        )
        answer = await ops.post_message(hub, OPEN, parsed, None)
        return _json(answer, headers=headers)

    async def conversation_messages(request: web.Request) -> web.Response:
        conversation_id = request.match_info["id"]
        history = await hub.store.messages.history(conversation_id)
        encoder = profile.encoder
        assert hasattr(encoder, "history_message")
        return _json(
            {
                "conversationId": conversation_id,
                "messages": [encoder.history_message(m) for m in history],
            }
        )

    async def list_conversations(request: web.Request) -> web.Response:
        return _json(await ops.admin_conversations_production(hub))

    async def agent_respond(request: web.Request) -> web.Response:
        body = await _body(request)
        conversation_id = body.get("conversationId")
        conversation = (
            hub.store.conversations.get(conversation_id)
            if isinstance(conversation_id, str)
            else None
        )
        if conversation is None:
            raise _fail(404, {"error": "Conversation not found"})
        message = body.get("message")
        if isinstance(message, dict) and isinstance(message.get("response"), str):
            message = message["response"]
        elif isinstance(message, dict):
            message = json.dumps(message, separators=(",", ":"))
        agent_id = body.get("agentId")
        if not isinstance(message, str) or not isinstance(agent_id, str):
            # production stores and emits, then fails on the text: 500 (nothing stored here)
            raise _fail(500, {"error": "Failed to send response"})
        action = body.get("suggestionAction")
        parsed = AgentRespondRequest.model_construct(
            conversation_id=conversation.id,
            message=message,
            agent_id=agent_id,
            used_suggestion=body.get("usedSuggestion"),
            suggestion_action=action if isinstance(action, str) else None,
            message_type=body.get("messageType")
            if isinstance(body.get("messageType"), str)
            else None,
        )
        return _json(await ops.agent_respond(hub, OPEN, parsed, None))

    async def personal_status(request: web.Request) -> web.Response:
        body = await _body(request)
        agent_id, status = body.get("agentId"), body.get("personalStatus")
        if not agent_id or not status:
            raise _fail(400, {"error": "Agent ID and personal status are required"})
        if status not in profile.personal_statuses:
            raise _fail(400, {"error": "Personal status must be online or offline"})
        if not isinstance(agent_id, str):
            raise _fail(500, {"error": "Failed to update personal status"})
        return _json(await ops.personal_status_production(hub, agent_id, PersonalStatus(status)))

    async def get_mode(request: web.Request) -> web.Response:
        return _json({"mode": hub.store.settings.system_mode().value})

    async def set_mode(request: web.Request) -> web.Response:
        body = await _body(request)
        mode = body.get("mode")
        if not mode:
            raise _fail(400, {"error": "Mode is required"})
        if mode not in {m.value for m in SystemMode}:
            message = f"Invalid system mode: {mode}. Must be 'hitl', 'autopilot', or 'off'"
            raise _fail(400, error_body(400, message))
        answer = await ops.set_mode(hub, OPEN, SystemModeRequest(mode=mode))
        return _json({"success": True, "mode": answer.mode.value})

    async def connected_agents(request: web.Request) -> web.Response:
        agents = [profile.encoder.agent(agent) for agent in hub.agent_list()]
        return _json({"agents": agents, "systemMode": hub.store.settings.system_mode().value})

    async def assign(request: web.Request) -> web.Response:
        _jwt_user(hub, request)
        conversation_id = _conversation_id(request.match_info["id"])
        body = await _body(request)
        agent_id = body.get("agentId")
        if not agent_id:
            raise _invalid("Missing required field: agentId", "agentId")
        if not isinstance(agent_id, str):
            raise _invalid("agentId must be a string", "agentId")
        return _json(await ops.assign_production(hub, conversation_id, agent_id))

    async def end(request: web.Request) -> web.Response:
        _jwt_user(hub, request)
        body = await _body(request)
        conversation = hub.store.conversations.get(request.match_info["id"])
        if conversation is None or conversation.assigned_agent != body.get("agentId"):
            raise _fail(403, {"error": "Not authorized"})
        return _json({"success": True})  # production records nothing else

    async def bulk_assign(request: web.Request) -> web.Response:
        _jwt_user(hub, request)
        body = await _body(request)
        ids, agent_id = body.get("conversationIds"), body.get("agentId")
        if not isinstance(ids, list) or not ids:
            raise _fail(400, {"error": "conversationIds must be a non-empty array"})
        if not agent_id:
            raise _fail(400, {"error": "agentId is required"})
        count = await ops.bulk_assign_production(hub, ids, agent_id)
        return _json(
            {
                "success": True,
                "message": f"Assigned {count} conversations to agent",
                "data": {"assignedCount": count},
            }
        )

    async def mark_seen(request: web.Request) -> web.Response:
        user = _jwt_user(hub, request)
        del user
        body = await _body(request)
        conversation_id = request.match_info["id"]
        async with hub.transaction():
            if hub.store.conversations.get(conversation_id) is None:
                raise _fail(500, {"error": "Failed to mark messages as seen"})
            agent_id = body.get("agentId")
            event = ConversationSeenUpdateEvent(
                conversation_id=conversation_id,
                agent_id=agent_id if isinstance(agent_id, str) else None,
                seen_at=utcnow(),
            )
            hub.queue(Event.CONVERSATION_SEEN_UPDATE, event, AGENTS_ROOM)
        return _json({"success": True, "message": "Messages marked as seen"})

    async def login(request: web.Request) -> web.Response:
        ip = _client(request)
        headers = _limited(
            limits.login,
            ip,
            {
                "success": False,
                "error": "Too many authentication attempts. Please try again later.",
                "code": "RATE_LIMITED",
            },
        )
        body = await _body(request)
        email = body.get("email")
        key = f"{ip}:{email if isinstance(email, str) and email else 'anonymous'}"
        blocked = limits.login_failures.blocked(key)
        if blocked is not None:
            minutes = -(-blocked.reset // 60)
            raise _fail(
                429,
                {
                    "success": False,
                    "error": f"Too many authentication attempts. Try again in {minutes} minutes.",
                    "code": "RATE_LIMITED",
                    "retryAfter": minutes * 60,
                },
            )
        details = _login_problems(body)
        if details:
            raise _fail(400, {"success": False, "error": "Validation failed", "details": details})
        email = str(body["email"]).strip().lower()
        user = next((u for u in hub.store.users.all() if u.email == email), None)
        if user is None or not verify_password(str(body["password"]), user.password_hash):
            limits.login_failures.count(key)
            raise _fail(
                401,
                {"success": False, "error": "Invalid email or password", "code": "LOGIN_FAILED"},
                headers,
            )
        if user.totp_secret is not None:
            code = body.get("totpCode")
            if not code and not body.get("backupCode"):
                return _json(
                    {
                        "success": True,
                        "requiresTotp": True,
                        "message": "Two-factor authentication required",
                        "data": {"email": user.email},
                    },
                    headers=headers,
                )
            if not isinstance(code, str) or not user.check_totp(code):
                raise _fail(
                    400,
                    {"success": False, "error": "Invalid 2FA code", "code": "TOTP_INVALID"},
                    headers,
                )
        tokens = await _issue(hub, user)
        return _json(
            {
                "success": True,
                "message": "Login successful",
                "data": {"user": user.public(), "tokens": tokens},
            },
            headers=headers,
        )

    async def refresh(request: web.Request) -> web.Response:
        headers = _limited(
            limits.refresh,
            _client(request),
            {
                "success": False,
                "error": "Too many requests. Please try again later.",
                "code": "RATE_LIMITED",
            },
        )
        body = await _body(request)
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise _fail(
                400,
                {
                    "success": False,
                    "error": "Validation failed",
                    "details": [{"field": "refreshToken", "message": "Refresh token is required"}],
                },
            )

        def refused(message: str) -> ServiceError:
            body = {"success": False, "error": message, "code": "TOKEN_REFRESH_FAILED"}
            return _fail(401, body, headers)

        assert hub.jwt is not None
        try:
            claims = hub.jwt.verify_refresh(token)
        except TokenError as exc:
            raise refused("Invalid refresh token") from exc
        jti = str(claims.get("jti"))
        async with hub.transaction():
            stored = hub.store.refresh_tokens.get(jti)
            if stored is None:
                raise refused("Refresh token not found or revoked")
            user = hub.store.users.get(stored[0])
            if user is None:
                raise refused("Refresh token not found or revoked")
            # Production rotates 30 % of refresh tokens at random; rotating every time
            # makes a client that keeps using the old one fail at once, not sometimes.
            hub.store.refresh_tokens.revoke(jti)
            new_refresh, new_jti, expires = hub.jwt.refresh_token(user.id)
            hub.store.refresh_tokens.save(new_jti, user.id, expires)
        data = {
            "accessToken": hub.jwt.access_token(user),
            "refreshToken": new_refresh,
            "tokenType": "Bearer",
            "expiresIn": hub.jwt.access_ttl,
        }
        return _json(
            {"success": True, "message": "Token refreshed successfully", "data": data},
            headers=headers,
        )

    app.router.add_get("/health", health)
    app.router.add_post("/api/conversations", create_conversation)
    app.router.add_post("/api/messages", post_message)
    app.router.add_get("/api/conversations/{id}/messages", conversation_messages)
    app.router.add_get("/api/admin/conversations", list_conversations)
    app.router.add_post("/api/agent/respond", agent_respond)
    app.router.add_post("/api/agent/personal-status", personal_status)
    app.router.add_get("/api/system/mode", get_mode)
    app.router.add_post("/api/system/mode", set_mode)
    app.router.add_get("/api/agents/connected", connected_agents)
    app.router.add_post("/api/conversations/{id}/assign", assign)
    app.router.add_post("/api/conversations/{id}/end", end)
    app.router.add_post("/api/conversations/{id}/mark-seen", mark_seen)
    app.router.add_post("/api/admin/conversations/bulk-assign", bulk_assign)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/refresh", refresh)


def hub_port(request: web.Request) -> int:
    """The port the request came in on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


def _login_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    """production's zod login schema, as ``[{field, message}]``."""
    problems = []
    email = body.get("email")
    if not isinstance(email, str):
        problems.append({"field": "email", "message": "Required"})
    elif not _EMAIL.match(email.strip()) or len(email) > 255:
        problems.append({"field": "email", "message": "Invalid email format"})
    password = body.get("password")
    if not isinstance(password, str):
        problems.append({"field": "password", "message": "Required"})
    elif not password:
        problems.append({"field": "password", "message": "Password is required"})
    totp = body.get("totpCode")
    if totp is not None and (not isinstance(totp, str) or len(totp) != 6):
        problems.append({"field": "totpCode", "message": "TOTP code must be 6 digits"})
    backup = body.get("backupCode")
    if backup is not None and (not isinstance(backup, str) or len(backup) != 8):
        problems.append({"field": "backupCode", "message": "Backup code must be 8 characters"})
    return problems


async def _issue(hub: Hub, user: User) -> dict[str, Any]:
    """A token pair for ``user``; the refresh token is remembered."""
    assert hub.jwt is not None
    refresh, jti, expires = hub.jwt.refresh_token(user.id)
    async with hub.transaction():
        hub.store.refresh_tokens.save(jti, user.id, expires)
    return {
        "accessToken": hub.jwt.access_token(user),
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": hub.jwt.access_ttl,
    }
