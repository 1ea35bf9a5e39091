"""Every retry and backoff decision of the SDK, in one place (built on tenacity).

* :func:`reconnect_wait` is the socket's reconnection schedule: exponential
  backoff with *full jitter* (a uniform draw in ``[0, min(cap, base * 2**n)]``),
  which spreads a crowd of clients that lost the same server.
* :func:`is_retryable` says whether a failed REST call may be repeated: only
  temporary failures (connection errors, timeouts, 429, 502/503/504) are.
* :func:`rest_retrying` repeats such calls; callers keep the same
  ``Idempotency-Key`` across attempts so that a retry never stores twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import aiohttp
import tenacity

from .errors import InternalServerError, RateLimitedError, TransportError

__all__ = ["backoff_delays", "is_retryable", "reconnect_wait", "rest_retrying"]

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


def is_retryable(exc: BaseException) -> bool:
    """Whether repeating the request that raised ``exc`` may succeed.

    Retryable: transport failures (the SDK's :class:`TransportError`, aiohttp's
    connection errors, timeouts), 429 and 502/503/504 answers. Everything else,
    notably 4xx answers, is final.
    """
    if isinstance(exc, RateLimitedError):
        return True
    if isinstance(exc, InternalServerError):
        return exc.status in RETRYABLE_STATUSES
    return isinstance(
        exc,
        TransportError
        | aiohttp.ClientConnectionError
        | aiohttp.ClientPayloadError
        | asyncio.TimeoutError,
    )


class _wait_retry_after(tenacity.wait.wait_base):
    """Honour a 429's ``Retry-After``; otherwise fall back to ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.cap)
        return self.fallback(retry_state)


def rest_retrying(
    *, attempts: int = 5, base: float = 0.2, cap: float = 5.0
) -> tenacity.AsyncRetrying:
    """Return the retry policy for REST calls.

    Args:
        attempts: Total attempts, the first one included.
        base: First backoff step in seconds.
        cap: Longest single wait in seconds (also caps ``Retry-After``).
    """
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=_wait_retry_after(reconnect_wait(base, cap), cap),
        stop=tenacity.stop_after_attempt(attempts),
        reraise=True,
    )
