"""What production's own web clients call besides the chat API (profile ``lizdeika``).

Production's pages (``login.html``, ``setup-2fa.html``, ``agent-dashboard.html`` and its
modules, ``widget.js``) check their token, read the user's role, set up two-factor
authentication, read the widget's privacy text and report their errors. These endpoints
answer them as production's backend does (``authRoutes.js``, ``authController.js``,
``userRoutes.js``/``userController.js``, ``systemRoutes.js``, ``logsRoutes.js`` at
0dec8e5), guards, status codes and bodies included:

- ``GET /api/auth/verify``, ``GET /api/auth/profile``, ``GET /api/auth/status``: any
  user's access token (``status`` also answers without one), 100 requests per 15 minutes
  and client IP, refused with express-rate-limit's plain-text 429.
- ``POST /api/users/{id}/totp/initiate`` and ``.../verify``: a new TOTP secret (with its
  QR code and backup codes) kept aside until a code from it is verified, which turns 2FA
  on for the user's next logins.
- ``GET /api/config/branding``: the privacy checkbox text of a freshly seeded production.
- ``POST /api/logs/frontend``: the page's report, written to the ``mock_server.frontend``
  log instead of production's database.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pyotp
import segno
from aiohttp import web

from vilnius_client.events import PersonalStatus, format_timestamp, parse_timestamp

from ..errors import ServiceError
from ..hub import Hub
from ..ratelimit import FixedWindow, RateLimit
from ..users import User
from ..wirejson import json_response
from .express import client_ip, fail, read_body
from .production_auth import jwt_user, optional_jwt_user

__all__ = ["GENERAL_LIMIT", "PRIVACY_TEXT", "add_routes", "frontend_logger"]

GENERAL_LIMIT = RateLimit(100, 15 * 60.0)
"""``verify``, ``profile`` and ``status`` per client IP (production's ``generalRateLimit``)."""

PRIVACY_TEXT = "I agree to the Privacy Policy and Terms of Service."
"""The widget's privacy checkbox text, as production's seed stores it."""

frontend_logger = logging.getLogger("mock_server.frontend")
"""What the pages report to ``POST /api/logs/frontend``."""

_TOO_MANY = "Too many requests, please try again later."
_BACKUP_CODES = 10
_PENDING = "totp_pending:"
"""Settings key prefix of a secret initiated and not yet verified, per user id."""
_NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}


_Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(routes: web.RouteTableDef, hub: Hub) -> None:
    """Add the web clients' endpoints to ``routes``."""
    general = FixedWindow(GENERAL_LIMIT)
    seeded = format_timestamp(datetime.now(UTC))

    def rate_limited(handler: _Handler) -> _Handler:
        """Count the request against ``GENERAL_LIMIT`` first, as production's route does."""

        async def limited(request: web.Request) -> web.Response:
            hit = general.hit(client_ip(request))
            headers = hit.headers(GENERAL_LIMIT)
            if not hit.allowed:  # express-rate-limit's default answer: text, not JSON
                return web.Response(
                    status=429, text=_TOO_MANY, content_type="text/html", headers=headers
                )
            response = await handler(request)
            response.headers.update(headers)
            return response

        return limited

    @routes.get("/api/auth/verify")
    @rate_limited
    async def verify(request: web.Request) -> web.Response:
        user = jwt_user(hub, request, roles=None)
        data = {"user": _identity(user)}
        return json_response({"success": True, "message": "Token is valid", "data": data})

    @routes.get("/api/auth/profile")
    @rate_limited
    async def profile(request: web.Request) -> web.Response:
        user = jwt_user(hub, request, roles=None)
        return json_response({"success": True, "data": _profile(hub, user)})

    @routes.get("/api/auth/status")
    @rate_limited
    async def status(request: web.Request) -> web.Response:
        user = optional_jwt_user(hub, request)
        data = {
            "isAuthenticated": user is not None,
            "user": None if user is None else _identity(user),
        }
        return json_response({"success": True, "data": data})

    @routes.post("/api/users/{id}/totp/initiate")
    async def totp_initiate(request: web.Request) -> web.Response:
        _totp_caller(hub, request)
        target = _totp_user(hub, request)
        if target.totp_secret is not None:
            message = "2FA is already enabled for this user. Disable it first to re-initialize."
            raise fail(400, {"success": False, "error": message})
        secret = pyotp.random_base32()
        uri = pyotp.TOTP(secret).provisioning_uri(name=target.email, issuer_name="Lizdeika")
        async with hub.transaction():
            hub.store.settings.set(_PENDING + target.id, secret)
        data = {
            "qrCode": segno.make(uri, error="m").png_data_uri(scale=4, border=4),
            "otpauthUri": uri,
            "manualEntryKey": secret,
            "backupCodes": [secrets.token_hex(4).upper() for _ in range(_BACKUP_CODES)],
        }
        body = {"success": True, "message": "2FA setup initiated", "data": data}
        return json_response(body, headers=_NO_CACHE)

    @routes.post("/api/users/{id}/totp/verify")
    async def totp_verify(request: web.Request) -> web.Response:
        _totp_caller(hub, request)
        body = await read_body(request)
        code = body.get("code")
        if not code:
            raise fail(400, {"success": False, "error": "6-digit code is required"})
        target = _totp_user(hub, request)
        async with hub.transaction():
            pending = hub.store.settings.get(_PENDING + target.id) or None
            if target.totp_secret is not None:
                raise fail(400, {"success": False, "error": "2FA is already enabled"})
            if pending is None:
                message = "2FA not initiated. Please initiate setup first."
                raise fail(400, {"success": False, "error": message})
            if not isinstance(code, str) or not pyotp.TOTP(pending).verify(code, valid_window=1):
                raise fail(400, {"success": False, "error": "Invalid code. Please try again."})
            hub.store.users.save(dataclasses.replace(target, totp_secret=pending))
            hub.store.settings.set(_PENDING + target.id, "")
        return json_response({"success": True, "message": "2FA enabled successfully"})

    @routes.get("/api/config/branding")
    async def branding(request: web.Request) -> web.Response:
        setting = {
            "value": PRIVACY_TEXT,
            "type": "string",
            "description": "Text shown in the privacy policy checkbox (supports Markdown)",
            "isPublic": True,
            "updatedAt": seeded,
        }
        return json_response({"success": True, "data": {"privacy_checkbox_text": setting}})

    @routes.post("/api/logs/frontend")
    async def frontend_log(request: web.Request) -> web.Response:
        body = await read_body(request)
        level = body.get("level", "error")
        message = body.get("message")
        stack = body.get("stack")
        if not message:
            raise fail(400, {"success": False, "error": "Message is required"})
        if (
            not isinstance(level, str)
            or not isinstance(message, str)
            or not isinstance(stack or "", str)
        ):  # production calls toLowerCase() / substring() on them: a TypeError, its 500
            raise fail(500, {"success": False, "error": "Failed to store frontend log"})
        frontend_logger.info(
            "%s from %s [%s] %s",
            level.lower(),
            client_ip(request),
            body.get("module", "frontend"),
            message[:1000],
        )
        return json_response({"success": True})


