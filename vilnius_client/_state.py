"""The connection state machine (no I/O): states, allowed transitions, snapshots.

Plain synchronous code driven by `vilnius_client._connection.Connection`, tested
without sockets or clocks (the schedule of attempts is `vilnius_client._retry`'s).

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
from dataclasses import dataclass
from datetime import datetime

from .errors import StateError

__all__ = [
    "LOST",
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
