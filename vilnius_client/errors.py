"""Exceptions raised by vilnius_client.

Every exception the SDK raises derives from [`VilniusError`][vilnius_client.VilniusError]:

```text
VilniusError
├── StateError                 the client is not in a state that allows the call
├── FleetError                 a fleet's Redis could not be reached (temporary)
├── TransportError             the link to the server failed (temporary)
│   ├── NotConnectedError      a send while the socket is down
│   ├── ConnectionLostError    the socket dropped while a reply was awaited
│   ├── ReplyTimeoutError      no acknowledgement / answer in time
│   └── FrameTooLargeError     a WebSocket frame exceeded a size limit (link closed)
├── ProtocolError              the server sent something the contract does not allow
│   ├── SeqJumpError *         a message whose seq the server's history does not confirm
│   └── InvalidEventError *    an event whose payload does not fit its model
├── DroppedEventError          an event was received but not handed to the handlers
│   ├── QueueOverflowError     its conversation's handler queue was full
│   ├── SeqJumpError *         (both a ProtocolError and a DroppedEventError)
│   └── InvalidEventError *    (both, too)
└── ServerError                the server answered with an error code
    ├── InvalidPayloadError    invalid_payload / payload_too_large (400, 413, 422)
    ├── AuthError              unauthorized (401)
    ├── ForbiddenError         forbidden (403)
    ├── NotFoundError          not_found (404)
    ├── NotJoinedError         not_joined
    ├── ConflictError          conflict (409)
    ├── RateLimitedError       rate_limited (429; has retry_after)
    └── InternalServerError    internal, or any other 5xx
```

Which class an answer becomes is decided by its error code, then by its HTTP
status ([`error_from_code`][vilnius_client.errors.error_from_code]); never by the words
of its message.

## Temporary, and may have acted

Two attributes of every error say what a retry can do. Both follow from the
HTTP status and the error code only, by one rule:

* `exc.temporary`: repeating the same call later may succeed. True for a
  `TransportError` (the link failed: refused, dropped, timed out) but one no retry mends
  (a TLS failure, an invalid URL, a peer that does not speak HTTP); for a
  server's answer with HTTP status 408, 429, 500, 502, 503 or 504; and for an
  answer without a status (a socket acknowledgement or `error-event`) with the
  code `rate_limited` or `internal`. False for everything else: a 4xx other
  than 408 and 429 is the request's fault, a 501 or 505 will not change.
* `exc.may_have_acted` (REST calls): whether the server may have carried the
  request out although it failed. False when it surely did not: the connection
  could not be opened, or an error status below 500 came back (the server
  refused; 408 and 429 included). True when it may have: a 5xx, no answer in
  time, a dropped connection, an answer that broke the contract. `None` for
  what is not a REST call.

The REST client retries what is temporary when the call is safe to repeat
(reads, logins, sends under one `Idempotency-Key`), and otherwise only what is
temporary *and* surely did not act. A send the server cannot de-duplicate is
therefore never retried after a failure that may have acted: check the
conversation before sending it again.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TEMPORARY_CODES",
    "TEMPORARY_STATUSES",
    "AuthError",
    "ConflictError",
    "ConnectionLostError",
    "DroppedEventError",
    "FleetError",
    "ForbiddenError",
    "FrameTooLargeError",
    "InternalServerError",
    "InvalidEventError",
    "InvalidPayloadError",
    "NotConnectedError",
    "NotFoundError",
    "NotJoinedError",
    "ProtocolError",
    "QueueOverflowError",
    "RateLimitedError",
    "ReplyTimeoutError",
    "SeqJumpError",
    "ServerError",
    "StateError",
    "TransportError",
    "VilniusError",
    "error_from_code",
]


TEMPORARY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses after which the same request may succeed later."""

TEMPORARY_CODES = frozenset({"rate_limited", "internal"})
"""Error codes of answers without an HTTP status (socket acks, ``error-event``) that may pass."""


class VilniusError(Exception):
    """Base of every exception raised by the SDK.

    Attributes:
        may_have_acted: For a failed REST call: whether the server may have
            carried it out (`True`), surely did not (`False`), or unknown
            (`None`, also for everything that is not a REST call).
        correlation_id: For a REST call: the ``X-Correlation-ID`` the server
            answered with (production logs the request under it), else the one
            sent; `None` for everything that is not a REST call.
    """

    may_have_acted: bool | None = None
    correlation_id: str | None = None

    @property
    def temporary(self) -> bool:
        """Whether repeating the call later may succeed (see the module's rule)."""
        return False


class StateError(VilniusError):
    """The client is closed, not started, or already started."""


class FleetError(VilniusError):
    """A fleet's coordination store (Redis) could not be reached or failed a command.

    Reported to the error listeners while Redis is away (the replica then takes no new
    conversation); raised by ``connect()`` when Redis does not answer at the start.
    """

    @property
    def temporary(self) -> bool:
        """Always true: Redis may come back."""
        return True


class TransportError(VilniusError):
    """The connection to the server failed; retrying later may help, unless `temporary`
    says it cannot (a TLS failure, an invalid URL, a peer that does not speak HTTP)."""

    def __init__(self, message: str, *, temporary: bool = True) -> None:
        super().__init__(message)
        self._temporary = temporary

    @property
    def temporary(self) -> bool:
        """Whether the link may work again (true but for what no retry mends)."""
        return self._temporary


class NotConnectedError(TransportError):
    """An event was sent while the socket was not connected."""