def _identity(user: User) -> dict[str, Any]:
    """What ``verify`` and ``status`` say of a user.

    Production also names ``emailVerified`` (and ``status`` ``firstName``, ``lastName`` and
    ``agentStatus``), read from fields its user row does not have: they are undefined, so
    its JSON leaves them out.
    """
    return {"id": user.id, "email": user.email, "role": user.role}


def _profile(hub: Hub, user: User) -> dict[str, Any]:
    """``getUserProfile``: the user row, with its agent status once it has one."""
    public = user.public()
    agent = hub.store.agents.get(user.id)
    status = None
    if agent is not None:
        online = agent.personal_status == PersonalStatus.ONLINE
        seen = agent.last_seen
        status = {
            "status": "online" if online else "offline",
            "updated_at": None if seen is None else format_timestamp(seen),
        }
    fields = ("id", "email", "first_name", "last_name", "role", "email_verified", "is_active")
    return {
        **{key: public[key] for key in fields},
        "last_login": None,  # the profile does not record logins
        "created_at": format_timestamp(parse_timestamp(user.created_at)),
        "agent_status": status,
    }


_SETUP_REFUSALS = {
    "TOKEN_MISSING": "Setup token required",
    "TOKEN_INVALID": "Invalid or expired token",
}
"""``authenticate2FASetupToken``'s own words for ``authenticateToken``'s refusals."""


def _totp_caller(hub: Hub, request: web.Request) -> User:
    """``authenticate2FASetupToken``: the caller, if it may manage the 2FA of ``{id}``.

    Production also takes the short-lived setup token its login hands out when its
    organisation requires 2FA; the profile has no such policy, so only access tokens.
    """
    try:
        caller = jwt_user(hub, request, roles=None)
    except ServiceError as exc:
        code = (exc.body or {}).get("code")
        if code not in _SETUP_REFUSALS:
            raise
        body = {"success": False, "error": _SETUP_REFUSALS[code], "code": code}
        raise fail(401, body) from exc
    if request.match_info["id"] != caller.id and caller.role != "admin":
        raise fail(403, {"success": False, "error": "Forbidden", "code": "FORBIDDEN"})
    return caller


def _totp_user(hub: Hub, request: web.Request) -> User:
    """The user whose 2FA the request sets up (404 when there is none)."""
    user = hub.store.users.get(request.match_info["id"])
    if user is None:
        raise fail(404, {"success": False, "error": "User not found"})
    return user
