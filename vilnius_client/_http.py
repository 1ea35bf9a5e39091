"""One REST request, from attempt to typed answer: the plumbing under `RestClient`.

`HttpBase.request` sends one request with aiohttp, retries it as
`vilnius_client._retry` decides, renews a refused token once, and turns the
answer into its response model, or into the SDK's exceptions:

* an error answer becomes the `ServerError` subclass of its code or status
  (`error_from_code`), with the server's ``Retry-After``;
* a failure of the link becomes a `TransportError`, with
  ``may_have_acted=False`` when the connection could not even be opened;
* a success answer that does not match its model is a `ProtocolError`.

The endpoints themselves are `vilnius_client.rest.RestClient`'s.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
from pydantic import ValidationError

from ._lifecycle import Lifecycle
from ._retry import RetryListener, rest_retrying
from ._tokens import TokenSource, resolve_token
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

__all__ = ["IDEMPOTENCY_HEADER", "HttpBase", "request_body"]

IDEMPOTENCY_HEADER = "Idempotency-Key"

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
    ) -> M:
        """Send one request and parse the answer into ``model``.

        The typed methods cover the whole contract; this is the escape hatch
        for endpoints a newer server adds. With ``retry`` every temporary
        failure is retried (use it for calls that are safe to repeat);
        without, only failures after which the server surely did not act.

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

        try:
            if self.retry_attempts == 1:
                return await once()
            retrying = rest_retrying(
                attempts=self.retry_attempts,
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
        except aiohttp.ConnectionTimeoutError as exc:
            error = ReplyTimeoutError(f"{method} {path}: could not connect in {timeout} s")
            error.may_have_acted = False
            raise error from exc
        except TimeoutError as exc:
            raise ReplyTimeoutError(f"{method} {path}: no answer in {timeout} s") from exc
        except aiohttp.ClientConnectorError as exc:
            unsent = TransportError(f"{method} {path}: {exc}")
            unsent.may_have_acted = False  # the connection was never opened
            raise unsent from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise ConnectionLostError(f"{method} {path}: the server closed the connection") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise TransportError(f"{method} {path}: {exc}") from exc


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