class ConnectionLostError(TransportError):
    """The connection dropped while an acknowledgement was awaited."""


class ReplyTimeoutError(TransportError):
    """No acknowledgement or answer arrived in time."""


class FrameTooLargeError(TransportError):
    """A WebSocket frame exceeded a size limit, so the link was closed.

    A WebSocket cannot skip one frame: the client reconnects, and a stored
    message in that frame is recovered by the catch-up (over REST).

    Attributes:
        limit: This client's limit in bytes (``max_message_size``).
    """

    def __init__(self, message: str, *, limit: int | None) -> None:
        super().__init__(message)
        self.limit = limit


class ProtocolError(VilniusError):
    """The server sent a payload that does not follow the contract."""


class DroppedEventError(VilniusError):
    """An event was received but not handed to the handlers.

    Attributes:
        event: The event's wire name (``"new-message"``).
        payload: The event's model, as the handlers would have received it.
    """

    def __init__(self, message: str, *, event: str, payload: Any) -> None:
        super().__init__(message)
        self.event = event
        self.payload = payload


class QueueOverflowError(DroppedEventError):
    """A conversation's handler queue was full, so one of its events was dropped.

    Which one (the oldest waiting, or the new one) depends on the client's
    ``queue_overflow`` policy; ``payload`` is the dropped event.

    Attributes:
        key: The queue: a conversation id, or the lane of events without one.
        maxsize: The queue's bound (``queue_maxsize``).
    """

    def __init__(self, message: str, *, event: str, payload: Any, key: str, maxsize: int) -> None:
        super().__init__(message, event=event, payload=payload)
        self.key = key
        self.maxsize = maxsize


class SeqJumpError(DroppedEventError, ProtocolError):
    """A live message's ``seq`` jumped far ahead and a catch-up did not confirm it.

    Such a message is not delivered: taken on trust, its seq would mark every
    later message as already delivered.

    Attributes:
        seq: The message's seq.
        last_seq: The highest seq delivered when it was dropped.
    """

    def __init__(
        self, message: str, *, event: str, payload: Any, seq: int, last_seq: int | None
    ) -> None:
        super().__init__(message, event=event, payload=payload)
        self.seq = seq
        self.last_seq = last_seq


class InvalidEventError(DroppedEventError, ProtocolError):
    """A server event whose payload does not fit its model; not handed to the handlers.

    Attributes:
        payload: The raw payload, as the server sent it (not a model).
        errors: pydantic's description of what did not fit.
    """

    def __init__(self, message: str, *, event: str, payload: Any, errors: Any = None) -> None:
        super().__init__(message, event=event, payload=payload)
        self.errors = errors


class ServerError(VilniusError):
    """The server rejected a request or an event.

    Attributes:
        code: The contract's error code (``"not_found"``, ...).
        message: The server's human-readable message.
        details: Extra information from the server (for example the invalid field).
        status: The HTTP status for REST calls, ``None`` for socket events.
    """

    default_code = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details = details
        self.status = status
        if status is not None:
            self.may_have_acted = status >= 500

    @property
    def temporary(self) -> bool:
        """Whether it may pass: by the HTTP status, or without one by the code."""
        if self.status is not None:
            return self.status in TEMPORARY_STATUSES
        return self.code in TEMPORARY_CODES

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"


class InvalidPayloadError(ServerError):
    """The server found the payload invalid (``details`` names the field)."""

    default_code = "invalid_payload"


class AuthError(ServerError):
    """The credentials are missing, wrong or expired."""

    default_code = "unauthorized"


class ForbiddenError(ServerError):
    """The credentials do not allow this action."""

    default_code = "forbidden"


class NotFoundError(ServerError):
    """The conversation (or other object) does not exist."""

    default_code = "not_found"


class NotJoinedError(ServerError):
    """The socket must join the agent dashboard first."""

    default_code = "not_joined"


class ConflictError(ServerError):
    """The request conflicts with the current state."""

    default_code = "conflict"


class RateLimitedError(ServerError):
    """Too many requests; ``retry_after`` is the server's hint in seconds."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(ServerError):
    """The server failed (``internal``, or a 5xx); `temporary` says whether a retry may help."""

    default_code = "internal"


_BY_CODE: dict[str, type[ServerError]] = {
    "invalid_payload": InvalidPayloadError,
    "payload_too_large": InvalidPayloadError,
    "unauthorized": AuthError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "not_joined": NotJoinedError,
    "conflict": ConflictError,
    "rate_limited": RateLimitedError,
    "internal": InternalServerError,
}

_BY_STATUS: dict[int, type[ServerError]] = {
    400: InvalidPayloadError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidPayloadError,
    422: InvalidPayloadError,
    429: RateLimitedError,
}


def error_from_code(
    code: str | None,
    message: str,
    *,
    details: Any = None,
    status: int | None = None,
    retry_after: float | None = None,
) -> ServerError:
    """Build the `ServerError` subclass that matches a code or HTTP status.

    The code wins over the status; an unknown code falls back to the status,
    then to `ServerError` itself (5xx to `InternalServerError`).
    """
    cls = _BY_CODE.get(code or "")
    if cls is None and status is not None:
        cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else ServerError)
    cls = cls or ServerError
    if cls is RateLimitedError:
        return RateLimitedError(
            message, retry_after=retry_after, code=code, details=details, status=status
        )
    return cls(message, code=code, details=details, status=status)
