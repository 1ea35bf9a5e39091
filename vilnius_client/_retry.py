"""Every retry and backoff decision of the SDK, in one place (built on tenacity).

* `full_jitter` is the one backoff schedule, of the socket's reconnections
  and of REST retries alike: exponential backoff with *full jitter*, a
  uniform draw in ``[0, min(cap, base * 2**(n-1))]`` before the n-th retry,
  which spreads a crowd of clients that lost the same server.
* `Backoff` counts a connection's consecutive failures (reset only once a
  connection proved stable) and `CircuitBreaker` opens after too many of them;
  both are plain state, read by the connection's tenacity loop
  (`vilnius_client._connection`), and tested without clocks.
* `is_retryable` says whether a failed REST call may be repeated: the failure
  must be temporary (`VilniusError.temporary`, decided by HTTP status and
  error code only; see `vilnius_client.errors`), and a call that is not
  *idempotent* (a send on a server without ``Idempotency-Key``, a state
  change) is repeated only when the server surely did not act
  (`VilniusError.may_have_acted` is ``False``).
* `rest_retrying` repeats such calls; callers keep the same
  ``Idempotency-Key`` across attempts so that a retry never stores twice. A
  429's ``Retry-After`` is waited out (up to ``max_retry_after``; a longer one
  ends the retries at once) rather than hammered.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import tenacity

from .errors import RateLimitedError, VilniusError

__all__ = [
    "Backoff",
    "CircuitBreaker",
    "RetryListener",
    "attempt_error",
    "full_jitter",
    "is_retryable",
    "rest_retrying",
]

RetryListener = Callable[[BaseException, float], Any]
"""``listener(error, wait)``: called before each retry with what failed and the wait in seconds."""


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """The wait after ``attempt`` failed attempts: ``U(0, min(cap, base * 2**(attempt-1)))``.

    No wait before the first attempt (``attempt`` 0 or less).
    """
    if attempt <= 0:
        return 0.0
    # min() first: 2**attempt overflows a float long before a retry loop gives up.
    return random.uniform(0.0, min(cap, base * 2.0 ** min(attempt - 1, 64)))


class Backoff:
    """Counts consecutive failed attempts and draws the next delay.

    Delays come from `full_jitter`, as REST retries' do: the n-th consecutive
    failure waits ``U(0, min(cap, base * 2**(n-1)))``.
    The counter is reset by the caller only once a connection has stayed up
    long enough (``stable_after``), so a flapping link keeps backing off.
    """

    def __init__(self, base: float, cap: float, limit: int | None = None) -> None:
        self.base = base
        self.cap = cap
        self.limit = limit
        self.failures = 0

    def fail(self) -> None:
        """Record one failed attempt (or one lost connection)."""
        self.failures += 1

    def reset(self) -> None:
        """Forget the failures: the connection has been stable."""
        self.failures = 0

    @property
    def exhausted(self) -> bool:
        """Whether the retry limit has been used up (never with ``limit=None``)."""
        return self.limit is not None and self.failures > self.limit

    def next_delay(self) -> float:
        """The wait before the next attempt, given the failures so far."""
        return full_jitter(self.failures, self.base, self.cap)

    def schedule(self, attempts: int) -> Iterator[float]:
        """Yield the delays of ``attempts`` consecutive failures (for tests and docs)."""
        saved = self.failures
        try:
            for n in range(1, attempts + 1):
                self.failures = n
                yield self.next_delay()
        finally:
            self.failures = saved


class CircuitBreaker:
    """Opens after ``max_errors`` consecutive failures; allows one trial after a cool-down.

    Closed: attempts go ahead. Open: the manager waits ``cooldown`` seconds,
    then makes one half-open trial; a failed trial opens the circuit again at
    once, a successful connection closes it.
    """

    def __init__(self, max_errors: int, cooldown: float) -> None:
        if max_errors < 1:
            raise ValueError("max_errors must be at least 1")
        self.max_errors = max_errors
        self.cooldown = cooldown
        self.failures = 0
        self.is_open = False
        self.half_open = False

    def record_failure(self) -> bool:
        """Count a failed attempt. Returns whether the circuit is (now) open."""
        self.failures += 1
        if self.half_open or self.failures >= self.max_errors:
            self.is_open = True
        self.half_open = False
        return self.is_open

    def trial(self) -> None:
        """The cool-down is over: let one attempt through (half-open)."""
        self.is_open = False
        self.half_open = True

    def record_success(self) -> None:
        """A connection was established: close the circuit."""
        self.failures = 0
        self.is_open = False
        self.half_open = False


def is_retryable(exc: BaseException, *, idempotent: bool = True) -> bool:
    """Whether repeating the request that raised ``exc`` may succeed, and is safe.

    Only the SDK's own errors are judged (the REST client turns every failure
    into one): a temporary one may be repeated when the call is ``idempotent``,
    or else when the server surely did not act.
    """
    if not isinstance(exc, VilniusError) or not exc.temporary:
        return False
    return idempotent or exc.may_have_acted is False


def attempt_error(retry_state: tenacity.RetryCallState) -> BaseException | None:
    """What the attempt tenacity just ran raised (``None``: it returned, or none ran)."""
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None else None


class _wait(tenacity.wait.wait_base):
    """Wait out a 429's ``Retry-After``; otherwise `full_jitter`."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = attempt_error(retry_state)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return full_jitter(retry_state.attempt_number, self.base, self.cap)


class _stop_on_long_retry_after(tenacity.stop.stop_base):
    """Stop at once when a 429 asks for a longer wait than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = attempt_error(retry_state)
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
            more ends the retries (the `RateLimitedError` is raised).
        listener: Called before each retry with the error and the wait.
    """

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        exc = attempt_error(retry_state)
        action = retry_state.next_action
        if listener is not None and exc is not None:
            try:
                listener(exc, action.sleep if action is not None else 0.0)
            except Exception:  # a listener's failure must not end the retries
                logging.getLogger("vilnius_client").exception("retry listener failed")

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, idempotent=idempotent)),
        wait=_wait(base, cap),
        stop=tenacity.stop_after_attempt(attempts) | _stop_on_long_retry_after(max_retry_after),
        before_sleep=before_sleep,
        reraise=True,
    )
