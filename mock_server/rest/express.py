"""How production's Express app reads requests and refuses them (profile ``lizdeika``).

Production has no common envelope: each endpoint validates and answers in its own way
(``{error, field}`` 400s on messages, ``{success: false, error, code}`` on auth, bare
``{error}`` elsewhere, 500 ``{error}`` where it fails inside). These helpers raise a
``ServiceError`` carrying the exact body to answer.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .. import jstext
from ..encoders import production_error
from ..errors import ServiceError, fail
from ..ratelimit import FixedWindow
from ..storable import PROBLEM, unstorable_body

__all__ = ["client_ip", "conversation_id", "fail", "invalid", "limited", "read_body"]

# Matched whole (fullmatch): Python's ``$`` would also match before a final newline.
_UUID = jstext.regex(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", ignore_case=True
)
_SESSION = jstext.regex(r"session-[a-z0-9]+", ignore_case=True)


def invalid(message: str, field: str) -> ServiceError:
    """``validation.js``: 400 ``{error, field}``."""
    return fail(400, {"error": message, "field": field})


def conversation_id(value: Any, field: str = "conversationId") -> str:
    """``validateConversationId``: a UUID or ``session-[a-z0-9]+``."""
    if not value:
        raise invalid(f"{field} is required", field)
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string", field)
    if not _UUID.fullmatch(value) and not _SESSION.fullmatch(value):
        raise invalid(f"{field} must be a valid UUID or session ID", field)
    return value


async def read_body(request: web.Request) -> Any:
    """The JSON body as Express's ``express.json()`` reads it (``{}`` when not JSON).

    A string that is not Unicode text (``mock_server.storable``) is refused: 400
    ``{error, field}``.
    """
    if request.content_type != "application/json":
        return {}
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise fail(413, production_error("request entity too large")) from exc
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise fail(400, production_error(f"Unexpected token in JSON: {exc}")) from exc
    if not isinstance(data, dict | list):  # express.json() is strict: objects and arrays
        raise fail(400, production_error("Unexpected token in JSON: not an object"))
    field = unstorable_body(raw, data)
    if field is not None:  # production's database refuses it later, with a 500
        raise invalid(f"{field or 'body'} {PROBLEM}", field)
    return data if isinstance(data, dict) else {}


def client_ip(request: web.Request) -> str:
    """The client's address, the key of per-IP rate limits: Express's ``req.ip``.

    Production sets ``trust proxy`` to ``true``, so its ``req.ip`` is the left-most
    address of ``X-Forwarded-For`` when there is one (whoever sends the header chooses
    it), else the peer's address.
    """
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    return forwarded or request.remote or "unknown"


def limited(limiter: FixedWindow, key: str, body: dict[str, Any]) -> dict[str, str]:
    """Count a request; raise production's 429 when over the limit, else return the headers."""
    hit = limiter.hit(key)
    headers = hit.headers(limiter.policy)
    if not hit.allowed:
        raise fail(429, body, headers)
    return headers
