"""Production's login and token refresh (profile ``lizdeika``): JWTs for agent users.

``POST /api/auth/login`` checks an e-mail and password (and a TOTP code when the user has
a secret) and answers an access token and a refresh token; ``POST /api/auth/refresh``
trades a refresh token for a new pair (the old one is revoked). ``jwt_user`` is the
check of production's JWT-only endpoints. The rate limits are production's.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import jstext
from ..errors import ServiceError
from ..hub import Hub
from ..ratelimit import FixedWindow, RateLimit
from ..users import TokenError, User, verify_password
from ..wirejson import json_response
from .express import client_ip, fail, limited, read_body

__all__ = [
    "LOGIN_FAILURES",
    "LOGIN_LIMIT",
    "REFRESH_LIMIT",
    "add_routes",
    "bearer_token",
    "jwt_user",
    "login_email",
    "optional_jwt_user",
]

_PART = f"[^@{jstext.SPACES}]+"
_EMAIL = jstext.regex(rf"{_PART}@{_PART}\.{_PART}")
"""An address as production's validator takes it: as sent, no white space anywhere."""


def login_email(value: object) -> str | None:
    """The e-mail a login names, as production looks its user up (lowercase, trimmed).

    The failure counter is keyed the same way: production keys its own on the e-mail as
    sent, so that each case variant (``ADA@example.com``) got a fresh budget of failures.
    """
    return jstext.trim(value).lower() if isinstance(value, str) and value else None


LOGIN_LIMIT = RateLimit(100, 5 * 60.0)
"""Every login request, per IP (production's ``strictRateLimit``)."""
LOGIN_FAILURES = RateLimit(5, 15 * 60.0)
"""Failed logins per IP and e-mail (production's ``authRateLimit``; ``login_email``)."""
REFRESH_LIMIT = RateLimit(10, 15 * 60.0)
"""Refresh requests per IP (production's ``moderateRateLimit``)."""


def bearer_token(request: web.Request) -> str | None:
    """``extractTokenFromHeader``: the token of ``Authorization: Bearer <token>``, or ``None``."""
    parts = request.headers.get("Authorization", "").split(" ")
    if len(parts) != 2 or parts[0] != "Bearer" or not parts[1]:
        return None
    return parts[1]


def jwt_user(
    hub: Hub, request: web.Request, roles: tuple[str, ...] | None = ("agent", "admin")
) -> User:
    """``authenticateToken`` + ``requireAgentOrAdmin``: the user of a valid access token.

    ``roles``: those allowed (``None``: any user, ``authenticateToken`` alone).
    """
    token = bearer_token(request)
    if token is None:
        raise fail(
            401, {"success": False, "error": "Access token required", "code": "TOKEN_MISSING"}
        )
    assert hub.jwt is not None
    try:
        claims = hub.jwt.verify_access(token)
    except TokenError as exc:
        raise fail(401, {"success": False, "error": str(exc), "code": "TOKEN_INVALID"}) from exc
    user = hub.store.users.get(str(claims.get("sub")))
    if user is None:
        raise fail(401, {"success": False, "error": "User not found", "code": "USER_NOT_FOUND"})
    if roles is not None and user.role not in roles:
        raise fail(
            403,
            {
                "success": False,
                "error": "Insufficient permissions",
                "code": "INSUFFICIENT_PERMISSIONS",
            },
        )
    return user


def optional_jwt_user(hub: Hub, request: web.Request) -> User | None:
    """``optionalAuth``: no bearer token is no user; a bad one is refused (401)."""
    return jwt_user(hub, request, roles=None) if bearer_token(request) is not None else None


