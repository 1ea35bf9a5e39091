"""The one exception the server's logic raises, and how it maps to HTTP."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from vilnius_client.events import ErrorCode

__all__ = ["HTTP_STATUS", "ServiceError", "fail", "validation_details"]

HTTP_STATUS: dict[str, int] = {
    ErrorCode.INVALID_PAYLOAD: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.NOT_JOINED: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}
"""HTTP status of each error code on REST."""


class ServiceError(Exception):
    """A request or event was refused.

    Attributes:
        code: One of [ErrorCode][vilnius_client.events.ErrorCode].
        message: A human-readable message (never a stack trace).
        details: Extra JSON-ready information (e.g. the invalid fields).
        status: The HTTP status to answer with on REST.
        body: The exact REST body to answer (profile ``lizdeika``: production's own
            error shapes); ``None``: ``{error, code, details}``.
        headers: Extra REST headers (e.g. ``Retry-After``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: Any = None,
        *,
        status: int | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.details = details
        self.status = status or HTTP_STATUS.get(self.code, 400)
        self.body = body
        self.headers = headers or {}


def fail(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> ServiceError:
    """A refusal answered with ``status`` and exactly ``body`` (production's own shapes)."""
    code = {400: ErrorCode.INVALID_PAYLOAD, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN}
    return ServiceError(
        code.get(status, ErrorCode.INTERNAL if status >= 500 else ErrorCode.NOT_FOUND),
        str(body.get("error", "")),
        status=status,
        body=body,
        headers=headers,
    )


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Return which fields were wrong, without echoing the input back."""
    return [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
