"""What production's Express app does to every request (profile ``lizdeika``).

- ``X-Correlation-ID`` (production's ``correlationMiddleware``): every answer carries the
  request's ``X-Correlation-ID``, or a new ``req_<uuid>`` when it sent none, so that a
  client can find its request in production's logs.
- Express's 404 page: an unknown path, or a known path with a method it has no route
  for, is answered ``404 text/html`` ``Cannot <METHOD> <path>`` (Express routes never
  answer 405). Production's routers that authenticate every request under their prefix
  (``/api/categories``, ``/api/statistics``) refuse a request without a valid token
  first, even on a path they do not have.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..hub import Hub
from .middleware import SOCKETIO_PATH
from .production_auth import jwt_user

__all__ = ["CORRELATION_HEADER", "install", "not_found_page"]

CORRELATION_HEADER = "X-Correlation-ID"

AUTHENTICATED_PREFIXES = ("/api/categories/", "/api/statistics/")
"""Routers that check the token of every request under them (``router.use(authenticateToken)``)."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def not_found_page(request: web.Request) -> web.Response:
    """Express's ``finalhandler`` answer to a request no route took."""
    message = html.escape(f"Cannot {request.method} {request.raw_path.split('?')[0]}")
    body = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Error</title>\n</head>\n<body>\n<pre>{message}</pre>\n</body>\n</html>\n"
    )
    return web.Response(
        status=404,
        text=body,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def install(app: web.Application, hub: Hub) -> None:
    """Add the correlation header and the 404 page to ``app``."""

    async def not_found(request: web.Request) -> web.Response:
        if request.path.startswith(AUTHENTICATED_PREFIXES):
            jwt_user(hub, request)
        return not_found_page(request)

    @web.middleware
    def express_404(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        # Not a coroutine function (as ``middleware.front``): a routed request, Socket.IO's
        # above all, is handed on without a frame of its own, which a WebSocket would keep
        # for as long as it is open.
        unmatched = request.match_info.http_exception
        if (
            unmatched is not None
            and unmatched.status in (404, 405)
            and not request.path.startswith(SOCKETIO_PATH)
        ):
            return not_found(request)
        return handler(request)

    async def correlate(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(SOCKETIO_PATH):
            return
        sent = request.headers.get(CORRELATION_HEADER)
        response.headers[CORRELATION_HEADER] = sent or f"req_{uuid.uuid4()}"

    app.middlewares.append(express_404)
    app.on_response_prepare.append(correlate)