def add_routes(routes: web.RouteTableDef, hub: Hub) -> None:
    """Add ``POST /api/auth/login`` and ``POST /api/auth/refresh`` to ``routes``."""
    logins = FixedWindow(LOGIN_LIMIT)
    login_failures = FixedWindow(LOGIN_FAILURES)
    refreshes = FixedWindow(REFRESH_LIMIT)

    @routes.post("/api/auth/login")
    async def login(request: web.Request) -> web.Response:
        ip = client_ip(request)
        headers = limited(
            logins,
            ip,
            {
                "success": False,
                "error": "Too many authentication attempts. Please try again later.",
                "code": "RATE_LIMITED",
            },
        )
        body = await read_body(request)
        key = f"{ip}:{login_email(body.get('email')) or 'anonymous'}"
        blocked = login_failures.blocked(key)
        if blocked is not None:
            minutes = -(-blocked.reset // 60)
            raise fail(
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
            raise fail(400, {"success": False, "error": "Validation failed", "details": details})
        email = login_email(body["email"])
        user = next((u for u in hub.store.users.all() if u.email == email), None)
        if user is None or not verify_password(str(body["password"]), user.password_hash):
            login_failures.count(key)
            raise fail(
                401,
                {"success": False, "error": "Invalid email or password", "code": "LOGIN_FAILED"},
                headers,
            )
        if user.totp_secret is not None:
            code = body.get("totpCode")
            if not code and not body.get("backupCode"):
                return json_response(
                    {
                        "success": True,
                        "requiresTotp": True,
                        "message": "Two-factor authentication required",
                        "data": {"email": user.email},
                    },
                    headers=headers,
                )
            if not isinstance(code, str) or not user.check_totp(code):
                raise fail(
                    400,
                    {"success": False, "error": "Invalid 2FA code", "code": "TOTP_INVALID"},
                    headers,
                )
        tokens = await _issue(hub, user)
        return json_response(
            {
                "success": True,
                "message": "Login successful",
                "data": {"user": user.public(), "tokens": tokens},
            },
            headers=headers,
        )

    @routes.post("/api/auth/refresh")
    async def refresh(request: web.Request) -> web.Response:
        headers = limited(
            refreshes,
            client_ip(request),
            {
                "success": False,
                "error": "Too many requests. Please try again later.",
                "code": "RATE_LIMITED",
            },
        )
        body = await read_body(request)
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise fail(
                400,
                {
                    "success": False,
                    "error": "Validation failed",
                    "details": [{"field": "refreshToken", "message": "Refresh token is required"}],
                },
            )

        def refused(message: str) -> ServiceError:
            body = {"success": False, "error": message, "code": "TOKEN_REFRESH_FAILED"}
            return fail(401, body, headers)

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
        data = _tokens(hub, user, new_refresh)
        return json_response(
            {"success": True, "message": "Token refreshed successfully", "data": data},
            headers=headers,
        )


def _login_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    """production's zod login schema, as ``[{field, message}]``."""
    problems = []
    email = body.get("email")
    if not isinstance(email, str):
        problems.append({"field": "email", "message": "Required"})
    elif not _EMAIL.fullmatch(email) or jstext.length(email) > 255:
        problems.append({"field": "email", "message": "Invalid email format"})
    password = body.get("password")
    if not isinstance(password, str):
        problems.append({"field": "password", "message": "Required"})
    elif not password:
        problems.append({"field": "password", "message": "Password is required"})
    totp = body.get("totpCode")
    if totp is not None and (not isinstance(totp, str) or jstext.length(totp) != 6):
        problems.append({"field": "totpCode", "message": "TOTP code must be 6 digits"})
    backup = body.get("backupCode")
    if backup is not None and (not isinstance(backup, str) or jstext.length(backup) != 8):
        problems.append({"field": "backupCode", "message": "Backup code must be 8 characters"})
    return problems


async def _issue(hub: Hub, user: User) -> dict[str, Any]:
    """A token pair for ``user``; the refresh token is remembered."""
    assert hub.jwt is not None
    refresh, jti, expires = hub.jwt.refresh_token(user.id)
    async with hub.transaction():
        hub.store.refresh_tokens.save(jti, user.id, expires)
    return _tokens(hub, user, refresh)


def _tokens(hub: Hub, user: User, refresh: str) -> dict[str, Any]:
    """The ``tokens`` of an answer: a new access token and the refresh token given."""
    assert hub.jwt is not None
    return {
        "accessToken": hub.jwt.access_token(user),
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": hub.jwt.access_ttl,
    }
