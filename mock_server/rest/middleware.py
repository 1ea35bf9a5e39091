"""What every HTTP request passes through: error answers and the fault hooks.

A ``ServiceError`` is answered with its status and the profile's error body (or the
exact body it carries); aiohttp's own refusals (unknown route 404, too large body 413)
get the same shape. Unexpected failures are logged and answered 500 ``internal``
without a trace.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from vilnius_client.events import ErrorCode

from ..errors import ServiceError
from ..hub import Hub
from ..wirejson import json_response

__all__ = ["SOCKETIO_PATH", "middlewares"]

logger = logging.getLogger("mock_server")

SOCKETIO_PATH = "/socket.io/"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
    """Return the middleware that maps errors and injects faults (REST requests only).

    Socket.IO requests pass through it untouched, but for the ``block_sockets`` fault.
    """
    encoder = hub.profile.encoder

    def _error(status: int, code: str, message: str, details: Any = None) -> web.Response:
        return json_response(encoder.error(code, message, details), status)

    async def errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ServiceError as exc:
            if exc.body is not None:
                response = json_response(exc.body, exc.status)
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

    async def faults(request: web.Request, handler: _Handler) -> web.StreamResponse:
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

    async def blocked() -> web.StreamResponse:
        return _error(503, ErrorCode.INTERNAL, "socket endpoint blocked (injected fault)")

    @web.middleware
    def front(request: web.Request, handler: _Handler) -> Awaitable[web.StreamResponse]:
        # Not a coroutine function: a Socket.IO request is handed on without a frame of
        # its own, which a WebSocket would keep for as long as it is open.
        if request.path.startswith(SOCKETIO_PATH):
            return blocked() if hub.faults.block_sockets else handler(request)
        return errors(request, functools.partial(faults, handler=handler))

    return [front]
