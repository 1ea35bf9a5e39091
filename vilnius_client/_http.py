"""One REST request, from attempt to typed answer: the plumbing under `RestClient`.

`HttpBase.request` sends one request with aiohttp, retries it as
`vilnius_client._retry` decides, renews a refused token once, and turns the
answer into its response model, or into the SDK's exceptions:

* an error answer becomes the `ServerError` subclass of its code or status
  (`error_from_code`), with the server's ``Retry-After``;
* a failure of the link becomes a `TransportError`, with
  ``may_have_acted=False`` when the connection could not even be opened;
* a success answer that does not match its model is a `ProtocolError`.

Every request carries an ``X-Correlation-ID`` (production logs each request
under it and echoes it): the one given to the call, else the one of the
enclosing `correlation` block, else a new ``vc-<uuid>`` per call (kept for
all its attempts). The id a server answers is kept (`HttpBase.last_correlation_id`,
`Correlation.returned`) and every error of a call carries it as
``exc.correlation_id``, so a failed check can be found in the server's logs.

The endpoints themselves are `vilnius_client.rest.RestClient`'s.
"""

from __future__ import annotations

import inspect
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
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
    VilniusError,
    error_from_code,
)
from .events import WireModel

__all__ = [
    "CORRELATION_HEADER",
    "IDEMPOTENCY_HEADER",
    "Correlation",
    "Download",
    "HttpBase",
    "TokenSource",
    "check_url",
    "correlation",
    "failure_of",
    "request_body",
    "resolve_token",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"

CORRELATION_HEADER = "X-Correlation-ID"

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
T = TypeVar("T")

#: How much of a non-JSON error body goes into the exception message.
_BODY_EXCERPT = 200


@dataclass
class Correlation:
    """The correlation id of a `correlation` block and the one the server answered.

    Attributes:
        id: Sent as ``X-Correlation-ID`` with every request of the block.
        returned: The ``X-Correlation-ID`` of the latest answer in the block (production
            echoes the id it was sent); ``None`` before any, or from a server without one.
    """

    id: str
    returned: str | None = None


_scope: ContextVar[Correlation | None] = ContextVar("vilnius_correlation", default=None)


@contextmanager
def correlation(correlation_id: str | None = None) -> Iterator[Correlation]:
    """Send one ``X-Correlation-ID`` with every SDK request made inside the block.

    ```python
    with correlation("qa-run-42") as trace:
        await bot.rest.agent_respond(conversation_id, "Hello", bot.agent_id)
    print(trace.returned)  # "qa-run-42" from production: search its logs for it
    ```

    The block covers the calls of every client made in the current task (and in
    tasks it starts). A call's own ``correlation_id`` wins over the block's.

    Args:
        correlation_id: The id (default: a new ``vc-<uuid>``).
    """
    scope = Correlation(correlation_id or _new_id())
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _new_id() -> str:
    return f"vc-{uuid.uuid4()}"


@dataclass(frozen=True)
class Download:
    """A downloaded file: its bytes and the type the server says it is."""

    content: bytes
    content_type: str


def request_body(model: type[WireModel], /, **fields: Any) -> dict[str, Any]:
    """The JSON body of a request model built from ``fields`` (those at ``None`` left out).

    Raises:
        InvalidPayloadError: ``fields`` do not fit ``model`` (``may_have_acted`` is false).
    """
    return wire_body(model, {k: v for k, v in fields.items() if v is not None})


def wire_body(model: type[WireModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``model`` validated from ``data`` (a ``None`` in it is sent as ``null``).

    Validated as the server validates it, so a bad value fails here, before
    anything is sent.

    Raises:
        InvalidPayloadError: ``data`` does not fit ``model`` (``may_have_acted`` is false).
    """
    try:
        request = model.model_validate(data)
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
    _last_correlation_id: str | None = None

    @property
    def last_correlation_id(self) -> str | None:
        """The ``X-Correlation-ID`` of the latest answer (``None``: none came with one)."""
        return self._last_correlation_id

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
        correlation_id: str | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        attempts: int | None = None,
    ) -> M:
        """Send one request and parse the answer into ``model``.

        The typed methods cover the whole contract; this is the escape hatch
        for endpoints a newer server adds. With ``retry`` every temporary
        failure is retried (use it for calls that are safe to repeat);
        without, only failures after which the server surely did not act.
        ``correlation_id`` is sent as ``X-Correlation-ID`` (see `correlation`);
        ``form`` builds a multipart body (once per attempt) instead of ``json_body``;
        ``attempts`` overrides the client's ``retry_attempts`` for this call.

        Raises:
            ServerError: The server answered with an error (the matching subclass).
            TransportError: The request could not be completed.
            ProtocolError: A success answer did not match ``model``.
            StateError: The client is closed.
        """

        def parse(response: aiohttp.ClientResponse, body: bytes) -> M:
            return _parse(method, path, model, response, body)

        return await self._call(
            method,
            path,
            parse,
            json_body=json_body,
            params=params,
            retry=retry,
            idempotency_key=idempotency_key,
            auth=auth,
            correlation_id=correlation_id,
            form=form,
            attempts=attempts,
        )

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        retry: bool = False,
        auth: bool = True,
        correlation_id: str | None = None,
    ) -> Download:
        """Send one request and return the answer's bytes (a file), as `request` does.

        Raises:
            ServerError: The server answered with an error (the matching subclass).
            TransportError: The request could not be completed.
            StateError: The client is closed.
        """

        def parse(response: aiohttp.ClientResponse, body: bytes) -> Download:
            if response.status >= 400:
                raise _error_from_response(response, body)
            return Download(body, response.headers.get("Content-Type", "application/octet-stream"))

        return await self._call(
            method,
            path,
            parse,
            params=params,
            retry=retry,
            auth=auth,
            correlation_id=correlation_id,
        )

    async def _call(
        self,
        method: str,
        path: str,
        parse: Callable[[aiohttp.ClientResponse, bytes], T],
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        retry: bool = False,
        idempotency_key: str | None = None,
        auth: bool = True,
        correlation_id: str | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        attempts: int | None = None,
    ) -> T:
        scope = _scope.get()
        sent = correlation_id or (scope.id if scope is not None else None) or _new_id()
        headers = {CORRELATION_HEADER: sent}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        request = _Request(method, path, parse, json_body, params, headers, auth, form)

        async def once() -> T:
            try:
                return await self._once(request)
            except AuthError:
                if not auth or self.on_auth_error is None:
                    raise
                await self.on_auth_error()
            return await self._once(request)

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
            result: T = await retrying(once)
            return result
        except (ServerError, TransportError, ProtocolError) as exc:
            if exc.may_have_acted is None:
                exc.may_have_acted = True  # an answer that broke the contract, a lost one
            if exc.correlation_id is None:
                exc.correlation_id = sent
            raise

    async def _once(self, request: _Request[T]) -> T:
        method, path = request.method, request.path
        session = self._get_session()
        headers = dict(request.headers)
        if request.auth:
            token = await resolve_token(self.token)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        timeout = self.request_timeout
        try:
            async with session.request(
                method,
                self.base_url + path,
                json=request.json_body,
                data=request.form() if request.form is not None else None,
                params=request.params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body = await response.read()
                returned = response.headers.get(CORRELATION_HEADER)
                self._last_correlation_id = returned
                scope = _scope.get()
                if scope is not None:
                    scope.returned = returned
                try:
                    return request.parse(response, body)
                except VilniusError as exc:
                    exc.correlation_id = returned or headers[CORRELATION_HEADER]
                    raise
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
        lost = ConnectionLostError(f"{where}: the server closed the connection")
        lost.may_have_acted = True
        return lost
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


@dataclass(frozen=True)
class _Request(Generic[T]):
    """One call: what each of its attempts sends, and how its answer is read."""

    method: str
    path: str
    parse: Callable[[aiohttp.ClientResponse, bytes], T]
    json_body: Mapping[str, Any] | None
    params: Mapping[str, str | int] | None
    headers: dict[str, str]
    auth: bool
    form: Callable[[], aiohttp.FormData] | None


def _decode(response: aiohttp.ClientResponse, body: bytes) -> tuple[Any, str]:
    """The answer as JSON (``None`` when it is not) and as text."""
    try:
        text = body.decode(response.get_encoding())
    except (LookupError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace")
    try:
        return (json.loads(text) if text else None), text
    except ValueError:
        return None, text


def _parse(
    method: str, path: str, model: type[M], response: aiohttp.ClientResponse, body: bytes
) -> M:
    if response.status >= 400:
        raise _error_from_response(response, body)
    data, text = _decode(response, body)
    if data is None:
        raise ProtocolError(
            f"{method} {path}: HTTP {response.status} answer is not JSON: {text[:_BODY_EXCERPT]!r}"
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


def _error_from_response(response: aiohttp.ClientResponse, body: bytes) -> ServerError:
    """The `ServerError` of an error answer, from its JSON body (else its text)."""
    data, text = _decode(response, body)
    status = response.status
    retry_after = _retry_after(response.headers)
    if isinstance(data, dict) and isinstance(data.get("error"), str | None):
        code = data.get("code")
        # some of production's refusals carry only {success: false, message}
        said = data.get("message") if isinstance(data.get("message"), str) else None
        message = data.get("error") or said or response.reason or f"HTTP {status}"
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
