"""One REST request, from attempt to typed answer: the plumbing under `RestClient`.

`HttpBase.request` sends one request with aiohttp, retries it as
`vilnius_client._retry` decides, renews a refused token once, and turns the
answer into its response model, or into the SDK's exceptions:

* an error answer becomes the `ServerError` subclass of its code or status
  (`error_from_code`), with the server's ``Retry-After``;
* a failure of the link becomes a `TransportError` saying what a user can act on
  (`failure_of`: refused, not resolved, TLS, not HTTP, a redirect loop), with
  ``may_have_acted=False`` when the connection could not even be opened;
* a success answer that does not match its model is a `ProtocolError`.

The endpoints themselves are `vilnius_client.rest.RestClient`'s.
"""

from __future__ import annotations

import inspect
import json
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from ._lifecycle import Lifecycle
from ._retry import RetryListener, rest_retrying
from .errors import (
    AuthError,
    ConnectionLostError,
    InvalidPayloadError,
    ProtocolError,
    ReplyTimeoutError,
    ServerError,
    StateError,
    TransportError,
    error_from_code,
)
from .events import WireModel

__all__ = [
    "IDEMPOTENCY_HEADER",
    "HttpBase",
    "TokenSource",
    "check_url",
    "failure_of",
    "request_body",
    "resolve_token",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"

TokenSource = str | Callable[[], str | Awaitable[str | None] | None] | None
"""A bearer token, or a function (plain or async) returning the current one; ``None``: none.

Asked again every time one is sent, so that a refreshed token is picked up without the
client being rebuilt (the same shape serves TOTP codes)."""


async def resolve_token(source: TokenSource) -> str | None:
    """The value ``source`` currently stands for (calling, and awaiting, a function)."""
    if source is None or isinstance(source, str):
        return source
    value = source()
    if inspect.isawaitable(value):
        value = await value
    return value


def check_url(url: str) -> str:
    """A server's root URL without its trailing slash.

    Raises:
        ValueError: Not an ``http://`` or ``https://`` URL with a host (a user's typo is
            refused when the client is made, not retried for ever).
    """
    if not isinstance(url, str):
        raise ValueError(f"the server URL must be a string, not {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f" (did you mean 'http://{url.strip()}'?)" if "://" not in url else ""
        raise ValueError(f"the server URL needs http:// or https:// and a host: {url!r}{hint}")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise ValueError(f"the server URL has an invalid port: {url!r} ({exc})") from None
    return url.strip().rstrip("/")


M = TypeVar("M", bound=WireModel)

#: How much of a non-JSON error body goes into the exception message.
_BODY_EXCERPT = 200


def request_body(model: type[WireModel], **fields: Any) -> dict[str, Any]:
    """The JSON body of a request model built from ``fields`` (those at ``None`` left out).

    Validated as the server validates it, so a bad value fails here, before
    anything is sent.

    Raises:
        InvalidPayloadError: ``fields`` do not fit ``model`` (``may_have_acted`` is false).
    """
    try:
        request = model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        error = InvalidPayloadError(
            f"invalid {model.__name__}: {exc.error_count()} error(s)",
            details=exc.errors(include_url=False),
        )
        error.may_have_acted = False
        raise error from exc
    return request.model_dump(mode="json", by_alias=True, exclude_unset=True)


class HttpBase(Lifecycle):
    """Session, request, retries and answer parsing; `RestClient` sets the attributes."""

    base_url: str
    token: TokenSource
    request_timeout: float
    retry_attempts: int
    retry_base: float
    retry_cap: float
    on_auth_error: Callable[[], Awaitable[None]] | None
    max_retry_after: float
    on_retry: RetryListener | None
    _session: aiohttp.ClientSession | None
    _owns_session: bool
    _closed: bool

    # -- lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        """Check that the client can be used; its session opens with the first request.

        Raises:
            StateError: The client is closed.
        """
        if self._closed:
            raise StateError(f"this {type(self).__name__} is closed")

    async def disconnect(self) -> None:
        """Close the client and its own session (idempotent); it cannot be used again."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def closed(self) -> bool:
        """Whether [`disconnect`][vilnius_client.RestClient.disconnect] was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise StateError(f"this {type(self).__name__} is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # -- requests ----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        retry: bool = False,
        idempotency_key: str | None = None,
        auth: bool = True,
        attempts: int | None = None,
    ) -> M:
        """Send one request and parse the answer into ``model``.

        The typed methods cover the whole contract; this is the escape hatch
        for endpoints a newer server adds. With ``retry`` every temporary
        failure is retried (use it for calls that are safe to repeat);
        without, only failures after which the server surely did not act.
        ``attempts`` overrides the client's ``retry_attempts`` for this call.

        Raises:
            ServerError: The server answered with an error (the matching subclass).
            TransportError: The request could not be completed.
            ProtocolError: A success answer did not match ``model``.
            StateError: The client is closed.
        """
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key

        async def once() -> M:
            try:
                return await self._once(method, path, model, json_body, params, headers, auth)
            except AuthError:
                if not auth or self.on_auth_error is None:
                    raise
                await self.on_auth_error()
            return await self._once(method, path, model, json_body, params, headers, auth)

        attempts = self.retry_attempts if attempts is None else attempts
        try:
            if attempts == 1:
                return await once()
            retrying = rest_retrying(
                attempts=attempts,
                base=self.retry_base,
                cap=self.retry_cap,
                idempotent=retry,
                max_retry_after=self.max_retry_after,
                listener=self.on_retry,
            )
            result: M = await retrying(once)
            return result
        except (ServerError, TransportError, ProtocolError) as exc:
            if exc.may_have_acted is None:
                exc.may_have_acted = True  # an answer that broke the contract, a lost one
            raise

    async def _once(
        self,
        method: str,
        path: str,
        model: type[M],
        json_body: Mapping[str, Any] | None,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        auth: bool,
    ) -> M:
        session = self._get_session()
        headers = dict(headers)
        if auth:
            token = await resolve_token(self.token)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        timeout = self.request_timeout
        try:
            async with session.request(
                method,
                self.base_url + path,
                json=json_body,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                text = await response.text()
                return _parse(method, path, model, response, text)
        except TimeoutError as exc:
            if _CONNECT_TIMEOUT is not None and isinstance(exc, _CONNECT_TIMEOUT):
                error = ReplyTimeoutError(f"{method} {path}: could not connect in {timeout} s")
                error.may_have_acted = False
                raise error from exc
            raise ReplyTimeoutError(f"{method} {path}: no answer in {timeout} s") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise failure_of(f"{method} {self.base_url}{path}", exc) from exc


#: aiohttp 3.10+ tells a connect timeout apart from a read timeout (3.9 does not).
_CONNECT_TIMEOUT: type[BaseException] | None = getattr(aiohttp, "ConnectionTimeoutError", None)


def _cause(exc: BaseException) -> BaseException:
    """The aiohttp (or OS) error behind ``exc`` (python-socketio raises its own on top)."""
    seen = exc
    while not isinstance(seen, aiohttp.ClientError | OSError | ValueError) and (
        seen.__cause__ or seen.__context__
    ):
        seen = seen.__cause__ or seen.__context__  # type: ignore[assignment]
    return seen


def failure_of(where: str, exc: BaseException) -> TransportError:
    """The `TransportError` a user can act on, for a request or connection that failed.

    ``may_have_acted`` is ``False`` when nothing reached the server (refused, name not
    resolved, TLS failed, an invalid URL); `temporary` is false for what no retry mends
    (TLS, an invalid URL, an answer that is not HTTP, a redirect loop).
    """
    cause = _cause(exc)
    unsent = True
    permanent = False
    if isinstance(cause, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        why, permanent = f"TLS handshake failed ({cause})", True
    elif isinstance(cause, aiohttp.ClientConnectorError):
        host = f"{cause.host}:{cause.port}"
        if isinstance(cause.os_error, ConnectionRefusedError):
            why = f"connection refused: {host}"
        elif _is_dns(cause):
            why = f"cannot resolve host {cause.host!r}"
        else:
            why = f"cannot connect to {host}: {cause.os_error or cause}"
    elif isinstance(cause, aiohttp.TooManyRedirects):
        why, permanent, unsent = "too many redirects (a redirect loop?)", True, False
    elif isinstance(cause, aiohttp.InvalidURL) or type(cause).__name__ == "NonHttpUrlClientError":
        why, permanent = f"invalid URL: {cause} (it needs http:// or https:// and a host)", True
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        why, unsent = "the server closed the connection", False
        error: TransportError = ConnectionLostError(f"{where}: {why}")
        error.may_have_acted = True
        return error
    elif isinstance(cause, UnicodeError | aiohttp.ClientPayloadError) or _is_bad_http(cause):
        why = "the answer is not HTTP (or not UTF-8): is this a Vilnius server?"
        permanent, unsent = True, False
    else:
        why, unsent = f"{cause or type(cause).__name__}", False
    error = TransportError(f"{where}: {why}", temporary=not permanent)
    error.may_have_acted = not unsent
    return error


def _is_dns(cause: aiohttp.ClientConnectorError) -> bool:
    dns = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns is not None and isinstance(cause, dns):
        return True
    return isinstance(cause.os_error, socket.gaierror)


def _is_bad_http(cause: BaseException) -> bool:
    """Whether aiohttp could not parse the answer as HTTP (garbage from the peer)."""
    bad = aiohttp.http_exceptions.HttpProcessingError
    return isinstance(cause, bad) or isinstance(cause.__cause__, bad)


def _parse(
    method: str, path: str, model: type[M], response: aiohttp.ClientResponse, text: str
) -> M:
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        data = None
        is_json = False
    else:
        is_json = True
    status = response.status
    if status >= 400:
        raise _error_from_response(status, response, data if is_json else None, text)
    if not is_json:
        raise ProtocolError(
            f"{method} {path}: HTTP {status} answer is not JSON: {text[:_BODY_EXCERPT]!r}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(
            f"{method} {path}: answer does not match {model.__name__}: {exc}"
        ) from exc


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def _error_from_response(
    status: int, response: aiohttp.ClientResponse, data: Any, text: str
) -> ServerError:
    retry_after = _retry_after(response.headers)
    if isinstance(data, dict) and isinstance(data.get("error"), str | None):
        code = data.get("code")
        message = data.get("error") or response.reason or f"HTTP {status}"
        return error_from_code(
            code if isinstance(code, str) else None,
            message,
            details=data.get("details"),
            status=status,
            retry_after=retry_after,
        )
    excerpt = text.strip()[:_BODY_EXCERPT]
    message = excerpt or response.reason or f"HTTP {status}"
    return error_from_code(None, message, details=None, status=status, retry_after=retry_after)
