"""Connection supervision: attempts, backoff, the circuit breaker and the state machine.

`Supervisor` knows *when* to (re)connect and what state the connection is in;
*how* to connect is its owner's (`ModernWebSocketManager`): ``attempt()``
opens a link and sets the session up, ``drop(reason)`` tears a link down.

The loop, until stopped:

1. ``attempt()``. On failure: report it; a refusal of the credentials ends
   the supervision when it comes on the first connect or the token is fixed
   (``retry_refusals()`` is false); otherwise back off (full jitter), or, after
   ``max_errors`` consecutive failures, open the circuit for its cool-down
   and make one half-open trial.
2. On success: state ``connected``; the first `start` returns. Wait until the
   link closes; the failure counter (so the backoff) is reset only once the
   link stayed up ``stable_after`` seconds, so a flapping link keeps backing off.
3. State ``reconnecting``, ``drop()``, back off, and again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ._state import Backoff, CircuitBreaker, ConnectionChange, ConnectionState, StateMachine
from ._timestamps import utcnow
from ._transport import SocketLink
from .errors import AuthError, ForbiddenError, StateError

__all__ = ["Supervisor"]

_S = ConnectionState


class Supervisor:
    """Keeps one connection up for as long as it is wanted.

    Args:
        attempt: Opens a link and sets the session up; returns the link.
        drop: Tears the current link down (its reason given).
        on_change: Called with every state transition.
        report_error: Receives every failed attempt and link error.
        retry_refusals: Whether a refused credential is worth another attempt
            after the first connect (a token callable may return a fresh one).
        backoff: The schedule of waits between attempts.
        breaker: The circuit breaker.
        stable_after: Seconds a link must stay up before the backoff resets.
        logger: Where attempts and losses are logged.
    """

    def __init__(
        self,
        *,
        attempt: Callable[[], Awaitable[SocketLink]],
        drop: Callable[[str], Awaitable[None]],
        on_change: Callable[[ConnectionChange], None],
        report_error: Callable[[BaseException], None],
        retry_refusals: Callable[[], bool],
        backoff: Backoff,
        breaker: CircuitBreaker,
        stable_after: float,
        logger: logging.Logger,
    ) -> None:
        self._attempt = attempt
        self._drop = drop
        self._on_change = on_change
        self._report_error = report_error
        self._retry_refusals = retry_refusals
        self.backoff = backoff
        self.breaker = breaker
        self.stable_after = stable_after
        self._logger = logger
        self._machine = StateMachine()
        self.since = utcnow()
        self.last_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands."""
        return self._machine.state

    def can(self, new: ConnectionState) -> bool:
        """Whether moving to ``new`` is allowed now."""
        return self._machine.can(new)

    def transition(self, new: ConnectionState, reason: str) -> None:
        """Move to ``new`` and tell ``on_change`` (nothing when already there)."""
        change = self._machine.transition(new, reason)
        if change is None:
            return
        self.since = utcnow()
        self._logger.info("connection %s -> %s (%s)", change.old, change.new, reason)
        self._on_change(change)

    @property
    def running(self) -> bool:
        """Whether the supervision loop runs."""
        return self._task is not None

    async def start(self) -> None:
        """Start supervising; return once connected (see the module docstring).

        Raises:
            AuthError: The credentials were refused.
            TransportError: The attempts were used up.
        """
        self.backoff.reset()
        self.breaker.record_success()
        self.transition(_S.CONNECTING, "connect() called")
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._first = first
        self._task = asyncio.create_task(self._run(first), name="vilnius-supervisor")
        try:
            await asyncio.shield(first)
        except asyncio.CancelledError:
            await self.stop()
            if self.can(_S.DISCONNECTED):
                self.transition(_S.DISCONNECTED, "connect() cancelled")
            raise

    async def stop(self) -> None:
        """Stop supervising and drop the link; a pending `start` fails with `StateError`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._first is not None and not self._first.done():
            self._first.set_exception(StateError("disconnected while connecting"))
            self._first.exception()
        await self._drop("closed")

    async def _run(self, first: asyncio.Future[None]) -> None:
        while True:
            try:
                link = await self._attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.state is _S.CLOSED or not await self._after_failure(exc, first):
                    return
                continue
            if self.state is _S.CLOSED:
                # stop() ran while this attempt did and its cancellation was lost (a
                # session step swallowed it, or Python 3.11's wait_for when the awaited
                # answer landed at the same moment): supervision ends here all the same.
                return
            self.breaker.record_success()
            self.transition(_S.CONNECTED, "connected")
            if not first.done():
                first.set_result(None)
            reason = await self._hold(link)
            self.transition(_S.RECONNECTING, reason)
            self.backoff.fail()
            await self._drop(reason)
            await self._pause()

    async def _after_failure(self, exc: Exception, first: asyncio.Future[None]) -> bool:
        """Record a failed attempt; return whether to try again (after waiting)."""
        self.last_error = exc
        await self._drop(str(exc))
        self._report_error(exc)
        connecting = not first.done()
        if isinstance(exc, AuthError | ForbiddenError) and (
            connecting or not self._retry_refusals()
        ):
            return self._give_up(exc, first, f"refused: {exc}")
        self.backoff.fail()
        if self.backoff.exhausted:
            return self._give_up(exc, first, f"gave up after {self.backoff.failures} attempts")
        self._logger.warning("connection attempt failed: %s", exc)
        if self.breaker.record_failure():
            self.transition(_S.CIRCUIT_OPEN, f"{self.breaker.failures} consecutive failures")
            await asyncio.sleep(self.breaker.cooldown)
            self.breaker.trial()
            self.transition(_S.CONNECTING if connecting else _S.RECONNECTING, "half-open trial")
            return True
        await self._pause()
        return True

    def _give_up(self, exc: Exception, first: asyncio.Future[None], reason: str) -> bool:
        self._logger.error("stopped connecting: %s", reason)
        self.transition(_S.DISCONNECTED, reason)
        if not first.done():
            first.set_exception(exc)
            first.exception()  # the caller of connect() may be gone
        self._task = None
        return False

    async def _pause(self) -> None:
        delay = self.backoff.next_delay()
        self._logger.info("next connection attempt in %.2f s", delay)
        await asyncio.sleep(delay)

    async def _hold(self, link: SocketLink) -> str:
        """Wait while connected; reset the backoff once stable. Returns why it ended."""
        try:
            async with asyncio.timeout(self.stable_after):
                reason = await link.wait_closed()
        except TimeoutError:
            self.backoff.reset()
            reason = await link.wait_closed()
        self._logger.warning("connection lost: %s", reason)
        if link.close_error is not None:
            self.last_error = link.close_error
            self._report_error(link.close_error)
        return reason
