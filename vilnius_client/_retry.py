"""Every retry and backoff decision of the SDK, in one place (built on tenacity).

* :func:`reconnect_wait` is the socket's reconnection schedule: exponential
  backoff with *full jitter* (a uniform draw in ``[0, min(cap, base * 2**n)]``),
  which spreads a crowd of clients that lost the same server.
* :func:`may_have_acted` says whether the server may have carried out a
  request that failed: not when the connection could not be opened or an
  error status came back (4xx, 429), maybe after a timeout, a dropped
  connection or a 5xx.
* :func:`is_retryable` says whether a failed REST call may be repeated: only
  temporary failures (connection errors, timeouts, 429, 502/503/504) are, and
  of a call that is not *idempotent* (a send on a server without
  ``Idempotency-Key``, a state change) only those that surely did not act.
* :func:`rest_retrying` repeats such calls; callers keep the same
  ``Idempotency-Key`` across attempts so that a retry never stores twice. A
  429's ``Retry-After`` is waited out (up to ``max_retry_after``; a longer one
  ends the retries at once) rather than hammered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import aiohttp
import tenacity

from .errors import InternalServerError, RateLimitedError, ServerError, TransportError

RetryListener = Callable[[BaseException, float], Any]
"""``listener(error, wait)``: called before each retry with what failed and the wait in seconds."""

__all__ = [
    "RetryListener",
    "backoff_delays",
    "is_retryable",
    "may_have_acted",
    "reconnect_wait",
    "rest_retrying",
]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def reconnect_wait(base: float, cap: float) -> tenacity.wait.wait_base:
    """Return tenacity's full-jitter exponential wait: ``U(0, min(cap, base * 2**n))``."""
    return tenacity.wait_random_exponential(multiplier=base, max=cap)


def backoff_delays(base: float, cap: float, attempts: int) -> Iterator[float]:
    """Yield the delays :func:`reconnect_wait` would draw for ``attempts`` failures.

    Pure function over tenacity's strategy; used by tests and benchmarks.
    """
    wait = reconnect_wait(base, cap)
    for number in range(1, attempts + 1):
        state = tenacity.RetryCallState(cast(Any, None), None, (), {})
        state.attempt_number = number
        yield wait(state)


def may_have_acted(exc: BaseException) -> bool:
    """Whether the server may have carried out the request that failed with ``exc``.

    ``exc.may_have_acted`` when the SDK set it; else ``False`` for an error
    answer below 500 (the server refused it) and for a connection that could
    not be opened, ``True`` for everything else.
    """
    known = getattr(exc, "may_have_acted", None)
    if isinstance(known, bool):
        return known
    if isinstance(exc, ServerError) and exc.status is not None:
        return exc.status >= 500
    return not isinstance(exc, aiohttp.ClientConnectorError)


def is_retryable(exc: BaseException, *, idempotent: bool = True) -> bool:
    """Whether repeating the request that raised ``exc`` may succeed, and is safe.

    Temporary failures are: transport failures (the SDK's :class:`TransportError`,
    aiohttp's connection errors, timeouts), 429 and 502/503/504 answers. Everything
    else, notably 4xx answers, is final. A request that is not ``idempotent`` is
    repeated only when the server surely did not act (:func:`may_have_acted`):
    its connection could not be opened, or it was refused with 429.
    """
    if isinstance(exc, RateLimitedError):
        temporary = True
    elif isinstance(exc, InternalServerError):
        temporary = exc.status in RETRYABLE_STATUSES
    else:
        temporary = isinstance(
            exc,
            TransportError
            | aiohttp.ClientConnectionError
            | aiohttp.ClientPayloadError
            | asyncio.TimeoutError,
        )
    return temporary and (idempotent or not may_have_acted(exc))


def _failure(retry_state: tenacity.RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None else None


class _wait_retry_after(tenacity.wait.wait_base):
    """Wait out a 429's ``Retry-After``; otherwise fall back to ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = _failure(retry_state)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return self.fallback(retry_state)


class _stop_on_long_retry_after(tenacity.stop.stop_base):
    """Stop at once when a 429 asks for a longer wait than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = _failure(retry_state)
        return (
            isinstance(exc, RateLimitedError)
            and exc.retry_after is not None
            and exc.retry_after > self.limit
        )


def rest_retrying(
    *,
    attempts: int = 5,
    base: float = 0.2,
    cap: float = 5.0,
    idempotent: bool = True,
    max_retry_after: float = 60.0,
    listener: RetryListener | None = None,
) -> tenacity.AsyncRetrying:
    """Return the retry policy for REST calls.

    Args:
        attempts: Total attempts, the first one included.
        base: First backoff step in seconds.
        cap: Longest backoff wait in seconds.
        idempotent: Whether repeating the call is safe whatever happened
            (reads, keyed sends); else only calls that surely did not act are.
        max_retry_after: Longest ``Retry-After`` waited out; a 429 asking for
            more ends the retries (the :class:`RateLimitedError` is raised).
        listener: Called before each retry with the error and the wait.
    """

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        exc = _failure(retry_state)
        action = retry_state.next_action
        if listener is not None and exc is not None:
            try:
                listener(exc, action.sleep if action is not None else 0.0)
            except Exception:  # a listener's failure must not end the retries
                logging.getLogger("vilnius_client").exception("retry listener failed")

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, idempotent=idempotent)),
        wait=_wait_retry_after(reconnect_wait(base, cap)),
        stop=tenacity.stop_after_attempt(attempts) | _stop_on_long_retry_after(max_retry_after),
        before_sleep=before_sleep,
        reraise=True,
    )
