"""Connection state machine, reconnection schedule and circuit breaker (no I/O).

Everything here is plain synchronous code driven by the manager, so that it can
be tested without sockets or clocks.

States and the transitions allowed between them:

```text
DISCONNECTED ──connect()──> CONNECTING ──ok──> CONNECTED
     ^                          │                 │ link lost
     │ gave up                  │ failures        v
     ├──────────────────────────┼─────────── RECONNECTING <─┐
     │                          v                 │         │ half-open trial
     │                     CIRCUIT_OPEN <─────────┘─────────┘
     │
any state ──disconnect()──> CLOSED  (terminal)
```
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ._retry import full_jitter
from .errors import StateError

__all__ = [
    "LOST",
    "Backoff",
    "CircuitBreaker",
    "ConnectionChange",
    "ConnectionState",
    "ConnectionStatus",
    "StateMachine",
]


class ConnectionState(enum.StrEnum):
    """Where a manager's connection stands.

    Attributes:
        DISCONNECTED: Not started, or gave up (see ``ConnectionStatus.last_error``).
        CONNECTING: Establishing the first connection (retrying on failure).
        CONNECTED: Connected, rooms joined, session steps done; events flow.
        RECONNECTING: The connection was lost and is being re-established.
        CLOSED: ``disconnect()`` was called; the manager cannot be used again.
        CIRCUIT_OPEN: Too many consecutive failures; waiting for a cool-down
            before one trial attempt (half-open).
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
    CIRCUIT_OPEN = "circuit_open"


_S = ConnectionState

TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    _S.DISCONNECTED: frozenset({_S.CONNECTING, _S.CLOSED}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.CIRCUIT_OPEN, _S.DISCONNECTED, _S.CLOSED}),
    _S.CONNECTED: frozenset({_S.RECONNECTING, _S.DISCONNECTED, _S.CLOSED}),
    _S.RECONNECTING: frozenset({_S.CONNECTED, _S.CIRCUIT_OPEN, _S.DISCONNECTED, _S.CLOSED}),
    _S.CIRCUIT_OPEN: frozenset({_S.CONNECTING, _S.RECONNECTING, _S.DISCONNECTED, _S.CLOSED}),
    _S.CLOSED: frozenset(),
}
"""The allowed transitions: ``TRANSITIONS[old]`` holds every legal ``new``."""

LOST = frozenset({_S.RECONNECTING, _S.CIRCUIT_OPEN})
"""The states of a connection that was lost and is not back yet."""


@dataclass(frozen=True)
class ConnectionChange:
    """One state transition, as connection listeners receive it.

    Attributes:
        old: The state before.
        new: The state after.
        reason: Why, in words (``"connected"``, ``"heartbeat-ack missing"``, ...).
    """

    old: ConnectionState
    new: ConnectionState
    reason: str


@dataclass(frozen=True)
class ConnectionStatus:
    """A snapshot of a manager's connection.

    Attributes:
        state: The state machine's current state.
        connected: Whether events flow (``state is CONNECTED``).
        attempts: Consecutive failed attempts since the last stable connection.
        latency: Last heartbeat round trip in seconds (``None`` before the first).
        sid: The Socket.IO session id, when connected.
        namespace: The Socket.IO namespace (always ``"/"``).
        transport: The Engine.IO transport in use, when connected.
        url: The server URL.
        last_error: The last connection error, if any.
        since: When the current state was entered.
        mode: How events arrive: ``"socket"``, or ``"polling"`` while a client
            falls back to REST.
    """

    state: ConnectionState
    connected: bool
    attempts: int
    latency: float | None
    sid: str | None
    namespace: str
    transport: str | None
    url: str
    last_error: BaseException | None
    since: datetime
    mode: str = "socket"


class StateMachine:
    """Holds the current state and refuses transitions `TRANSITIONS` forbids."""

    def __init__(self, initial: ConnectionState = ConnectionState.DISCONNECTED) -> None:
        self.state = initial

    def can(self, new: ConnectionState) -> bool:
        """Whether moving to ``new`` is allowed from the current state."""
        return new in TRANSITIONS[self.state]

    def transition(self, new: ConnectionState, reason: str) -> ConnectionChange | None:
        """Move to ``new``.

        Returns:
            The change, or ``None`` when already in ``new`` (nothing to report).

        Raises:
            StateError: The transition is not allowed.
        """
        if new == self.state:
            return None
        if not self.can(new):
            raise StateError(f"cannot go from {self.state} to {new} ({reason})")
        change = ConnectionChange(self.state, new, reason)
        self.state = new
        return change


class Backoff:
    """Counts consecutive failed attempts and draws the next delay.

    Delays come from `vilnius_client._retry.full_jitter`, as REST retries'
    do: the n-th consecutive failure waits ``U(0, min(cap, base * 2**(n-1)))``.
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
